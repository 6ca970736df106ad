package train

import (
	"fmt"
	"math"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/model"
)

// attnCache is the gradient-norm cache of one sampled attention product of one block: per
// training sample, heads × size norms (size the longest sequence, or d_h for the channels of
// ProductP), written when the sample was last seen.
type attnCache struct {
	size  int
	norms []float32 // N·heads·size
	warm  []bool    // N
}

// attentionStream is the Philox stream of the sketch of product p of block l: above every
// linear layer's stream (a layer's index), so no two sketches of a step share one.
func attentionStream(block int, p model.Product) uint64 {
	return 1<<32 + uint64(block)*uint64(len(model.Products())) + uint64(p)
}

// newAttnCaches returns the caches of the products cfg samples, per block.
func newAttnCaches(cfg Config, nTrain, maxLen int) [][]*attnCache {
	out := make([][]*attnCache, cfg.Blocks)
	for l := range out {
		out[l] = make([]*attnCache, len(model.Products()))
		for _, p := range model.Products() {
			if !cfg.Attention.Samples(p) {
				continue
			}
			size := maxLen
			if p == model.ProductP {
				size = cfg.Dim / cfg.Heads
			}
			out[l][p] = &attnCache{size: size, norms: make([]float32, nTrain*cfg.Heads*size), warm: make([]bool, nTrain)}
		}
	}
	return out
}

// AttentionSampled implements model.AttentionHook: the products the configuration samples.
func (s *sampler[T]) AttentionSampled(l int, p model.Product) bool { return s.attn[l][p] != nil }

// AttentionSketch implements model.AttentionHook: the stratified WTA-CRS sketch of product p of
// block l over the batch's sequence-heads, from the operand norms and the cached gradient
// norms, filled and floored per product as the linear layers' are ([sampler.cachedNorms]).
func (s *sampler[T]) AttentionSketch(l int, p model.Product, norms []float64, strata, size int) (*estimator.Sketch, error) {
	c := s.attn[l][p]
	if c == nil {
		return nil, nil
	}
	b := s.attnCachedNorms(c, p, strata, size)
	w, err := estimator.WeightsFromNorms(norms, b)
	if err != nil {
		return nil, fmt.Errorf("%w: block %d attention %v step %d: %w", ErrDiverged, l, p, s.step, err)
	}
	k, err := estimator.Budget(s.cfg.Attention.Ratio, size)
	if err != nil {
		return nil, fmt.Errorf("block %d attention %v step %d: %w", l, p, s.step, err)
	}
	rule := estimator.COwn
	if s.cfg.Attention.CRule == CRuleShared {
		rule = estimator.CShared
	}
	plan, err := estimator.NewStratifiedWTACRS(w, strata, k, rule)
	if err != nil {
		return nil, fmt.Errorf("block %d attention %v step %d: %w", l, p, s.step, err)
	}
	return plan.SampleMerged(s.seed, attentionStream(l, p)), nil
}

// validPair reports whether pair j of a stratum of sequence r can have a nonzero gradient:
// every channel, and the valid (unmasked) positions.
func (s *sampler[T]) validPair(p model.Product, r, j int) bool {
	return p == model.ProductP || s.batch.Mask[r*s.batch.S+j]
}

// attnCachedNorms returns b for the strata·size pairs: the cached norm of a warm sample's valid
// pair, completed by [fillCold] as the linear layers' are.
func (s *sampler[T]) attnCachedNorms(c *attnCache, p model.Product, strata, size int) []float64 {
	heads := s.cfg.Heads
	b := make([]float64, strata*size)
	for g := 0; g < strata; g++ {
		r, h := g/heads, g%heads
		idx := s.indices[r]
		if !c.warm[idx] {
			continue
		}
		row := c.norms[(idx*heads+h)*c.size:]
		for j := 0; j < size; j++ {
			if s.validPair(p, r, j) {
				b[g*size+j] = float64(row[j])
			}
		}
	}
	fillCold(b, func(t int) bool { return s.validPair(p, t/size/heads, t%size) }, func(t int) bool { return !c.warm[s.indices[t/size/heads]] })
	return b
}

// AttentionGradient implements model.AttentionHook: it writes the gradient norms of product p
// of block l into its cache.
func (s *sampler[T]) AttentionGradient(l int, p model.Product, norms []float64) error {
	c := s.attn[l][p]
	if c == nil {
		return nil
	}
	heads := s.cfg.Heads
	size := len(norms) / (s.batch.B * heads)
	for r, idx := range s.indices {
		for h := 0; h < heads; h++ {
			row := c.norms[(idx*heads+h)*c.size : (idx*heads+h+1)*c.size]
			clear(row)
			for j := 0; j < size; j++ {
				v := norms[(r*heads+h)*size+j]
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return fmt.Errorf("%w: block %d attention %v gradient norm %v at step %d", ErrDiverged, l, p, v, s.step)
				}
				row[j] = float32(v)
			}
		}
		c.warm[idx] = true
	}
	return nil
}
