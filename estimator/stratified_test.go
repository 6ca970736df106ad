package estimator

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/floats/scalar"

	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/philox"
)

func TestChooseCShared(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ws   [][]float64
		k    int
		want int
	}{
		// c = 0: 1/3, c = 1: (4/8)/2 = 0.25, c = 2: (3/8)/1.
		{"one stratum: ChooseC's factor", [][]float64{{4, 1, 1, 1, 1}}, 3, 1},
		// Shares left: A 1, 2/8, 1/8 and B 1, 3/4, 1/2 for c = 0, 1, 2; their sums over k − c:
		// 2/3, 1/2, 5/8. On its own A ties c = 1 and 2 and B takes 0.
		{"two strata: the mean decides", [][]float64{{6, 1, 1, 0}, {1, 1, 1, 1}}, 3, 1},
		{"ties: smallest c", [][]float64{{1, 1}, {1, 1}}, 2, 0}, // 2/2 = 1 and 1/1 = 1
		// Only B counts: 1/3, (1/4)/2, 0/1. Counting A's share of 1 would give 2/3, 5/8, 1: c = 1.
		{"a zero stratum is left out of the mean", [][]float64{{0, 0, 0}, {3, 1, 0}}, 3, 2},
		{"every stratum zero", [][]float64{{0, 0}, {0, 0}}, 2, 0},
		{"no strata", nil, 3, 0},
		// A alone would take c = 3 (1/31 left); B has one pair, so c ≤ 1: 2/4 against
		// (21/31 + 0)/3.
		{"c capped by the smallest stratum", [][]float64{{10, 10, 10, 1}, {1}}, 4, 1},
		{"c capped by the smallest stratum, a zero one", [][]float64{{10, 10, 10, 1}, {0}}, 4, 1},
		{"c capped by k − 1", [][]float64{{10, 10, 10, 1}}, 2, 0}, // 1/2 against 21/31
		{"k = 1", [][]float64{{100, 1}, {100, 1}}, 1, 0},
	} {
		got, err := ChooseCShared(tc.ws, tc.k)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
	}
}

// TestChooseCSharedOfOneStratumIsChooseC: with one stratum the shared rule is the rule of
// ChooseC, on weights without ties.
func TestChooseCSharedOfOneStratumIsChooseC(t *testing.T) {
	t.Parallel()
	for seed := range uint64(40) {
		m := 1 + int(philox.Uniform(seed, 5, 0)*80)
		w := make([]float64, m)
		for i := range w {
			w[i] = math.Exp(3 * (philox.Uniform(seed, 5, uint64(i+1)) - 0.5))
		}
		for _, k := range []int{1, 2, m / 3, m / 2, m} {
			if k < 1 {
				continue
			}
			want, err := ChooseC(w, k)
			require.NoError(t, err)
			got, err := ChooseCShared([][]float64{w}, k)
			require.NoError(t, err)
			assert.Equal(t, want, got, "seed %d m %d k %d", seed, m, k)
		}
	}
}

func TestCRuleNames(t *testing.T) {
	t.Parallel()
	for _, r := range CRules() {
		got, err := ParseCRule(r.String())
		require.NoError(t, err)
		assert.Equal(t, r, got)
	}
	got, err := ParseCRule("SHARED")
	require.NoError(t, err)
	assert.Equal(t, CShared, got)
	_, err = ParseCRule("mean")
	assert.ErrorContains(t, err, "own or shared")
	assert.Equal(t, "own", CRule(0).String(), "the zero value is the default rule")
	assert.Equal(t, "CRule(7)", CRule(7).String())
}

// stratifiedWeights returns strata·size heavy-tailed weights with zeros, and stratum 1 (when
// there is one) entirely zero.
func stratifiedWeights(strata, size int, seed uint64) []float64 {
	w := make([]float64, strata*size)
	for i := range w {
		u := philox.Uniform(seed, 11, uint64(i))
		if i%5 != 3 && (strata < 2 || i/size != 1) {
			w[i] = math.Exp(4 * (u - 0.5))
		}
	}
	return w
}

