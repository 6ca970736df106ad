package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/linear"
	"github.com/wtacrs/wtacrs/matrix"
)

// Errors returned by this package, wrapped with context.
var (
	// ErrConfig reports model sizes out of range.
	ErrConfig = errors.New("model: invalid configuration")
	// ErrInput reports a batch that does not fit the model.
	ErrInput = errors.New("model: invalid input")
)

// Config holds the model sizes.
type Config struct {
	// Vocab is the vocabulary size, ≥ 1: token ids are in [0, Vocab).
	Vocab int
	// Dim is the model width d, ≥ 1.
	Dim int
	// Heads is the number of attention heads, a divisor of Dim.
	Heads int
	// Blocks is the number of encoder blocks, ≥ 1.
	Blocks int
	// FFN is the feed-forward hidden width, ≥ 1.
	FFN int
	// MaxLen is the longest sequence in tokens (the rows of the position embedding), ≥ 1.
	MaxLen int
	// Classes is the number of output classes of the classification head, ≥ 2; or 0 for a
	// model without one (no "head.*" parameters), allowed only with an MLM head.
	Classes int
	// Segments is the number of segment (sentence) types with their own embedding; 0 for none.
	Segments int
	// Recompute makes backward recompute the queries, keys, values and feed-forward
	// pre-activations of each block from the saved LayerNorm outputs instead of keeping them:
	// less activation memory for about 15% more arithmetic, same numbers bit for bit. The
	// heads keep their activations either way.
	Recompute bool
	// ReuseLayerNorm makes the linear layers that read a LayerNorm output (q, k, v and ffn_in,
	// and their LoRA adapters' A products) keep no copy of it: the LayerNorm keeps x̂ for its own
	// backward anyway, and backward re-forms from x̂, the gain and the bias the rows each layer
	// needs (all of them, or the kept rows times their scales), bit for bit what forward read.
	// It saves one n×d copy per LayerNorm for exact layers and the kept rows for sampled ones,
	// for one elementwise pass in backward.
	ReuseLayerNorm bool
	// Checkpoint is full recomputation (gradient checkpointing): forward keeps only each block's
	// input, and backward reruns each block's forward from it, with the sketches forward drew,
	// right before that block's backward, then releases what the rerun kept. Same numbers bit
	// for bit, for about one more forward pass of arithmetic. Sampled attention products are
	// not supported with it (Forward returns ErrInput).
	Checkpoint bool
	// ChunkTokens, when positive, runs each block, forward and backward, over groups of whole
	// sequences of about this many tokens (at least one sequence): no n×f activation of the
	// feed-forward layer and no n×d_out gradient is formed whole, so the step's workspace
	// shrinks to a group's. A sampled ffn_out is then sketched from the row norms of its input
	// ([NormHook]) and its kept rows are formed again from the LayerNorm output. The same
	// computation up to rounding (the products run over fewer rows and the weight gradients
	// sum over the groups). A block runs whole when it samples attention products or when the
	// hook is not a NormHook or needs some layer's rows whole; forward's attention half runs by
	// groups only with Recompute, its feed-forward half only without adapters on ffn_in and
	// ffn_out. 0 (the default) runs every block whole.
	ChunkTokens int
	// Pooling is the vector the classification head reads; the zero value, PoolCLS, reads
	// position 0.
	Pooling Pooling
	// MLM is the masked-language-model head; the zero value, MLMNone, is none.
	MLM MLMHead
}

// Validate returns an error wrapping ErrConfig for sizes out of range, an unknown pooling or
// MLM head, or a model with neither a classification nor an MLM head.
func (c Config) Validate() error {
	if c.Vocab < 1 || c.Dim < 1 || c.Heads < 1 || c.Dim%c.Heads != 0 || c.Blocks < 1 || c.FFN < 1 || c.MaxLen < 1 || c.Classes < 0 || c.Classes == 1 || c.Segments < 0 {
		return fmt.Errorf("%w: %+v", ErrConfig, c)
	}
	switch {
	case !c.Pooling.Valid():
		return fmt.Errorf("%w: unknown pooling %v", ErrConfig, c.Pooling)
	case !c.MLM.Valid():
		return fmt.Errorf("%w: unknown masked-language-model head %v", ErrConfig, c.MLM)
	case c.ChunkTokens < 0:
		return fmt.Errorf("%w: chunk of %d tokens < 0", ErrConfig, c.ChunkTokens)
	case c.Classes == 0 && c.MLM == MLMNone:
		return fmt.Errorf("%w: no classification head (0 classes) and no masked-language-model head", ErrConfig)
	}
	return nil
}

// Architecture returns c without the options that choose how the model runs rather than what
// it computes (Recompute, ReuseLayerNorm, Checkpoint, ChunkTokens): what a checkpoint stores.
func (c Config) Architecture() Config {
	c.Recompute, c.ReuseLayerNorm, c.Checkpoint, c.ChunkTokens = false, false, false, 0
	return c
}

