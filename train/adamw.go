package train

import (
	"fmt"
	"math"

	"github.com/wtacrs/wtacrs/internal/parallel"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
)

// adamW is AdamW (Loshchilov & Hutter) with decoupled weight decay and optional global-norm
// clipping, its moments kept in float64, over the model's trainable parameters only (frozen
// ones have no state and are never changed).
type adamW[T matrix.Float] struct {
	params                []*model.Param[T]
	m, v                  [][]float64
	beta1, beta2, eps, wd float64
	clip                  float64
	t                     int
}

func newAdamW[T matrix.Float](mod *model.Model[T], cfg Config) *adamW[T] {
	a := &adamW[T]{params: mod.Trainable(), beta1: cfg.Beta1, beta2: cfg.Beta2, eps: cfg.Epsilon, wd: cfg.WeightDecay, clip: cfg.ClipNorm}
	for _, p := range a.params {
		a.m = append(a.m, make([]float64, len(p.G)))
		a.v = append(a.v, make([]float64, len(p.G)))
	}
	return a
}

// step applies one update with learning rate lr. It returns ErrDiverged for a non-finite gradient.
func (a *adamW[T]) step(lr float64) error {
	var sq float64
	for _, p := range a.params {
		for _, g := range p.G {
			sq += float64(g) * float64(g)
		}
	}
	norm := math.Sqrt(sq)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return fmt.Errorf("%w: gradient norm %v", ErrDiverged, norm)
	}
	scale := 1.0
	if a.clip > 0 && norm > a.clip {
		scale = a.clip / norm
	}
	a.t++
	c1 := 1 - math.Pow(a.beta1, float64(a.t))
	c2 := 1 - math.Pow(a.beta2, float64(a.t))
	for k, p := range a.params {
		m, v := a.m[k], a.v[k]
		// Each entry is updated alone: the split over goroutines does not change a bit.
		parallel.Chunks(len(p.G), 1, updateMinWork, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				g := float64(p.G[i]) * scale
				m[i] = a.beta1*m[i] + (1-a.beta1)*g
				v[i] = a.beta2*v[i] + (1-a.beta2)*g*g
				w := float64(p.W.Data[i])
				w -= lr * (m[i]/c1/(math.Sqrt(v[i]/c2)+a.eps) + a.wd*w)
				p.W.Data[i] = T(w)
			}
		})
	}
	return nil
}

// updateMinWork is the number of entries of a parameter from which its update runs on several
// goroutines.
const updateMinWork = 1 << 15
