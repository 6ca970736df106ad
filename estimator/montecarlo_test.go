package estimator

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/philox"
)

// zLimit is the two-sided z-score limit of the Monte Carlo tests of this package. Under the normal
// approximation (20,000 independent trials of bounded variables) one assertion fails falsely with
// probability 2·Φ(−6) ≈ 2.0e-9; this file makes 6 methods × 2 matrices + 14 pair frequencies =
// 26 such assertions, at most 5.1e-8 in all.
const zLimit = 6.0

// meanZ returns the z-score of the sample mean of v against want, with the sample's own standard
// error.
func meanZ(v []float64, want float64) float64 {
	var mean float64
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	se := math.Sqrt(ss / float64(len(v)-1) / float64(len(v)))
	if se == 0 {
		if mean == want {
			return 0
		}
		return math.Inf(1)
	}
	return (mean - want) / se
}

// paddedHeavyTailed returns an n×m by m×q product whose pair norms are log-normal, with every
// third pair exactly zero (padding tokens).
func paddedHeavyTailed(n, m, q int, seed uint64) (matrix.Dense[float64], matrix.Dense[float64]) {
	x, _ := matrix.NewDense[float64](n, m, nil)
	y, _ := matrix.NewDense[float64](m, q, nil)
	normal := func(c uint64) float64 {
		u1, u2 := philox.Uniform(seed, 99, 2*c), philox.Uniform(seed, 99, 2*c+1)
		return math.Sqrt(-2*math.Log(1-u1)) * math.Cos(2*math.Pi*u2)
	}
	var c uint64
	for j := 0; j < m; j++ {
		if j%3 == 2 {
			continue
		}
		s := math.Exp(1.5 * normal(c))
		c++
		for i := 0; i < n; i++ {
			x.Data[i*m+j] = s * normal(c)
			c++
		}
		for i := 0; i < q; i++ {
			y.Data[j*q+i] = normal(c)
			c++
		}
	}
	return x, y
}

func squaredErrors(t *testing.T, x, y matrix.Dense[float64], p *Plan, trials int) []float64 {
	t.Helper()
	exact, err := matrix.Product(x, y)
	require.NoError(t, err)
	out := make([]float64, trials)
	for s := range out {
		est, err := Apply(x, y, p.Sample(uint64(s), 1))
		require.NoError(t, err)
		out[s] = diff2(est.Data, exact.Data)
	}
	return out
}

func TestClosedFormMatchesMonteCarlo(t *testing.T) {
	t.Parallel()
	x1, y1 := smallCase(t)
	x2, y2 := paddedHeavyTailed(4, 12, 3, 5)
	for _, c := range []struct {
		name string
		x, y matrix.Dense[float64]
		k    int
	}{{"small", x1, y1, 3}, {"padded heavy-tailed", x2, y2, 5}} {
		w, err := Weights(c.x, c.y)
		require.NoError(t, err)
		for _, m := range Methods() {
			p, err := NewPlan(m, w, c.k, AutoC)
			require.NoError(t, err)
			cf, err := ClosedForm(c.x, c.y, p)
			require.NoError(t, err)
			if cf.Variance == 0 { // deterministic: every trial has the closed-form error
				errs := squaredErrors(t, c.x, c.y, p, 3)
				assert.InEpsilon(t, cf.SquaredBias, errs[2], 1e-9, "%s, %v", c.name, m)
				continue
			}
			z := meanZ(squaredErrors(t, c.x, c.y, p, 20000), cf.ExpectedSquaredError())
			assert.Less(t, math.Abs(z), zLimit, "%s, %v: z = %.2f", c.name, m, z)
		}
	}
}

// TestMonteCarloCheckRejectsWrongClosedForm is the negative control of the test above: the same
// z-score check rejects the closed form of CRS when the sketches come from top-k (biased) and
// when the claimed value is that of another budget.
func TestMonteCarloCheckRejectsWrongClosedForm(t *testing.T) {
	t.Parallel()
	x, y := paddedHeavyTailed(4, 12, 3, 5)
	w, _ := Weights(x, y)
	crs, _ := NewCRS(w, 5)
	crs4, _ := NewCRS(w, 4)
	cf4, err := ClosedForm(x, y, crs4)
	require.NoError(t, err)
	z := meanZ(squaredErrors(t, x, y, crs, 20000), cf4.ExpectedSquaredError())
	assert.Greater(t, math.Abs(z), zLimit, "k = 4's variance claimed for k = 5: z = %.2f", z)

	wrong, _ := NewWTACRSFixed(w, 5, 2)
	scale := wrong.Scales()
	for i := range scale {
		scale[i] *= 1.2 // the sampled part over-weighted: biased
	}
	wrong, err = wrong.WithScale(scale)
	require.NoError(t, err)
	good, _ := NewWTACRSFixed(w, 5, 2)
	cfGood, _ := ClosedForm(x, y, good)
	z = meanZ(squaredErrors(t, x, y, wrong, 20000), cfGood.ExpectedSquaredError())
	assert.Greater(t, math.Abs(z), zLimit, "mis-scaled WTA-CRS against the unbiased closed form: z = %.2f", z)
}

// TestDrawFrequencies checks that the draws follow Plan.Prob: each pair's count over many draws
// is binomial.
func TestDrawFrequencies(t *testing.T) {
	t.Parallel()
	w := []float64{5, 0, 1, 1, 0.01, 3, 0, 2, 2, 7, 0.5, 0, 4, 1}
	p, err := NewCRS(w, 200000)
	require.NoError(t, err)
	s := p.Sample(77, 0)
	count := make([]float64, len(w))
	for _, i := range s.Draws {
		count[i]++
	}
	n := float64(len(s.Draws))
	for i, q := range p.Probs() {
		if q == 0 {
			assert.Zero(t, count[i], "pair %d has weight zero", i)
			continue
		}
		z := (count[i] - n*q) / math.Sqrt(n*q*(1-q))
		assert.Less(t, math.Abs(z), zLimit, "pair %d: z = %.2f", i, z)
	}
}
