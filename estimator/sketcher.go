package estimator

import "github.com/wtacrs/wtacrs/philox"

// Sketcher draws WTA-CRS sketches with memory it keeps from one call to the next: the case of
// training, where every layer draws one sketch over the same number of tokens at every step.
// [Sketcher.WTACRS] gives the sketch of [NewWTACRS] followed by [Plan.SampleMerged] bit for
// bit, without building the plan's per-pair probabilities and scales (a drawn pair's scale is
// computed by the same expression when it is drawn). The zero value is ready to use. A
// Sketcher must not be used by two calls at once.
type Sketcher struct {
	sel  selection
	draw []float64 // the draw weights: w with C zeroed
	cdf  []float64
	acc  []float64 // per pair: the sum of its draws' scales
	seen []bool    // per pair: drawn or kept; all false between calls
}

// WTACRS overwrites dst with the sketch that NewWTACRS(w, k) and then SampleMerged(seed,
// stream) give: the same M, Kept, Index and Scale, bit for bit, and Draws nil. dst's slices are
// reused when large enough, so it must not share them with a sketch still in use. It returns
// the errors of [NewWTACRS] (dst is then unchanged). Besides the growth of its buffers, the
// call allocates nothing.
func (s *Sketcher) WTACRS(dst *Sketch, w []float64, k int, seed, stream uint64) error {
	if err := checkBudget(w, k); err != nil {
		return err
	}
	kept := s.sel.wtacrsKept(w, k)
	m := len(w)
	s.draw = resize(s.draw, m)
	copy(s.draw, w)
	for _, i := range kept {
		s.draw[i] = 0
	}
	if err := checkSpan(s.draw); err != nil {
		return err
	}
	s.cdf = blockedCDFInto(s.cdf, s.draw)
	draws := k - len(kept)
	t := 0.0
	if m > 0 {
		t = s.cdf[m-1]
	}
	if t == 0 {
		draws = 0
	}
	s.acc = resize(s.acc, m)
	if len(s.seen) < m {
		s.seen = make([]bool, m)
	}
	seen := s.seen[:m]
	for j := 0; j < draws; j++ {
		i := pick(s.cdf, philox.Uniform(seed, stream, uint64(j)))
		f := t / (float64(draws) * s.draw[i]) // the plan's scale of pair i (newIID)
		if seen[i] {
			s.acc[i] += f
		} else {
			seen[i], s.acc[i] = true, f
		}
	}
	for _, c := range kept {
		seen[c], s.acc[c] = true, 1
	}
	dst.M, dst.Draws = m, nil
	dst.Kept = append(dst.Kept[:0], kept...)
	dst.Index, dst.Scale = dst.Index[:0], dst.Scale[:0]
	for i, b := range seen {
		if b {
			dst.Index = append(dst.Index, i)
			dst.Scale = append(dst.Scale, s.acc[i])
			seen[i] = false
		}
	}
	return nil
}
