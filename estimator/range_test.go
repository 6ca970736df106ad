package estimator

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wtacrs/wtacrs/matrix"
	"gonum.org/v1/gonum/blas/gonum"
	"gonum.org/v1/gonum/floats/scalar"
)

// bigNorm returns ‖v‖ computed with 256-bit floats and rounded once to float64 (+Inf above
// MaxFloat64).
func bigNorm[T matrix.Float](v []T) float64 {
	s := new(big.Float).SetPrec(256)
	for _, x := range v {
		f := new(big.Float).SetPrec(256).SetFloat64(float64(x))
		s.Add(s, f.Mul(f, f))
	}
	r, _ := s.Sqrt(s).Float64()
	return r
}

// sameFloat reports whether got is want to float64 rounding: within 4 ulps of a normal number,
// or 2 units of the smallest subnormal. It is false for NaN.
func sameFloat(got, want float64) bool {
	if math.IsInf(want, 0) {
		return got == want
	}
	return scalar.EqualWithinAbsOrRel(got, want, 0x1p-1073, 1e-15)
}

func repeat[T matrix.Float](v T, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// requireEdgeNorm checks the row norm (RowNorms) and the column norm (columnNorms of the
// transpose) of the single row v against bigNorm.
func requireEdgeNorm[T matrix.Float](t *testing.T, v []T) {
	t.Helper()
	want := bigNorm(v)
	d, err := matrix.NewDense(1, len(v), v)
	require.NoError(t, err)
	got := RowNorms(d)[0]
	assert.True(t, sameFloat(got, want), "RowNorms: %v, want %v", got, want)
	col := columnNorms(matrix.Transpose(d)).float64s()[0]
	assert.True(t, sameFloat(col, want), "column norm: %v, want %v", col, want)
}

// TestNormsAtFloatLimits is the regression test of norms whose sums of squares underflowed to
// zero (rows of 1e-300: weight 0, a biased estimate) or overflowed (rows of 1e300: refused as
// "NaN or Inf in input"): row and column norms are right at the edges of float range.
func TestNormsAtFloatLimits(t *testing.T) {
	t.Parallel()
	max64, max32 := math.MaxFloat64, float32(math.MaxFloat32)
	rows64 := []struct {
		name string
		v    []float64
	}{
		{"1e-300", repeat(1e-300, 7)},
		{"subnormal 1e-320", repeat(1e-320, 5)},
		{"smallest subnormal", []float64{0x1p-1074, 0, 0x1p-1074}},
		{"1e-160 squares subnormal", repeat(1e-160, 3)},
		{"1e300", repeat(1e300, 9)},
		{"MaxFloat64 alone", []float64{0, max64, 0}},
		{"MaxFloat64 twice overflows", []float64{max64, -max64}},
		{"near overflow", []float64{1e154, 1e154}},
		{"mixed 1e300 and 1e-300", []float64{1e-300, 1e300, -1e-300}},
		{"mixed 1 and subnormal", []float64{1, 1e-320}},
		{"ordinary", []float64{1, -2, 3.5, 0.25}},
		{"zero", []float64{0, 0, 0}},
		{"negative zeros", []float64{math.Copysign(0, -1), 0, math.Copysign(0, -1)}},
		{"zeros and a subnormal", []float64{0, 0, 0x1p-1074, 0}},
		{"empty", nil},
	}
	for _, tc := range rows64 {
		t.Run("float64/"+tc.name, func(t *testing.T) {
			t.Parallel()
			requireEdgeNorm(t, tc.v)
		})
	}
	rows32 := []struct {
		name string
		v    []float32
	}{
		{"1e-30 squares underflow float32", repeat[float32](1e-30, 6)},
		{"subnormal 1e-45", repeat[float32](1e-45, 4)},
		{"1e20 squares overflow float32", repeat[float32](1e20, 3)},
		{"3e38", repeat[float32](3e38, 2)},
		{"MaxFloat32", []float32{max32, max32, -max32}},
		{"ordinary", []float32{1, -2, 3.5, 0.25}},
		{"zero", []float32{0, 0, 0, 0, 0}},
		{"zeros and 1e-30", []float32{0, 0, 0, 1e-30, 0}},
	}
	for _, tc := range rows32 {
		t.Run("float32/"+tc.name, func(t *testing.T) {
			t.Parallel()
			requireEdgeNorm(t, tc.v)
		})
	}
}

// TestRowNormsFastPathUnchanged checks that rows whose sum of squares is in range keep the norm
// they always had, bit for bit: the square root of gonum's dot kernel (Sdot for float32).
func TestRowNormsFastPathUnchanged(t *testing.T) {
	t.Parallel()
	h, g := benchLayer(64, 48, 40)
	var impl gonum.Implementation
	for i, got := range RowNorms(h) {
		r := h.Row(i)
		require.Equal(t, math.Sqrt(float64(impl.Sdot(len(r), r, 1, r, 1))), got, "row %d", i)
	}
	w, err := WeightsTransA(h, g)
	require.NoError(t, err)
	a, b := RowNorms(h), RowNorms(g)
	for i := range w {
		require.Equal(t, a[i]*b[i], w[i], "weight %d", i)
	}
	x := matrix.ToFloat64(matrix.Transpose(h))
	y := matrix.ToFloat64(g)
	wx, err := Weights(x, y)
	require.NoError(t, err)
	for j := range wx {
		var s float64
		for i := range x.Rows {
			s += x.At(i, j) * x.At(i, j)
		}
		r := y.Row(j)
		require.Equal(t, math.Sqrt(s)*math.Sqrt(impl.Ddot(len(r), r, 1, r, 1)), wx[j], "weight %d", j)
	}
}

// scaled returns d·2^e (exact for the integer-valued matrices of these tests).
func scaled(d matrix.Dense[float64], e int) matrix.Dense[float64] {
	out := matrix.Dense[float64]{Rows: d.Rows, Cols: d.Cols, Data: make([]float64, len(d.Data))}
	for i, v := range d.Data {
		out.Data[i] = math.Ldexp(v, e)
	}
	return out
}

// integerCase is a 3×5 by 5×2 product of small integers, a zero column and a dominant pair, so
// that every power-of-two scaling of it down to 2^-1060 is exact.
func integerCase(t *testing.T) (matrix.Dense[float64], matrix.Dense[float64]) {
	t.Helper()
	x, err := matrix.NewDense(3, 5, []float64{1, 2, 0, 4, 5, -1, 3, 0, 2, 8, 3, 1, 0, -2, 1})
	require.NoError(t, err)
	y, err := matrix.NewDense(5, 2, []float64{1, 2, 3, -1, 7, 7, 1, 2, -2, 1})
	require.NoError(t, err)
	return x, y
}

// TestWeightsScaleFree is the regression test of weights that underflowed to zero or overflowed
// with the scale of X and Y: at every scale from subnormal to near MaxFloat64 every pair of
// nonzero product keeps a positive weight, and the probabilities are those of the unscaled
// product.
func TestWeightsScaleFree(t *testing.T) {
	t.Parallel()
	x, y := integerCase(t)
	w0, err := Weights(x, y)
	require.NoError(t, err)
	p0, err := Probabilities(w0)
	require.NoError(t, err)
	for _, sc := range [][2]int{{-997, 0}, {-997, -997}, {-1060, 0}, {-1060, -1040}, {997, 0}, {997, 997},
		{1015, 1015}, {-1060, 1015}, {0, 0}} {
		xs, ys := scaled(x, sc[0]), scaled(y, sc[1])
		w, err := Weights(xs, ys)
		require.NoError(t, err, "scale 2^%d, 2^%d", sc[0], sc[1])
		p, err := Probabilities(w)
		require.NoError(t, err)
		for i := range p {
			assert.Equal(t, w0[i] == 0, w[i] == 0, "scale %v: pair %d", sc, i)
			assert.True(t, scalar.EqualWithinRel(p[i], p0[i], 1e-14), "scale %v: p_%d = %v, want %v", sc, i, p[i], p0[i])
		}
		wt, err := WeightsTransA(matrix.Transpose(xs), ys)
		require.NoError(t, err)
		for i := range wt {
			assert.True(t, scalar.EqualWithinRel(wt[i], w[i], 1e-14), "scale %v: transposed weight %d", sc, i)
		}
	}
}

func TestWeightsFromNormsRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		a, b    []float64
		ratio   float64 // w[1]/w[0]
		natural bool    // the plain products
	}{
		{"ordinary", []float64{2, 3}, []float64{5, 7}, 21.0 / 10, true},
		{"products underflow", []float64{1e-200, 1e-170}, []float64{1e-200, 1e-150}, 1e80, false},
		{"products overflow", []float64{1e200, 1e250}, []float64{1e200, 1e50}, 1e-100, false},
		{"sum overflows", []float64{1e308, 1e308}, []float64{1.5, 1.5}, 1, false},
		{"subnormal product", []float64{1e-160, 1e-10}, []float64{1e-160, 1e-10}, 1e300, false},
	} {
		w, err := WeightsFromNorms(tc.a, tc.b)
		require.NoError(t, err, tc.name)
		require.Positive(t, w[0], tc.name)
		assert.True(t, scalar.EqualWithinRel(w[1]/w[0], tc.ratio, 1e-14), "%s: ratio %v", tc.name, w[1]/w[0])
		if tc.natural {
			assert.Equal(t, []float64{tc.a[0] * tc.b[0], tc.a[1] * tc.b[1]}, w, tc.name)
		} else {
			assert.True(t, max(w[0], w[1]) >= 0.5 && max(w[0], w[1]) < 1, "%s: largest weight %v in [0.5, 1)", tc.name, w)
		}
	}
	// Zero norms keep weight zero without rescaling the others.
	w, err := WeightsFromNorms([]float64{0, 2, 1e-300}, []float64{1e-300, 3, 0})
	require.NoError(t, err)
	assert.Equal(t, []float64{0, 6, 0}, w)
	// Beyond float64 at one scale: refused, naming the pair.
	_, err = WeightsFromNorms([]float64{1e300, 1e-300}, []float64{1e300, 1e-300})
	require.ErrorIs(t, err, ErrRange)
	assert.Contains(t, err.Error(), "pair 1")
}

