package estimator

import (
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wtacrs/wtacrs/matrix"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/floats/scalar"
)

// This file holds the regression tests of mutations that a review found surviving the rest of
// the suite; each test is named after what it pins.

// cappedCase is a 2×4 by 4×2 product whose pair 0 is so heavy that Bernoulli sampling with
// k = 2 keeps it with probability min(1, k·w_0/Σw) = 1: the cap binds.
func cappedCase(t *testing.T) (matrix.Dense[float64], matrix.Dense[float64]) {
	t.Helper()
	x, err := matrix.NewDense(2, 4, []float64{10, 1, 0.5, -1, 5, -1, 2, 1})
	require.NoError(t, err)
	y, err := matrix.NewDense(4, 2, []float64{3, 1, 1, -2, 0.5, 1, 1, 1})
	require.NoError(t, err)
	return x, y
}

// bernoulliMean returns E[X'Y'] of a Bernoulli plan by enumerating the 2^m subsets of kept pairs
// with their probabilities Π p_i^{1[i∈S]}(1−p_i)^{1[i∉S]}, each estimate computed by Apply from a
// merged sketch; m must be small.
func bernoulliMean(t *testing.T, x, y matrix.Dense[float64], p *Plan) matrix.Dense[float64] {
	t.Helper()
	mean, err := matrix.NewDense[float64](x.Rows, y.Cols, nil)
	require.NoError(t, err)
	for set := 0; set < 1<<p.M(); set++ {
		prob := 1.0
		s := &Sketch{M: p.M()}
		for i, q := range p.Probs() {
			if set&(1<<i) != 0 {
				prob *= q
				s.Draws = append(s.Draws, i)
			} else {
				prob *= 1 - q
			}
		}
		if prob == 0 {
			continue
		}
		s.merge(p.Scales())
		est, err := Apply(x, y, s)
		require.NoError(t, err)
		for e, v := range est.Data {
			mean.Data[e] += prob * v
		}
	}
	return mean
}

// TestBernoulliUnbiasedWhenCapBinds pins the scale of a pair whose keep probability is capped at
// 1: it must be 1/min(1, k·w_i/Σw) = 1, not Σw/(k·w_i), or the estimate is biased. The exact mean
// (by enumeration and by ClosedForm) equals XY; the negative control, the uncapped scale, is
// rejected by the same comparison.
func TestBernoulliUnbiasedWhenCapBinds(t *testing.T) {
	t.Parallel()
	x, y := cappedCase(t)
	exact, err := matrix.Product(x, y)
	require.NoError(t, err)
	w, err := Weights(x, y)
	require.NoError(t, err)
	const k = 2
	p, err := NewBernoulli(w, k)
	require.NoError(t, err)
	total := sum(w)
	capped := 0
	for i, v := range w {
		if float64(k)*v/total > 1 {
			capped++
			assert.Equal(t, 1.0, p.Prob(i), "pair %d: probability capped at 1", i)
			assert.Equal(t, 1.0, p.Scale(i), "pair %d: scale of a pair always kept", i)
			continue
		}
		assert.True(t, scalar.EqualWithinAbsOrRel(p.Scale(i)*p.Prob(i), 1, 1e-15, 1e-15), "pair %d: scale·p = 1", i)
	}
	require.Equal(t, 1, capped, "the case must make the cap bind")

	norm2 := frob2(exact.Data)
	mean := bernoulliMean(t, x, y, p)
	for e := range mean.Data {
		assert.True(t, scalar.EqualWithinAbsOrRel(mean.Data[e], exact.Data[e], 1e-12, 1e-12),
			"entry %d: E[X'Y'] = %v, XY = %v", e, mean.Data[e], exact.Data[e])
	}
	cf, err := ClosedForm(x, y, p)
	require.NoError(t, err)
	assert.LessOrEqual(t, cf.SquaredBias, 1e-24*norm2, "squared bias of an unbiased plan")

	// Negative control: the scale 1/(k·w_i/Σw) without the cap.
	bern, err := NewBernoulli(w, k)
	require.NoError(t, err)
	uncapped := bern.Scales()
	for i, v := range w {
		if v > 0 {
			uncapped[i] = total / (float64(k) * v)
		}
	}
	wrong, err := bern.WithScale(uncapped)
	require.NoError(t, err)
	cfWrong, err := ClosedForm(x, y, wrong)
	require.NoError(t, err)
	assert.Greater(t, cfWrong.SquaredBias, 1e-3*norm2, "the uncapped scale is biased")
	biased := bernoulliMean(t, x, y, wrong)
	assert.False(t, floats.EqualApprox(biased.Data, exact.Data, 1e-6), "enumeration must see the bias")
}

