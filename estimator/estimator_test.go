package estimator

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/philox"
	"gonum.org/v1/gonum/floats/scalar"
)

// smallCase is a 3×5 by 5×2 product with a zero column, a dominant pair and mixed signs.
func smallCase(t *testing.T) (matrix.Dense[float64], matrix.Dense[float64]) {
	t.Helper()
	x, err := matrix.NewDense(3, 5, []float64{1, 2, 0, 4, 5, -1, 0.5, 0, 2, 8, 3, 1, 0, -2, 0.1})
	require.NoError(t, err)
	y, err := matrix.NewDense(5, 2, []float64{1, 2, 3, -1, 7, 7, 0.5, 0.5, -2, 1})
	require.NoError(t, err)
	return x, y
}

func TestBlockedCDF(t *testing.T) {
	t.Parallel()
	w := make([]float64, 3*CDFBlock+5)
	for i := range w {
		w[i] = 1 / float64(i+1)
	}
	cdf := blockedCDF(w)
	var offset float64
	for b := 0; b*CDFBlock < len(w); b++ {
		var local float64
		for i := b * CDFBlock; i < min((b+1)*CDFBlock, len(w)); i++ {
			local += w[i]
			require.Equal(t, offset+local, cdf[i], "i = %d", i) // bit for bit
		}
		offset += local
	}
}

func TestPickNeverDrawsZeroWeight(t *testing.T) {
	t.Parallel()
	w := []float64{0, 0, 3, 0, 1, 0}
	cdf := blockedCDF(w)
	for _, tc := range []struct {
		u    float64
		want int
	}{{0, 2}, {0.74, 2}, {0.75, 4}, {0.99, 4}, {math.Nextafter(1, 0), 4}} {
		assert.Equal(t, tc.want, pick(cdf, tc.u), "u = %v", tc.u)
	}
}

func TestProbabilitiesEq3(t *testing.T) {
	t.Parallel()
	x, y := smallCase(t)
	w, err := Weights(x, y)
	require.NoError(t, err)
	p, err := Probabilities(w)
	require.NoError(t, err)
	var total float64
	for i := range w {
		var a, b float64
		for r := 0; r < x.Rows; r++ {
			a += x.At(r, i) * x.At(r, i)
		}
		for c := 0; c < y.Cols; c++ {
			b += y.At(i, c) * y.At(i, c)
		}
		assert.True(t, scalar.EqualWithinAbsOrRel(w[i], math.Sqrt(a*b), 1e-14, 1e-14), "w[%d]", i)
		total += p[i]
	}
	assert.InDelta(t, 1, total, 1e-15)
	assert.Zero(t, p[2], "the zero column has probability zero")

	// Transposed layout: rows of H = columns of X.
	wt, err := WeightsTransA(matrix.Transpose(x), y)
	require.NoError(t, err)
	for i := range w {
		assert.True(t, scalar.EqualWithinAbsOrRel(w[i], wt[i], 1e-14, 1e-14))
	}
}

func TestChooseC(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		w    []float64
		k    int
		want int
	}{
		{"uniform weights: plain CRS", []float64{1, 1, 1, 1, 1, 1, 1, 1}, 4, 0},
		{"one dominant pair", []float64{100, 1, 1, 1, 1, 1}, 3, 1},
		{"two dominant pairs", []float64{50, 50, 1, 1, 1, 1, 1}, 4, 2},
		{"k = 1 allows only c = 0", []float64{100, 1}, 1, 0},
		{"mass on fewer than k pairs: keep them all", []float64{0, 5, 0, 3, 0, 0}, 4, 2},
		{"ties: smallest c", []float64{2, 1, 1}, 2, 0}, // (4)/2 = 2 and (2)/1 = 2
	} {
		got, err := ChooseC(tc.w, tc.k)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
	}
}

func TestSortedOrderTiesByIndex(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []int{1, 3, 0, 2, 4}, SortedOrder([]float64{1, 2, 1, 2, 1}))
}

