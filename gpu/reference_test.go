package gpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/wtacrs/wtacrs/estimator"
)

// cpuTrace returns what package estimator keeps and draws for weights w.
func cpuTrace(t require.TestingT, w []float64, method estimator.Method, k, c int, seed, stream uint64) (*estimator.Plan, *estimator.Sketch) {
	plan, err := estimator.NewPlan(method, w, k, c)
	require.NoError(t, err)
	return plan, plan.Sample(seed, stream)
}

// requireSameAsCPU asserts that a trace keeps and draws exactly what package estimator keeps and
// draws, with the same scales.
func requireSameAsCPU(t require.TestingT, tr *Trace, plan *estimator.Plan, sk *estimator.Sketch) {
	require.Equal(t, append([]int{}, plan.Kept...), append([]int{}, tr.Kept...), "kept set")
	require.Equal(t, append([]int{}, sk.Draws...), append([]int{}, tr.Draws...), "draws")
	for j, i := range tr.Draws {
		require.Equal(t, plan.Scale[i], tr.Scales[j], "scale of draw %d (pair %d)", j, i)
	}
}

func heavyWeights(rng *rand.Rand, n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = math.Exp(2 * rng.NormFloat64())
	}
	return w
}

func TestReferenceMatchesEstimator(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	heavy := heavyWeights(rng, 3000)
	ties := make([]float64, 700)
	for i := range ties {
		ties[i] = float64(rng.IntN(4)) // many zeros and exact ties
	}
	ties[5] = 400
	onePair := []float64{2.5}
	zeros := make([]float64, 300)
	tests := []struct {
		name   string
		w      []float64
		method estimator.Method
		k, c   int
	}{
		{"heavy/wtacrs/k=0.3n", heavy, estimator.MethodWTACRS, 900, estimator.AutoC},
		{"heavy/wtacrs/k=0.1n", heavy, estimator.MethodWTACRS, 300, estimator.AutoC},
		{"heavy/wtacrs/k=2", heavy, estimator.MethodWTACRS, 2, estimator.AutoC},
		{"heavy/wtacrs/k=1", heavy, estimator.MethodWTACRS, 1, estimator.AutoC},
		{"heavy/wtacrs/k>n", heavy, estimator.MethodWTACRS, 3500, estimator.AutoC},
		{"heavy/wtacrs/k=n", heavy, estimator.MethodWTACRS, 3000, estimator.AutoC},
		{"heavy/wtacrs/fixed", heavy, estimator.MethodWTACRS, 300, 37},
		{"heavy/wtacrs/fixed0", heavy, estimator.MethodWTACRS, 300, 0},
		{"heavy/crs", heavy, estimator.MethodCRS, 300, estimator.AutoC},
		{"ties/wtacrs", ties, estimator.MethodWTACRS, 70, estimator.AutoC},
		{"ties/wtacrs/fixed", ties, estimator.MethodWTACRS, 300, 250},
		{"ties/crs", ties, estimator.MethodCRS, 70, estimator.AutoC},
		{"one/wtacrs", onePair, estimator.MethodWTACRS, 3, estimator.AutoC},
		{"zeros/wtacrs", zeros, estimator.MethodWTACRS, 30, estimator.AutoC},
		{"zeros/crs", zeros, estimator.MethodCRS, 30, estimator.AutoC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plan, sk := cpuTrace(t, tt.w, tt.method, tt.k, tt.c, 42, 7)
			tr := referenceTrace(tt.w, tt.method, tt.k, tt.c, 42, 7)
			requireSameAsCPU(t, tr, plan, sk)
			if tt.method == estimator.MethodWTACRS && tt.c == estimator.AutoC && tt.k < len(tt.w) {
				want, err := estimator.ChooseC(tt.w, tt.k)
				require.NoError(t, err)
				require.Equal(t, want, len(tr.Kept), "|C|")
			}
		})
	}
}

// The negative control: a reference that breaks ties by larger index, or skips the blocked
// order, must be caught by the same comparison. Here: a kept set chosen by unsorted candidates.
func TestReferenceComparisonRejectsWrongKeptSet(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	w := heavyWeights(rng, 500)
	plan, sk := cpuTrace(t, w, estimator.MethodWTACRS, 100, estimator.AutoC, 1, 1)
	require.NotEmpty(t, plan.Kept)
	tr := referenceTrace(w, estimator.MethodWTACRS, 100, estimator.AutoC, 1, 1)
	tr.Kept[0], tr.Kept[len(tr.Kept)-1] = tr.Kept[len(tr.Kept)-1], tr.Kept[0]
	if len(tr.Kept) == 1 {
		tr.Kept[0] = (tr.Kept[0] + 1) % len(w)
	}
	ft := &failRecorder{}
	func() {
		defer func() { _ = recover() }()
		requireSameAsCPU(ft, tr, plan, sk)
	}()
	require.True(t, ft.failed, "a permuted kept set must be rejected")
}

type failRecorder struct{ failed bool }

func (f *failRecorder) Errorf(string, ...any) { f.failed = true }
func (f *failRecorder) FailNow()              { f.failed = true; panic("failNow") }

// Property: for small integer weights (many zeros and exact ties, so every sum is exact) the
// device algorithm keeps and draws exactly what package estimator does.
func TestReferenceProperty(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 600).Draw(t, "n")
		w := make([]float64, n)
		maxW := rapid.IntRange(0, 6).Draw(t, "maxWeight")
		for i := range w {
			w[i] = float64(rapid.IntRange(0, maxW).Draw(t, "w"))
		}
		k := rapid.IntRange(1, n+3).Draw(t, "k")
		method := rapid.SampledFrom([]estimator.Method{estimator.MethodCRS, estimator.MethodWTACRS}).Draw(t, "method")
		c := estimator.AutoC
		if method == estimator.MethodWTACRS && rapid.Bool().Draw(t, "fixedC") {
			c = rapid.IntRange(0, min(k-1, n)).Draw(t, "c")
		}
		seed := rapid.Uint64().Draw(t, "seed")
		plan, sk := cpuTrace(t, w, method, k, c, seed, 3)
		requireSameAsCPU(t, referenceTrace(w, method, k, c, seed, 3), plan, sk)
	})
}