// gridLaw maps the grid u = j/n, j = 0..n−1, through a CDF map and returns the worst
// |count_i − n·prob_i| over the pairs and its pair. A map whose law is prob has every count
// within 1 of n·prob_i (the number of grid points in an interval of length prob_i), up to the
// rounding of the CDF.
func gridLaw(cdf, prob []float64, n int, pickFn func([]float64, float64) int) (worst float64, at int) {
	count := make([]float64, len(prob))
	for j := 0; j < n; j++ {
		count[pickFn(cdf, float64(j)/float64(n))]++
	}
	for i, q := range prob {
		if d := math.Abs(count[i] - float64(n)*q); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	return worst, at
}

// TestPickLawEqualsProb is the exact check that the inverse-CDF map of Plan.Sample draws pair i
// with probability Plan.Prob(i): on a grid of 2^16 uniform numbers every pair gets n·Prob(i) ± 1
// of them. Plans with a light last pair, zero pairs, kept pairs and several CDF blocks. The
// negative controls, maps that never reach the last 1% of the CDF, are rejected by the same check.
func TestPickLawEqualsProb(t *testing.T) {
	t.Parallel()
	const n = 1 << 16
	long := make([]float64, 3*CDFBlock+5)
	for i := range long {
		long[i] = 1 / float64(i+1)
	}
	lightTail := []float64{3, 1, 4, 1, 5, 9, 2, 6, 0.005, 0, 0}
	plan := func(p *Plan, err error) *Plan {
		require.NoError(t, err)
		return p
	}
	plans := []struct {
		name string
		p    *Plan
	}{
		{"crs, light last pair", plan(NewCRS(lightTail, 4))},
		{"crs, mixed", plan(NewCRS([]float64{5, 0, 1, 1, 0.01, 3, 0, 2, 2, 7, 0.5, 0, 4, 1}, 3))},
		{"crs, several blocks", plan(NewCRS(long, 50))},
		{"wtacrs, kept pairs", plan(NewWTACRSFixed(lightTail, 5, 2))},
		{"wtacrs rule, several blocks", plan(NewWTACRS(long, 40))},
		{"uniform", plan(NewUniform(7, 3))},
	}
	tol := 1 + 1e-9*n
	for _, tc := range plans {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Positive(t, tc.p.Draws())
			worst, at := gridLaw(tc.p.cdf, tc.p.Probs(), n, pick)
			assert.LessOrEqual(t, worst, tol, "pair %d: count off n·Prob by %v", at, worst)
		})
	}
	t.Run("negative controls", func(t *testing.T) {
		t.Parallel()
		p := plans[0].p
		for name, cut := range map[string]func([]float64, float64) int{
			"u clamped to 0.99": func(cdf []float64, u float64) int { return pick(cdf, min(u, 0.99)) },
			"u shrunk by 0.99":  func(cdf []float64, u float64) int { return pick(cdf, 0.99*u) },
		} {
			worst, _ := gridLaw(p.cdf, p.Probs(), n, cut)
			assert.Greater(t, worst, tol, "%s must be rejected", name)
		}
	})
}

// TestPickSubnormalTotalFallback pins the fallback of pick for a total so small (subnormal) that
// u·T rounds up to T: the draw is the largest pair of positive weight, never a trailing pair of
// weight zero, also through Plan.Sample.
func TestPickSubnormalTotalFallback(t *testing.T) {
	t.Parallel()
	tiny := math.SmallestNonzeroFloat64
	for _, tc := range []struct {
		name string
		w    []float64
		u    float64
		want int
	}{
		// T = 2 ulps; 0.99·T rounds to T, so no cdf[i] exceeds u·T.
		{"two pairs, trailing zeros", []float64{0, tiny, 0, tiny, 0, 0}, 0.99, 3},
		{"two pairs, u just below 1", []float64{0, tiny, 0, tiny, 0, 0}, math.Nextafter(1, 0), 3},
		// T = 1 ulp; 0.75·T rounds to T.
		{"first pair only", []float64{tiny, 0, 0}, 0.75, 0},
		{"middle pair", []float64{0, 2 * tiny, 0}, 0.9, 1},
	} {
		cdf := blockedCDF(tc.w)
		require.Equal(t, cdf[len(cdf)-1], tc.u*cdf[len(cdf)-1], "%s: u·T must round to T", tc.name)
		assert.Equal(t, tc.want, pick(cdf, tc.u), tc.name)
	}
	w := []float64{0, tiny, 0, tiny, 0, 0}
	p, err := NewCRS(w, 2000)
	require.NoError(t, err)
	s := p.Sample(5, 0)
	require.Len(t, s.Draws, 2000)
	for _, i := range s.Draws {
		require.Positive(t, w[i], "drew pair %d of weight zero", i)
	}
}