func TestTopMassAndBound(t *testing.T) {
	t.Parallel()
	mass, err := TopMass([]float64{1, 3, 0, 4})
	require.NoError(t, err)
	assert.InDeltaSlice(t, []float64{0, 0.5, 0.875, 1, 1}, mass, 1e-15)
	f, err := BoundFactor([]float64{1, 3, 0, 4}, 2, 1)
	require.NoError(t, err)
	assert.InDelta(t, 2*0.5/1, f, 1e-15)
	_, err = BoundFactor([]float64{1, 3}, 2, 2)
	assert.ErrorIs(t, err, ErrBudget)
}

// enumerateIID returns the exact expectation of an i.i.d. plan by enumerating every sequence of
// its draws, with probabilities and scales recomputed from the weights by the paper's formulas
// (not from Plan.Prob and Plan.Scale), so it checks the plan as well as the unbiasedness.
func enumerateIID(t *testing.T, x, y matrix.Dense[float64], p *Plan) matrix.Dense[float64] {
	t.Helper()
	w := p.Weights()
	inC := make([]bool, p.M())
	for _, c := range p.Kept() {
		inC[c] = true
	}
	var rest float64
	for i, v := range w {
		if !inC[i] {
			rest += v
		}
	}
	mean, err := matrix.NewDense[float64](x.Rows, y.Cols, nil)
	require.NoError(t, err)
	seq := make([]int, p.Draws())
	var walk func(d int, prob float64)
	walk = func(d int, prob float64) {
		if d == p.Draws() {
			s := &Sketch{M: p.M(), Kept: p.Kept(), Draws: append([]int(nil), seq...)}
			scale := make([]float64, p.M())
			for i, v := range w {
				if v > 0 && !inC[i] {
					// (1 − P_C)/((k − |C|) p_i) with p_i = w_i/Σw, i.e. rest/(draws·w_i).
					scale[i] = rest / (float64(p.Draws()) * v)
				}
			}
			s.merge(scale)
			est, err := Apply(x, y, s)
			require.NoError(t, err)
			for i := range mean.Data {
				mean.Data[i] += prob * est.Data[i]
			}
			return
		}
		for i, v := range w {
			if v > 0 && !inC[i] {
				seq[d] = i
				walk(d+1, prob*v/rest)
			}
		}
	}
	walk(0, 1)
	return mean
}

func TestUnbiasedByEnumeration(t *testing.T) {
	t.Parallel()
	x, y := smallCase(t)
	exact, err := matrix.Product(x, y)
	require.NoError(t, err)
	w, err := Weights(x, y)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		plan func() (*Plan, error)
	}{
		{"crs k=1", func() (*Plan, error) { return NewCRS(w, 1) }},
		{"crs k=3", func() (*Plan, error) { return NewCRS(w, 3) }},
		{"crs k=6 > m", func() (*Plan, error) { return NewCRS(w, 6) }},
		{"wtacrs rule k=3", func() (*Plan, error) { return NewWTACRS(w, 3) }},
		{"wtacrs c=0 k=2", func() (*Plan, error) { return NewWTACRSFixed(w, 2, 0) }},
		{"wtacrs c=2 k=4", func() (*Plan, error) { return NewWTACRSFixed(w, 4, 2) }},
		{"wtacrs c=3 k=4", func() (*Plan, error) { return NewWTACRSFixed(w, 4, 3) }},
		{"uniform k=2", func() (*Plan, error) { return NewUniform(5, 2) }},
	} {
		p, err := tc.plan()
		require.NoError(t, err, tc.name)
		mean := enumerateIID(t, x, y, p)
		for i := range mean.Data {
			assert.True(t, scalar.EqualWithinAbsOrRel(mean.Data[i], exact.Data[i], 1e-12, 1e-12),
				"%s: entry %d: mean %v, exact %v", tc.name, i, mean.Data[i], exact.Data[i])
		}
		cf, err := ClosedForm(x, y, p)
		require.NoError(t, err)
		assert.InDeltaSlice(t, mean.Data, cf.Mean.Data, 1e-12, tc.name)
		assert.Less(t, cf.SquaredBias, 1e-20, tc.name)
	}
}

