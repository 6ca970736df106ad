package linear_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/floats"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/linear"
	"github.com/wtacrs/wtacrs/matrix"
)

// heavyRows returns an n×c matrix whose row norms are heavy-tailed (as token activations are).
func heavyRows(rng *rand.Rand, n, c int) matrix.Dense[float64] {
	d, _ := matrix.NewDense[float64](n, c, nil)
	for i := 0; i < n; i++ {
		s := math.Exp(1.5 * rng.NormFloat64())
		for j := 0; j < c; j++ {
			d.Data[i*c+j] = s * rng.NormFloat64()
		}
	}
	return d
}

func TestLinearExactMatchesProducts(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 1))
	h, w, gz := heavyRows(rng, 9, 4), heavyRows(rng, 4, 3), heavyRows(rng, 9, 3)
	bias := []float64{1, -2, 0.5}
	z, saved, err := linear.Forward(h, w, bias, nil)
	require.NoError(t, err)
	want, err := matrix.Product(h, w)
	require.NoError(t, err)
	for i := 0; i < 9; i++ {
		for j := 0; j < 3; j++ {
			want.Data[i*3+j] += bias[j]
		}
	}
	assert.True(t, floats.EqualApprox(want.Data, z.Data, 1e-12))
	assert.True(t, saved.Exact())
	assert.Equal(t, 9*4*8, saved.Bytes())
	gh, gw, gb, err := linear.Backward(saved, w, gz)
	require.NoError(t, err)
	wantW, _ := matrix.ProductTransA(h, gz)
	assert.True(t, floats.EqualApprox(wantW.Data, gw.Data, 1e-12))
	wt, _ := matrix.NewDense[float64](3, 4, nil)
	for i := 0; i < 4; i++ {
		for j := 0; j < 3; j++ {
			wt.Data[j*4+i] = w.Data[i*3+j]
		}
	}
	wantH, _ := matrix.Product(gz, wt)
	assert.True(t, floats.EqualApprox(wantH.Data, gh.Data, 1e-12))
	for j := 0; j < 3; j++ {
		var s float64
		for i := 0; i < 9; i++ {
			s += gz.Data[i*3+j]
		}
		assert.InDelta(t, s, gb[j], 1e-12)
	}

	// A sketch that keeps every row with scale 1 gives the exact weight gradient from a copy.
	plan, err := estimator.NewWTACRS(make9(), 9)
	require.NoError(t, err)
	_, savedAll, err := linear.Forward(h, w, bias, plan.Sample(1, 0))
	require.NoError(t, err)
	require.False(t, savedAll.Exact())
	_, gw2, _, err := linear.Backward(savedAll, w, gz)
	require.NoError(t, err)
	assert.True(t, floats.EqualApprox(wantW.Data, gw2.Data, 1e-12))
}

func make9() []float64 { return []float64{1, 2, 3, 4, 5, 6, 7, 8, 9} }

// TestLinearSampledKeepsOnlySketchRows checks that forward keeps only the sketch's rows, pre-scaled.
func TestLinearSampledKeepsOnlySketchRows(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(2, 2))
	h, w := heavyRows(rng, 100, 8), heavyRows(rng, 8, 5)
	wts := make([]float64, 100)
	for i := range wts {
		wts[i] = float64(i%7 + 1)
	}
	plan, err := estimator.NewWTACRS(wts, 30)
	require.NoError(t, err)
	s := plan.Sample(7, 3)
	_, saved, err := linear.Forward(h, w, nil, s)
	require.NoError(t, err)
	require.Equal(t, s.Index, saved.Index)
	assert.LessOrEqual(t, saved.H.Rows, 30)
	for j, i := range s.Index {
		for c := 0; c < 8; c++ {
			assert.InDelta(t, h.Data[i*8+c]*s.Scale[j], saved.H.Data[j*8+c], 1e-12)
		}
	}
	assert.Equal(t, saved.H.Rows*8*8+saved.H.Rows*8, saved.Bytes())
}

