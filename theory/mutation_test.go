package theory

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/floats/scalar"
	"pgregory.net/rapid"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/philox"
)

// This file holds the regression tests of mutations that a review found surviving the rest of
// the suite. The checkers of this package compute expectations from a plan's Kept, Prob and
// Scale; the tests below also tie those fields to what Plan.Sample draws, and pin the
// unbiasedness of Bernoulli sampling, the generator's fixed |C| and CheckMean's threshold.

// drawTol is the slack of the draw check: a uniform number within drawTol of a boundary of the
// cumulative Prob may fall on either side (the sampler's blocked CDF and the running sum of Prob
// differ by rounding, relative m·2⁻⁵³ at most).
const drawTol = 1e-12

// cumulative returns c with c[i] = Σ_{j<i} prob[j], i = 0..m.
func cumulative(prob []float64) []float64 {
	c := make([]float64, len(prob)+1)
	for i, q := range prob {
		c[i+1] = c[i] + q
	}
	return c
}

// drawViolation returns "" when the sketch is what the stream layout of package estimator makes
// the plan draw, judged from the plan's Prob and Scale alone, and otherwise the first
// discrepancy. For an i.i.d. plan draw j uses u = philox.Uniform(seed, stream, j) and must be
// a pair i of positive Prob with Σ_{l<i} Prob_l ≤ u < Σ_{l≤i} Prob_l (to drawTol), so that the
// draws follow Prob exactly when the u are uniform; a Bernoulli plan keeps pair i exactly when
// Uniform(seed, stream, i) < Prob_i. The sketch must list the plan's kept pairs with scale 1 and
// every drawn pair with the sum of Scale over its draws. Other methods are not checked ("").
func drawViolation(p *estimator.Plan, s *estimator.Sketch, seed, stream uint64) string {
	if s.M != p.M() || !slices.Equal(s.Kept, p.Kept()) {
		return fmt.Sprintf("sketch over %d pairs keeps %v, plan over %d keeps %v", s.M, s.Kept, p.M(), p.Kept())
	}
	switch p.Method() {
	case estimator.MethodCRS, estimator.MethodWTACRS, estimator.MethodUniform:
		if len(s.Draws) != p.Draws() {
			return fmt.Sprintf("%d draws, plan has %d", len(s.Draws), p.Draws())
		}
		cum := cumulative(p.Probs())
		for j, i := range s.Draws {
			u := philox.Uniform(seed, stream, uint64(j))
			if i < 0 || i >= p.M() || !(p.Prob(i) > 0) || u < cum[i]-drawTol || u >= cum[i+1]+drawTol {
				return fmt.Sprintf("draw %d with u = %.17g is pair %d", j, u, i)
			}
		}
	case estimator.MethodBernoulli:
		var want []int
		for i, q := range p.Probs() {
			if q > 0 && philox.Uniform(seed, stream, uint64(i)) < q {
				want = append(want, i)
			}
		}
		if !slices.Equal(want, s.Draws) {
			return fmt.Sprintf("kept %v, the layout keeps %v", s.Draws, want)
		}
	default:
		return ""
	}
	index, scale := mergeDraws(p.Kept(), s.Draws, p.Scales())
	if !slices.Equal(index, s.Index) || len(s.Scale) != len(index) {
		return fmt.Sprintf("sketch uses pairs %v, draws and kept pairs make %v", s.Index, index)
	}
	for j, f := range scale {
		if !scalar.EqualWithinAbsOrRel(s.Scale[j], f, 1e-300, 1e-12) {
			return fmt.Sprintf("pair %d has scale %v, plan's scales sum to %v", index[j], s.Scale[j], f)
		}
	}
	return ""
}