// TestBiasedBaselinesAreCaught is the negative control of the exact expectation checks: the same
// comparison of the closed-form mean with XY rejects the biased baselines.
func TestBiasedBaselinesAreCaught(t *testing.T) {
	t.Parallel()
	x, y := smallCase(t)
	exact, _ := matrix.Product(x, y)
	w, _ := Weights(x, y)
	for _, m := range []Method{MethodTopK, MethodNoReplacement} {
		p, err := NewPlan(m, w, 2, AutoC)
		require.NoError(t, err)
		cf, err := ClosedForm(x, y, p)
		require.NoError(t, err)
		assert.Greater(t, cf.SquaredBias, 1.0, "%v must be biased here", m)
		assert.Greater(t, diff2(cf.Mean.Data, exact.Data), 1.0)
	}
	// A wrongly scaled WTA-CRS (the sampled part multiplied by 0) is biased too.
	wta, err := NewWTACRSFixed(w, 3, 1)
	require.NoError(t, err)
	p, err := wta.WithScale(make([]float64, wta.M()))
	require.NoError(t, err)
	cf, err := ClosedForm(x, y, p)
	require.NoError(t, err)
	assert.Greater(t, cf.SquaredBias, 1.0)
}

func TestClosedFormCRSMatchesPaper(t *testing.T) {
	t.Parallel()
	// E‖XY − X'Y'‖² = (Σ_i ‖X_i‖²‖Y_i‖²/p_i − ‖XY‖²)/k for CRS.
	x, y := smallCase(t)
	w, _ := Weights(x, y)
	p, _ := Probabilities(w)
	exact, _ := matrix.Product(x, y)
	for _, k := range []int{1, 2, 7} {
		plan, err := NewCRS(w, k)
		require.NoError(t, err)
		cf, err := ClosedForm(x, y, plan)
		require.NoError(t, err)
		var s float64
		for i, wi := range w {
			if p[i] > 0 {
				s += wi * wi / p[i]
			}
		}
		want := (s - frob2(exact.Data)) / float64(k)
		assert.True(t, scalar.EqualWithinAbsOrRel(cf.ExpectedSquaredError(), want, 1e-9, 1e-12), "k=%d: %v vs %v", k, cf.ExpectedSquaredError(), want)
	}
}

func TestWTACRSMatchesEq4(t *testing.T) {
	t.Parallel()
	w := []float64{8, 1, 4, 0, 2, 1}
	p, err := NewWTACRSFixed(w, 4, 2)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 2}, p.Kept())
	assert.InDelta(t, 12.0/16, p.MassC(), 1e-15)
	assert.Equal(t, 2, p.Draws())
	for i, wi := range w {
		if i == 0 || i == 2 || wi == 0 {
			assert.Zero(t, p.Prob(i))
			continue
		}
		pi := wi / 16
		assert.InDelta(t, pi/(1-p.MassC()), p.Prob(i), 1e-15, "q_%d = p/(1−P_C)", i)
		assert.InDelta(t, (1-p.MassC())/(2*pi), p.Scale(i), 1e-12, "scale_%d", i)
	}
}

