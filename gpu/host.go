package gpu

import (
	"fmt"
	"math"
	"slices"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/philox"
)

// HostTrace computes on the host, step for step, what an [Estimator] with options o keeps and
// draws from the weights w (one per pair) with (seed, stream): the radix select of the
// candidates, their rank order, the first-failure rule for |C|, the blocked cumulative sum and
// the binary-search draws of the kernels. Its kept set and draws are those of package estimator
// (estimator.NewPlan(o.Method, w, o.K, o.PlanC()).Sample(seed, stream)) bit for bit; its |C| is
// the device's except when two of the rule's bound factors agree to rounding (the device sums
// in a parallel prefix). It predicts the device without one, and tests the kernels' algorithm.
// It returns estimator.ErrShape for no weights, estimator.ErrNonFinite or estimator.ErrNegative
// for bad weights, and ErrMethod or estimator.ErrBudget for bad options.
func HostTrace(w []float64, o Options, seed, stream uint64) (*Trace, error) {
	n := len(w)
	if n < 1 {
		return nil, fmt.Errorf("%w: no weights", estimator.ErrShape)
	}
	if err := checkWeights(w, n); err != nil {
		return nil, err
	}
	if err := o.check(n); err != nil {
		return nil, err
	}
	k := o.K
	tr := &Trace{Weights: slices.Clone(w)}
	for _, v := range w {
		tr.Total += v
	}
	cand, mode := chooseMode(o, n)
	kept := []int{}
	if cand > 0 {
		cv, ci := radixCandidates(w, cand)
		sv, si := rankSort(cv, ci)
		nc := cand
		s := 0.0
		for j := 0; j < cand; j++ {
			grow := mode == chooseFixed || (mode == choosePositive && sv[j] > 0) ||
				(mode == chooseRule && sv[j] > (tr.Total-s)/float64(k-j))
			if !grow {
				nc = j
				break
			}
			s += sv[j]
		}
		kept = si[:nc]
	}
	tr.Kept = slices.Clone(kept)
	isKept := make([]bool, n)
	for _, i := range kept {
		isKept[i] = true
	}
	// Blocked cumulative sum of the draw weights.
	nb := cdfBlocks(n)
	loc := make([]float64, n)
	off := make([]float64, nb)
	for b := 0; b < nb; b++ {
		local := 0.0
		for i := b * cdfBlock; i < min((b+1)*cdfBlock, n); i++ {
			if !isKept[i] {
				local += w[i]
			}
			loc[i] = local
		}
		off[b] = local
	}
	var t float64
	for b := range off {
		off[b], t = t, t+off[b]
	}
	tr.DrawTotal = t
	cdf := func(i int) float64 { return off[i/cdfBlock] + loc[i] }
	draws := 0
	if t > 0 {
		draws = k - len(kept)
	}
	for j := 0; j < draws; j++ {
		target := philox.Uniform(seed, stream, uint64(j)) * t
		lo, hi := 0, n
		for lo < hi {
			mid := lo + (hi-lo)/2
			if cdf(mid) > target {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		if lo == n {
			lo = n - 1
			for lo > 0 && cdf(lo) == cdf(lo-1) {
				lo--
			}
		}
		tr.Draws = append(tr.Draws, lo)
		tr.Scales = append(tr.Scales, t/(float64(draws)*w[lo]))
	}
	return tr, nil
}

// radixCandidates returns the cand heaviest pairs, as the select kernel: every pair heavier than
// the cand-th heaviest value v (found digit by digit on the float64 bit patterns, most
// significant first, digits of selectDigitBits bits), then the pairs equal to v by increasing
// index.
func radixCandidates(w []float64, cand int) (val []float64, idx []int) {
	const digitBits = selectDigitBits
	var prefix, mask uint64
	remaining := cand
	for top := 64; top > 0; {
		shift := max(top-digitBits, 0)
		digitMask := uint64(1)<<(top-shift) - 1
		hist := make([]int, digitMask+1)
		for _, v := range w {
			if b := math.Float64bits(v); b&mask == prefix {
				hist[(b>>shift)&digitMask]++
			}
		}
		acc, sel := 0, 0
		for d := int(digitMask); d >= 0; d-- {
			if acc+hist[d] >= remaining {
				sel = d
				break
			}
			acc += hist[d]
		}
		remaining -= acc
		prefix |= uint64(sel) << shift
		mask |= digitMask << shift
		top = shift
	}
	var eqVal []float64
	var eqIdx []int
	for i, v := range w {
		b := math.Float64bits(v)
		switch {
		case b > prefix:
			val, idx = append(val, v), append(idx, i)
		case b == prefix && len(eqIdx) < remaining:
			eqVal, eqIdx = append(eqVal, v), append(eqIdx, i)
		}
	}
	return append(val, eqVal...), append(idx, eqIdx...)
}

// rankSort orders the candidates by decreasing value, ties by smaller index: the order the rank
// kernel produces by counting, for each candidate, the candidates that precede it.
func rankSort(val []float64, idx []int) ([]float64, []int) {
	order := make([]int, len(val))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		switch {
		case val[a] > val[b]:
			return -1
		case val[a] < val[b]:
			return 1
		}
		return idx[a] - idx[b]
	})
	sv := make([]float64, len(val))
	si := make([]int, len(val))
	for r, i := range order {
		sv[r], si[r] = val[i], idx[i]
	}
	return sv, si
}
