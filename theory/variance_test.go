package theory

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
	"pgregory.net/rapid"
)

// checkEq3ClosedForm is Eq. 3 in closed form: no alternative distribution gives CRS a lower
// variance than the norm products. Deterministic.
func checkEq3ClosedForm(t *rapid.T) { requireClaim(t, Eq3ClosedForm) }

func TestEq3ClosedForm(t *testing.T) {
	t.Parallel()
	rapid.Check(t, checkEq3ClosedForm)
}

// checkEq3MC is Eq. 3 by Monte Carlo. False-failure probability: caseAlpha(2e-7) per case,
// 2e-7 over the property (median-of-means intervals, see CheckVariance).
func checkEq3MC(t *rapid.T) { requireClaimMC(t, Eq3MC, alphaEq3MC) }

func TestEq3MonteCarlo(t *testing.T) {
	t.Parallel()
	rapid.Check(t, checkEq3MC)
}

// TestEq3CheckersReject is the negative control of Eq. 3's checkers: the same checkers, asked
// whether the uniform distribution beats every other (the norm products among them), must say
// no on a generated heavy-tailed case. The closed-form rejection is deterministic. The Monte
// Carlo one is asserted on a case where the true gap exceeds twice the two intervals' widths
// together, so that it is missed with probability at most alphaEq3Control = 5e-8.
func TestEq3CheckersReject(t *testing.T) {
	t.Parallel()
	closedFound, mcFound := false, false
	for _, c := range exampleCases(controlSearch, FamilyLogNormal, FamilyZipf, FamilyDominant) {
		w := c.Weights()
		uniform := make([]float64, len(w))
		for i := range uniform {
			uniform[i] = 1
		}
		alts := []Alternative{{"norm products", w}}
		o, err := eq3ClosedForm(c, uniform, alts)
		require.NoError(t, err)
		if !o.Holds {
			closedFound = true
		}
		if mcFound {
			continue
		}
		mc := MC{Sketches: sketches, Seed: mcSeed(c), Alpha: alphaEq3Control}
		vu, err := crsVariance(c, uniform)
		require.NoError(t, err)
		vw, err := crsVariance(c, w)
		require.NoError(t, err)
		width := halfWidth(t, c, uniform, mc.Sketches, mc.Alpha/2) + halfWidth(t, c, w, mc.Sketches, mc.Alpha/2)
		if vu-vw > 2*width {
			o, err := eq3MC(c, uniform, alts, mc)
			require.NoError(t, err)
			assert.False(t, o.Holds, "%v: uniform not refuted (gap %.3g, width %.3g)", c, vu-vw, width)
			mcFound = true
		}
		if closedFound && mcFound {
			break
		}
	}
	assert.True(t, closedFound, "the closed-form Eq. 3 checker never rejected the uniform distribution")
	assert.True(t, mcFound, "no case where the uniform distribution's excess variance is detectable")
}

// halfWidth returns the (deterministic) half-width of CheckVariance's interval for CRS with
// weights w on the case.
func halfWidth(t *testing.T, c Case, w []float64, sketches int, alpha float64) float64 {
	p, err := estimator.NewCRS(w, c.K)
	require.NoError(t, err)
	r, err := CheckVariance(c.X, c.Y, p, 0, sketches, 1, alpha)
	require.NoError(t, err)
	return r.HalfWidth
}

// checkClosedFormMC is property 3: estimator.ClosedForm's variance for CRS, WTA-CRS (rule and
// fixed |C|), Bernoulli and uniform is inside the Monte Carlo interval. False-failure
// probability: caseAlpha(2e-7) per case, 2e-7 over the property.
func checkClosedFormMC(t *rapid.T) { requireClaimMC(t, ClosedFormMC, alphaClosedFormMC) }

func TestClosedFormMonteCarlo(t *testing.T) {
	t.Parallel()
	rapid.Check(t, checkClosedFormMC)
}

// TestClosedFormCheckerRejects is the negative control of property 3: the same checker must
// reject a wrong closed form, the second moment Draws·Σ p_i s_i² ‖X_i‖²‖Y_i‖² without the
// −‖E one draw‖² term (the error of dropping the centring), on a generated case where the error
// is detectable (it is then missed with probability at most alphaCFControl = 5e-8).
func TestClosedFormCheckerRejects(t *testing.T) {
	t.Parallel()
	for _, c := range exampleCases(controlSearch, FamilyGaussian, FamilyNearTie) {
		p, err := estimator.NewCRS(c.Weights(), c.K)
		require.NoError(t, err)
		cf, err := estimator.ClosedForm(c.X, c.Y, p)
		require.NoError(t, err)
		exact, err := matrix.Product(c.X, c.Y)
		require.NoError(t, err)
		var norm2 float64
		for _, v := range exact.Data {
			norm2 += v * v
		}
		wrong := cf.Variance + norm2/float64(p.Draws()) // d·(second moment) instead of d·(second − ‖XY/d‖²)
		r, err := CheckVariance(c.X, c.Y, p, wrong, sketches, mcSeed(c), alphaCFControl)
		require.NoError(t, err)
		if r.Detectable {
			assert.True(t, r.Rejected, "%v: wrong closed form %.6g accepted (true %.6g ± %.3g)", c, wrong, r.True, r.HalfWidth)
			return
		}
	}
	t.Fatalf("no generated case where the uncentred closed form is detectably wrong")
}

// checkTheorem2 is property 4 in closed form: the condition, the bound and the rule. Deterministic.
func checkTheorem2(t *rapid.T) {
	c := Cases().Draw(t, "case")
	r, err := CheckTheorem2(c, nil)
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	for name, o := range map[string]Verdict{"condition": r.Condition, "bound": r.Bound, "rule": r.Rule} {
		if !o.Holds {
			t.Fatalf("%v: %s: %s", c, name, o.Detail)
		}
	}
}

func TestTheorem2(t *testing.T) {
	t.Parallel()
	rapid.Check(t, checkTheorem2)
}

// TestTheorem2CheckerRejects is the negative control of the bound's checker: the same check with
// the factor (1 − P_C), without k/(k − |C|), must fail on a generated case. Deterministic.
func TestTheorem2CheckerRejects(t *testing.T) {
	t.Parallel()
	wrong := func(k, cc int, massC float64) float64 { return 1 - massC }
	for _, c := range exampleCases(controlSearch) {
		r, err := CheckTheorem2(c, wrong)
		require.NoError(t, err)
		if !r.Bound.Holds {
			t.Logf("rejected on %v: %s", c, r.Bound.Detail)
			return
		}
	}
	t.Fatalf("the bound checker accepted the factor 1 − P_C on %d cases", controlSearch)
}

// TestTheorem2RuleIsNotOptimal records the finding that the |C| of the rule does not always
// minimise the true variance: a generated case where another |C| does strictly better.
// Deterministic.
func TestTheorem2RuleIsNotOptimal(t *testing.T) {
	t.Parallel()
	for _, c := range exampleCases(controlSearch) {
		r, err := CheckTheorem2(c, nil)
		require.NoError(t, err)
		if !r.Agree {
			assert.Greater(t, r.VarBoundC, r.VarBestC)
			t.Logf("%v: rule |C| = %d has variance %.6g, |C| = %d has %.6g", c, r.BoundC, r.VarBoundC, r.BestC, r.VarBestC)
			return
		}
	}
	t.Fatalf("the rule's |C| minimised the variance on all %d cases", controlSearch)
}