func TestEdgeCases(t *testing.T) {
	t.Parallel()
	t.Run("all weights zero: empty sketch, zero product", func(t *testing.T) {
		x, _ := matrix.NewDense(2, 3, []float64{1, 0, 2, 3, 0, 4})
		y, _ := matrix.NewDense(3, 2, []float64{0, 0, 5, 6, 0, 0}) // X[:,i]Y[i,:] = 0 for all i
		w, err := Weights(x, y)
		require.NoError(t, err)
		for _, m := range Methods() {
			p, err := NewPlan(m, w, 2, AutoC)
			require.NoError(t, err)
			s := p.Sample(1, 0)
			if m == MethodUniform {
				continue // uniform draws pairs regardless of weight
			}
			assert.Zero(t, s.Rows(), "%v", m)
			est, err := Apply(x, y, s)
			require.NoError(t, err)
			assert.Equal(t, []float64{0, 0, 0, 0}, est.Data)
		}
	})
	t.Run("P_C = 1 leaves nothing to sample: exact", func(t *testing.T) {
		w := []float64{0, 3, 0, 2, 0}
		p, err := NewWTACRSFixed(w, 3, 2)
		require.NoError(t, err)
		assert.Equal(t, 0, p.Draws())
		assert.Equal(t, 1.0, p.MassC())
		assert.Equal(t, []int{1, 3}, p.Sample(5, 0).Index)
	})
	t.Run("k ≥ m: WTA-CRS is exact", func(t *testing.T) {
		x, y := smallCase(t)
		w, _ := Weights(x, y)
		exact, _ := matrix.Product(x, y)
		for _, k := range []int{5, 9} {
			p, err := NewWTACRS(w, k)
			require.NoError(t, err)
			est, err := Apply(x, y, p.Sample(3, 0))
			require.NoError(t, err)
			assert.InDeltaSlice(t, exact.Data, est.Data, 1e-12)
		}
	})
	t.Run("ties break by index", func(t *testing.T) {
		p, err := NewTopK([]float64{1, 2, 2, 1, 2}, 2)
		require.NoError(t, err)
		assert.Equal(t, []int{1, 2}, p.Kept())
	})
	t.Run("n = q = 1 and m = 1", func(t *testing.T) {
		for _, sh := range [][3]int{{1, 4, 1}, {3, 1, 2}, {1, 1, 1}} {
			n, m, q := sh[0], sh[1], sh[2]
			x, _ := matrix.NewDense[float64](n, m, nil)
			y, _ := matrix.NewDense[float64](m, q, nil)
			for i := range x.Data {
				x.Data[i] = float64(i + 1)
			}
			for i := range y.Data {
				y.Data[i] = float64(2*i - 1)
			}
			w, err := Weights(x, y)
			require.NoError(t, err)
			for _, meth := range Methods() {
				p, err := NewPlan(meth, w, 1, AutoC)
				require.NoError(t, err)
				est, err := Apply(x, y, p.Sample(9, 0))
				require.NoError(t, err)
				assert.Equal(t, n, est.Rows)
				assert.Equal(t, q, est.Cols)
				cf, err := ClosedForm(x, y, p)
				require.NoError(t, err)
				if m == 1 {
					assert.Less(t, cf.ExpectedSquaredError(), 1e-20, "one pair: every method is exact")
				}
			}
		}
	})
}

func TestRepeatedDrawsAreMerged(t *testing.T) {
	t.Parallel()
	w := []float64{1, 1000}
	p, err := NewCRS(w, 50)
	require.NoError(t, err)
	s := p.Sample(11, 0)
	require.Len(t, s.Draws, 50)
	count := map[int]int{}
	for _, i := range s.Draws {
		count[i]++
	}
	require.Equal(t, len(count), s.Rows())
	for j, i := range s.Index {
		assert.InDelta(t, float64(count[i])*p.Scale(i), s.Scale[j], 1e-12)
	}
}

