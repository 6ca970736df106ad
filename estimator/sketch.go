package estimator

import (
	"cmp"
	"math"
	"slices"
)

// Sketch is one random outcome of a [Plan]: the pairs an estimate uses and their scale factors.
type Sketch struct {
	// M is the number of pairs of the product.
	M int
	// Kept lists the pairs kept exactly (scale 1), as in the plan.
	Kept []int
	// Draws lists the randomly chosen pairs in draw order (Bernoulli and sampling without
	// replacement: ascending index).
	Draws []int
	// Index lists every pair the estimate uses once, ascending; Scale[j] is the factor of pair
	// Index[j]: 1 for a kept pair, the sum of its draws' scales for a drawn pair.
	Index []int
	Scale []float64
}

// Sample draws one sketch from the plan with the given seed and stream (see the stream layout in
// the package documentation). The same plan, seed and stream always give the same sketch.
func (p *Plan) Sample(seed, stream uint64) *Sketch {
	s := &Sketch{M: p.M, Kept: p.Kept}
	switch p.Method {
	case MethodCRS, MethodWTACRS, MethodUniform:
		s.Draws = make([]int, p.Draws)
		for j := range s.Draws {
			s.Draws[j] = pick(p.cdf, Uniform(seed, stream, uint64(j)))
		}
	case MethodBernoulli:
		for i, q := range p.Prob {
			if q > 0 && Uniform(seed, stream, uint64(i)) < q {
				s.Draws = append(s.Draws, i)
			}
		}
	case MethodNoReplacement:
		s.Draws = p.successive(seed, stream)
	}
	s.merge(p.Scale)
	return s
}

// successive draws p.Draws distinct pairs by Efraimidis–Spirakis keys log(u)/w_i, which gives the
// distribution of successive sampling without replacement.
func (p *Plan) successive(seed, stream uint64) []int {
	type keyed struct {
		key float64
		i   int
	}
	keys := make([]keyed, 0, p.M)
	for i, v := range p.weights {
		if v > 0 {
			keys = append(keys, keyed{math.Log(Uniform(seed, stream, uint64(i))) / v, i})
		}
	}
	slices.SortFunc(keys, func(a, b keyed) int {
		if c := cmp.Compare(b.key, a.key); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	out := make([]int, p.Draws)
	for j := range out {
		out[j] = keys[j].i
	}
	slices.Sort(out)
	return out
}

// merge fills Index and Scale from Kept (scale 1) and Draws (scale[i] each), summing the scales
// of repeated draws. Kept and Draws are disjoint for every method.
func (s *Sketch) merge(scale []float64) {
	type entry struct {
		i int
		f float64
	}
	all := make([]entry, 0, len(s.Kept)+len(s.Draws))
	for _, i := range s.Kept {
		all = append(all, entry{i, 1})
	}
	for _, i := range s.Draws {
		all = append(all, entry{i, scale[i]})
	}
	slices.SortFunc(all, func(a, b entry) int { return cmp.Compare(a.i, b.i) })
	s.Index = make([]int, 0, len(all))
	s.Scale = make([]float64, 0, len(all))
	for _, e := range all {
		if n := len(s.Index); n > 0 && s.Index[n-1] == e.i {
			s.Scale[n-1] += e.f
			continue
		}
		s.Index = append(s.Index, e.i)
		s.Scale = append(s.Scale, e.f)
	}
}

// Rows returns the number of distinct pairs the estimate uses.
func (s *Sketch) Rows() int { return len(s.Index) }
