package train

import (
	"fmt"
	"math"

	"github.com/wtacrs/wtacrs/internal/parallel"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
)

// Precisions of AdamW's moments ([Config.OptimizerPrecision]).
const (
	OptimizerFloat64 = "float64" // moments in float64 whatever the model's precision (default)
	OptimizerModel   = "model"   // moments in the model's precision (float32 for a float32 model)
)

// adamW is AdamW (Loshchilov & Hutter) with decoupled weight decay and optional global-norm
// clipping over the model's trainable parameters only (frozen ones have no state and are never
// changed). Its moments are float64 (m64, v64) or, with [OptimizerModel] and a float32 model,
// float32 (m32, v32): exactly one pair is set. The update is computed in float64 either way;
// float32 moments are rounded when stored.
type adamW[T matrix.Float] struct {
	params                []*model.Param[T]
	m64, v64              [][]float64
	m32, v32              [][]float32
	beta1, beta2, eps, wd float64
	clip                  float64
	t                     int
}

func newAdamW[T matrix.Float](mod *model.Model[T], cfg Config) *adamW[T] {
	a := &adamW[T]{params: mod.Trainable(), beta1: cfg.Beta1, beta2: cfg.Beta2, eps: cfg.Epsilon, wd: cfg.WeightDecay, clip: cfg.ClipNorm}
	small := cfg.OptimizerPrecision == OptimizerModel && matrix.ElemSize[T]() == 4
	for _, p := range a.params {
		if small {
			a.m32 = append(a.m32, make([]float32, len(p.G)))
			a.v32 = append(a.v32, make([]float32, len(p.G)))
		} else {
			a.m64 = append(a.m64, make([]float64, len(p.G)))
			a.v64 = append(a.v64, make([]float64, len(p.G)))
		}
	}
	return a
}

// stateBytes returns the bytes of the moments.
func (a *adamW[T]) stateBytes() int {
	n := 0
	for k := range a.params {
		if a.m32 != nil {
			n += 4 * (len(a.m32[k]) + len(a.v32[k]))
		} else {
			n += 8 * (len(a.m64[k]) + len(a.v64[k]))
		}
	}
	return n
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
		if a.m32 != nil {
			adamUpdate(a, p, a.m32[k], a.v32[k], lr, scale, c1, c2)
		} else {
			adamUpdate(a, p, a.m64[k], a.v64[k], lr, scale, c1, c2)
		}
	}
	return nil
}

// updateMinWork is the number of entries of a parameter from which its update runs on several
// goroutines.
const updateMinWork = 1 << 15

// adamUpdate updates one parameter and its moments m, v; c1 and c2 are the bias corrections.
// Each entry is updated alone: the split over goroutines does not change a bit.
func adamUpdate[T, M matrix.Float](a *adamW[T], p *model.Param[T], m, v []M, lr, scale, c1, c2 float64) {
	parallel.Chunks(len(p.G), 1, updateMinWork, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := float64(p.G[i]) * scale
			mi := a.beta1*float64(m[i]) + (1-a.beta1)*g
			vi := a.beta2*float64(v[i]) + (1-a.beta2)*g*g
			m[i], v[i] = M(mi), M(vi)
			mi, vi = float64(m[i]), float64(v[i])
			w := float64(p.W.Data[i])
			w -= lr * (mi/c1/(math.Sqrt(vi/c2)+a.eps) + a.wd*w)
			p.W.Data[i] = T(w)
		}
	})
}
