package theory

import (
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
)

// Errors returned by this package, wrapped with context.
var (
	// ErrCase reports a case description out of range.
	ErrCase = errors.New("theory: invalid case")
	// ErrUnsupported reports a plan whose law this package does not compute (sampling without
	// replacement over more than MaxEnumerated positive pairs, an unknown method, or a fourth
	// moment that is not implemented for the method).
	ErrUnsupported = errors.New("theory: unsupported plan")
	// ErrSketches reports too few sketches for a Monte Carlo check, or α outside (0, 1).
	ErrSketches = errors.New("theory: Monte Carlo parameters out of range")
)

// MaxEnumerated bounds the number of positive-weight pairs over which the law of sampling
// without replacement is enumerated.
const MaxEnumerated = 16

// Law is the exact law, entry by entry, of the estimate X'Y' of a plan, as far as the checkers
// need it. It is computed from the plan's Kept, Probs, Scales and Draws alone (and, for sampling
// without replacement, from its weights), independently of estimator.ClosedForm.
//
// One sketch's estimate is a constant (the kept pairs) plus Terms independent random terms: the
// draws of an i.i.d. plan, one term per pair for Bernoulli, the whole sketch for sampling without
// replacement, none for top-k.
type Law struct {
	// Rows and Cols are the shape of the estimate X'Y' (the rows of X, the columns of Y);
	// Mean, Var, Range and Magnitude hold Rows·Cols entries, row-major.
	Rows, Cols int
	// Mean is E[X'Y'], row-major.
	Mean []float64
	// Var is the variance of one sketch's entry.
	Var []float64
	// Range bounds |term − E term| for every random term of the entry.
	Range []float64
	// Terms is the number of independent random terms per sketch.
	Terms int
	// Magnitude is the size of the terms of the entry (Σ|X_ri Y_ic| plus the largest random
	// term times the number of terms): the scale of its rounding errors.
	Magnitude []float64
}

// Exact reports whether the estimate is deterministic (zero variance in every entry).
func (l Law) Exact() bool {
	for _, v := range l.Var {
		if v != 0 {
			return false
		}
	}
	return true
}

// TotalVariance returns Σ Var, the expected squared Frobenius deviation of one sketch from Mean.
func (l Law) TotalVariance() float64 {
	var s float64
	for _, v := range l.Var {
		s += v
	}
	return s
}

// NewLaw returns the law of the plan's estimate of XY. X must be n×m and Y m×q with finite
// entries and m = p.M; it returns an estimator.ErrShape or ErrNonFinite error otherwise, and
// ErrUnsupported for sampling without replacement over more than MaxEnumerated positive pairs.
func NewLaw(x, y matrix.Dense[float64], p *estimator.Plan) (Law, error) {
	if _, err := matrix.Product(x, y); err != nil {
		return Law{}, err
	}
	if p == nil || p.M() != x.Cols {
		return Law{}, fmt.Errorf("%w: plan does not fit X with %d columns", estimator.ErrShape, x.Cols)
	}
	n, m, q := x.Rows, x.Cols, y.Cols
	l := Law{Rows: n, Cols: q, Mean: make([]float64, n*q), Var: make([]float64, n*q),
		Range: make([]float64, n*q), Magnitude: make([]float64, n*q)}
	kept := make([]bool, m)
	for _, c := range p.Kept() {
		kept[c] = true
	}
	var subsets []subset
	if p.Method() == estimator.MethodNoReplacement {
		var err error
		if subsets, err = successiveSubsets(p.Weights(), p.Draws()); err != nil {
			return Law{}, err
		}
	}
	pl := planLaw{prob: p.Probs(), scale: p.Scales(), draws: p.Draws()}
	t := make([]float64, m) // the terms X[r,i]·Y[i,c] of one entry
	for r := range n {
		for c := range q {
			e := r*q + c
			var abs, keptSum float64
			for i := range m {
				t[i] = x.Data[r*m+i] * y.Data[i*q+c]
				abs += math.Abs(t[i])
				if kept[i] {
					keptSum += t[i]
				}
			}
			var mean, variance, rng, mag float64
			switch p.Method() {
			case estimator.MethodCRS, estimator.MethodWTACRS, estimator.MethodUniform:
				mean, variance, rng, mag = pl.iidEntry(t)
				l.Terms = pl.draws
			case estimator.MethodBernoulli:
				mean, variance, rng, mag = pl.bernoulliEntry(t)
				l.Terms = m
			case estimator.MethodTopK:
			case estimator.MethodNoReplacement:
				mean, variance, rng, mag = pl.subsetEntry(t, subsets)
				l.Terms = 1
			default:
				return Law{}, fmt.Errorf("%w: method %v", ErrUnsupported, p.Method())
			}
			l.Mean[e] = keptSum + mean
			l.Var[e] = variance
			l.Range[e] = rng
			l.Magnitude[e] = abs + mag
		}
	}
	return l, nil
}

