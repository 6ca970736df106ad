package estimator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wtacrs/wtacrs/matrix"
)

func float64Bits(v []float64) []uint64 {
	out := make([]uint64, len(v))
	for i, x := range v {
		out[i] = math.Float64bits(x)
	}
	return out
}

// sortMerged returns Index and Scale as the merge by sorting gives them from the raw draws.
func sortMerged(s *Sketch, scale []float64) ([]int, []float64) {
	ref := &Sketch{M: s.M, Kept: s.Kept, Draws: s.Draws}
	ref.merge(scale)
	return ref.Index, ref.Scale
}

// TestSampleMergedMatchesSample: merging draws as they are drawn (dense accumulator) gives the
// Index and Scale of the merge by sorting, bit for bit, and SampleMerged gives them without the
// raw draws.
func TestSampleMergedMatchesSample(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	heavy := make([]float64, 3000)
	for i := range heavy {
		heavy[i] = math.Exp(2 * rng.NormFloat64())
		if i%7 == 3 {
			heavy[i] = 0
		}
	}
	ties := []float64{1, 1, 0, 1, 1, 1, 0, 1}
	for _, tc := range []struct {
		w []float64
		k []int
	}{
		{heavy, []int{1, 40, 374, 375, 376, 1000, 3000, 48000}},
		{ties, []int{1, 2, 8, 100}},
	} {
		for _, m := range Methods() {
			for _, k := range tc.k {
				name := fmt.Sprintf("m=%d/%v/k=%d", len(tc.w), m, k)
				p, err := NewPlan(m, tc.w, k, AutoC)
				require.NoError(t, err, name)
				for seed := range uint64(3) {
					s := p.Sample(seed, 7)
					idx, sc := sortMerged(s, p.Scales())
					require.Equal(t, idx, s.Index, name)
					require.Equal(t, float64Bits(sc), float64Bits(s.Scale), name)
					merged := p.SampleMerged(seed, 7)
					assert.Nil(t, merged.Draws, name)
					require.Equal(t, s.Index, merged.Index, name)
					require.Equal(t, float64Bits(s.Scale), float64Bits(merged.Scale), name)
					assert.Equal(t, s.Kept, merged.Kept, name)
				}
			}
		}
	}
}

// TestSampleMergedMemoryIsBounded is the regression test of CRS with a budget far above m storing
// and sorting every draw (-k 1e8 on 16 pairs took 3.9 GB): SampleMerged allocates O(m), whatever
// k. It measures the heap, so it does not run in parallel with the other tests.
func TestSampleMergedMemoryIsBounded(t *testing.T) {
	w := []float64{5, 0, 1, 1, 0.01, 3, 0, 2, 2, 7, 0.5, 0, 4, 1, 9, 6}
	const k = 1 << 20
	p, err := NewCRS(w, k)
	require.NoError(t, err)
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	var merged, raw *Sketch
	bytesMerged := allocated(func() { merged = p.SampleMerged(5, 0) })
	bytesRaw := allocated(func() { raw = p.Sample(5, 0) })
	assert.Less(t, bytesMerged, uint64(4096), "SampleMerged over %d pairs with k = %d", len(w), k)
	assert.GreaterOrEqual(t, bytesRaw, uint64(8*k), "Sample keeps every draw")
	assert.Equal(t, raw.Index, merged.Index)
	assert.Equal(t, float64Bits(raw.Scale), float64Bits(merged.Scale))
}

// TestHugeBudgetCostsOrderM: a budget of math.MaxInt is exact for WTA-CRS (every positive pair
// kept, nothing drawn) and costs O(m) for WTA-CRS, Bernoulli, top-k and sampling without
// replacement (a draw list of k would not fit in memory).
func TestHugeBudgetCostsOrderM(t *testing.T) {
	t.Parallel()
	x, y := smallCase(t)
	exact, _ := matrix.Product(x, y)
	w, err := Weights(x, y)
	require.NoError(t, err)
	for _, m := range []Method{MethodWTACRS, MethodBernoulli, MethodTopK, MethodNoReplacement} {
		p, err := NewPlan(m, w, math.MaxInt, AutoC)
		require.NoError(t, err, "%v", m)
		assert.LessOrEqual(t, p.Draws(), p.M(), "%v", m)
		s := p.SampleMerged(1, 0)
		assert.Equal(t, []int{0, 1, 3, 4}, s.Index, "%v: every pair of positive weight", m)
		est, err := Apply(x, y, s)
		require.NoError(t, err)
		assert.InDeltaSlice(t, exact.Data, est.Data, 1e-12, "%v: every pair, scale 1: exact", m)
		cf, err := ClosedForm(x, y, p)
		require.NoError(t, err)
		assert.Less(t, cf.ExpectedSquaredError(), 1e-20, "%v", m)
	}
}
