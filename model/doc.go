// Package model is a small transformer encoder for sentence-pair classification with an exact,
// hand-written backward pass for every operation: token and position embeddings, pre-LayerNorm
// encoder blocks of multi-head self-attention (Q, K, V and O projections) and a GELU
// feed-forward layer, a final LayerNorm, a classification head on the [CLS] token (position 0)
// and the mean cross-entropy.
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