// TestPlanRefusesOverflowingScale: a weight more than 2^1020 below the sum would get a scale
// 1/(k·p) of +Inf; the plans that scale by 1/p refuse it, the others accept it.
func TestPlanRefusesOverflowingScale(t *testing.T) {
	t.Parallel()
	w := []float64{1, 1e-310, 0, 2}
	for _, m := range []Method{MethodCRS, MethodWTACRS, MethodBernoulli} {
		_, err := NewPlan(m, w, 1, AutoC)
		require.ErrorIs(t, err, ErrRange, "%v", m)
		assert.Contains(t, err.Error(), "weight 1", "%v", m)
	}
	for _, m := range []Method{MethodTopK, MethodNoReplacement, MethodUniform} {
		_, err := NewPlan(m, w, 2, AutoC)
		assert.NoError(t, err, "%v", m)
	}
	// At the limit every scale is finite.
	p, err := NewCRS([]float64{1, 0x1p-1019}, 1)
	require.NoError(t, err)
	for _, s := range p.Scales() {
		assert.False(t, math.IsInf(s, 0))
	}
}

// TestClosedFormScaleFree is the regression test of closed forms that were 0, NaN or +Inf at the
// edges of float range: the moments of (X·2^α, Y·2^β) are those of (X, Y) times 2^(2(α+β)) (the
// mean times 2^(α+β)), to float64 rounding, for every method, or ErrRange where they exceed
// MaxFloat64.
func TestClosedFormScaleFree(t *testing.T) {
	t.Parallel()
	x, y := integerCase(t)
	w, err := Weights(x, y)
	require.NoError(t, err)
	for _, m := range Methods() {
		p, err := NewPlan(m, w, 3, AutoC)
		require.NoError(t, err)
		ref, err := ClosedForm(x, y, p)
		require.NoError(t, err)
		for _, sc := range [][2]int{{-997, 0}, {-997, 400}, {-1060, 0}, {-1060, 1000}, {997, -997}, {-997, -997},
			{600, -100}, {510, 0}, {-500, -40}, {997, 0}, {-500, 0}, {-480, -20}} {
			xs, ys := scaled(x, sc[0]), scaled(y, sc[1])
			e := sc[0] + sc[1]
			got, err := ClosedForm(xs, ys, p)
			wantBias := makeWide(ref.SquaredBias, 2*e)
			wantVar := makeWide(ref.Variance, 2*e)
			if _, ok := wantBias.add(wantVar).float64(); !ok {
				require.ErrorIs(t, err, ErrRange, "%v at %v", m, sc)
				assert.Contains(t, err.Error(), "overflows float64", "%v at %v", m, sc)
				continue
			}
			require.NoError(t, err, "%v at %v", m, sc)
			b, _ := wantBias.float64()
			v, _ := wantVar.float64()
			assert.True(t, sameFloat(got.Variance, v), "%v at %v: variance %v, want %v", m, sc, got.Variance, v)
			if ref.SquaredBias > 1e-20 { // a real bias, not rounding
				assert.True(t, sameFloat(got.SquaredBias, b), "%v at %v: squared bias %v, want %v", m, sc, got.SquaredBias, b)
			} else {
				assert.LessOrEqual(t, got.SquaredBias, math.Ldexp(1e-20, 2*e), "%v at %v", m, sc)
			}
			for i, mv := range ref.Mean.Data {
				want := math.Ldexp(mv, e)
				assert.True(t, scalar.EqualWithinAbsOrRel(got.Mean.Data[i], want, math.Ldexp(1e-12, e), 1e-12),
					"%v at %v: mean entry %d %v, want %v", m, sc, i, got.Mean.Data[i], want)
			}
		}
	}
}

