// Package model is a small transformer encoder for sentence-pair classification and masked
// language modelling with an exact, hand-written backward pass for every operation: token and
// position embeddings, pre-LayerNorm encoder blocks of multi-head self-attention (Q, K, V and O
// projections) and a GELU feed-forward layer, a final LayerNorm, a classification head and an
// optional masked-language-model (MLM) head, each with its mean cross-entropy.
//
// # Heads
//
// The classification head (Config.Classes > 0) reads one vector per sequence, chosen by
// Config.Pooling: [PoolCLS] (the zero value) the final LayerNorm of the token at position 0
// ([CLS]), [PoolMean] the final LayerNorm of the mean of the sequence's valid tokens, LN(mean),
// so that every valid token of the last block gets gradient.
//
// The MLM head (Config.MLM not [MLMNone]) is BERT's: for each position with a target
// (Batch.MLMTargets not -1), h = LN_mlm(GELU(LN_f(x_t)·W_d + b_d)) and the logits over the
// vocabulary are h·Eᵀ + b with E the token embedding ([MLMTied]) or h·W_out + b with output
// weights of its own ([MLMUntied]). The predicted rows are gathered first, so the head costs in
// proportion to the number of predicted tokens. Both heads share the final LayerNorm; a model
// may have either or both (Config.Classes = 0 drops the classification head).
//
// The training loss that [Model.Backward] differentiates is Tape.Loss (the classification
// cross-entropy, a mean over sequences) when the batch has labels plus Tape.MLMLoss (a mean
// over predicted positions) when it has MLM targets.
//
// The heads are not WTA-CRS layers: a [Hook] sees the linear layers of the blocks only, so an
// encoder can be pretrained with sketched blocks and an exact MLM head. Predicted positions
// must be valid tokens, so padding keeps zero gradient under both heads and both poolings.
//
// Parameters are created in the order of Model.Params with one random stream: a model without
// an MLM head has exactly the parameters, and for a seed the initial values, it had before the
// head existed; the MLM head's parameters come last.
//
// # LoRA and sampled attention products
//
// [Model.AddLoRA] adds low-rank adapters Z = HW + b + (α/r)·(HA)B to chosen layer kinds and
// freezes every other parameter but the classification head (and, optionally, the linear
// biases): frozen parameters get no gradient, and a frozen layer keeps no input. The adapter's A
// product is the one a [Hook] samples. [Model.MergeLoRA] folds the adapters into the weights.
//
// A hook that implements [AttentionHook] samples the backward of the attention products QKᵀ and
// PV per sequence and head ([Product] lists the four operand gradients and their pairs); such a
// block keeps P and the sampled pairs instead of recomputing P from Q and K.
//
// # Conventions
//
// Tensors are row-major [matrix.Dense] matrices of float32 or float64. The tokens of a batch
// of B sequences of length S are pooled: row t = b·S + s. Linear layers compute Z = HW + b with W
// stored d_in×d_out. Every linear layer runs through [linear.Forward] and
// [linear.BackwardAdd]; a [Hook] chooses, per layer and step, exact backward or a
// sketch of the pooled tokens (Algorithm 1 of the paper) and sees each layer's output gradient.
//
// Backward recomputes the attention probabilities from the saved queries and keys instead of
// keeping them, so that the activations kept for backward grow linearly in the sequence length.
//
// Masked (padding) tokens are never attended to: their attention scores are −∞, so they change
// no unmasked value and receive zero gradient through every path that reaches the loss.
//
// Linear layers are numbered block·6 + kind with kinds in the order q, k, v, o, ffn_in, ffn_out
// ([LayerID.Index]; [Kind] is the one list of kinds).
package model
