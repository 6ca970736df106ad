package theory

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/floats/scalar"
	"pgregory.net/rapid"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
)

// checkStratifiedUnbiasedExact: the stratified WTA-CRS estimator (own and shared |C|) has
// expectation XY, and the enumeration agrees with estimator.ClosedFormStratified. Deterministic.
func checkStratifiedUnbiasedExact(t *rapid.T) { requireStratifiedClaim(t, StratifiedUnbiasedExact) }

func TestStratifiedUnbiasedExact(t *testing.T) {
	t.Parallel()
	rapid.Check(t, checkStratifiedUnbiasedExact)
}

// checkStratifiedUnbiasedMC is the same claim by Monte Carlo. False-failure probability:
// caseAlpha(3e-8) per case, 3e-8 over the property (Bernstein thresholds, see CheckMean).
func checkStratifiedUnbiasedMC(t *rapid.T) {
	requireStratifiedClaimMC(t, StratifiedUnbiasedMC, alphaStratifiedMC)
}

func TestStratifiedMonteCarlo(t *testing.T) {
	t.Parallel()
	rapid.Check(t, checkStratifiedUnbiasedMC)
}

// checkStratifiedClosedFormMC: ClosedFormStratified's variance is the enumerated one and lies in
// the Monte Carlo interval of the stratified sketches. False-failure probability:
// caseAlpha(3e-8) per case, 3e-8 over the property.
func checkStratifiedClosedFormMC(t *rapid.T) {
	requireStratifiedClaimMC(t, StratifiedClosedFormMC, alphaStratifiedCFMC)
}

func TestStratifiedClosedFormMonteCarlo(t *testing.T) {
	t.Parallel()
	rapid.Check(t, checkStratifiedClosedFormMC)
}

// TestStratifiedControlRejected is the negative control of the stratified checks: the same
// CheckExactStratified and CheckMeanStratified that pass both rules must reject the shared-|C|
// estimator with the published code's cold-cache scaling on a generated case. The exact
// rejection is deterministic; the Monte Carlo one is asserted on a case whose exact bias exceeds
// twice the threshold (Detectable), where a miss has probability at most alphaStratControl.
func TestStratifiedControlRejected(t *testing.T) {
	t.Parallel()
	exactFound, mcFound := "", ""
	for _, c := range exampleStratifiedCases(controlSearch) {
		s, err := ControlStratifiedZeroCache(c.Weights(), c.Strata, c.K)
		require.NoError(t, err)
		ex, err := CheckExactStratified(c.X, c.Y, s)
		require.NoError(t, err)
		if ex.Biased && exactFound == "" {
			exactFound = c.String()
		}
		if mcFound == "" && c.Strata > 1 {
			r, err := CheckMeanStratified(c.X, c.Y, s, sketches, mcSeed(c.Case), alphaStratControl)
			require.NoError(t, err)
			if r.Detectable {
				assert.True(t, r.Rejected, "%v: detectable bias not rejected (ratio %.3g)", c, r.WorstRatio)
				assert.True(t, ex.Biased, "%v: Monte Carlo detects a bias the exact check misses", c)
				mcFound = c.String()
			}
		}
		if exactFound != "" && mcFound != "" {
			break
		}
	}
	require.NotEmpty(t, exactFound, "CheckExactStratified accepted the control on %d cases", controlSearch)
	require.NotEmpty(t, mcFound, "no case of several strata with a detectable bias of the control in %d cases", controlSearch)
	t.Logf("exact rejection on %s; Monte Carlo rejection on %s", exactFound, mcFound)
}

// TestStratifiedClosedFormCheckerRejects is the negative control of the stratified variance
// check: the strata's variances added as if their errors were perfectly correlated,
// (Σ_g √Var_g)², the error that the independent streams of the strata rule out, must be
// rejected on a generated case where it is detectably wrong (missed with probability at most
// alphaStratCFControl there).
func TestStratifiedClosedFormCheckerRejects(t *testing.T) {
	t.Parallel()
	for _, c := range exampleStratifiedCases(controlSearch) {
		s, err := estimator.NewStratifiedWTACRS(c.Weights(), c.Strata, c.K, estimator.CShared)
		require.NoError(t, err)
		var sd float64
		for g := range c.Strata {
			xg, yg := block(c.X, c.Y, g*c.Size, (g+1)*c.Size)
			cf, err := estimator.ClosedForm(xg, yg, s.Plan(g))
			require.NoError(t, err)
			sd += math.Sqrt(cf.Variance)
		}
		r, err := CheckVarianceStratified(c.X, c.Y, s, sd*sd, sketches, mcSeed(c.Case), alphaStratCFControl)
		require.NoError(t, err)
		if r.Detectable {
			assert.True(t, r.Rejected, "%v: correlated-strata variance %.6g accepted (true %.6g ± %.3g)", c, sd*sd, r.True, r.HalfWidth)
			t.Logf("rejected on %v: claimed %.6g, true %.6g, estimate %.6g ± %.3g", c, sd*sd, r.True, r.Estimate, r.HalfWidth)
			return
		}
	}
	t.Fatalf("no generated case where the correlated-strata variance is detectably wrong")
}