// TestClosedFormNeverNonFinite: where the moments leave float64's range ClosedForm returns
// ErrRange with the value, never NaN or ±Inf (they used to reach json.Marshal).
func TestClosedFormNeverNonFinite(t *testing.T) {
	t.Parallel()
	x, y := integerCase(t)
	x, y = scaled(x, 500), scaled(y, 500) // the mean fits, the variance (≈2^2000) does not
	w, err := Weights(x, y)
	require.NoError(t, err)
	p, err := NewCRS(w, 2)
	require.NoError(t, err)
	_, err = ClosedForm(x, y, p)
	require.ErrorIs(t, err, ErrRange)
	assert.Regexp(t, `variance overflows float64 \(≈\d\.\d{3}e\+6\d\d\); rescale X or Y`, err.Error())
	_, err = ClosedForm(scaled(x, 100), y, p)
	require.ErrorIs(t, err, ErrRange)
	assert.Regexp(t, `the mean E\[X'Y'\] has an entry ≈\d\.\d{3}e\+\d+, above MaxFloat64`, err.Error())
}

// TestUnbiasedAtFloatLimits: with X = 1e-300 (whose squared norms underflowed to 0, so that no
// pair was ever drawn and the bias was the whole product) and with X = 1e300, the exact
// expectation of every sketch sequence is XY.
func TestUnbiasedAtFloatLimits(t *testing.T) {
	t.Parallel()
	x0, y := integerCase(t)
	for _, e := range []int{-997, -1060, 990} {
		x := scaled(x0, e)
		exact, err := matrix.Product(x, y)
		require.NoError(t, err)
		w, err := Weights(x, y)
		require.NoError(t, err)
		for _, k := range []int{1, 3} {
			for _, plan := range []func() (*Plan, error){
				func() (*Plan, error) { return NewCRS(w, k) },
				func() (*Plan, error) { return NewWTACRS(w, k) },
			} {
				p, err := plan()
				require.NoError(t, err)
				mean := enumerateIID(t, x, y, p)
				for i := range mean.Data {
					assert.True(t, scalar.EqualWithinAbsOrRel(mean.Data[i], exact.Data[i], math.Ldexp(1e-12, e), 1e-12),
						"2^%d, k = %d, %v: entry %d: mean %v, exact %v", e, k, p.Method(), i, mean.Data[i], exact.Data[i])
				}
			}
		}
	}
}