func TestSameSeedSameSketch(t *testing.T) {
	t.Parallel()
	w := []float64{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5}
	for _, m := range Methods() {
		p, err := NewPlan(m, w, 4, AutoC)
		require.NoError(t, err)
		a, b := p.Sample(2023, 7), p.Sample(2023, 7)
		assert.Equal(t, a, b, "%v", m)
		if m != MethodTopK {
			assert.NotEqual(t, a.Draws, p.Sample(2024, 7).Draws, "%v: another seed", m)
		}
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	x, y := smallCase(t)
	w, _ := Weights(x, y)
	bad, _ := matrix.NewDense(5, 2, []float64{1, 2, 3, math.NaN(), 0, 0, 0, 0, 0, 0})
	inf, _ := matrix.NewDense(5, 2, []float64{1, 2, 3, math.Inf(-1), 0, 0, 0, 0, 0, 0})
	wrong, _ := matrix.NewDense[float64](4, 2, nil)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"NewDense length", func() error { _, err := matrix.NewDense(2, 2, []float64{1}); return err }(), ErrShape},
		{"NewDense negative", func() error { _, err := matrix.NewDense[float32](-1, 2, nil); return err }(), ErrShape},
		{"Weights shape", func() error { _, err := Weights(x, wrong); return err }(), ErrShape},
		{"Weights NaN", func() error { _, err := Weights(x, bad); return err }(), ErrNonFinite},
		{"Weights Inf", func() error { _, err := Weights(x, inf); return err }(), ErrNonFinite},
		{"WeightsTransA shape", func() error { _, err := WeightsTransA(x, wrong); return err }(), ErrShape},
		{"WeightsTransA NaN", func() error { _, err := WeightsTransA(y, bad); return err }(), ErrNonFinite},
		{"WeightsTransA Inf", func() error {
			// A row of 3e38s no longer overflows (TestNormsAtFloatLimits); a row holding Inf is an error.
			h, _ := matrix.NewDense(1, 2, []float32{3e38, float32(math.Inf(1))})
			_, err := WeightsTransA(h, h)
			return err
		}(), ErrNonFinite},
		{"norms length", func() error { _, err := WeightsFromNorms([]float64{1}, []float64{1, 2}); return err }(), ErrShape},
		{"norms negative", func() error { _, err := WeightsFromNorms([]float64{1, -1}, []float64{1, 2}); return err }(), ErrNegative},
		{"norms NaN", func() error { _, err := WeightsFromNorms([]float64{1, math.NaN()}, []float64{1, 2}); return err }(), ErrNonFinite},
		{"probabilities Inf", func() error { _, err := Probabilities([]float64{1, math.Inf(1)}); return err }(), ErrNonFinite},
		{"k = 0", func() error { _, err := NewCRS(w, 0); return err }(), ErrBudget},
		{"k < 0 wtacrs", func() error { _, err := NewWTACRS(w, -3); return err }(), ErrBudget},
		{"c = k", func() error { _, err := NewWTACRSFixed(w, 3, 3); return err }(), ErrBudget},
		{"c > m", func() error { _, err := NewWTACRSFixed(w, 9, 6); return err }(), ErrBudget},
		{"c < 0", func() error { _, err := NewWTACRSFixed(w, 3, -2); return err }(), ErrBudget},
		{"c for crs", func() error { _, err := NewPlan(MethodCRS, w, 3, 1); return err }(), ErrBudget},
		{"negative weight", func() error { _, err := NewBernoulli([]float64{1, -2}, 1); return err }(), ErrNegative},
		{"uniform m = 0", func() error { _, err := NewUniform(0, 1); return err }(), ErrShape},
		{"apply sketch of another size", func() error {
			p, _ := NewCRS([]float64{1, 2}, 1)
			_, err := Apply(x, y, p.Sample(1, 0))
			return err
		}(), ErrShape},
		{"apply NaN in a sampled pair", func() error {
			p, _ := NewTopK([]float64{1, 1, 1, 1, 1}, 5)
			_, err := Apply(x, bad, p.Sample(1, 0))
			return err
		}(), ErrNonFinite},
		{"closed form of another plan", func() error {
			p, _ := NewCRS([]float64{1, 2}, 1)
			_, err := ClosedForm(x, y, p)
			return err
		}(), ErrShape},
		{"no closed form for large norepl", func() error {
			big := make([]float64, MaxEnumeratedPairs+1)
			for i := range big {
				big[i] = 1
			}
			xb, _ := matrix.NewDense[float64](1, len(big), big)
			yb, _ := matrix.NewDense[float64](len(big), 1, big)
			p, _ := NewNoReplacement(big, 3)
			_, err := ClosedForm(xb, yb, p)
			return err
		}(), ErrNoClosedForm},
	} {
		assert.ErrorIs(t, tc.err, tc.want, tc.name)
	}
	_, err := ParseMethod("bogus")
	assert.Error(t, err)
	for _, m := range Methods() {
		got, err := ParseMethod(m.String())
		require.NoError(t, err)
		assert.Equal(t, m, got)
	}
}

func TestTopOrderMatchesFullSort(t *testing.T) {
	t.Parallel()
	for seed := uint64(0); seed < 40; seed++ {
		m := 1 + int(philox.Uniform(seed, 1, 0)*600)
		w := make([]float64, m)
		for i := range w {
			// Few distinct values, so that ties are common; some zeros.
			w[i] = math.Floor(philox.Uniform(seed, 2, uint64(i)) * 7)
		}
		full := SortedOrder(w)
		for _, c := range []int{0, 1, m / 3, m - 1, m} {
			if c < 0 {
				continue
			}
			assert.Equal(t, full[:c], topOrder(w, c), "seed %d, m %d, c %d", seed, m, c)
		}
	}
}
