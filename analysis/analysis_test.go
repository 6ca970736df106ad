package analysis_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/analysis"
	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
)

func TestAnalyzeUniformNormsFollowDiagonal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ m, k int }{{10, 1}, {10, 5}, {37, 3}, {100, 50}, {64, 64}} {
		w := make([]float64, tc.m)
		for i := range w {
			w[i] = 2.5
		}
		s, err := analysis.Analyze(w, tc.k)
		require.NoError(t, err)
		require.Len(t, s.Mass, tc.k+1)
		for c, v := range s.Mass {
			// Uniform weights: P_C = |C|/m up to one rounding of the division.
			assert.InDelta(t, float64(c)/float64(tc.m), v, 1e-15, "m=%d c=%d", tc.m, c)
			assert.Equal(t, float64(c)/float64(tc.k), s.Fraction[c])
		}
		assert.Equal(t, 0, s.ChosenC, "uniform weights: CRS is already optimal")
		assert.False(t, s.Theorem2)
		assert.Equal(t, 0.0, s.AboveDiagonal)
		assert.Equal(t, 1.0, s.VarianceRatio)
		assert.Equal(t, 1.0, s.BoundFactor)
		assert.InDelta(t, math.Ceil(0.1*float64(tc.m))/float64(tc.m), s.Top10Mass, 1e-15)
	}
}

func TestAnalyzeHeavyPair(t *testing.T) {
	t.Parallel()
	w := make([]float64, 100)
	for i := range w {
		w[i] = 1
	}
	w[42] = 901 // p = 0.901 on one pair, Σw = 1000
	s, err := analysis.Analyze(w, 10)
	require.NoError(t, err)
	assert.Equal(t, 1, s.ChosenC)
	assert.InDelta(t, 0.901, s.MassAtC, 1e-12)
	assert.True(t, s.Theorem2)
	assert.InDelta(t, 10*0.099/9, s.BoundFactor, 1e-12)
	// Orthogonal closed forms: CRS (1000² − 901² − 99)/10, WTA-CRS (99² − 99)/9.
	assert.InDelta(t, (99.0*99-99)/9/((1000.0*1000-901*901-99)/10), s.VarianceRatio, 1e-12)
	assert.Less(t, s.VarianceRatio, 0.1)
	assert.InDelta(t, 910.0/1000, s.Top10Mass, 1e-12)
	assert.Equal(t, 1.0, s.AboveDiagonal, "one pair holding 90%% keeps every c/10 below the curve")
}

func TestAnalyzeAllZero(t *testing.T) {
	t.Parallel()
	s, err := analysis.Analyze(make([]float64, 8), 4)
	require.NoError(t, err)
	assert.True(t, s.AllZero)
	assert.Equal(t, []float64{0, 0, 0, 0, 0}, s.Mass)
	assert.Equal(t, 0, s.ChosenC)
	assert.Equal(t, 1.0, s.VarianceRatio)
}

func TestAnalyzeErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		w    []float64
		k    int
	}{
		{"empty", nil, 1},
		{"k zero", []float64{1, 2}, 0},
		{"k above m", []float64{1, 2}, 3},
		{"NaN", []float64{1, math.NaN()}, 1},
		{"Inf", []float64{math.Inf(1), 1}, 1},
		{"negative", []float64{1, -1}, 1},
	} {
		_, err := analysis.Analyze(tc.w, tc.k)
		assert.ErrorIs(t, err, analysis.ErrInput, tc.name)
	}
}

func TestSelect(t *testing.T) {
	t.Parallel()
	w, err := analysis.Select([]float64{1, 2, 3}, []float64{4, 5, 6}, []bool{true, false, true})
	require.NoError(t, err)
	assert.Equal(t, []float64{4, 18}, w)
	w, err = analysis.Select([]float64{1, 2}, []float64{3, 4}, nil)
	require.NoError(t, err)
	assert.Equal(t, []float64{3, 8}, w)
	_, err = analysis.Select([]float64{1, 2}, []float64{3, 4}, []bool{true})
	assert.ErrorIs(t, err, analysis.ErrInput)
	_, err = analysis.Select([]float64{1, -2}, []float64{3, 4}, nil)
	assert.ErrorIs(t, err, analysis.ErrInput)
}

// With rows of H along distinct basis vectors the pairs' outer products are orthogonal, so the
// norms-only closed forms must equal the exact ones; with overlapping rows they must not.
func TestOrthogonalVariancesMatchExactOnOrthogonalPairs(t *testing.T) {
	t.Parallel()
	const m, dout = 12, 3
	h, _ := matrix.NewDense[float64](m, m, nil)
	g, _ := matrix.NewDense[float64](m, dout, nil)
	for i := range m {
		h.Data[i*m+i] = 1 + float64(i*i)/4 // heavy-tailed norms
		for j := range dout {
			g.Data[i*dout+j] = math.Sin(float64(3*i+j+1)) + 0.1
		}
	}
	w, err := estimator.WeightsTransA(h, g)
	require.NoError(t, err)
	for _, k := range []int{2, 5, 11} {
		crs, wta, c, err := analysis.ExactVariances(h, g, k)
		require.NoError(t, err)
		ocrs, owta, err := analysis.OrthogonalVariances(w, k, c)
		require.NoError(t, err)
		assert.InDelta(t, 1, ocrs/crs, 1e-10, "k=%d", k)
		if wta > 0 {
			assert.InDelta(t, 1, owta/wta, 1e-10, "k=%d", k)
		}
	}
	// Negative control: every row of H the same direction makes the cross terms large.
	for i := range m {
		for j := range m {
			h.Data[i*m+j] = 0
		}
		h.Data[i*m] = 1 + float64(i*i)/4
	}
	crs, _, _, err := analysis.ExactVariances(h, g, 5)
	require.NoError(t, err)
	ocrs, _, err := analysis.OrthogonalVariances(w, 5, 0)
	require.NoError(t, err)
	assert.Greater(t, math.Abs(ocrs/crs-1), 1e-3)
}

func TestOrthogonalVariancesErrors(t *testing.T) {
	t.Parallel()
	_, _, err := analysis.OrthogonalVariances([]float64{1, 2, 3}, 2, 2)
	assert.ErrorIs(t, err, analysis.ErrInput)
	_, _, err = analysis.OrthogonalVariances([]float64{1, math.NaN()}, 2, 0)
	assert.ErrorIs(t, err, analysis.ErrInput)
	r, err := analysis.OrthogonalVarianceRatio([]float64{0, 5, 0}, 2, 0)
	require.NoError(t, err)
	assert.Equal(t, 1.0, r)
}

func ExampleAnalyze() {
	// One token carries most of the gradient mass.
	w := []float64{50, 1, 2, 1, 3, 1, 2, 1, 1, 1}
	s, _ := analysis.Analyze(w, 5)
	fmt.Printf("|C| = %d, P_C = %.3f, Theorem 2 holds: %v, ratio %.3f\n",
		s.ChosenC, s.MassAtC, s.Theorem2, s.VarianceRatio)
	// Output: |C| = 1, P_C = 0.794, Theorem 2 holds: true, ratio 0.126
}