// HasHead reports whether the model has a classification head (Classes > 0).
func (c Config) HasHead() bool { return c.Classes > 0 }

// Param is one parameter tensor and its gradient accumulator.
type Param[T matrix.Float] struct {
	// Name names the tensor, unique in the model: for example "tok_emb", "block0.q.w",
	// "block0.ln1.g", "head.b" or "mlm.dense.w".
	Name string
	// W is the value (a vector is 1×n).
	W matrix.Dense[T]
	// G is the gradient accumulator, the same length as W.Data (nil for a frozen parameter);
	// backward adds to it and [Model.ZeroGrad] clears it.
	G []T
	// Frozen marks a parameter that is not trained (the base weights under LoRA, see
	// [Model.AddLoRA]): it has no gradient accumulator, and backward computes nothing that only
	// it needs.
	Frozen bool
}

type block[T matrix.Float] struct {
	ln1g, ln1b, ln2g, ln2b *Param[T]
	w, b                   [LinearPerBlock]*Param[T]
	ad                     [LinearPerBlock]*adapter[T] // nil for a layer without LoRA
}

// Model is the encoder with its parameters.
type Model[T matrix.Float] struct {
	// Cfg is the configuration the model was built with.
	Cfg Config
	// Params lists every parameter, in a fixed order: the embeddings ("tok_emb", "pos_emb",
	// "seg_emb" with segments); the blocks in order, each "blockL.ln1.g", "blockL.ln1.b", the
	// weight and bias of q, k, v and o, "blockL.ln2.g", "blockL.ln2.b", then those of ffn_in
	// and ffn_out; the final LayerNorm "lnf.g", "lnf.b"; the classification head "head.w",
	// "head.b" (when Classes > 0); and last the MLM head (when MLM is not MLMNone):
	// "mlm.dense.w", "mlm.dense.b", "mlm.ln.g", "mlm.ln.b", "mlm.out.w" (untied only) and
	// "mlm.b".
	Params []*Param[T]
	tok    *Param[T]
	pos    *Param[T]
	seg    *Param[T] // nil without segments
	blocks []block[T]
	lnfg   *Param[T]
	lnfb   *Param[T]
	headW  *Param[T] // nil without a classification head
	headB  *Param[T]
	mlm    *mlmParams[T] // nil without an MLM head
	lora   *LoRA         // nil without adapters
}

// New returns a model with weights drawn from N(0, 0.02²), zero biases and unit LayerNorm gains,
// deterministically from seed: the weights draw from one stream in the order of
// [Model.Params], so the parameters a configuration shares with another (the same sizes
// with and without an MLM head, or another pooling) start equal. It returns ErrConfig for a
// bad configuration.
func New[T matrix.Float](cfg Config, seed uint64) (*Model[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6d6f64656c))
	m := &Model[T]{Cfg: cfg}
	param := func(name string, r, c int, init func() float64) *Param[T] {
		p := &Param[T]{Name: name, W: matrix.Dense[T]{Rows: r, Cols: c, Data: make([]T, r*c)}, G: make([]T, r*c)}
		for i := range p.W.Data {
			p.W.Data[i] = T(init())
		}
		m.Params = append(m.Params, p)
		return p
	}
	normal := func() float64 { return 0.02 * rng.NormFloat64() }
	zero := func() float64 { return 0 }
	one := func() float64 { return 1 }
	d := cfg.Dim
	m.tok = param("tok_emb", cfg.Vocab, d, normal)
	m.pos = param("pos_emb", cfg.MaxLen, d, normal)
	if cfg.Segments > 0 {
		m.seg = param("seg_emb", cfg.Segments, d, normal)
	}
	for l := 0; l < cfg.Blocks; l++ {
		var b block[T]
		pre := fmt.Sprintf("block%d.", l)
		b.ln1g, b.ln1b = param(pre+"ln1.g", 1, d, one), param(pre+"ln1.b", 1, d, zero)
		for p, k := range Kinds() {
			in, out := k.Shape(d, cfg.FFN)
			b.w[p] = param(pre+string(k)+".w", in, out, normal)
			b.b[p] = param(pre+string(k)+".b", 1, out, zero)
			if k == Output {
				b.ln2g, b.ln2b = param(pre+"ln2.g", 1, d, one), param(pre+"ln2.b", 1, d, zero)
			}
		}
		m.blocks = append(m.blocks, b)
	}
	m.lnfg, m.lnfb = param("lnf.g", 1, d, one), param("lnf.b", 1, d, zero)
	if cfg.HasHead() {
		m.headW, m.headB = param("head.w", d, cfg.Classes, normal), param("head.b", 1, cfg.Classes, zero)
	}
	if cfg.MLM != MLMNone {
		h := &mlmParams[T]{}
		h.denseW, h.denseB = param("mlm.dense.w", d, d, normal), param("mlm.dense.b", 1, d, zero)
		h.lnG, h.lnB = param("mlm.ln.g", 1, d, one), param("mlm.ln.b", 1, d, zero)
		if cfg.MLM == MLMUntied {
			h.outW = param("mlm.out.w", d, cfg.Vocab, normal)
		}
		h.bias = param("mlm.b", 1, cfg.Vocab, zero)
		m.mlm = h
	}
	return m, nil
}

