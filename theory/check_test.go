package theory

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
)

func nan() float64 { return math.NaN() }

func TestBernsteinRadius(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		v, rng, alpha float64
		want          float64
	}{
		{"no variance, no range", 0, 0, 1e-9, 0},
		// Pure variance term: √(2·v·ln(2/α)).
		{"variance only", 4, 0, 2 * math.Exp(-8), math.Sqrt(2 * 4 * 8)},
		// Pure range term: 2·rng·L/3.
		{"range only", 0, 3, 2 * math.Exp(-3), 2 * 3 * 3 / 3.0},
	} {
		got := BernsteinRadius(tc.v, tc.rng, tc.alpha)
		assert.InDelta(t, tc.want, got, 1e-12*max(1, tc.want), tc.name)
		if tc.want > 0 {
			// The radius solves Bernstein's bound with equality.
			l := math.Log(2 / tc.alpha)
			assert.InDelta(t, l, got*got/(2*(tc.v+tc.rng*got/3)), 1e-9*l, tc.name)
		}
	}
}

func TestGroups(t *testing.T) {
	t.Parallel()
	for _, alpha := range []float64{0.1, 1e-3, 1e-9, 1e-12} {
		g := Groups(alpha)
		assert.LessOrEqual(t, binomialTail(g, 1.0/16, (g+1)/2), alpha, "α = %g", alpha)
		if g > 1 {
			assert.Greater(t, binomialTail(g-2, 1.0/16, (g-1)/2), alpha, "α = %g: %d groups is not the least", alpha, g)
		}
	}
	// binomialTail against a direct sum: P(Bin(3, 1/2) ≥ 2) = 1/2.
	assert.InDelta(t, 0.5, binomialTail(3, 0.5, 2), 1e-15)
}

func TestMedian(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 2.0, median([]float64{3, 1, 2}))
	assert.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
	v := []float64{3, 1, 2}
	median(v)
	assert.Equal(t, []float64{3, 1, 2}, v, "median must not reorder its input")
}

func TestRatio(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 0.0, ratio(0, 0))
	assert.True(t, math.IsInf(ratio(1, 0), 1))
	assert.Equal(t, 0.5, ratio(1, 2))
}

// TestCheckExactFindsKnownBias is a hand-made case: top-1 of two equal pairs misses half of XY.
func TestCheckExactFindsKnownBias(t *testing.T) {
	t.Parallel()
	x := matrix.Dense[float64]{Rows: 1, Cols: 2, Data: []float64{1, 1}}
	y := matrix.Dense[float64]{Rows: 2, Cols: 1, Data: []float64{1, 1}}
	top, err := estimator.NewTopK([]float64{1, 1}, 1)
	require.NoError(t, err)
	r, err := CheckExact(x, y, top)
	require.NoError(t, err)
	assert.True(t, r.Biased)
	assert.InDelta(t, 0.5, r.Worst, 1e-15) // |1 − 2| / (|1|+|1|)
	crs, err := estimator.NewCRS([]float64{1, 1}, 1)
	require.NoError(t, err)
	r, err = CheckExact(x, y, crs)
	require.NoError(t, err)
	assert.False(t, r.Biased)
}

func TestSquaredErrorSpreadByEnumeration(t *testing.T) {
	t.Parallel()
	// One draw of CRS over three pairs: the squared error takes three values; compare the spread
	// with the direct computation.
	x := matrix.Dense[float64]{Rows: 1, Cols: 3, Data: []float64{1, 2, -1}}
	y := matrix.Dense[float64]{Rows: 3, Cols: 2, Data: []float64{1, 0, 1, 1, 0, 3}}
	w, err := estimator.Weights(x, y)
	require.NoError(t, err)
	for _, k := range []int{1, 2} {
		p, err := estimator.NewCRS(w, k)
		require.NoError(t, err)
		got, err := SquaredErrorSpread(x, y, p)
		require.NoError(t, err)
		// Enumerate the k draws.
		exact, _ := matrix.Product(x, y)
		var e1, e2 float64
		var rec func(depth int, prob float64, est []float64)
		rec = func(depth int, prob float64, est []float64) {
			if depth == k {
				var s float64
				for i, v := range est {
					d := v - exact.Data[i]
					s += d * d
				}
				e1 += prob * s
				e2 += prob * s * s
				return
			}
			for i, q := range p.Probs() {
				next := append([]float64(nil), est...)
				for c := range 2 {
					next[c] += p.Scale(i) * x.Data[i] * y.Data[i*2+c]
				}
				rec(depth+1, prob*q, next)
			}
		}
		rec(0, 1, make([]float64, 2))
		assert.InDelta(t, math.Sqrt(e2-e1*e1), got, 1e-12, "k = %d", k)
	}
	top, err := estimator.NewTopK(w, 1)
	require.NoError(t, err)
	s, err := SquaredErrorSpread(x, y, top)
	require.NoError(t, err)
	assert.Zero(t, s)
	nr, err := estimator.NewNoReplacement(w, 2)
	require.NoError(t, err)
	_, err = SquaredErrorSpread(x, y, nr)
	assert.ErrorIs(t, err, ErrUnsupported)
}

func TestNewCaseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		family        string
		n, m, q, k, c int
	}{
		{FamilyGaussian, 0, 4, 1, 2, 0},
		{FamilyGaussian, 1, 0, 1, 1, 0},
		{FamilyGaussian, 1, MaxPairs + 1, 1, 1, 0},
		{FamilyGaussian, 1, 4, 1, 5, 0},
		{FamilyGaussian, 1, 4, 1, 2, 2},
		{"cauchy", 1, 4, 1, 2, 0},
	} {
		_, err := NewCase(tc.family, tc.n, tc.m, tc.q, tc.k, tc.c, 1)
		assert.ErrorIs(t, err, ErrCase, "%+v", tc)
	}
}

// TestGeneratorCoverage checks that the generator reaches what the properties must cover:
// every family, m = 1 and large m, k = 1 and k = m, padded batches with most pairs exactly zero,
// dominant pairs with P_C > 1 − 1e-3 and near-ties.
func TestGeneratorCoverage(t *testing.T) {
	t.Parallel()
	families := map[string]int{}
	var m1, mLarge, k1, km, padded, dominant, ties int
	for _, c := range exampleCases(600) {
		families[c.Family]++
		w := c.Weights()
		switch {
		case c.M == 1:
			m1++
		case c.M >= 48:
			mLarge++
		}
		if c.K == 1 {
			k1++
		}
		if c.K == c.M {
			km++
		}
		if c.Family == FamilyPadded && 2*(c.M-positive(w)) >= c.M {
			padded++
		}
		if c.Family == FamilyDominant {
			if p, err := estimator.NewWTACRS(w, c.K); err == nil && p.MassC() > ZeroingThreshold {
				dominant++
			}
		}
		if c.Family == FamilyNearTie && c.M > 1 {
			lo, hi := math.Inf(1), 0.0
			for _, v := range w {
				lo, hi = min(lo, v), max(hi, v)
			}
			if hi-lo < 1e-10*hi {
				ties++
			}
		}
	}
	for _, k := range Families() {
		assert.Greater(t, families[k], 50, "family %s", k)
	}
	for name, n := range map[string]int{"m = 1": m1, "m ≥ 48": mLarge, "k = 1": k1, "k = m": km,
		"padded": padded, "P_C > 1−1e-3": dominant, "near-ties": ties} {
		assert.Greater(t, n, 3, name)
	}
}

func TestReportFiles(t *testing.T) {
	t.Parallel()
	rep, err := Verify(Config{Cases: 6, Sketches: 200, Seed: 3, Alpha: 1e-7})
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "out")
	require.NoError(t, rep.WriteFiles(dir))
	js, err := os.ReadFile(filepath.Join(dir, "findings.json"))
	require.NoError(t, err)
	md, err := os.ReadFile(filepath.Join(dir, "findings.md"))
	require.NoError(t, err)
	assert.Contains(t, string(js), `"claim": "Theorem 1: CRS and WTA-CRS unbiased (exact enumeration)"`)
	assert.Contains(t, string(md), "| claim | verdict |")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "no temporary file may remain")
	// Same config, same bytes.
	again, err := Verify(Config{Cases: 6, Sketches: 200, Seed: 3, Alpha: 1e-7})
	require.NoError(t, err)
	js2, err := again.JSON()
	require.NoError(t, err)
	assert.Equal(t, string(js), string(js2))
	// The exact claims hold (deterministic); the top-k control is rejected on these cases.
	verdicts := map[string]string{}
	for _, f := range rep.Findings {
		verdicts[f.Claim] = f.Verdict
		assert.Equal(t, 6, f.Cases, f.Claim)
	}
	assert.Equal(t, "holds", verdicts["Theorem 1: CRS and WTA-CRS unbiased (exact enumeration)"])
	assert.Equal(t, "holds", verdicts["Theorem 2: Var[WTA-CRS] ≤ k(1−P_C)/(k−|C|)·Var[CRS]"])
	assert.Equal(t, "rejected", verdicts["Control topk (deterministic top-k, unscaled): exact check"])
	_, err = Verify(Config{Cases: 0, Sketches: 200, Alpha: 1e-7})
	assert.ErrorIs(t, err, ErrSketches)
	_, err = Verify(Config{Cases: 5, Sketches: 3, Alpha: 1e-7})
	assert.ErrorIs(t, err, ErrSketches)
	err = rep.WriteFiles(filepath.Join(dir, "findings.json", "sub"))
	assert.Error(t, err)
}
