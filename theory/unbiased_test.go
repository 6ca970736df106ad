package theory

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
	"pgregory.net/rapid"
)

// checkUnbiasedExact is Theorem 1, exactly: CRS and WTA-CRS (rule and fixed |C|) have
// expectation XY, and the enumeration agrees with estimator.ClosedForm. Deterministic: it fails
// only on a real bias or a rounding error above RelTol.
func checkUnbiasedExact(t *rapid.T) { requireClaim(t, UnbiasedExact) }

func TestUnbiasedExact(t *testing.T) {
	t.Parallel()
	rapid.Check(t, checkUnbiasedExact)
}

// checkUnbiasedMC is Theorem 1 by Monte Carlo. False-failure probability: caseAlpha(2e-7) per
// case, 2e-7 over the property (Bernstein thresholds, see CheckMean).
func checkUnbiasedMC(t *rapid.T) { requireClaimMC(t, UnbiasedMC, alphaUnbiasedMC) }

func TestUnbiasedMonteCarlo(t *testing.T) {
	t.Parallel()
	rapid.Check(t, checkUnbiasedMC)
}

// controlSearch is how many generated cases a negative-control test walks through to find one
// on which the control is biased.
const controlSearch = 200

// TestControlsRejected is the negative control of Theorem 1's checkers: the same CheckExact
// and CheckMean that pass CRS and WTA-CRS must reject each biased control on a case the generator
// finds. The exact rejection is deterministic. The Monte Carlo assertion is made on a case whose
// exact bias exceeds twice the threshold (Detectable), where a miss has probability at most
// alphaControlMC = 2.5e-8 per control.
func TestControlsRejected(t *testing.T) {
	t.Parallel()
	kinds := map[string][]string{ // the families where each control is biased
		"topk": nil, "norepl": {FamilyPadded, FamilyZipf, FamilyGaussian}, "zeroing": {FamilyDominant}, "zerocache": nil,
	}
	for _, name := range []string{"topk", "norepl", "zeroing", "zerocache"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			exactFound, mcFound := "", ""
			for _, c := range exampleCases(controlSearch, kinds[name]...) {
				ctl := controlOf(t, c, name)
				if ctl.Method() == estimator.MethodNoReplacement && positive(c.Weights()) > MaxEnumerated {
					continue
				}
				ex, err := CheckExact(c.X, c.Y, ctl)
				require.NoError(t, err)
				if ex.Biased && exactFound == "" {
					exactFound = c.String()
				}
				if mcFound != "" {
					continue
				}
				r, err := CheckMean(c.X, c.Y, ctl, sketches, mcSeed(c), alphaControlMC)
				require.NoError(t, err)
				if r.Detectable {
					assert.True(t, r.Rejected, "%v: detectable bias not rejected (ratio %.3g)", c, r.WorstRatio)
					assert.True(t, ex.Biased, "%v: Monte Carlo detects a bias the exact check misses", c)
					mcFound = c.String()
				}
				if exactFound != "" && mcFound != "" {
					break
				}
			}
			require.NotEmpty(t, exactFound, "CheckExact accepted control %s on %d cases", name, controlSearch)
			require.NotEmpty(t, mcFound, "no case with a detectable bias for control %s in %d cases", name, controlSearch)
			t.Logf("%s: exact rejection on %s; Monte Carlo rejection on %s", name, exactFound, mcFound)
		})
	}
}

func controlOf(t *testing.T, c Case, name string) *estimator.Plan {
	ctls, err := Controls(c.Weights(), c.K)
	require.NoError(t, err)
	for _, ctl := range ctls {
		if ctl.Name == name {
			return ctl.Plan
		}
	}
	t.Fatalf("no control %q", name)
	return nil
}

