package estimator

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSketcherMatchesPlan: the Sketcher's sketch is that of NewWTACRS and SampleMerged bit for
// bit, for weights with zeros, ties, heavy tails, a huge range, all zero, k ≥ m and k = 1, with
// one Sketcher and one destination reused across the cases (sizes growing and shrinking).
func TestSketcherMatchesPlan(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	heavy := func(m int) []float64 {
		w := make([]float64, m)
		for i := range w {
			w[i] = math.Exp(2 * rng.NormFloat64())
			if i%5 == 2 {
				w[i] = 0
			}
		}
		return w
	}
	ties := make([]float64, 700)
	for i := range ties {
		ties[i] = float64(1 + i%3)
	}
	wide := heavy(300)
	wide[7], wide[8] = 1e300, 1e-300
	cases := []struct {
		name string
		w    []float64
		k    int
	}{
		{"heavy-0.3", heavy(2048), 615},
		{"heavy-0.1", heavy(4096), 410},
		{"few-draws", heavy(5000), 20},
		{"ties", ties, 200},
		{"wide", wide, 90},
		{"k=1", heavy(100), 1},
		{"k=m", heavy(64), 64},
		{"k>m", heavy(64), 500},
		{"zero", make([]float64, 50), 10},
		{"one", []float64{3}, 1},
		{"small-after-large", heavy(10), 4},
	}
	var sk Sketcher
	var dst Sketch
	for _, c := range cases {
		plan, err := NewWTACRS(c.w, c.k)
		require.NoError(t, err, c.name)
		for seed := uint64(0); seed < 3; seed++ {
			want := plan.SampleMerged(seed, 7)
			require.NoError(t, sk.WTACRS(&dst, c.w, c.k, seed, 7), c.name)
			assert.Equal(t, want.M, dst.M, c.name)
			assert.Equal(t, fmt.Sprint(want.Kept), fmt.Sprint(dst.Kept), c.name)
			assert.Equal(t, want.Index, dst.Index, c.name)
			assert.Equal(t, float64Bits(want.Scale), float64Bits(dst.Scale), c.name)
			assert.Nil(t, dst.Draws, c.name)
		}
	}
}

// TestSketcherErrors: WeightsFromNormsInto has the weights and errors of WeightsFromNorms and
// reuses its buffer; WTACRS has the errors of NewWTACRS and leaves dst as it was on an error.
func TestSketcherErrors(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	a, b := make([]float64, 1000), make([]float64, 1000)
	for i := range a {
		a[i], b[i] = math.Exp(rng.NormFloat64()), math.Exp(rng.NormFloat64())
	}
	b[3] = 0
	w, err := WeightsFromNorms(a, b)
	require.NoError(t, err)
	plan, err := NewWTACRS(w, 300)
	require.NoError(t, err)
	want := plan.SampleMerged(1, 2)
	buf := make([]float64, 1000)
	w2, err := WeightsFromNormsInto(buf, a, b)
	require.NoError(t, err)
	assert.Equal(t, float64Bits(w), float64Bits(w2))
	assert.Same(t, &buf[0], &w2[0], "the buffer is reused")
	var sk Sketcher
	var dst Sketch
	require.NoError(t, sk.WTACRS(&dst, w2, 300, 1, 2))
	assert.Equal(t, want.Index, dst.Index)
	assert.Equal(t, float64Bits(want.Scale), float64Bits(dst.Scale))

	bad := append([]float64(nil), a...)
	bad[9] = math.NaN()
	neg := append([]float64(nil), a...)
	neg[9] = -1
	for _, c := range []struct {
		a, b []float64
		want error
	}{
		{bad, b, ErrNonFinite},
		{neg, b, ErrNegative},
		{a[:999], b, ErrShape},
	} {
		_, err := WeightsFromNormsInto(buf, c.a, c.b)
		_, ref := WeightsFromNorms(c.a, c.b)
		assert.True(t, errors.Is(err, c.want), "%v", err)
		assert.Equal(t, ref, err)
	}

	index := append([]int(nil), dst.Index...)
	negW := append([]float64(nil), w...)
	negW[0] = -1
	span := []float64{1, 0x1p-1023}
	for _, c := range []struct {
		w    []float64
		k    int
		want error
	}{
		{w, 0, ErrBudget},
		{negW, 10, ErrNegative},
		{span, 1, ErrRange},
	} {
		_, ref := NewWTACRS(c.w, c.k)
		err := sk.WTACRS(&dst, c.w, c.k, 1, 2)
		assert.True(t, errors.Is(err, c.want), "%v", err)
		assert.Equal(t, ref, err)
		assert.Equal(t, index, dst.Index, "dst changed on an error")
	}
}

// TestSketcherAllocates: a warm Sketcher with a warm destination allocates nothing.
func TestSketcherAllocates(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	a, b := make([]float64, 2048), make([]float64, 2048)
	for i := range a {
		a[i], b[i] = math.Exp(rng.NormFloat64()), math.Exp(rng.NormFloat64())
	}
	var sk Sketcher
	var dst Sketch
	seed := uint64(0)
	var w []float64
	allocs := testing.AllocsPerRun(20, func() {
		seed++
		var err error
		if w, err = WeightsFromNormsInto(w, a, b); err != nil {
			t.Fatal(err)
		}
		if err := sk.WTACRS(&dst, w, 615, seed, 0); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

// TestPickMatchesBinarySearchFunc: the written-out search of pick probes as
// slices.BinarySearchFunc does and finds the same pair, on blocked CDFs with runs of zero weight
// and for u from 0 to just below 1.
func TestPickMatchesBinarySearchFunc(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 12))
	ref := func(cdf []float64, u float64) int {
		target := u * cdf[len(cdf)-1]
		i, _ := slices.BinarySearchFunc(cdf, target, func(c, tg float64) int {
			if c > tg {
				return 1
			}
			return -1
		})
		if i < len(cdf) {
			return i
		}
		i = len(cdf) - 1
		for i > 0 && cdf[i] == cdf[i-1] {
			i--
		}
		return i
	}
	for _, m := range []int{1, 2, 3, 255, 256, 257, 1000} {
		w := make([]float64, m)
		for i := range w {
			if rng.IntN(3) > 0 {
				w[i] = math.Exp(3 * rng.NormFloat64())
			}
		}
		w[rng.IntN(m)] = 1
		cdf := blockedCDF(w)
		for _, u := range append([]float64{0, 0.5, math.Nextafter(1, 0)}, rng.Float64(), rng.Float64(), rng.Float64()) {
			require.Equal(t, ref(cdf, u), pick(cdf, u), "m=%d u=%v", m, u)
		}
		for range 200 {
			u := rng.Float64()
			require.Equal(t, ref(cdf, u), pick(cdf, u), "m=%d u=%v", m, u)
		}
	}
}