// TestStratifiedLawOfOneStratum: with one stratum the stratified law and spread are those of the
// stratum's plan.
func TestStratifiedLawOfOneStratum(t *testing.T) {
	t.Parallel()
	for _, c := range exampleCases(40) {
		s, err := estimator.NewStratifiedWTACRS(c.Weights(), 1, c.K, estimator.CShared)
		require.NoError(t, err)
		want, err := NewLaw(c.X, c.Y, s.Plan(0))
		require.NoError(t, err)
		got, err := NewStratifiedLaw(c.X, c.Y, s)
		require.NoError(t, err)
		assert.Equal(t, want, got, "%v", c)
		ws, err := SquaredErrorSpread(c.X, c.Y, s.Plan(0))
		require.NoError(t, err)
		gs, err := StratifiedSquaredErrorSpread(c.X, c.Y, s)
		require.NoError(t, err)
		assert.True(t, scalar.EqualWithinAbsOrRel(ws, gs, 1e-300, 1e-14), "%v: spread %v, want %v", c, gs, ws)
	}
}

// outcome is one value of a stratum's deviation from its mean, with its probability.
type outcome struct {
	p float64
	d []float64
}

// stratumOutcomes enumerates the deviations D = X'Y' − E[X'Y'] of an i.i.d. plan's estimate
// over every sequence of its draws (the kept pairs are constant and cancel).
func stratumOutcomes(t *testing.T, x, y matrix.Dense[float64], p *estimator.Plan) []outcome {
	law, err := NewLaw(x, y, p)
	require.NoError(t, err)
	n, m, q := x.Rows, x.Cols, y.Cols
	keptSum := make([]float64, n*q)
	for _, i := range p.Kept() {
		for r := range n {
			for c := range q {
				keptSum[r*q+c] += x.Data[r*m+i] * y.Data[i*q+c]
			}
		}
	}
	out := []outcome{{1, make([]float64, n*q)}}
	for range p.Draws() {
		var next []outcome
		for _, o := range out {
			for i, pi := range p.Probs() {
				if pi == 0 {
					continue
				}
				d := append([]float64(nil), o.d...)
				for r := range n {
					for c := range q {
						d[r*q+c] += p.Scale(i) * x.Data[r*m+i] * y.Data[i*q+c]
					}
				}
				next = append(next, outcome{o.p * pi, d})
			}
		}
		out = next
	}
	for _, o := range out {
		for e := range o.d {
			o.d[e] += keptSum[e] - law.Mean[e]
		}
	}
	return out
}

// TestStratifiedSpreadByEnumeration checks the formula of StratifiedSquaredErrorSpread against
// the joint law of the strata, enumerated over every combination of their draws. Deterministic.
func TestStratifiedSpreadByEnumeration(t *testing.T) {
	t.Parallel()
	for _, family := range []string{FamilyGaussian, FamilyLogNormal, FamilyPadded} {
		for _, tc := range []struct{ strata, size, k int }{{2, 3, 2}, {3, 4, 2}, {2, 4, 3}, {3, 3, 3}} {
			c, err := NewStratifiedCase(family, 2, tc.strata, tc.size, 2, tc.k, 17)
			require.NoError(t, err)
			for _, rule := range estimator.CRules() {
				s, err := estimator.NewStratifiedWTACRS(c.Weights(), c.Strata, c.K, rule)
				require.NoError(t, err)
				joint := []outcome{{1, make([]float64, c.N*c.Q)}}
				for g := range c.Strata {
					xg, yg := block(c.X, c.Y, g*c.Size, (g+1)*c.Size)
					var next []outcome
					for _, a := range joint {
						for _, b := range stratumOutcomes(t, xg, yg, s.Plan(g)) {
							d := append([]float64(nil), a.d...)
							for e, v := range b.d {
								d[e] += v
							}
							next = append(next, outcome{a.p * b.p, d})
						}
					}
					joint = next
				}
				var e2, e4 float64
				for _, o := range joint {
					var n2 float64
					for _, v := range o.d {
						n2 += v * v
					}
					e2 += o.p * n2
					e4 += o.p * n2 * n2
				}
				law, err := NewStratifiedLaw(c.X, c.Y, s)
				require.NoError(t, err)
				var mag2 float64 // the scale of the rounding of a squared deviation
				for _, v := range law.Magnitude {
					mag2 += v * v
				}
				want := math.Sqrt(max(0, e4-e2*e2))
				got, err := StratifiedSquaredErrorSpread(c.X, c.Y, s)
				require.NoError(t, err)
				assert.True(t, scalar.EqualWithinAbsOrRel(want, got, 1e-12*mag2, 1e-9), "%v %v: spread %v, enumerated %v", c, rule, got, want)
				assert.True(t, scalar.EqualWithinAbsOrRel(e2, law.TotalVariance(), 1e-12*mag2, 1e-9), "%v %v: variance %v, enumerated %v",
					c, rule, law.TotalVariance(), e2)
			}
		}
	}
}