// mergeDraws returns the pairs of kept and draws in ascending order with their total scale: 1
// for a kept pair, scale[i] per draw of pair i.
func mergeDraws(kept, draws []int, scale []float64) ([]int, []float64) {
	total := map[int]float64{}
	for _, i := range kept {
		total[i] += 1
	}
	for _, i := range draws {
		total[i] += scale[i]
	}
	index := make([]int, 0, len(total))
	for i := range total {
		index = append(index, i)
	}
	slices.Sort(index)
	out := make([]float64, len(index))
	for j, i := range index {
		out[j] = total[i]
	}
	return index, out
}

// cutSample is the negative control of drawViolation: a sampler that never reaches the last 1%
// of the CDF (an i.i.d. draw uses min(u, 0.99)) and a Bernoulli sampler that keeps pair i with
// probability Prob_i − 0.01 only.
func cutSample(p *estimator.Plan, seed, stream uint64) *estimator.Sketch {
	s := &estimator.Sketch{M: p.M(), Kept: p.Kept()}
	switch p.Method() {
	case estimator.MethodBernoulli:
		for i, q := range p.Probs() {
			if q > 0 && philox.Uniform(seed, stream, uint64(i)) < q-0.01 {
				s.Draws = append(s.Draws, i)
			}
		}
	default:
		cum := cumulative(p.Probs())
		for j := range p.Draws() {
			u := min(philox.Uniform(seed, stream, uint64(j)), 0.99)
			i, _ := slices.BinarySearchFunc(cum[1:], u, func(c, u float64) int { return cmp.Compare(c, math.Nextafter(u, 2)) })
			i = min(i, p.M()-1)
			for i < p.M()-1 && p.Prob(i) == 0 {
				i++
			}
			s.Draws = append(s.Draws, i)
		}
	}
	s.Index, s.Scale = mergeDraws(p.Kept(), s.Draws, p.Scales())
	return s
}

// TestSampleDrawsFollowProb is the exact check that Plan.Sample draws what the checkers assume:
// for CRS, WTA-CRS (rule and fixed |C|), Bernoulli and uniform on generated cases, every draw of
// every sketch is the pair that Prob's inverse CDF gives for the draw's uniform number, and the
// sketch's scales are the plan's. It is deterministic (no false-failure probability). The
// negative control, a sampler that never draws the last 1% of the CDF, is rejected by the same
// check.
func TestSampleDrawsFollowProb(t *testing.T) {
	t.Parallel()
	const streams = 10
	var draws, tail, rejected, plans int
	for _, c := range exampleCases(200) {
		ps, names, err := closedFormPlans(c)
		require.NoError(t, err)
		seed := mcSeed(c)
		for k, p := range ps {
			plans++
			cutRejected := false
			for stream := uint64(0); stream < streams; stream++ {
				v := drawViolation(p, p.Sample(seed, stream), seed, stream)
				require.Empty(t, v, "%v, %s, stream %d", c, names[k], stream)
				if p.Method() != estimator.MethodBernoulli {
					for j := range p.Draws() {
						draws++
						if philox.Uniform(seed, stream, uint64(j)) >= 0.99 {
							tail++
						}
					}
				}
				if drawViolation(p, cutSample(p, seed, stream), seed, stream) != "" {
					cutRejected = true
				}
			}
			if cutRejected {
				rejected++
			}
		}
	}
	t.Logf("%d i.i.d. draws checked, %d of them in the last 1%% of the CDF; the cut sampler is rejected on %d of %d plans",
		draws, tail, rejected, plans)
	assert.Greater(t, tail, 100, "the draws must reach the last 1% of the CDF")
	assert.Greater(t, rejected, 50, "the cut sampler must be rejected")
}

// bindsCap reports whether Bernoulli sampling with budget k caps some keep probability at 1:
// k·w_i/Σw > 1 for some pair.
func bindsCap(w []float64, k int) bool {
	var total float64
	for _, v := range w {
		total += v
	}
	for _, v := range w {
		if total > 0 && float64(k)*v/total > 1 {
			return true
		}
	}
	return false
}