// TestStratifiedOneStratumIsThePlan: with one stratum the sketch is the stratum's plan's own,
// bit for bit, and for COwn that plan is NewWTACRS's.
func TestStratifiedOneStratumIsThePlan(t *testing.T) {
	t.Parallel()
	w := stratifiedWeights(1, 700, 3)
	for _, k := range []int{1, 5, 40, 699, 700, 5000} {
		for _, rule := range CRules() {
			s, err := NewStratifiedWTACRS(w, 1, k, rule)
			require.NoError(t, err)
			want := s.Plan(0)
			if rule == COwn {
				own, err := NewWTACRS(w, k)
				require.NoError(t, err)
				assert.Equal(t, own.Kept(), want.Kept())
				assert.Equal(t, float64Bits(own.Scales()), float64Bits(want.Scales()))
			}
			for seed := range uint64(3) {
				got, ref := s.Sample(seed, 9), want.Sample(seed, 9)
				name := fmt.Sprintf("k %d %v seed %d", k, rule, seed)
				assert.Equal(t, ref.Kept, got.Kept, name)
				assert.Equal(t, ref.Draws, got.Draws, name)
				assert.Equal(t, ref.Index, got.Index, name)
				assert.Equal(t, float64Bits(ref.Scale), float64Bits(got.Scale), name)
				merged := s.SampleMerged(seed, 9)
				assert.Nil(t, merged.Draws)
				assert.Equal(t, ref.Index, merged.Index, name)
				assert.Equal(t, float64Bits(ref.Scale), float64Bits(merged.Scale), name)
			}
		}
	}
}

// TestStratifiedStreamLayout pins the stream layout of the package documentation: draw j of
// stratum g is the pair of the stratum's blocked CDF at Uniform(seed, stream, g·2³² + j), and
// the sketch is the union of the strata's, in the product's indices.
func TestStratifiedStreamLayout(t *testing.T) {
	t.Parallel()
	const strata, size = 5, 300
	w := stratifiedWeights(strata, size, 4)
	for g := range strata {
		w[g*size+7+g] *= 1000 // a dominant pair: |C| ≥ 1 where the stratum has weight
	}
	for _, rule := range CRules() {
		s, err := NewStratifiedWTACRS(w, strata, 20, rule)
		require.NoError(t, err)
		sk := s.Sample(6, 2)
		require.NoError(t, checkSketch(s.M(), s.M(), sk))
		draws, kept, index, scale := []int{}, []int{}, []int{}, []float64{}
		for g := range strata {
			p := s.Plan(g)
			var local []int
			for j := range p.Draws() {
				i := pick(p.cdf, philox.Uniform(6, 2, uint64(g)<<32+uint64(j)))
				local = append(local, i)
				draws = append(draws, g*size+i)
			}
			for _, c := range p.Kept() {
				kept = append(kept, g*size+c)
			}
			part := &Sketch{M: size, Kept: p.Kept()}
			part.mergeDraws(local, p.scale)
			for _, i := range part.Index {
				index = append(index, g*size+i)
			}
			scale = append(scale, part.Scale...)
		}
		assert.Equal(t, draws, sk.Draws, "%v", rule)
		assert.Equal(t, kept, sk.Kept, "%v", rule)
		assert.Equal(t, []int{1, 0, 1, 1, 1}, s.C(), "%v: stratum 1 is zero", rule)
		assert.Equal(t, index, sk.Index, "%v", rule)
		assert.Equal(t, float64Bits(scale), float64Bits(sk.Scale), "%v", rule)
		merged := s.SampleMerged(6, 2)
		assert.Nil(t, merged.Draws)
		assert.Equal(t, sk.Index, merged.Index)
		assert.Equal(t, float64Bits(sk.Scale), float64Bits(merged.Scale))
	}
}

// TestStratifiedStrataAreIndependent: two strata of the same weights draw on different counters,
// so their draws differ.
func TestStratifiedStrataAreIndependent(t *testing.T) {
	t.Parallel()
	one := stratifiedWeights(1, 64, 8)
	s, err := NewStratifiedWTACRS(slices.Concat(one, one), 2, 16, COwn)
	require.NoError(t, err)
	sk := s.Sample(1, 0)
	d := s.Plan(0).Draws()
	require.Len(t, sk.Draws, 2*d)
	second := make([]int, d)
	for j, i := range sk.Draws[d:] {
		second[j] = i - 64
	}
	assert.NotEqual(t, sk.Draws[:d], second)
}

func TestStratifiedDeterministic(t *testing.T) {
	t.Parallel()
	w := stratifiedWeights(4, 50, 5)
	s, err := NewStratifiedWTACRS(w, 4, 10, CShared)
	require.NoError(t, err)
	assert.Equal(t, s.Sample(3, 1), s.Sample(3, 1))
	assert.NotEqual(t, s.Sample(3, 1).Index, s.Sample(3, 2).Index)
	assert.NotEqual(t, s.Sample(3, 1).Index, s.Sample(4, 1).Index)
	t2, err := NewStratifiedWTACRS(w, 4, 10, CShared)
	require.NoError(t, err)
	assert.Equal(t, s.Sample(3, 1), t2.Sample(3, 1))
}