// TestControlStratifiedModelsPublishedCode pins what the stratified control does: one shared
// |C|, the draws of the unbiased estimator, and 1 − P_{C,g} on every drawn pair.
func TestControlStratifiedModelsPublishedCode(t *testing.T) {
	t.Parallel()
	w := []float64{100, 1, 2, 3, 1, 1, 1, 1, 0, 0, 0, 0}
	ctl, err := ControlStratifiedZeroCache(w, 3, 2)
	require.NoError(t, err)
	ref, err := estimator.NewStratifiedWTACRS(w, 3, 2, estimator.CShared)
	require.NoError(t, err)
	assert.Equal(t, ref.C(), ctl.C())
	assert.Equal(t, ref.Sample(4, 1).Index, ctl.Sample(4, 1).Index)
	for g := range 3 {
		p := ctl.Plan(g)
		for i, q := range p.Probs() {
			if q > 0 {
				assert.InDelta(t, 1-ref.Plan(g).MassC(), p.Scale(i), 1e-15, "stratum %d pair %d", g, i)
			}
		}
	}
}

func TestStratifiedErrors(t *testing.T) {
	t.Parallel()
	c, err := NewStratifiedCase(FamilyGaussian, 2, 2, 3, 2, 2, 1)
	require.NoError(t, err)
	s, err := estimator.NewStratifiedWTACRS(c.Weights(), 2, 2, estimator.COwn)
	require.NoError(t, err)
	other, err := estimator.NewStratifiedWTACRS([]float64{1, 1}, 2, 1, estimator.COwn)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		s    *estimator.Stratified
		x    matrix.Dense[float64]
		want error
	}{
		{"nil", nil, c.X, estimator.ErrShape},
		{"other pairs", other, c.X, estimator.ErrShape},
		{"NaN", s, matrix.Dense[float64]{Rows: 2, Cols: 6, Data: []float64{1, 2, 3, 4, 5, math.NaN(), 1, 2, 3, 4, 5, 6}}, estimator.ErrNonFinite},
	} {
		_, err := NewStratifiedLaw(tc.x, c.Y, tc.s)
		assert.ErrorIs(t, err, tc.want, tc.name)
		_, err = StratifiedSquaredErrorSpread(tc.x, c.Y, tc.s)
		assert.ErrorIs(t, err, tc.want, tc.name)
		_, err = CheckExactStratified(tc.x, c.Y, tc.s)
		assert.ErrorIs(t, err, tc.want, tc.name)
		_, err = CheckMeanStratified(tc.x, c.Y, tc.s, 10, 1, 0.1)
		assert.ErrorIs(t, err, tc.want, tc.name)
		_, err = CheckVarianceStratified(tc.x, c.Y, tc.s, 1, 1000, 1, 0.1)
		assert.ErrorIs(t, err, tc.want, tc.name)
	}
	_, err = CheckMeanStratified(c.X, c.Y, s, 0, 1, 0.1)
	assert.ErrorIs(t, err, ErrSketches)
	_, err = CheckMeanStratified(c.X, c.Y, s, 10, 1, 1)
	assert.ErrorIs(t, err, ErrSketches)
	_, err = CheckVarianceStratified(c.X, c.Y, s, 1, 1, 1, 1e-9)
	assert.ErrorIs(t, err, ErrSketches)
	_, err = CheckVarianceStratified(c.X, c.Y, s, 1, 1000, 1, 0)
	assert.ErrorIs(t, err, ErrSketches)
	for _, bad := range [][4]int{{0, 3, 1, 1}, {2, 0, 1, 1}, {2, 40, 1, 1}, {2, 3, 0, 1}, {2, 3, 4, 1}, {2, 3, 1, 0}} {
		_, err := NewStratifiedCase(FamilyGaussian, 2, bad[0], bad[1], bad[3], bad[2], 1)
		assert.ErrorIs(t, err, ErrCase, "%v", bad)
	}
	_, err = NewStratifiedCase("bogus", 2, 2, 3, 2, 2, 1)
	assert.ErrorIs(t, err, ErrCase)
}