func TestLinearErrors(t *testing.T) {
	t.Parallel()
	h, _ := matrix.NewDense(4, 3, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	w, _ := matrix.NewDense(3, 2, []float64{1, 0, 0, 1, 1, 1})
	nan, _ := matrix.NewDense(4, 3, []float64{1, 2, 3, 4, math.NaN(), 6, 7, 8, 9, 10, 11, 12})
	wrongW, _ := matrix.NewDense[float64](2, 2, nil)
	other, _ := estimator.NewUniform(5, 2)
	fwd := []struct {
		name string
		h, w matrix.Dense[float64]
		b    []float64
		s    *estimator.Sketch
		want error
	}{
		{"inner mismatch", h, wrongW, nil, nil, estimator.ErrShape},
		{"bias length", h, w, []float64{1}, nil, estimator.ErrShape},
		{"NaN input", nan, w, nil, nil, estimator.ErrNonFinite},
		{"Inf bias", h, w, []float64{1, math.Inf(1)}, nil, estimator.ErrNonFinite},
		{"sketch over other rows", h, w, nil, other.Sample(1, 1), estimator.ErrShape},
	}
	for _, tc := range fwd {
		_, _, err := linear.Forward(tc.h, tc.w, tc.b, tc.s)
		assert.ErrorIs(t, err, tc.want, tc.name)
	}
	_, saved, err := linear.Forward(h, w, nil, nil)
	require.NoError(t, err)
	gz, _ := matrix.NewDense[float64](4, 2, nil)
	badGz, _ := matrix.NewDense[float64](3, 2, nil)
	nanGz, _ := matrix.NewDense(4, 2, []float64{0, 0, 0, math.Inf(-1), 0, 0, 0, 0})
	for name, g := range map[string]matrix.Dense[float64]{"rows": badGz} {
		_, _, _, err := linear.Backward(saved, w, g)
		assert.ErrorIs(t, err, estimator.ErrShape, name)
	}
	_, _, _, err = linear.Backward(saved, w, nanGz)
	assert.ErrorIs(t, err, estimator.ErrNonFinite)
	broken := saved
	broken.Index = []int{3, 1, 2, 0}
	_, _, _, err = linear.Backward(broken, w, gz)
	assert.ErrorIs(t, err, estimator.ErrShape)
	gw, _ := matrix.NewDense[float64](2, 3, nil)
	assert.ErrorIs(t, linear.BackwardAdd(saved, w, gz, matrix.Dense[float64]{}, gw, nil), estimator.ErrShape)
}

// meanEntryZ draws trials sketches of plan, runs the approximate layer and returns the z-score of
// the mean of ∇W[a,b] against the exact value, with the standard error from the closed-form
// variance of that entry's estimate under the same plan.
func meanEntryZ(t *testing.T, h, w, gz matrix.Dense[float64], plan *estimator.Plan, a, b, trials int) float64 {
	t.Helper()
	n := h.Rows
	var sum float64
	for r := 0; r < trials; r++ {
		_, saved, err := linear.Forward(h, w, nil, plan.Sample(11, uint64(r)))
		require.NoError(t, err)
		_, gw, _, err := linear.Backward(saved, w, gz)
		require.NoError(t, err)
		sum += gw.Data[a*gz.Cols+b]
	}
	x, _ := matrix.NewDense[float64](1, n, nil)
	y, _ := matrix.NewDense[float64](n, 1, nil)
	var exact float64
	for i := 0; i < n; i++ {
		x.Data[i] = h.Data[i*h.Cols+a]
		y.Data[i] = gz.Data[i*gz.Cols+b]
		exact += x.Data[i] * y.Data[i]
	}
	m, err := estimator.ClosedForm(x, y, plan)
	require.NoError(t, err)
	require.Greater(t, m.Variance, 0.0)
	return (sum/float64(trials) - exact) / math.Sqrt(m.Variance/float64(trials))
}

// TestLinearUnbiased checks E[∇W] = Hᵀ∇Z for the WTA-CRS layer with weights from stale norms
// (as with a gradient-norm cache), and that the same check rejects a biased layer.
func TestLinearUnbiased(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 3))
	const n, din, dout, k, trials = 120, 5, 4, 24, 3000
	h, w, gz := heavyRows(rng, n, din), heavyRows(rng, din, dout), heavyRows(rng, n, dout)
	a := estimator.RowNorms(h)
	stale := estimator.RowNorms(heavyRows(rng, n, dout)) // cached norms of another step
	wts, err := estimator.WeightsFromNorms(a, stale)
	require.NoError(t, err)
	plan, err := estimator.NewWTACRS(wts, k)
	require.NoError(t, err)
	require.Greater(t, len(plan.Kept()), 0)
	// Each |z| is asymptotically standard normal under unbiasedness (a mean of 3000 i.i.d.
	// bounded draws): P(|z| > 6) ≈ 2e-9 per assertion, 3 assertions: false-failure ≈ 6e-9.
	for _, e := range [][2]int{{0, 0}, {2, 1}, {4, 3}} {
		z := meanEntryZ(t, h, w, gz, plan, e[0], e[1], trials)
		assert.Less(t, math.Abs(z), 6.0, "entry %v: z = %v", e, z)
	}
	// Negative control: the published code's cold-cache scaling, (1 − P_C) alone on the
	// sampled rows. The same check must reject it (|z| far above 6 with these inputs).
	wta, err := estimator.NewWTACRS(wts, k)
	require.NoError(t, err)
	scale := wta.Scales()
	for i := range scale {
		if scale[i] != 0 {
			scale[i] = 1 - wta.MassC()
		}
	}
	biased, err := wta.WithScale(scale)
	require.NoError(t, err)
	z := meanEntryZ(t, h, w, gz, biased, 0, 0, trials)
	assert.Greater(t, math.Abs(z), 6.0, "biased control: z = %v", z)
}

// Algorithm 1 on a layer of 4 tokens: forward keeps only the sketch's rows of H, pre-scaled;
// backward gives the exact ∇H and bias gradient and ∇W from the kept rows.
func ExampleForward() {
	h, _ := matrix.NewDense(4, 2, []float64{1, 0, 0, 1, 2, 2, 0, 0})
	w, _ := matrix.NewDense(2, 1, []float64{1, -1})
	gz, _ := matrix.NewDense(4, 1, []float64{1, 1, 1, 0})
	// Weights from ‖H_t‖ and (here exact) ‖∇Z_t‖: the last token has weight 0.
	wts, _ := estimator.WeightsTransA(h, gz)
	plan, _ := estimator.NewWTACRS(wts, 2)
	_, saved, _ := linear.Forward(h, w, nil, plan.Sample(1, 0))
	_, gw, gb, _ := linear.Backward(saved, w, gz)
	fmt.Println("kept rows:", saved.Index, "of", saved.N)
	fmt.Println("bias gradient (exact):", gb)
	fmt.Println("∇W rows:", gw.Rows, "cols:", gw.Cols)
	// Output:
	// kept rows: [1 2] of 4
	// bias gradient (exact): [3]
	// ∇W rows: 2 cols: 1
}