// planLaw holds what the law of an entry reads from a plan, copied once per [NewLaw].
type planLaw struct {
	prob, scale []float64 // Plan.Probs and Plan.Scales
	draws       int
}

// iidEntry enumerates the one-draw law: pair i with probability prob[i] contributes scale[i]·t_i.
// The entry sums draws such draws.
func (p planLaw) iidEntry(t []float64) (mean, variance, rng, mag float64) {
	var mu, biggest float64
	for i, pi := range p.prob {
		if pi > 0 {
			v := p.scale[i] * t[i]
			mu += pi * v
			biggest = max(biggest, math.Abs(v))
		}
	}
	for i, pi := range p.prob {
		if pi > 0 {
			rng = max(rng, math.Abs(p.scale[i]*t[i]-mu))
		}
	}
	d := float64(p.draws)
	// Var of one draw as Σ p (v − μ)², which cannot go negative.
	var v1 float64
	for i, pi := range p.prob {
		if pi > 0 {
			dv := p.scale[i]*t[i] - mu
			v1 += pi * dv * dv
		}
	}
	return d * mu, d * v1, rng, d * biggest
}

// bernoulliEntry: pair i is kept with probability prob[i] and then contributes scale[i]·t_i.
func (p planLaw) bernoulliEntry(t []float64) (mean, variance, rng, mag float64) {
	for i, pi := range p.prob {
		if pi <= 0 {
			continue
		}
		v := p.scale[i] * t[i]
		mean += pi * v
		variance += pi * (1 - pi) * v * v
		rng = max(rng, max(pi, 1-pi)*math.Abs(v))
		mag += math.Abs(v)
	}
	return mean, variance, rng, mag
}

// subset is one outcome of sampling without replacement: the pairs drawn and its probability.
type subset struct {
	pairs []int
	prob  float64
}

// successiveSubsets enumerates the sets of `draws` distinct pairs that successive sampling from
// p ∝ w (positive weights only) can end with, and their probabilities:
// P(S) = Σ_{j∈S} P(S∖{j}) · w_j / (W − w(S∖{j})), with P(∅) = 1.
func successiveSubsets(w []float64, draws int) ([]subset, error) {
	var pos []int
	for i, v := range w {
		if v > 0 {
			pos = append(pos, i)
		}
	}
	if len(pos) > MaxEnumerated {
		return nil, fmt.Errorf("%w: sampling without replacement over %d positive pairs (at most %d are enumerated)",
			ErrUnsupported, len(pos), MaxEnumerated)
	}
	np := len(pos)
	var total float64
	for _, i := range pos {
		total += w[i]
	}
	prob := make([]float64, 1<<np)
	mass := make([]float64, 1<<np) // w(S)
	prob[0] = 1
	var out []subset
	for s := 1; s < len(prob); s++ {
		size := bits.OnesCount(uint(s))
		if size > draws {
			continue
		}
		low := bits.TrailingZeros(uint(s))
		mass[s] = mass[s&^(1<<low)] + w[pos[low]]
		for j := range np {
			if s&(1<<j) == 0 {
				continue
			}
			prev := s &^ (1 << j)
			if rest := total - mass[prev]; rest > 0 {
				prob[s] += prob[prev] * w[pos[j]] / rest
			}
		}
		if size == draws && prob[s] > 0 {
			var pairs []int
			for j := range np {
				if s&(1<<j) != 0 {
					pairs = append(pairs, pos[j])
				}
			}
			out = append(out, subset{pairs, prob[s]})
		}
	}
	if draws == 0 {
		out = append(out, subset{nil, 1})
	}
	return out, nil
}

