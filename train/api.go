// Package train fine-tunes the transformer encoder of package model on an RTE-format task, each
// linear layer running exact or WTA-CRS backward (Algorithm 1 of the paper), and lets callers
// observe the per-token norms the sampler sees.
package train

import "github.com/wtacrs/wtacrs/model"

// Observation holds the per-token norms of one linear layer at one training step. Tokens of the
// batch are pooled: index t = sample·SeqLen + position.
type Observation struct {
	// Step is the 1-based optimiser step.
	Step int
	// Epoch is the 0-based epoch of the step.
	Epoch int
	// Layer is the linear layer observed.
	Layer model.LayerID
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
	Wants(step int, layer model.LayerID) bool
	Observe(o Observation)
}