// TestStratifiedRules: the |C| of every stratum under each rule, with the shared |C| capped by a
// stratum's positive weights, zero strata drawing nothing, and k ≥ size keeping every positive
// pair.
func TestStratifiedRules(t *testing.T) {
	t.Parallel()
	w := []float64{
		6, 1, 1, 0, // ChooseC: 1 (ties with 2)
		1, 1, 0, 0, // ChooseC: 2, both positive pairs
		0, 0, 0, 0, // zero: |C| = 0, no draws
		5, 0, 0, 0, // one positive pair: |C| ≤ 1
	}
	ws := [][]float64{w[0:4], w[4:8], w[8:12], w[12:16]}
	shared, err := ChooseCShared(ws, 3)
	require.NoError(t, err)
	// Shares left for c = 0, 1, 2: A 1, 1/4, 1/8; B 1, 1/2, 0; D 1, 0, 0. Over k − c: 1, 3/8, 1/8.
	require.Equal(t, 2, shared)
	for _, tc := range []struct {
		rule  CRule
		k     int
		want  []int
		draws []int
	}{
		{COwn, 3, []int{1, 2, 0, 1}, []int{2, 0, 0, 0}},
		{CShared, 3, []int{2, 2, 0, 1}, []int{1, 0, 0, 0}},
		{COwn, 4, []int{3, 2, 0, 1}, []int{0, 0, 0, 0}},
		{CShared, 4, []int{3, 2, 0, 1}, []int{0, 0, 0, 0}},
		{CShared, 1, []int{0, 0, 0, 0}, []int{1, 1, 0, 1}},
	} {
		s, err := NewStratifiedWTACRS(w, 4, tc.k, tc.rule)
		require.NoError(t, err)
		name := fmt.Sprintf("%v k=%d", tc.rule, tc.k)
		assert.Equal(t, tc.want, s.C(), name)
		for g, d := range tc.draws {
			assert.Equal(t, d, s.Plan(g).Draws(), "%s stratum %d", name, g)
		}
		assert.Equal(t, 16, s.M())
		assert.Equal(t, 4, s.Strata())
		assert.Equal(t, 4, s.Size())
		assert.Equal(t, tc.k, s.K())
		assert.Equal(t, tc.rule, s.Rule())
		c := s.C()
		c[0] = 99
		assert.NotEqual(t, 99, s.C()[0], "C returns a copy")
	}
	all, err := NewStratifiedWTACRS(w, 4, 4, COwn)
	require.NoError(t, err)
	assert.Equal(t, 1.0, all.MassC(), "every positive pair kept")
	zero, err := NewStratifiedWTACRS(make([]float64, 6), 3, 1, CShared)
	require.NoError(t, err)
	assert.Zero(t, zero.MassC())
	assert.Empty(t, zero.Sample(1, 1).Index)
	some, err := NewStratifiedWTACRS(w, 4, 3, CShared)
	require.NoError(t, err)
	assert.InDelta(t, (6+1+1+1+5)/15.0, some.MassC(), 1e-15, "kept weight over all weight")
}

// stratifiedProduct returns an n×(strata·size) by (strata·size)×q product with mixed signs,
// log-normal pair scales, and pair 1 mod 4 of every stratum exactly zero in Y.
func stratifiedProduct(n, strata, size, q int, seed uint64) (x, y matrix.Dense[float64]) {
	m := strata * size
	x, _ = matrix.NewDense[float64](n, m, nil)
	y, _ = matrix.NewDense[float64](m, q, nil)
	for j := range m {
		s := math.Exp(3 * (philox.Uniform(seed, 1, uint64(j)) - 0.5))
		for i := range n {
			x.Data[i*m+j] = s * (philox.Uniform(seed, 2, uint64(i*m+j)) - 0.3)
		}
		if j%size%4 != 1 {
			for i := range q {
				y.Data[j*q+i] = philox.Uniform(seed, 3, uint64(j*q+i)) - 0.5
			}
		}
	}
	return x, y
}