// TestUnbiasedAtFloatLimitsControl is the negative control of the test above: the same check
// rejects the biased top-k plan at the same scales.
func TestUnbiasedAtFloatLimitsControl(t *testing.T) {
	t.Parallel()
	x0, y := integerCase(t)
	for _, e := range []int{-997, -1060, 990} {
		x := scaled(x0, e)
		exact, _ := matrix.Product(x, y)
		w, _ := Weights(x, y)
		p, err := NewTopK(w, 2)
		require.NoError(t, err)
		est, err := Apply(x, y, p.Sample(1, 0))
		require.NoError(t, err)
		differs := false
		for i := range est.Data {
			if !scalar.EqualWithinAbsOrRel(est.Data[i], exact.Data[i], math.Ldexp(1e-12, e), 1e-12) {
				differs = true
			}
		}
		assert.True(t, differs, "top-2 at 2^%d must be caught", e)
	}
}

func TestWideArithmetic(t *testing.T) {
	t.Parallel()
	a := makeWide(3, 2000) // 3·2^2000
	b := makeWide(5, -2100)
	assert.Equal(t, makeWide(15, -100), a.mul(b))
	assert.Equal(t, a, a.add(b), "b is far below a's last bit")
	assert.Equal(t, makeWide(4, 2000), a.add(makeWide(1, 2000)))
	assert.Equal(t, makeWide(0, 0), a.add(a.neg()))
	assert.Equal(t, makeWide(9, 2000), makeWide(81, 4000).sqrt())
	assert.Equal(t, makeWide(3, -1001), makeWide(9, -2002).sqrt())
	assert.Equal(t, "1.250e+603", makeWide(1.25e3, 0).mul(makeWide(1e300, 0)).mul(makeWide(1e300, 0)).String())
	assert.Equal(t, "-1.000e-600", makeWide(-1e-300, 0).mul(makeWide(1e-300, 0)).String())
	f, ok := a.float64()
	assert.False(t, ok)
	assert.True(t, math.IsInf(f, 1))
	f, ok = makeWide(1, -1100).float64()
	assert.True(t, ok)
	assert.Zero(t, f)
	assert.Equal(t, makeWide(25, 2000), wideSumSquares([]float64{0x3p1000, -0x4p1000}))
	assert.Equal(t, makeWide(25, -2140), wideSumSquares([]float32{0, 0}[:0]).add(wideSumSquares([]float64{0x3p-1070, 0x4p-1070})))
	assert.Equal(t, makeWide(25, -2140), wideSumSquares([]float64{0x3p-1070, 0x4p-1070}))
	assert.Equal(t, makeWide(25, -290), wideSumSquares([]float32{0x3p-145, 0x4p-145}))
	assert.True(t, math.IsNaN(wideSumSquares([]float64{1, math.NaN()}).frac))
	assert.True(t, math.IsInf(wideSumSquares([]float64{math.Inf(-1), 1}).frac, 1))
}

