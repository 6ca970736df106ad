package gpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/wtacrs/wtacrs/estimator"
)

// Options of the tests.
func crs(k int) Options    { return Options{Method: estimator.MethodCRS, K: k} }
func wtacrs(k int) Options { return Options{Method: estimator.MethodWTACRS, K: k} }
func wtacrsFixed(k, c int) Options {
	return Options{Method: estimator.MethodWTACRS, K: k, FixedC: true, C: c}
}

// autoC reports options that choose |C| by the rule of estimator.ChooseC (k < n).
func autoC(o Options, n int) bool { return o.Method == estimator.MethodWTACRS && !o.FixedC && o.K < n }

// cpuTrace returns what package estimator keeps and draws for weights w.
func cpuTrace(t require.TestingT, w []float64, o Options, seed, stream uint64) (*estimator.Plan, *estimator.Sketch) {
	plan, err := estimator.NewPlan(o.Method, w, o.K, o.PlanC())
	require.NoError(t, err)
	return plan, plan.Sample(seed, stream)
}

// hostTrace is HostTrace for valid arguments.
func hostTrace(t require.TestingT, w []float64, o Options, seed, stream uint64) *Trace {
	tr, err := HostTrace(w, o, seed, stream)
	require.NoError(t, err)
	return tr
}

// requireSameAsCPU asserts that a trace keeps and draws exactly what package estimator keeps and
// draws, with the same scales.
func requireSameAsCPU(t require.TestingT, tr *Trace, plan *estimator.Plan, sk *estimator.Sketch) {
	require.Equal(t, append([]int{}, plan.Kept()...), append([]int{}, tr.Kept...), "kept set")
	require.Equal(t, append([]int{}, sk.Draws...), append([]int{}, tr.Draws...), "draws")
	for j, i := range tr.Draws {
		require.Equal(t, plan.Scale(i), tr.Scales[j], "scale of draw %d (pair %d)", j, i)
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
		name string
		w    []float64
		opts Options
	}{
		{"heavy/wtacrs/k=0.3n", heavy, wtacrs(900)},
		{"heavy/wtacrs/k=0.1n", heavy, wtacrs(300)},
		{"heavy/wtacrs/k=2", heavy, wtacrs(2)},
		{"heavy/wtacrs/k=1", heavy, wtacrs(1)},
		{"heavy/wtacrs/k>n", heavy, wtacrs(3500)},
		{"heavy/wtacrs/k=n", heavy, wtacrs(3000)},
		{"heavy/wtacrs/fixed", heavy, wtacrsFixed(300, 37)},
		{"heavy/wtacrs/fixed0", heavy, wtacrsFixed(300, 0)},
		{"heavy/crs", heavy, crs(300)},
		{"ties/wtacrs", ties, wtacrs(70)},
		{"ties/wtacrs/fixed", ties, wtacrsFixed(300, 250)},
		{"ties/crs", ties, crs(70)},
		{"one/wtacrs", onePair, wtacrs(3)},
		{"zeros/wtacrs", zeros, wtacrs(30)},
		{"zeros/crs", zeros, crs(30)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plan, sk := cpuTrace(t, tt.w, tt.opts, 42, 7)
			tr := hostTrace(t, tt.w, tt.opts, 42, 7)
			requireSameAsCPU(t, tr, plan, sk)
			if autoC(tt.opts, len(tt.w)) {
				want, err := estimator.ChooseC(tt.w, tt.opts.K)
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
	plan, sk := cpuTrace(t, w, wtacrs(100), 1, 1)
	require.NotEmpty(t, plan.Kept())
	tr := hostTrace(t, w, wtacrs(100), 1, 1)
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
		o := Options{Method: rapid.SampledFrom([]estimator.Method{estimator.MethodCRS, estimator.MethodWTACRS}).Draw(t, "method"), K: k}
		if o.Method == estimator.MethodWTACRS && rapid.Bool().Draw(t, "fixedC") {
			o.FixedC, o.C = true, rapid.IntRange(0, min(k-1, n)).Draw(t, "c")
		}
		seed := rapid.Uint64().Draw(t, "seed")
		plan, sk := cpuTrace(t, w, o, seed, 3)
		requireSameAsCPU(t, hostTrace(t, w, o, seed, 3), plan, sk)
	})
}