// block returns the columns [lo, hi) of x and the rows [lo, hi) of y.
func block(x, y matrix.Dense[float64], lo, hi int) (xb, yb matrix.Dense[float64]) {
	xb, _ = matrix.NewDense[float64](x.Rows, hi-lo, nil)
	for r := range x.Rows {
		copy(xb.Row(r), x.Row(r)[lo:hi])
	}
	yb, _ = matrix.NewDense(hi-lo, y.Cols, slices.Clone(y.Data[lo*y.Cols:hi*y.Cols]))
	return xb, yb
}

// TestStratifiedApplyAndClosedForm: Apply on the union sketch is the sum of the strata's
// estimates on their own sketches, and ClosedFormStratified is the sum of the strata's
// ClosedForm (exactly ClosedForm for one stratum); with k ≥ size the estimate is exact.
func TestStratifiedApplyAndClosedForm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ strata, size, k int }{{1, 24, 5}, {3, 16, 4}, {6, 8, 3}, {4, 8, 8}, {2, 300, 30}} {
		x, y := stratifiedProduct(3, tc.strata, tc.size, 2, uint64(tc.strata*tc.size))
		w, err := Weights(x, y)
		require.NoError(t, err)
		exact, _ := matrix.Product(x, y)
		for _, rule := range CRules() {
			name := fmt.Sprintf("%d×%d k=%d %v", tc.strata, tc.size, tc.k, rule)
			s, err := NewStratifiedWTACRS(w, tc.strata, tc.k, rule)
			require.NoError(t, err, name)
			sk := s.Sample(2, 5)
			est, err := Apply(x, y, sk)
			require.NoError(t, err, name)
			sum := make([]float64, len(est.Data))
			var mean []float64
			var variance float64
			for g := range tc.strata {
				xg, yg := block(x, y, g*tc.size, (g+1)*tc.size)
				part := s.Plan(g).sample(2, 5, uint64(g)<<32, true)
				eg, err := Apply(xg, yg, part)
				require.NoError(t, err, name)
				cf, err := ClosedForm(xg, yg, s.Plan(g))
				require.NoError(t, err, name)
				if mean == nil {
					mean = make([]float64, len(cf.Mean.Data))
				}
				for i := range sum {
					sum[i] += eg.Data[i]
					mean[i] += cf.Mean.Data[i]
				}
				variance += cf.Variance
			}
			for i, v := range est.Data {
				assert.True(t, scalar.EqualWithinAbsOrRel(v, sum[i], 1e-12, 1e-12), "%s entry %d: %v against %v", name, i, v, sum[i])
			}
			cf, err := ClosedFormStratified(x, y, s)
			require.NoError(t, err, name)
			assert.Equal(t, float64Bits(mean), float64Bits(cf.Mean.Data), name)
			assert.Equal(t, math.Float64bits(variance), math.Float64bits(cf.Variance), name)
			assert.Equal(t, diff2(mean, exact.Data), cf.SquaredBias, name)
			assert.Less(t, cf.SquaredBias, 1e-24, name)
			if tc.strata == 1 {
				one, err := ClosedForm(x, y, s.Plan(0))
				require.NoError(t, err)
				assert.Equal(t, one, cf, name)
			}
			if tc.k >= tc.size {
				assert.Zero(t, cf.Variance, name)
				for i, v := range est.Data {
					assert.InDelta(t, exact.Data[i], v, 1e-12, name)
				}
			}
			f32, err := ClosedFormStratified(toFloat32(x), toFloat32(y), s)
			require.NoError(t, err, name)
			assert.InDelta(t, cf.Variance, f32.Variance, 1e-4*cf.Variance+1e-12, "%s: float32 input", name)
		}
	}
}

func toFloat32(d matrix.Dense[float64]) matrix.Dense[float32] {
	out := matrix.Dense[float32]{Rows: d.Rows, Cols: d.Cols, Data: make([]float32, len(d.Data))}
	for i, v := range d.Data {
		out.Data[i] = float32(v)
	}
	return out
}

// TestStratifiedWithScale: other scales change the sketch's factors, not its pairs, and the
// closed form follows them.
func TestStratifiedWithScale(t *testing.T) {
	t.Parallel()
	x, y := stratifiedProduct(2, 3, 10, 2, 9)
	w, err := Weights(x, y)
	require.NoError(t, err)
	s, err := NewStratifiedWTACRS(w, 3, 4, CShared)
	require.NoError(t, err)
	ones := make([]float64, s.M())
	for i := range ones {
		ones[i] = 1
	}
	u, err := s.WithScale(ones)
	require.NoError(t, err)
	a, b := s.Sample(1, 1), u.Sample(1, 1)
	assert.Equal(t, a.Index, b.Index)
	assert.Equal(t, a.Draws, b.Draws)
	cf, err := ClosedFormStratified(x, y, u)
	require.NoError(t, err)
	assert.Greater(t, cf.SquaredBias, 1e-6, "unscaled draws are biased")
	assert.Equal(t, s.Plan(0).Scales(), s.Plan(0).Scales(), "s is not changed")
	_, err = s.WithScale(ones[1:])
	assert.ErrorIs(t, err, ErrShape)
	ones[4] = math.NaN()
	_, err = s.WithScale(ones)
	assert.ErrorIs(t, err, ErrNonFinite)
}

