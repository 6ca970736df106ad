package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
)

// allPairs is an attention hook whose sketches keep every pair of the sampled products with
// the given scale: with scale 1 the sampled backward must equal the exact one.
type allPairs struct {
	products []Product
	scale    float64
	grads    map[Product]int
}

func (a *allPairs) Sketch(int, matrix.Dense[float64]) (*estimator.Sketch, error) { return nil, nil }
func (a *allPairs) Gradient(int, matrix.Dense[float64]) error                    { return nil }
func (a *allPairs) AttentionSampled(_ int, p Product) bool {
	for _, q := range a.products {
		if q == p {
			return true
		}
	}
	return false
}

func (a *allPairs) AttentionSketch(_ int, p Product, norms []float64, strata, size int) (*estimator.Sketch, error) {
	if len(norms) != strata*size {
		panic("norms of the wrong length")
	}
	for _, q := range a.products {
		if q == p {
			s := &estimator.Sketch{M: strata * size}
			for i := 0; i < strata*size; i++ {
				s.Index = append(s.Index, i)
				s.Scale = append(s.Scale, a.scale)
			}
			return s, nil
		}
	}
	return nil, nil
}

func (a *allPairs) AttentionGradient(_ int, p Product, norms []float64) error {
	a.grads[p] += len(norms)
	return nil
}

// TestSampledAttentionKeepingEveryPairIsExact checks the sampled attention backward, product by
// product and all together, with and without recomputation: keeping every pair with scale 1
// gives the exact gradients (to rounding), a scale of 2 changes them (so the sketch is read),
// and the kept bytes are those documented.
func TestSampledAttentionKeepingEveryPairIsExact(t *testing.T) {
	t.Parallel()
	grads := func(m *Model[float64], h Hook[float64]) ([]float64, *Tape[float64]) {
		tape, err := m.Forward(tinyBatch(), h)
		require.NoError(t, err)
		m.ZeroGrad()
		require.NoError(t, m.Backward(tape, h))
		var out []float64
		for _, p := range m.Params {
			out = append(out, p.G...)
		}
		return out, tape
	}
	for _, rc := range []bool{false, true} {
		cfg := tinyConfig()
		cfg.Recompute = rc
		m, err := New[float64](cfg, 5)
		require.NoError(t, err)
		exact, exactTape := grads(m, nil)
		for _, ps := range [][]Product{{ProductQ}, {ProductK}, {ProductP}, {ProductV}, Products()} {
			h := &allPairs{products: ps, scale: 1, grads: map[Product]int{}}
			got, tape := grads(m, h)
			assert.InDeltaSlice(t, exact, got, 1e-12, "recompute %v products %v", rc, ps)
			for _, p := range ps {
				size := tinyBatch().S
				if p == ProductP {
					size = cfg.Dim / cfg.Heads
				}
				assert.Equal(t, cfg.Blocks*tinyBatch().B*cfg.Heads*size, h.grads[p], "%v", p)
			}
			h2 := &allPairs{products: ps, scale: 2, grads: map[Product]int{}}
			doubled, _ := grads(m, h2)
			assert.NotEqual(t, exact, doubled, "%v", ps)
			if len(ps) == 4 {
				// All sampled: P (B·H·S·S) and the kept K and Q rows and V columns (B·S·d
				// each) with an index each, and ProductV's indices and scales.
				bb, s, d := tinyBatch().B, tinyBatch().S, cfg.Dim
				want := (bb*cfg.Heads*s*s+3*bb*s*d)*8 + (2*bb*cfg.Heads*s+bb*d)*8 + 2*bb*cfg.Heads*s*8
				assert.Equal(t, want, tape.AttentionBytes(0))
				// The exact path keeps Q, K and V (B·S·d each), or nothing when it recomputes.
				exactWant := 3 * bb * s * d * 8
				if rc {
					exactWant = 0
				}
				assert.Equal(t, exactWant, exactTape.AttentionBytes(0))
			}
		}
	}
}
