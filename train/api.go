// Package train fine-tunes the transformer encoder of package model on an RTE-format task, each
// linear layer running exact or WTA-CRS backward (Algorithm 1 of the paper), and lets callers
// observe the per-token norms the sampler sees.
package train

import (
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
)

// Observation holds the per-token norms of one linear layer at one training step and, for a
// [MatrixObserver] that asks for them, the layer's input and output gradient themselves. Tokens
// of the batch are pooled: index t = sample·SeqLen + position.
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
	// H is the layer input (tokens × d_in) and GradZ its output gradient (tokens × d_out),
	// converted to float64, when the observer is a MatrixObserver whose WantsMatrices asked for
	// them; empty otherwise. They are copies the observer may keep, but read-only: layers with
	// the same input at a step (q, k and v) share one H.
	H, GradZ matrix.Dense[float64]
}

// Observer receives observations. Wants is asked before a step's forward pass so that norms are
// computed only where needed; Observe is called after that step's backward pass.
type Observer interface {
	Wants(step int, layer model.LayerID) bool
	Observe(o Observation)
}

// MatrixObserver is an Observer that also receives the matrices H and ∇Z of some of the layers
// it observes (for the exact closed-form variances). WantsMatrices is asked, before a step's
// forward pass, only for the layers Wants accepted; each wanted layer's H and ∇Z are then held in
// float64 until Observe, which costs tokens × (d_in + d_out) × 8 bytes per layer.
type MatrixObserver interface {
	Observer
	WantsMatrices(step int, layer model.LayerID) bool
}