func TestStratifiedErrors(t *testing.T) {
	t.Parallel()
	w := stratifiedWeights(3, 4, 1)
	x, y := stratifiedProduct(2, 3, 4, 2, 1)
	s, err := NewStratifiedWTACRS(w, 3, 2, COwn)
	require.NoError(t, err)
	nanW := slices.Clone(w)
	nanW[7] = math.NaN()
	negW := slices.Clone(w)
	negW[2] = -1
	nanX := matrix.Dense[float64]{Rows: x.Rows, Cols: x.Cols, Data: slices.Clone(x.Data)}
	nanX.Data[3] = math.NaN()
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"not divisible", func() error { _, err := NewStratifiedWTACRS(w, 5, 2, COwn); return err }(), ErrShape},
		{"no pairs", func() error { _, err := NewStratifiedWTACRS(nil, 1, 2, COwn); return err }(), ErrShape},
		{"strata = 0", func() error { _, err := NewStratifiedWTACRS(w, 0, 2, COwn); return err }(), ErrShape},
		{"strata < 0", func() error { _, err := NewStratifiedWTACRS(w, -3, 2, CShared); return err }(), ErrShape},
		{"strata > 2^32", func() error { _, err := NewStratifiedWTACRS(w, math.MaxInt, 2, CShared); return err }(), ErrShape},
		{"k = 0", func() error { _, err := NewStratifiedWTACRS(w, 3, 0, COwn); return err }(), ErrBudget},
		{"k < 0 shared", func() error { _, err := NewStratifiedWTACRS(w, 3, -1, CShared); return err }(), ErrBudget},
		{"unknown rule", func() error { _, err := NewStratifiedWTACRS(w, 3, 2, CRule(9)); return err }(), ErrBudget},
		{"NaN weight", func() error { _, err := NewStratifiedWTACRS(nanW, 3, 2, CShared); return err }(), ErrNonFinite},
		{"negative weight", func() error { _, err := NewStratifiedWTACRS(negW, 3, 2, COwn); return err }(), ErrNegative},
		{"shared k = 0", func() error { _, err := ChooseCShared([][]float64{{1}}, 0); return err }(), ErrBudget},
		{"shared NaN", func() error { _, err := ChooseCShared([][]float64{{1}, {math.NaN()}}, 2); return err }(), ErrNonFinite},
		{"shared Inf", func() error { _, err := ChooseCShared([][]float64{{math.Inf(1)}}, 2); return err }(), ErrNonFinite},
		{"shared negative", func() error { _, err := ChooseCShared([][]float64{{1, -1}}, 2); return err }(), ErrNegative},
		{"closed form, nil", func() error { _, err := ClosedFormStratified(x, y, nil); return err }(), ErrShape},
		{"closed form, other pairs", func() error {
			_, err := ClosedFormStratified(matrix.Dense[float64]{Rows: 1, Cols: 2, Data: []float64{1, 2}},
				matrix.Dense[float64]{Rows: 2, Cols: 1, Data: []float64{1, 2}}, s)
			return err
		}(), ErrShape},
		{"closed form, Y rows", func() error { _, err := ClosedFormStratified(x, x, s); return err }(), ErrShape},
		{"closed form, NaN", func() error { _, err := ClosedFormStratified(nanX, y, s); return err }(), ErrNonFinite},
	} {
		assert.ErrorIs(t, tc.err, tc.want, tc.name)
	}
	_, err = NewStratifiedWTACRS(nanW, 3, 2, COwn)
	assert.ErrorContains(t, err, "weight 7 (stratum 1) is NaN")
	_, err = ChooseCShared([][]float64{{1}, {math.NaN()}}, 2)
	assert.ErrorContains(t, err, "(stratum 1)")
	assert.Panics(t, func() { s.Plan(3) })
	assert.Panics(t, func() { s.Plan(-1) })
}