// TestWTACRSExactPathSkipsZeroWeights pins the k ≥ m path of NewWTACRS: it keeps every pair of
// positive weight, heaviest first, and no pair of weight zero (a padding token kept there would
// cost memory for nothing).
func TestWTACRSExactPathSkipsZeroWeights(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		w    []float64
		k    int
		want []int
	}{
		{"k = m", []float64{0, 3, 0, 1, 2}, 5, []int{1, 4, 3}},
		{"k > m", []float64{0, 3, 0, 1, 2}, 9, []int{1, 4, 3}},
		{"trailing zeros", []float64{2, 2, 0, 0}, 4, []int{0, 1}},
		{"all zero", []float64{0, 0, 0}, 3, []int{}},
	} {
		p, err := NewWTACRS(tc.w, tc.k)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, append([]int{}, p.Kept()...), tc.name)
		assert.Zero(t, p.Draws(), tc.name)
		s := p.Sample(1, 0)
		assert.Equal(t, append([]int{}, slices.Sorted(slices.Values(tc.want))...), append([]int{}, s.Index...), tc.name)
		if len(tc.want) > 0 {
			assert.Equal(t, 1.0, p.MassC(), tc.name)
		}
	}
}

// TestApplyRejectsDuplicateIndices pins the sketch check of Apply, ApplyTransA, ApplyTransAInto,
// GatherRows, GatherInto and Sketch.Validate (which package linear uses): a sketch that lists a pair twice (or out of
// order) is an ErrShape, not a pair counted twice; a NaN or ±Inf scale is an ErrNonFinite of the
// check itself (Validate included), whatever the gathered rows hold.
func TestApplyRejectsDuplicateIndices(t *testing.T) {
	t.Parallel()
	x, err := matrix.NewDense(2, 3, []float64{1, 2, 3, 4, 5, 6})
	require.NoError(t, err)
	y, err := matrix.NewDense(3, 2, []float64{1, 0, 0, 1, 1, 1})
	require.NoError(t, err)
	h := matrix.Transpose(x) // 3×2: the rows are the pairs
	dup := &Sketch{M: 3, Index: []int{1, 1}, Scale: []float64{1, 1}}
	unordered := &Sketch{M: 3, Index: []int{2, 1}, Scale: []float64{1, 1}}
	good := &Sketch{M: 3, Index: []int{0, 2}, Scale: []float64{1, 2}}
	nanScale := &Sketch{M: 3, Index: []int{0, 2}, Scale: []float64{1, math.NaN()}}
	infScale := &Sketch{M: 3, Index: []int{1}, Scale: []float64{math.Inf(-1)}}
	calls := []struct {
		name string
		call func(*Sketch) error
	}{
		{"Apply", func(s *Sketch) error { _, err := Apply(x, y, s); return err }},
		{"ApplyTransA", func(s *Sketch) error { _, err := ApplyTransA(h, y, s); return err }},
		{"ApplyTransAInto", func(s *Sketch) error {
			dst, _ := matrix.NewDense[float64](2, 2, nil)
			return ApplyTransAInto(dst, h, y, s, nil)
		}},
		{"GatherRows", func(s *Sketch) error { _, _, err := GatherRows(h, y, s); return err }},
		{"GatherInto", func(s *Sketch) error {
			hs, _ := matrix.NewDense[float64](len(s.Index), 2, nil)
			return GatherInto(hs, matrix.Dense[float64]{}, h, matrix.Dense[float64]{}, s)
		}},
		{"Validate", func(s *Sketch) error { return s.Validate(3) }},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.ErrorIs(t, tc.call(dup), ErrShape, "duplicate index")
			assert.ErrorIs(t, tc.call(unordered), ErrShape, "indices out of order")
			assert.ErrorIs(t, tc.call(nanScale), ErrNonFinite, "NaN scale")
			assert.ErrorIs(t, tc.call(infScale), ErrNonFinite, "-Inf scale")
			assert.NoError(t, tc.call(good), "a valid sketch")
		})
	}
}