// checkBernoulliExact: Bernoulli sampling is unbiased, exactly ([CheckExact] through [Law], and
// the enumerated mean agrees with estimator.ClosedForm). Deterministic.
func checkBernoulliExact(t *rapid.T) {
	c := Cases().Draw(t, "case")
	p, err := estimator.NewBernoulli(c.Weights(), c.K)
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	r, err := CheckExact(c.X, c.Y, p)
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	if r.Biased || r.ClosedFormGap > RelTol {
		t.Fatalf("%v: Bernoulli E[X'Y'] − XY is %.3g of the terms at (%d,%d), closed-form gap %.3g",
			c, r.Worst, r.Row, r.Col, r.ClosedFormGap)
	}
}

// TestBernoulliUnbiasedExact makes Bernoulli sampling part of what is checked for unbiasedness:
// exactly on generated cases, among them cases where the cap min(1, k·w_i/Σw) binds. The
// negative control, the scale Σw/(k·w_i) that ignores the cap, is rejected by the same check.
func TestBernoulliUnbiasedExact(t *testing.T) {
	t.Parallel()
	rapid.Check(t, checkBernoulliExact)
	capped, rejected := 0, 0
	for _, c := range exampleCases(200) {
		w := c.Weights()
		p, err := estimator.NewBernoulli(w, c.K)
		require.NoError(t, err)
		r, err := CheckExact(c.X, c.Y, p)
		require.NoError(t, err)
		assert.False(t, r.Biased, "%v: worst %.3g", c, r.Worst)
		assert.LessOrEqual(t, r.ClosedFormGap, RelTol, "%v", c)
		if !bindsCap(w, c.K) {
			continue
		}
		capped++
		var total float64
		for _, v := range w {
			total += v
		}
		uncapped := p.Scales()
		for i, v := range w {
			if v > 0 {
				uncapped[i] = total / (float64(c.K) * v)
			}
		}
		wrong, err := p.WithScale(uncapped)
		require.NoError(t, err)
		r, err = CheckExact(c.X, c.Y, wrong)
		require.NoError(t, err)
		if r.Biased {
			rejected++
		}
	}
	t.Logf("the cap binds on %d of 200 cases; the uncapped scale is rejected on %d", capped, rejected)
	assert.Greater(t, capped, 20, "the cases must make the cap bind")
	assert.Greater(t, rejected, capped/2, "the uncapped scale must be rejected")
}

// TestGeneratorCoversFixedC pins that the generator gives the WTA-CRS plans with a fixed |C|
// every kept-set size: |C| ≥ 1, |C| ≥ 2 and |C| = k − 1 occur, NewCase keeps the |C| it is given,
// and the fixed plan of the unbiasedness claims keeps exactly |C| pairs.
func TestGeneratorCoversFixedC(t *testing.T) {
	t.Parallel()
	var c1, c2, cTop int
	for _, c := range exampleCases(600) {
		if c.C >= 1 {
			c1++
		}
		if c.C >= 2 {
			c2++
		}
		if c.K >= 2 && c.C == c.K-1 {
			cTop++
		}
		plans, _, err := unbiasedPlans(c)
		require.NoError(t, err)
		require.Len(t, plans[2].Kept(), c.C, "%v: the fixed plan", c)
	}
	assert.Greater(t, c1, 300, "|C| ≥ 1")
	assert.Greater(t, c2, 100, "|C| ≥ 2")
	assert.Greater(t, cTop, 10, "|C| = k − 1")
	c, err := NewCase(FamilyLogNormal, 2, 10, 2, 6, 5, 1)
	require.NoError(t, err)
	assert.Equal(t, 5, c.C)

	// The rapid properties draw their cases with the same generator and seed.
	t.Run("rapid", func(t *testing.T) {
		seen := 0
		rapid.Check(t, func(t *rapid.T) {
			if Cases().Draw(t, "case").C >= 1 {
				seen++
			}
		})
		if checks >= 20 {
			assert.Greater(t, seen, checks/4, "rapid's cases with |C| ≥ 1")
		}
	})
}