// Param returns the parameter called name ([Param.Name]), or nil when the model has none.
func (m *Model[T]) Param(name string) *Param[T] {
	for _, p := range m.Params {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// ZeroGrad sets every gradient to zero.
func (m *Model[T]) ZeroGrad() {
	for _, p := range m.Params {
		clear(p.G)
	}
}

// NumParams returns the number of scalar parameters.
func (m *Model[T]) NumParams() int {
	n := 0
	for _, p := range m.Params {
		n += len(p.W.Data)
	}
	return n
}

// Linear returns the weight (d_in×d_out) and bias parameters of linear layer i
// ([LayerID.Index]).
func (m *Model[T]) Linear(i int) (w, b *Param[T]) {
	id := LayerOf(i)
	bl := m.blocks[id.Block]
	return bl.w[id.Kind.Position()], bl.b[id.Kind.Position()]
}

// Batch is B sequences of S pooled tokens: token t = b·S + s.
type Batch struct {
	// B is the number of sequences, ≥ 1, and S the tokens per sequence, 1 ≤ S ≤ Config.MaxLen.
	B, S int
	// Tokens are the B·S token ids, each in [0, Config.Vocab).
	Tokens []int
	// Mask has B·S entries, false for padding. Position 0 ([CLS]) of every sequence must be
	// true.
	Mask []bool
	// Segments are B·S segment ids in [0, Config.Segments), or nil (all segment 0, or no
	// segment embedding when Config.Segments is 0).
	Segments []int
	// Labels are the B labels in [0, Config.Classes); nil for inference or without a
	// classification head.
	Labels []int
	// MLMTargets are, for a model with an MLM head, nil or B·S entries: the token id in
	// [0, Config.Vocab) to predict at each predicted position, which must be valid (Mask
	// true), and -1 at every other position. The caller replaces the input tokens at
	// predicted positions (by a mask token, say) as it sees fit.
	MLMTargets []int
}

// Validate checks the batch against the model sizes; errors wrap ErrInput.
func (b Batch) Validate(cfg Config) error {
	n := b.B * b.S
	switch {
	case b.B < 1 || b.S < 1 || b.S > cfg.MaxLen:
		return fmt.Errorf("%w: batch %dx%d (max length %d)", ErrInput, b.B, b.S, cfg.MaxLen)
	case len(b.Tokens) != n || len(b.Mask) != n:
		return fmt.Errorf("%w: %d tokens and %d mask entries for a %dx%d batch", ErrInput, len(b.Tokens), len(b.Mask), b.B, b.S)
	case b.Labels != nil && !cfg.HasHead():
		return fmt.Errorf("%w: labels for a model without a classification head", ErrInput)
	case b.Labels != nil && len(b.Labels) != b.B:
		return fmt.Errorf("%w: %d labels for %d sequences", ErrInput, len(b.Labels), b.B)
	case b.MLMTargets != nil && cfg.MLM == MLMNone:
		return fmt.Errorf("%w: MLM targets for a model without an MLM head", ErrInput)
	case b.MLMTargets != nil && len(b.MLMTargets) != n:
		return fmt.Errorf("%w: %d MLM targets for a %dx%d batch", ErrInput, len(b.MLMTargets), b.B, b.S)
	}
	if b.Segments != nil && len(b.Segments) != n {
		return fmt.Errorf("%w: %d segment ids for a %dx%d batch", ErrInput, len(b.Segments), b.B, b.S)
	}
	for i, sg := range b.Segments {
		if sg < 0 || sg >= max(1, cfg.Segments) {
			return fmt.Errorf("%w: segment %d at position %d out of range [0, %d)", ErrInput, sg, i, max(1, cfg.Segments))
		}
	}
	for i, t := range b.Tokens {
		if t < 0 || t >= cfg.Vocab {
			return fmt.Errorf("%w: token %d at position %d out of vocabulary [0, %d)", ErrInput, t, i, cfg.Vocab)
		}
	}
	for s := 0; s < b.B; s++ {
		if !b.Mask[s*b.S] {
			return fmt.Errorf("%w: sequence %d has its first token masked", ErrInput, s)
		}
	}
	for i, l := range b.Labels {
		if l < 0 || l >= cfg.Classes {
			return fmt.Errorf("%w: label %d of sequence %d out of range [0, %d)", ErrInput, l, i, cfg.Classes)
		}
	}
	for i, y := range b.MLMTargets {
		switch {
		case y == -1:
		case y < 0 || y >= cfg.Vocab:
			return fmt.Errorf("%w: MLM target %d at position %d neither -1 nor in the vocabulary [0, %d)", ErrInput, y, i, cfg.Vocab)
		case !b.Mask[i]:
			return fmt.Errorf("%w: MLM target at padding position %d", ErrInput, i)
		}
	}
	return nil
}

// Hook chooses the backward of each linear layer. Sketch is called in forward with the layer's
// input H (n×d_in; read-only) and returns a sketch over its n rows, or nil for exact backward.
// Gradient is called in backward with the layer's output gradient ∇Z (read-only, n×d_out)
// before the weight gradient is formed. For a layer with a LoRA adapter ([Model.AddLoRA]) the
// sketch is that of the A product (its weight gradient Hᵀ∇U is the one that needs H) and
// Gradient receives that product's output gradient ∇U = (α/r)·∇Z·Bᵀ (n×r); a frozen layer
// without adapter has no weight gradient and calls neither. A hook that also implements
// [AttentionHook] chooses the backward of the attention products.
type Hook[T matrix.Float] interface {
	Sketch(linear int, h matrix.Dense[T]) (*estimator.Sketch, error)
	Gradient(linear int, gradZ matrix.Dense[T]) error
}

type blockTape[T matrix.Float] struct {
	xhat1, xhat2 matrix.Dense[T]
	inv1, inv2   []T
	q, k, v, u   matrix.Dense[T]
	lin          [LinearPerBlock]linear.Saved[T]
	ad           [LinearPerBlock]loraSaved[T] // the adapters' saved inputs; zero without LoRA
	attn         *attnTape[T]                 // nil unless some attention product is sampled
	// reformed marks the layers whose saved inputs (lin and ad's a) hold no rows: backward
	// re-forms them from the LayerNorm's x̂ (Config.ReuseLayerNorm), the kept rows times
	// scale (one entry per kept row; nil for an exact layer).
	reformed [LinearPerBlock]bool
	scale    [LinearPerBlock][]T
	// ckpt is, with Config.Checkpoint, what forward kept of the block (its input and the
	// sketches it drew); the other fields are then filled only while the block's backward runs.
	ckpt *blockCheckpoint[T]
}

// blockCheckpoint is what a checkpointed block keeps between forward and backward.
type blockCheckpoint[T matrix.Float] struct {
	x        matrix.Dense[T]                   // the block's input
	sketches [LinearPerBlock]*estimator.Sketch // nil for an exact layer
	kept     [LinearPerBlock]linear.Saved[T]   // N and Index only: for Tape.SampledRows
}

// loraSaved is what an adapter keeps for backward: the input H of its A product (all of it, or
// the rows a sketch kept) and the input HA of its B product.
type loraSaved[T matrix.Float] struct {
	a, b linear.Saved[T]
}

// Tape holds what a forward pass saved for backward, and its outputs.
type Tape[T matrix.Float] struct {
	batch  Batch
	blocks []blockTape[T]
	xhatF  matrix.Dense[T]
	invF   []T
	cls    matrix.Dense[T] // B×d normalised pooled rows fed to the head
	// Logits are the classification head's outputs, B×Classes, one row per sequence; empty
	// (0×0) without a classification head.
	Logits matrix.Dense[T]
	// Loss is the mean classification cross-entropy over the batch (0 without labels).
	Loss    float64
	dLogits matrix.Dense[T]
	// MLMLoss is the mean cross-entropy of the MLM head over the predicted positions (0 when
	// none is predicted or the batch has no MLM targets).
	MLMLoss float64
	// MLMPredicted is the number of predicted positions (MLM targets other than -1).
	MLMPredicted int
	// MLMCorrect is the number of predicted positions whose highest logit (the first, on a
	// tie) is the target.
	MLMCorrect int
	mlm        *mlmTape[T] // nil without MLM targets
}

// Forward runs the model on a batch and returns the tape backward needs, with the logits and,
// when the batch has labels, the loss, and, when it has MLM targets, the MLM loss and counts.
// A nil hook makes every layer exact; the hook sees the linear layers of the blocks only, not
// the heads. Errors: ErrInput for a bad batch, the hook's errors and the estimator's (its
// ErrNonFinite for a NaN or Inf logit).
func (m *Model[T]) Forward(b Batch, hook Hook[T]) (*Tape[T], error) {
	if err := b.Validate(m.Cfg); err != nil {
		return nil, err
	}
	d, n := m.Cfg.Dim, b.B*b.S
	x := newDense[T](n, d)
	for t, id := range b.Tokens {
		row, te, pe := x.Row(t), m.tok.W.Row(id), m.pos.W.Row(t%b.S)
		for j := range row {
			row[j] = te[j] + pe[j]
		}
		if m.seg != nil {
			sg := 0
			if b.Segments != nil {
				sg = b.Segments[t]
			}
			for j, v := range m.seg.W.Row(sg) {
				row[j] += v
			}
		}
	}
	tape := &Tape[T]{batch: b, blocks: make([]blockTape[T], m.Cfg.Blocks)}
	if m.Cfg.Checkpoint {
		if ah, ok := hook.(AttentionHook); ok {
			for l := range m.blocks {
				if samplesAttention(ah, l) {
					return nil, fmt.Errorf("%w: block %d samples its attention products, which checkpointing (full recomputation) does not support", ErrInput, l)
				}
			}
		}
	}
	for l := range m.blocks {
		bt := &tape.blocks[l]
		if !m.Cfg.Checkpoint {
			if err := m.blockForward(l, x, b, hook, bt); err != nil {
				return nil, err
			}
			continue
		}
		ck := &blockCheckpoint[T]{x: matrix.Dense[T]{Rows: x.Rows, Cols: x.Cols, Data: slices.Clone(x.Data)}}
		rec := &recordingHook[T]{Hook: hook, ck: ck}
		var h Hook[T]
		if hook != nil {
			h = rec
		}
		if err := m.blockForward(l, x, b, h, bt); err != nil {
			return nil, err
		}
		for p, s := range bt.lin {
			ck.kept[p] = linear.Saved[T]{N: s.N, Index: s.Index}
			if a := bt.ad[p].a; a.N > 0 {
				ck.kept[p] = linear.Saved[T]{N: a.N, Index: a.Index}
			}
		}
		*bt = blockTape[T]{ckpt: ck}
	}
	if m.headW != nil {
		if err := m.headForward(x, tape); err != nil {
			return nil, err
		}
	}
	if b.MLMTargets != nil {
		if err := m.mlmForward(x, b.MLMTargets, tape); err != nil {
			return nil, err
		}
	}
	return tape, nil
}

// headForward runs the pooling, the final LayerNorm and the classification head on the last
// block's output x and, with labels, the cross-entropy.
func (m *Model[T]) headForward(x matrix.Dense[T], tape *Tape[T]) error {
	b := tape.batch
	cls := m.pool(x, b)
	var y matrix.Dense[T]
	y, tape.xhatF, tape.invF = layerNormForward(cls, m.lnfg.W.Data, m.lnfb.W.Data)
	tape.cls = y
	logits, err := matrix.Product(y, m.headW.W)
	if err != nil {
		return fmt.Errorf("model: head: %w", err)
	}
	for s := 0; s < b.B; s++ {
		for j, v := range m.headB.W.Data {
			logits.Row(s)[j] += v
		}
	}
	for _, v := range logits.Data {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%w: non-finite logit", estimator.ErrNonFinite)
		}
	}
	tape.Logits = logits
	if b.Labels != nil {
		tape.Loss, tape.dLogits = crossEntropy(logits, b.Labels)
	}
	return nil
}

// pool returns the B×d rows the classification head reads (before the final LayerNorm): the
// row of position 0 of each sequence, or the mean of its valid rows.
func (m *Model[T]) pool(x matrix.Dense[T], b Batch) matrix.Dense[T] {
	d := x.Cols
	out := newDense[T](b.B, d)
	if m.Cfg.Pooling == PoolCLS {
		for s := 0; s < b.B; s++ {
			copy(out.Row(s), x.Row(s*b.S))
		}
		return out
	}
	acc := make([]float64, d)
	for s := 0; s < b.B; s++ {
		clear(acc)
		n := 0
		for p := 0; p < b.S; p++ {
			if !b.Mask[s*b.S+p] {
				continue
			}
			n++
			for j, v := range x.Row(s*b.S + p) {
				acc[j] += float64(v)
			}
		}
		row := out.Row(s)
		for j, v := range acc {
			row[j] = T(v / float64(n)) // n ≥ 1: position 0 is valid
		}
	}
	return out
}

// poolBackward writes into dx (n×d, zero on entry) the gradient of the pooled rows dp (B×d).
func (m *Model[T]) poolBackward(dp, dx matrix.Dense[T], b Batch) {
	if m.Cfg.Pooling == PoolCLS {
		for s := 0; s < b.B; s++ {
			copy(dx.Row(s*b.S), dp.Row(s))
		}
		return
	}
	for s := 0; s < b.B; s++ {
		n := 0
		for p := 0; p < b.S; p++ {
			if b.Mask[s*b.S+p] {
				n++
			}
		}
		inv := T(1 / float64(n))
		g := dp.Row(s)
		for p := 0; p < b.S; p++ {
			if !b.Mask[s*b.S+p] {
				continue
			}
			row := dx.Row(s*b.S + p)
			for j, v := range g {
				row[j] = v * inv
			}
		}
	}
}

// samplesAttention reports whether ah may sample some attention product of block l.
func samplesAttention(ah AttentionHook, l int) bool {
	for _, p := range Products() {
		if ah.AttentionSampled(l, p) {
			return true
		}
	}
	return false
}

// adapter returns the LoRA adapter of linear layer i, or nil.
func (m *Model[T]) adapter(i int) *adapter[T] {
	id := LayerOf(i)
	return m.blocks[id.Block].ad[id.Kind.Position()]
}

// Backward adds to every parameter's G the gradient of the training loss of the tape: the
// classification loss [Tape.Loss] when the batch had labels plus the MLM loss [Tape.MLMLoss]
// when it had MLM targets (each a mean over its own terms: sequences, predicted positions).
// It returns ErrInput when the batch had neither. hook (nil for none) sees every linear
// layer's output gradient.
func (m *Model[T]) Backward(tape *Tape[T], hook Hook[T]) error {
	b := tape.batch
	if b.Labels == nil && b.MLMTargets == nil {
		return fmt.Errorf("%w: backward of a batch without labels or MLM targets", ErrInput)
	}
	if tape.mlm != nil && m.lora != nil {
		// LoRA freezes the MLM head (and releases its gradients): only fine-tuning uses it.
		return fmt.Errorf("%w: backward of MLM targets through a LoRA model, whose MLM head is frozen", ErrInput)
	}
	d, n := m.Cfg.Dim, b.B*b.S
	dx := newDense[T](n, d)
	if b.Labels != nil {
		m.headBackward(tape, dx)
	}
	if tape.mlm != nil {
		if err := m.mlmBackward(tape.mlm, dx); err != nil {
			return err
		}
	}
	if err := m.blocksBackward(tape, dx, hook); err != nil {
		return err
	}
	for _, p := range m.Params {
		if p.Frozen {
			clear(p.G) // what a shared path (the MLM head, say) may have added
		}
	}
	return nil
}

// grad returns p's gradient accumulator, or nil when p is frozen.
func grad[T matrix.Float](p *Param[T]) []T {
	if p.Frozen {
		return nil
	}
	return p.G
}

// headBackward writes into dx (n×d, zero on entry) the gradient of the classification loss
// with respect to the last block's output, and adds the gradients of the head and the final
// LayerNorm.
func (m *Model[T]) headBackward(tape *Tape[T], dx matrix.Dense[T]) {
	b := tape.batch
	d := m.Cfg.Dim
	// Head: logits = y W + b.
	dy := newDense[T](b.B, d)
	for s := 0; s < b.B; s++ {
		gl := tape.dLogits.Row(s)
		for j, g := range gl {
			m.headB.G[j] += g
		}
		yr, dr := tape.cls.Row(s), dy.Row(s)
		for i := 0; i < d; i++ {
			wr := m.headW.W.Row(i)
			gw := m.headW.G[i*m.Cfg.Classes : (i+1)*m.Cfg.Classes]
			var acc T
			for j, g := range gl {
				gw[j] += yr[i] * g
				acc += wr[j] * g
			}
			dr[i] = acc
		}
	}
	dcls := layerNormBackward(dy, tape.xhatF, tape.invF, m.lnfg.W.Data, grad(m.lnfg), grad(m.lnfb))
	m.poolBackward(dcls, dx, b)
}

// blocksBackward back-propagates dx, the gradient of the last block's output, through the
// blocks and the embeddings.
func (m *Model[T]) blocksBackward(tape *Tape[T], dx matrix.Dense[T], hook Hook[T]) error {
	b := tape.batch
	d, n := m.Cfg.Dim, b.B*b.S
	linBack := func(i int, saved linear.Saved[T], ls loraSaved[T], gz matrix.Dense[T]) (matrix.Dense[T], error) {
		w, bias := m.Linear(i)
		ad := m.adapter(i)
		fail := func(err error) (matrix.Dense[T], error) {
			return matrix.Dense[T]{}, fmt.Errorf("model: layer %d: %w", i, err)
		}
		gh := newDense[T](n, w.W.Rows)
		gw := matrix.Dense[T]{Rows: w.W.Rows, Cols: w.W.Cols, Data: w.G}
		if w.Frozen {
			gw = matrix.Dense[T]{}
		}
		gb := bias.G
		if bias.Frozen {
			gb = nil
		}
		if ad == nil {
			if hook != nil && !w.Frozen {
				if err := hook.Gradient(i, gz); err != nil {
					return matrix.Dense[T]{}, err
				}
			}
			if err := linear.BackwardAdd(saved, w.W, gz, gh, gw, gb); err != nil {
				return fail(err)
			}
			return gh, nil
		}
		// Z = HW + b + s·(HA)B: ∇V = s·∇Z for V = (HA)B, then ∇U = ∇V·Bᵀ for U = HA.
		gv := newDense[T](n, w.W.Cols)
		for j, x := range gz.Data {
			gv.Data[j] = ad.scale * x
		}
		gu := newDense[T](n, ad.a.W.Cols)
		if err := linear.BackwardAdd(ls.b, ad.b.W, gv, gu, matrix.Dense[T]{Rows: ad.b.W.Rows, Cols: ad.b.W.Cols, Data: ad.b.G}, nil); err != nil {
			return fail(err)
		}
		if hook != nil {
			if err := hook.Gradient(i, gu); err != nil {
				return matrix.Dense[T]{}, err
			}
		}
		if err := linear.BackwardAdd(saved, w.W, gz, gh, gw, gb); err != nil {
			return fail(err)
		}
		gha := newDense[T](n, w.W.Rows)
		if err := linear.BackwardAdd(ls.a, ad.a.W, gu, gha, matrix.Dense[T]{Rows: ad.a.W.Rows, Cols: ad.a.W.Cols, Data: ad.a.G}, nil); err != nil {
			return fail(err)
		}
		add(gh, gha)
		return gh, nil
	}
	for l := len(m.blocks) - 1; l >= 0; l-- {
		bl, bt := &m.blocks[l], &tape.blocks[l]
		if ck := bt.ckpt; ck != nil {
			if err := m.rerunBlock(l, b, bt); err != nil {
				return err
			}
		}
		if nh, ok := m.chunkable(l, bt, b, hook); ok {
			if err := m.chunkedBlockBackward(l, bt, b, dx, nh); err != nil {
				return err
			}
			if ck := bt.ckpt; ck != nil {
				*bt = blockTape[T]{ckpt: ck}
			}
			continue
		}
		// The LayerNorm outputs, formed at most once each when a layer or a recomputation
		// needs them.
		y1 := lazyLayerNorm(bt.xhat1, bl.ln1g.W.Data, bl.ln1b.W.Data)
		y2 := lazyLayerNorm(bt.xhat2, bl.ln2g.W.Data, bl.ln2b.W.Data)
		back := func(k Kind, gz matrix.Dense[T]) (matrix.Dense[T], error) {
			p := k.Position()
			saved, ls := bt.lin[p], bt.ad[p]
			if bt.reformed[p] {
				xhat, g, bb, y := bt.xhat1, bl.ln1g.W.Data, bl.ln1b.W.Data, y1
				if k == FFNIn {
					xhat, g, bb, y = bt.xhat2, bl.ln2g.W.Data, bl.ln2b.W.Data, y2
				}
				saved = reform(saved, bt.scale[p], y, xhat, g, bb)
				ls.a = reform(ls.a, bt.scale[p], y, xhat, g, bb)
			}
			return linBack(LayerID{Block: l, Kind: k}.Index(), saved, ls, gz)
		}
		// x ← x + ffn_out(gelu(ffn_in(ln2(x)))).
		dg, err := back(FFNOut, dx)
		if err != nil {
			return err
		}
		u := bt.u
		if u.Data == nil {
			u = m.recompute(l, y2(), FFNIn)[0]
		}
		du := geluBackwardTo(dg, u, dg) // in place: dg is not read again
		dy2, err := back(FFNIn, du)
		if err != nil {
			return err
		}
		add(dx, layerNormBackward(dy2, bt.xhat2, bt.inv2, bl.ln2g.W.Data, grad(bl.ln2g), grad(bl.ln2b)))
		// x ← x + o(attn(q, k, v of ln1(x))).
		dctx, err := back(Output, dx)
		if err != nil {
			return err
		}
		q, k, v := bt.q, bt.k, bt.v
		if q.Data == nil && bt.attn.needsQKV() {
			qkv := m.recompute(l, y1(), Query, Key, Value)
			q, k, v = qkv[0], qkv[1], qkv[2]
		}
		var dq, dk, dv matrix.Dense[T]
		if bt.attn != nil {
			ah, ok := hook.(AttentionHook)
			if !ok {
				return fmt.Errorf("%w: block %d sampled its attention products in forward but the backward hook samples none", ErrInput, l)
			}
			if dq, dk, dv, err = sampledAttentionBackward(ah, l, bt.attn, q, k, v, dctx, m.Cfg.Heads); err != nil {
				return err
			}
		} else {
			dq, dk, dv = attentionBackward(q, k, v, b.Mask, dctx, b.B, b.S, m.Cfg.Heads)
		}
		dy1, err := back(Query, dq)
		if err != nil {
			return err
		}
		g, err := back(Key, dk)
		if err != nil {
			return err
		}
		add(dy1, g)
		if g, err = back(Value, dv); err != nil {
			return err
		}
		add(dy1, g)
		add(dx, layerNormBackward(dy1, bt.xhat1, bt.inv1, bl.ln1g.W.Data, grad(bl.ln1g), grad(bl.ln1b)))
		if ck := bt.ckpt; ck != nil {
			*bt = blockTape[T]{ckpt: ck} // the rerun's buffers serve this block only
		}
	}
	if m.tok.Frozen && m.pos.Frozen && (m.seg == nil || m.seg.Frozen) {
		return nil
	}
	for t, id := range b.Tokens {
		gr := dx.Row(t)
		te := m.tok.G[id*d : (id+1)*d]
		pe := m.pos.G[(t%b.S)*d : (t%b.S+1)*d]
		for j, v := range gr {
			te[j] += v
			pe[j] += v
		}
		if m.seg != nil {
			sg := 0
			if b.Segments != nil {
				sg = b.Segments[t]
			}
			se := m.seg.G[sg*d : (sg+1)*d]
			for j, v := range gr {
				se[j] += v
			}
		}
	}
	return nil
}

// recompute returns the outputs of the given linear layers of block that read the LayerNorm
// output y (q, k and v, or ffn_in), adapters included, computed exactly as forward computed them.
func (m *Model[T]) recompute(block int, y matrix.Dense[T], kinds ...Kind) []matrix.Dense[T] {
	out := make([]matrix.Dense[T], len(kinds))
	for c, k := range kinds {
		// With the layer's LoRA adapter, as forward computed it (a sketch changes only what is
		// kept, not the output).
		z, _, _, _, err := m.linearForward(LayerID{Block: block, Kind: k}.Index(), y, nil)
		if err != nil {
			panic("model: recomputation failed on inputs forward accepted: " + err.Error())
		}
		out[c] = z
	}
	return out
}

// Predict returns the argmax class of every sequence of the tape.
func (t *Tape[T]) Predict() []int {
	out := make([]int, t.Logits.Rows)
	for s := range out {
		row := t.Logits.Row(s)
		for j, v := range row {
			if v > row[out[s]] {
				out[s] = j
			}
		}
	}
	return out
}

// LinearSaved returns what linear layer i ([LayerID.Index]) kept for backward.
func (t *Tape[T]) LinearSaved(i int) linear.Saved[T] {
	id := LayerOf(i)
	return t.blocks[id.Block].lin[id.Kind.Position()]
}

// AttentionBytes returns the bytes block l keeps for the backward of its attention products:
// the queries, keys and values (none with Config.Recompute, which recomputes them, and none when
// every product that would read them is sampled) and, when some product is sampled, the
// probabilities P and the sampled pairs with their indices and scales.
func (t *Tape[T]) AttentionBytes(l int) int {
	bt := t.blocks[l]
	size := matrix.ElemSize[T]()
	n := (len(bt.q.Data) + len(bt.k.Data) + len(bt.v.Data)) * size
	if bt.attn != nil {
		n += bt.attn.bytes()
	}
	return n
}

// LayerBytes returns the bytes of activations linear layer i ([LayerID.Index]) keeps for its
// backward: its input (all of it or the rows a sketch kept, with their indices) for its weight
// gradient, nothing for a frozen weight, plus, with a LoRA adapter, the input of its A product
// (all or sampled rows) and the n×r input of its B product. An input shared with other layers
// (q, k and v read one) is counted in full for each. With Config.ReuseLayerNorm a layer reading
// a LayerNorm output keeps only its indices and scales (the LayerNorm's x̂ is counted by
// [Tape.SavedParts] under Other), and with Config.Checkpoint no layer keeps anything between
// forward and backward.
func (t *Tape[T]) LayerBytes(i int) int {
	id := LayerOf(i)
	bt := t.blocks[id.Block]
	p := id.Kind.Position()
	return bt.lin[p].Bytes() + bt.ad[p].a.Bytes() + bt.ad[p].b.Bytes() + len(bt.scale[p])*matrix.ElemSize[T]()
}

// SampledRows returns the rows of its input linear layer i keeps for the product WTA-CRS samples
// (the weight gradient, or the LoRA A product's) and the layer's n tokens.
func (t *Tape[T]) SampledRows(i int) (kept, n int) {
	id := LayerOf(i)
	bt := t.blocks[id.Block]
	p := id.Kind.Position()
	if ck := bt.ckpt; ck != nil {
		s := ck.kept[p]
		if s.Index != nil {
			return len(s.Index), s.N
		}
		return s.N, s.N
	}
	s := bt.lin[p]
	if a := bt.ad[p].a; a.N > 0 {
		s = a
	}
	return s.H.Rows, s.N
}

// SavedBytes returns the bytes of activations the tape keeps for backward, counting a tensor
// shared by several operations once (an exact layer shares its input's storage); it is
// [Tape.SavedParts]'s total.
func (t *Tape[T]) SavedBytes() int { return t.SavedParts().Total() }
