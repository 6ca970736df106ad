// Package train fine-tunes the transformer encoder of package model on an RTE-format task, each
// linear layer running exact or WTA-CRS backward (Algorithm 1 of the paper), and lets callers
// observe the per-token norms the sampler sees.
package train

import "fmt"

// LayerKind names a kind of linear layer of an encoder block.
type LayerKind string

// The linear layers of an encoder block.
const (
	Query  LayerKind = "q"
	Key    LayerKind = "k"
	Value  LayerKind = "v"
	Output LayerKind = "o"
	FFNIn  LayerKind = "ffn_in"
	FFNOut LayerKind = "ffn_out"
)

// LayerID names one linear layer of the model.
type LayerID struct {
	Block int       // 0-based encoder block
	Kind  LayerKind // which projection
}

// String returns "block<B>.<kind>", for example "block0.q".
func (l LayerID) String() string { return fmt.Sprintf("block%d.%s", l.Block, l.Kind) }

// Observation holds the per-token norms of one linear layer at one training step. Tokens of the
// batch are pooled: index t = sample·SeqLen + position.
type Observation struct {
	Step  int // 1-based optimiser step
	Epoch int // 0-based epoch
	Layer LayerID
	// Valid is false for padding tokens.
	Valid []bool
	// ActNorms are the exact ‖H_t‖ of this step's layer input.
	ActNorms []float64
	// GradNorms are the exact ‖∇Z_t‖ of this step's output gradient.
	GradNorms []float64
	// CachedGradNorms are the cached ‖∇Z_t‖ the sampler used in forward (nil for an exact layer).
	CachedGradNorms []float64
	// CacheCold reports that the cache had no entry for some sample of the batch (first epoch).
	CacheCold bool
	// K is the budget of pooled tokens the layer kept (0 for an exact layer).
	K int
}

// Observer receives observations. Wants is asked before a step's forward pass so that norms are
// computed only where needed; Observe is called after that step's backward pass.
type Observer interface {
	Wants(step int, layer LayerID) bool
	Observe(o Observation)
}