// TestClosedFormWideMatchesFast: on ordinary inputs the plain float64 evaluation is the one
// taken (its bits are those of the committed results), and the evaluation with separate
// exponents agrees with it.
func TestClosedFormWideMatchesFast(t *testing.T) {
	t.Parallel()
	x1, y1 := smallCase(t)
	x2, y2 := paddedHeavyTailed(4, 12, 3, 5)
	for _, c := range []struct {
		name string
		x, y matrix.Dense[float64]
	}{{"small", x1, y1}, {"padded heavy-tailed", x2, y2}} {
		w, err := Weights(c.x, c.y)
		require.NoError(t, err)
		exact, _ := matrix.Product(c.x, c.y)
		norm2 := frob2(exact.Data)
		for _, m := range Methods() {
			for _, k := range []int{1, 3, 5} {
				p, err := NewPlan(m, w, k, AutoC)
				require.NoError(t, err)
				fast, ok := p.closedFormFast(c.x, c.y)
				require.True(t, ok, "%s, %v, k = %d: the plain evaluation is safe", c.name, m, k)
				slow, err := p.closedFormWide(c.x, c.y)
				require.NoError(t, err)
				name := fmt.Sprintf("%s, %v, k = %d", c.name, m, k)
				assert.True(t, scalar.EqualWithinAbsOrRel(slow.Variance, fast.Variance, 1e-12*norm2, 1e-10), "%s: variance %v, %v", name, slow.Variance, fast.Variance)
				assert.True(t, scalar.EqualWithinAbsOrRel(slow.SquaredBias, fast.SquaredBias, 1e-12*norm2, 1e-10), "%s: squared bias %v, %v", name, slow.SquaredBias, fast.SquaredBias)
				for i := range fast.Mean.Data {
					assert.True(t, scalar.EqualWithinAbsOrRel(slow.Mean.Data[i], fast.Mean.Data[i], 1e-12, 1e-12), "%s: mean %d", name, i)
				}
			}
		}
	}
}

// TestNoReplacementClosedFormWhenRestCancels is the regression test of the enumeration of
// sampling without replacement dividing by a remaining weight that cancelled to 0 (the pairs left
// weighing less than an ulp of the total): it gave NaN moments and an empty mean.
func TestNoReplacementClosedFormWhenRestCancels(t *testing.T) {
	t.Parallel()
	x, err := matrix.NewDense(2, 3, []float64{1, 1e-10, 2, 3, 1e-10, 1})
	require.NoError(t, err)
	y, err := matrix.NewDense(3, 1, []float64{1, 1e-10, 2})
	require.NoError(t, err)
	exact, _ := matrix.Product(x, y)
	w, err := Weights(x, y)
	require.NoError(t, err)
	for _, k := range []int{1, 2, 3} {
		p, err := NewNoReplacement(w, k)
		require.NoError(t, err)
		cf, err := ClosedForm(x, y, p)
		require.NoError(t, err, "k = %d", k)
		require.Len(t, cf.Mean.Data, 2, "k = %d", k)
		assert.False(t, math.IsNaN(cf.Variance) || math.IsNaN(cf.SquaredBias), "k = %d: %+v", k, cf)
		if k == 3 { // every pair drawn: exact
			assert.InDeltaSlice(t, exact.Data, cf.Mean.Data, 1e-12)
			assert.Less(t, cf.ExpectedSquaredError(), 1e-24)
		}
	}
}

