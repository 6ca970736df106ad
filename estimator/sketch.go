package estimator

import (
	"cmp"
	"math"
	"slices"

	"github.com/wtacrs/wtacrs/philox"
)

// Sketch is one random outcome of a [Plan]: the pairs an estimate uses and their scale factors.
//
// A sketch is a plain value that its holder owns: [Plan.Sample] returns a fresh one that shares
// no storage with the plan or with other sketches, and a caller may build one itself (a fixed
// set of pairs, a negative control with other factors). Its fields are therefore exported, and
// every function that uses a sketch ([Apply], [ApplyTransA], [GatherRows], [GatherInto], the
// linear layer) checks it first with [Sketch.Validate]: M, Index and Scale are what an
// estimate reads; Kept and Draws describe how the sketch was drawn and are not read by them.
type Sketch struct {
	// M is the number of pairs of the product.
	M int
	// Kept lists the pairs kept exactly (scale 1), as [Plan.Kept] does (a copy of it).
	Kept []int
	// Draws lists the randomly chosen pairs in draw order (Bernoulli and sampling without
	// replacement: ascending index). It is nil in a sketch from [Plan.SampleMerged].
	Draws []int
	// Index lists every pair the estimate uses once, ascending.
	Index []int
	// Scale[j] is the factor of pair Index[j], one per entry of Index and finite: 1 for a kept
	// pair, the sum of its draws' scales for a drawn pair.
	Scale []float64
}

// Sample draws one sketch from the plan with the given seed and stream (see the stream layout in
// the package documentation). The same plan, seed and stream always give the same sketch. It
// keeps the raw draw sequence in Draws, 8 bytes a draw; [Plan.SampleMerged] gives the same Index
// and Scale without it.
func (p *Plan) Sample(seed, stream uint64) *Sketch { return p.sample(seed, stream, 0, true) }

// SampleMerged is [Plan.Sample] without the raw draw sequence: Index and Scale are the same bit
// for bit, Draws is nil. Repeated draws are merged as they are drawn, so its memory is O(m)
// whatever the number of draws; its time is O(m) for Bernoulli and top-k, O(m log m) for
// sampling without replacement and O(m + d·log m) for d i.i.d. draws (CRS and uniform need all k
// of them; WTA-CRS with k ≥ m has none).
func (p *Plan) SampleMerged(seed, stream uint64) *Sketch { return p.sample(seed, stream, 0, false) }

// denseMergeDraws is the number of draws per pair from which i.i.d. draws are merged in a dense
// per-pair accumulator rather than by sorting the draw list (BenchmarkSample measures both).
const denseMergeDraws = 1.0 / 64

// sample draws a sketch whose random numbers use counters offset+j (draw j, or pair j for
// Bernoulli and sampling without replacement): offset is 0 for a plan's own sketches and g·2³²
// for stratum g of a [Stratified] estimator. keep keeps the raw draws.
func (p *Plan) sample(seed, stream, offset uint64, keep bool) *Sketch {
	s := &Sketch{M: p.m, Kept: slices.Clone(p.kept)}
	switch p.method {
	case MethodCRS, MethodWTACRS, MethodUniform:
		if keep {
			s.Draws = make([]int, p.draws)
		}
		if float64(p.draws) >= denseMergeDraws*float64(p.m) {
			s.mergeDense(p, seed, stream, offset)
			return s
		}
		draws := s.Draws
		if !keep {
			draws = make([]int, p.draws)
		}
		for j := range draws {
			draws[j] = pick(p.cdf, philox.Uniform(seed, stream, offset+uint64(j)))
		}
		s.mergeDraws(draws, p.scale)
		return s
	case MethodBernoulli:
		for i, q := range p.prob {
			if q > 0 && philox.Uniform(seed, stream, offset+uint64(i)) < q {
				s.Draws = append(s.Draws, i)
			}
		}
	case MethodNoReplacement:
		s.Draws = p.successive(seed, stream, offset)
	}
	s.merge(p.scale)
	if !keep {
		s.Draws = nil
	}
	return s
}

// mergeDense draws the plan's i.i.d. draws, storing them in s.Draws when it is allocated, and
// sums each pair's scales in a dense accumulator as they come. Summing one pair's scale in draw
// order gives the bits that merge gives (every draw of a pair adds the same scale, so the
// interleaving of other pairs does not matter).
func (s *Sketch) mergeDense(p *Plan, seed, stream, offset uint64) {
	acc := make([]float64, p.m)
	seen := make([]bool, p.m)
	for j := 0; j < p.draws; j++ {
		i := pick(p.cdf, philox.Uniform(seed, stream, offset+uint64(j)))
		if s.Draws != nil {
			s.Draws[j] = i
		}
		if seen[i] {
			acc[i] += p.scale[i]
		} else {
			seen[i], acc[i] = true, p.scale[i]
		}
	}
	for _, c := range s.Kept {
		seen[c], acc[c] = true, 1
	}
	n := 0
	for _, b := range seen {
		if b {
			n++
		}
	}
	s.Index = make([]int, 0, n)
	s.Scale = make([]float64, 0, n)
	for i, b := range seen {
		if b {
			s.Index = append(s.Index, i)
			s.Scale = append(s.Scale, acc[i])
		}
	}
}

// successive draws p.draws distinct pairs by Efraimidis–Spirakis keys log(u)/w_i, which gives the
// distribution of successive sampling without replacement.
func (p *Plan) successive(seed, stream, offset uint64) []int {
	type keyed struct {
		key float64
		i   int
	}
	keys := make([]keyed, 0, p.m)
	for i, v := range p.weights {
		if v > 0 {
			keys = append(keys, keyed{math.Log(philox.Uniform(seed, stream, offset+uint64(i))) / v, i})
		}
	}
	slices.SortFunc(keys, func(a, b keyed) int {
		if c := cmp.Compare(b.key, a.key); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	out := make([]int, p.draws)
	for j := range out {
		out[j] = keys[j].i
	}
	slices.Sort(out)
	return out
}

// merge fills Index and Scale from Kept and Draws (see mergeDraws).
func (s *Sketch) merge(scale []float64) { s.mergeDraws(s.Draws, scale) }

// mergeDraws fills Index and Scale from Kept (scale 1) and draws (scale[i] each), summing the
// scales of repeated draws. Kept and draws are disjoint for every method.
func (s *Sketch) mergeDraws(draws []int, scale []float64) {
	type entry struct {
		i int
		f float64
	}
	all := make([]entry, 0, len(s.Kept)+len(draws))
	for _, i := range s.Kept {
		all = append(all, entry{i, 1})
	}
	for _, i := range draws {
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