// binomialPMF returns P(Binomial(n, 1/2) = j).
func binomialPMF(n, j int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(j + 1))
	c, _ := math.Lgamma(float64(n - j + 1))
	return math.Exp(a - b - c - float64(n)*math.Ln2)
}

// TestCheckMeanRejectsBiasAtDetectionLevel pins CheckMean's threshold at its stated value: a plan
// whose bias is just above what the threshold detects must be rejected.
//
// The product is X = (1 3), Y = (1 1)ᵀ, XY = 4, and the plan is uniform CRS with one draw whose
// scales are shifted so that the two outcomes are 2+δ and 6+δ: variance 4, range 2, bias δ = 1.3,
// while CheckMean's threshold at α = 1e-40 with T = 1000 sketches is 0.926. The mean of T sketches
// is 2 + δ + 4N/T with N ~ Binomial(T, 1/2), so the probability that CheckMean accepts is a
// binomial sum, computed here exactly: 1.5e-9 ≤ alphaMeanLevel, the false-failure probability of
// this test. With the threshold doubled the plan would be accepted with probability 1 − 1e-18.
// The unbiased plan (δ = 0) is accepted; that fails falsely with probability at most 1e-40.
func TestCheckMeanRejectsBiasAtDetectionLevel(t *testing.T) {
	t.Parallel()
	const (
		sketches = 1000
		alpha    = 1e-40 // CheckMean's α
		delta    = 1.3
	)
	x := matrix.Dense[float64]{Rows: 1, Cols: 2, Data: []float64{1, 3}}
	y := matrix.Dense[float64]{Rows: 2, Cols: 1, Data: []float64{1, 1}}
	shifted := func(d float64) *estimator.Plan {
		u, err := estimator.NewUniform(2, 1)
		require.NoError(t, err)
		p, err := u.WithScale([]float64{2 + d, (6 + d) / 3})
		require.NoError(t, err)
		return p
	}
	p := shifted(delta)
	law, err := NewLaw(x, y, p)
	require.NoError(t, err)
	require.True(t, scalar.EqualWithinAbsOrRel(law.Mean[0], 4+delta, 1e-15, 1e-15))
	require.True(t, scalar.EqualWithinAbsOrRel(law.Var[0], 4, 1e-15, 1e-15))

	// The threshold of CheckMean for this entry, and the exact law of its verdict.
	thr := BernsteinRadius(sketches*law.Var[0], law.Range[0], alpha)/sketches + RelTol*law.Magnitude[0]
	var accept, rejectDoubled float64
	for n := 0; n <= sketches; n++ {
		d := math.Abs(2 + delta + 4*float64(n)/sketches - 4)
		if d <= thr {
			accept += binomialPMF(sketches, n)
		}
		if d > 2*thr {
			rejectDoubled += binomialPMF(sketches, n)
		}
	}
	t.Logf("threshold %.4f, bias %.2f: P(accept) = %.3g, P(reject | doubled threshold) = %.3g", thr, delta, accept, rejectDoubled)
	require.Less(t, delta, 2*thr, "the bias must lie below twice the threshold")
	require.LessOrEqual(t, accept, alphaMeanLevel, "the design's false-failure probability")
	require.LessOrEqual(t, rejectDoubled, 1e-12, "a doubled threshold must let the bias through")

	r, err := CheckMean(x, y, p, sketches, testSeed, alpha)
	require.NoError(t, err)
	assert.True(t, r.Rejected, "bias %.2f against threshold %.4f: ratio %.3f", delta, thr, r.WorstRatio)
	u, err := CheckMean(x, y, shifted(0), sketches, testSeed, alpha)
	require.NoError(t, err)
	assert.False(t, u.Rejected, "unbiased plan: ratio %.3f", u.WorstRatio)
}