// Regression (found by FuzzRangeProperties): with pairs 2^100 apart the plain differences of the
// top-k mean and the exact product lost a squared bias of ≈7.8e464 in rounding, and the
// closed form reported +Inf instead of refusing with ErrRange.
func TestClosedFormBiasLostInRounding(t *testing.T) {
	t.Parallel()
	x, y, ok := fuzzMatrices([]byte("G\xd2\xd00000ad\xd2\xcd"))
	if !ok {
		t.Fatal("the case does not decode")
	}
	w, err := Weights(x, y)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewTopK(w, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ClosedForm(x, y, p)
	if !errors.Is(err, ErrRange) {
		t.Fatalf("ClosedForm = %v, want ErrRange (the squared bias ≈7.8e464 overflows float64)", err)
	}
}

// Regression: WTA-CRS with k ≥ m (exact: nothing is drawn or scaled) and Bernoulli pairs kept
// with probability 1 were refused with ErrRange when the weights spanned more than 2^1020.
func TestRangeCheckedOnlyWhereScalesAre(t *testing.T) {
	t.Parallel()
	w := []float64{0x1p1000, 0x1p-100}
	p, err := NewWTACRS(w, 2)
	if err != nil {
		t.Fatalf("NewWTACRS with k = m: %v", err)
	}
	if got := p.Kept(); len(got) != 2 || p.Draws() != 0 {
		t.Fatalf("kept %v, draws %d: want both pairs kept and nothing drawn", got, p.Draws())
	}
	if _, err := NewWTACRS(w, 1); !errors.Is(err, ErrRange) {
		t.Fatalf("NewWTACRS with k = 1 = %v, want ErrRange (the light pair would be drawn)", err)
	}
	if _, err := NewWTACRSFixed([]float64{0x1p1000, 0x1p-100, 1}, 3, 2); err != nil {
		t.Fatalf("NewWTACRSFixed keeping the heaviest two: %v", err)
	}
}

// Regression: with every pair kept (k ≥ m) the estimate is exact, but mass_c read
// 0.9999999999999997 and sampling without replacement reported an expected squared error of
// 9e-27 (two evaluations of one product rounding differently).
func TestExactPlansAreExactlyExact(t *testing.T) {
	t.Parallel()
	x, err := matrix.NewDense(3, 4, []float64{0.1, 0.7, 0, 1.3, 2.2, -0.3, 0, 0.9, 1e-3, 5, 0, 0.11})
	if err != nil {
		t.Fatal(err)
	}
	y, err := matrix.NewDense(4, 2, []float64{0.3, 1.7, -2.9, 0.01, 4, 4, 0.77, 0.123})
	if err != nil {
		t.Fatal(err)
	}
	w, err := Weights(x, y) // pair 2 has a zero column of X: weight 0
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Method{MethodWTACRS, MethodTopK, MethodNoReplacement, MethodBernoulli} {
		p, err := NewPlan(m, w, 100, AutoC)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := ClosedForm(x, y, p)
		if err != nil {
			t.Fatal(err)
		}
		if cf.SquaredBias != 0 || cf.Variance != 0 {
			t.Errorf("%v with k ≥ m: bias² %v, variance %v, want exactly 0", m, cf.SquaredBias, cf.Variance)
		}
		if m != MethodNoReplacement && m != MethodBernoulli && p.MassC() != 1 {
			t.Errorf("%v with k ≥ m: P_C = %v, want exactly 1", m, p.MassC())
		}
	}
	// Weights that leave out a pair that matters: not exact, the bias is reported.
	bad := slices.Clone(w)
	bad[0] = 0
	p, err := NewTopK(bad, 100)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := ClosedForm(x, y, p)
	if err != nil {
		t.Fatal(err)
	}
	if !(cf.SquaredBias > 0) {
		t.Errorf("top-k without pair 0: bias² %v, want > 0", cf.SquaredBias)
	}
}