// TestControlsModelPublishedCode pins what the two published-code controls do to a plan.
func TestControlsModelPublishedCode(t *testing.T) {
	t.Parallel()
	w := []float64{1e6, 1, 2, 3, 0}
	wta, err := estimator.NewWTACRS(w, 3)
	require.NoError(t, err)
	require.Greater(t, wta.MassC(), ZeroingThreshold)
	z, err := ControlZeroing(w, 3)
	require.NoError(t, err)
	assert.Equal(t, wta.Kept(), z.Kept())
	for i := range w {
		assert.Zero(t, z.Scale(i), "pair %d", i)
	}
	zc, err := ControlZeroCache(w, 3)
	require.NoError(t, err)
	for i, q := range zc.Probs() {
		if q > 0 {
			assert.InDelta(t, 1-wta.MassC(), zc.Scale(i), 1e-15, "pair %d", i)
		}
	}
	// Below the threshold the zeroing control is plain WTA-CRS.
	w2 := []float64{3, 1, 2, 3}
	z2, err := ControlZeroing(w2, 2)
	require.NoError(t, err)
	wta2, err := estimator.NewWTACRS(w2, 2)
	require.NoError(t, err)
	assert.Equal(t, wta2.Scales(), z2.Scales())
}

// TestLawMatchesClosedForm checks the enumerated law against estimator.ClosedForm for every
// method: the means agree entry by entry and the total variances agree, to RelTol.
func TestLawMatchesClosedForm(t *testing.T) {
	t.Parallel()
	for _, c := range exampleCases(60) {
		w := c.Weights()
		for _, m := range estimator.Methods() {
			if m == estimator.MethodNoReplacement && positive(w) > MaxEnumerated {
				continue
			}
			p, err := estimator.NewPlan(m, w, c.K, estimator.AutoC)
			require.NoError(t, err)
			law, err := NewLaw(c.X, c.Y, p)
			require.NoError(t, err)
			cf, err := estimator.ClosedForm(c.X, c.Y, p)
			require.NoError(t, err)
			var mag2 float64
			for e, v := range law.Mean {
				assert.InDelta(t, cf.Mean.Data[e], v, RelTol*law.Magnitude[e]+1e-300, "%v %v entry %d", c, m, e)
				mag2 += law.Magnitude[e] * law.Magnitude[e]
			}
			assert.InDelta(t, cf.Variance, law.TotalVariance(), RelTol*mag2+1e-300, "%v %v", c, m)
		}
	}
}

func TestLawErrors(t *testing.T) {
	t.Parallel()
	x := matrix.Dense[float64]{Rows: 1, Cols: 2, Data: []float64{1, 2}}
	y := matrix.Dense[float64]{Rows: 2, Cols: 1, Data: []float64{1, 2}}
	p3, err := estimator.NewCRS([]float64{1, 1, 1}, 2)
	require.NoError(t, err)
	w17 := make([]float64, 17)
	for i := range w17 {
		w17[i] = 1
	}
	x17 := matrix.Dense[float64]{Rows: 1, Cols: 17, Data: w17}
	y17 := matrix.Dense[float64]{Rows: 17, Cols: 1, Data: w17}
	nr, err := estimator.NewNoReplacement(w17, 3)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		x, y matrix.Dense[float64]
		p    *estimator.Plan
		want error
	}{
		{"plan over other pairs", x, y, p3, estimator.ErrShape},
		{"nil plan", x, y, nil, estimator.ErrShape},
		{"Y rows", x, matrix.Dense[float64]{Rows: 1, Cols: 1, Data: []float64{1}}, p3, estimator.ErrShape},
		{"NaN", matrix.Dense[float64]{Rows: 1, Cols: 2, Data: []float64{1, nan()}}, y, p3, estimator.ErrNonFinite},
		{"too many pairs to enumerate", x17, y17, nr, ErrUnsupported},
	} {
		_, err := NewLaw(tc.x, tc.y, tc.p)
		assert.ErrorIs(t, err, tc.want, tc.name)
		_, err = CheckExact(tc.x, tc.y, tc.p)
		assert.ErrorIs(t, err, tc.want, tc.name)
	}
	_, err = CheckMean(x, y, p3, 0, 1, 0.1)
	assert.ErrorIs(t, err, ErrSketches)
	_, err = CheckMean(x, y, p3, 10, 1, 1)
	assert.ErrorIs(t, err, ErrSketches)
	_, err = CheckVariance(x, y, p3, 1, 1, 1, 1e-9)
	assert.ErrorIs(t, err, ErrSketches)
	_, err = SquaredErrorSpread(x17, y17, nr)
	assert.ErrorIs(t, err, ErrUnsupported)
}