func (p planLaw) subsetEntry(t []float64, subsets []subset) (mean, variance, rng, mag float64) {
	est := make([]float64, len(subsets))
	for k, s := range subsets {
		for _, i := range s.pairs {
			est[k] += p.scale[i] * t[i]
		}
		mean += s.prob * est[k]
	}
	for k, s := range subsets {
		d := est[k] - mean
		variance += s.prob * d * d
		rng = max(rng, math.Abs(d))
	}
	for i, v := range t {
		mag += math.Abs(p.scale[i] * v)
	}
	return mean, variance, rng, mag
}

// SquaredErrorSpread returns the standard deviation of ‖X'Y' − E[X'Y']‖²_F over one sketch,
// from the exact fourth moments of the plan: for d i.i.d. draws with deviations W_j,
// Var‖ΣW_j‖² = d(E‖W‖⁴ − (E‖W‖²)²) + 2d(d−1)·E⟨W_1,W_2⟩²; for Bernoulli with independent terms
// c_i·u_i (c_i = B_i − p_i), Σ_i (Ec_i⁴ − (Ec_i²)²)‖u_i‖⁴ + 2Σ_{i≠j} Ec_i² Ec_j² ⟨u_i,u_j⟩²; zero
// for top-k. It returns ErrUnsupported for sampling without replacement and the shape errors of
// [NewLaw].
func SquaredErrorSpread(x, y matrix.Dense[float64], p *estimator.Plan) (float64, error) {
	if _, err := NewLaw(x, y, p); err != nil {
		return 0, err
	}
	prob, scale := p.Probs(), p.Scales()
	n, m, q := x.Rows, x.Cols, y.Cols
	outer := func(i int, s float64) []float64 {
		u := make([]float64, n*q)
		for r := range n {
			for c := range q {
				u[r*q+c] = s * x.Data[r*m+i] * y.Data[i*q+c]
			}
		}
		return u
	}
	dot := func(a, b []float64) float64 {
		var s float64
		for i, v := range a {
			s += v * b[i]
		}
		return s
	}
	switch p.Method() {
	case estimator.MethodTopK:
		return 0, nil
	case estimator.MethodCRS, estimator.MethodWTACRS, estimator.MethodUniform:
		var idx []int
		mu := make([]float64, n*q)
		us := make([][]float64, 0, m)
		for i, pi := range prob {
			if pi > 0 {
				u := outer(i, scale[i])
				for e, v := range u {
					mu[e] += pi * v
				}
				idx = append(idx, i)
				us = append(us, u)
			}
		}
		for _, u := range us {
			for e := range u {
				u[e] -= mu[e]
			}
		}
		var s2, s4, g float64
		for a, ua := range us {
			pa := prob[idx[a]]
			na := dot(ua, ua)
			s2 += pa * na
			s4 += pa * na * na
			for b, ub := range us {
				ip := dot(ua, ub)
				g += pa * prob[idx[b]] * ip * ip
			}
		}
		d := float64(p.Draws())
		return math.Sqrt(max(0, d*(s4-s2*s2)+2*d*(d-1)*g)), nil
	case estimator.MethodBernoulli:
		var idx []int
		var us [][]float64
		for i, pi := range prob {
			if pi > 0 && pi < 1 {
				idx = append(idx, i)
				us = append(us, outer(i, scale[i]))
			}
		}
		var v float64
		for a, ua := range us {
			pa := prob[idx[a]]
			c2 := pa * (1 - pa)
			c4 := c2 * (math.Pow(1-pa, 3) + math.Pow(pa, 3))
			na := dot(ua, ua)
			v += (c4 - c2*c2) * na * na
			for b, ub := range us {
				if b != a {
					pb := prob[idx[b]]
					ip := dot(ua, ub)
					v += 2 * c2 * pb * (1 - pb) * ip * ip
				}
			}
		}
		return math.Sqrt(max(0, v)), nil
	}
	return 0, fmt.Errorf("%w: no fourth moment for method %v", ErrUnsupported, p.Method())
}
