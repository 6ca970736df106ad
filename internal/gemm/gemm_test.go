package gemm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/floats/scalar"
)

// naive computes op(a)·op(b) row-major by definition.
func naive(tA, tB bool, m, n, k int, a, b []float64) []float64 {
	c := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for l := 0; l < k; l++ {
				av, bv := a[i*k+l], b[l*n+j]
				if tA {
					av = a[l*m+i]
				}
				if tB {
					bv = b[j*k+l]
				}
				s += av * bv
			}
			c[i*n+j] = s
		}
	}
	return c
}

func TestGemmAgainstDefinition(t *testing.T) {
	t.Parallel()
	m, n, k := 3, 4, 5
	a := make([]float64, m*k)
	b := make([]float64, k*n)
	for i := range a {
		a[i] = float64(i%7) - 2.5
	}
	for i := range b {
		b[i] = float64(i%5) * 0.5
	}
	for _, tc := range []struct{ tA, tB bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		lda, ldb := k, n
		if tc.tA {
			lda = m
		}
		if tc.tB {
			ldb = k
		}
		want := naive(tc.tA, tc.tB, m, n, k, a, b)
		c := make([]float64, m*n)
		Gemm(tc.tA, tc.tB, m, n, k, 1, a, lda, b, ldb, 0, c, n)
		assert.InDeltaSlice(t, want, c, 1e-12, "%s tA=%v tB=%v", Backend(), tc.tA, tc.tB)

		a32, b32 := make([]float32, len(a)), make([]float32, len(b))
		for i, v := range a {
			a32[i] = float32(v)
		}
		for i, v := range b {
			b32[i] = float32(v)
		}
		c32 := make([]float32, m*n)
		Gemm(tc.tA, tc.tB, m, n, k, 1, a32, lda, b32, ldb, 0, c32, n)
		for i := range want {
			assert.InDelta(t, want[i], float64(c32[i]), 1e-4)
		}
	}
	// An empty inner dimension gives beta·C.
	c := []float64{1, 2}
	Gemm(false, false, 1, 2, 0, 1, nil, 1, nil, 2, 0.5, c, 2)
	assert.Equal(t, []float64{0.5, 1}, c)
}

// gemmCase is one product: sizes, transposes, the padding of every row stride beyond its
// minimum, and the scalars.
type gemmCase struct {
	m, n, k     int
	tA, tB      bool
	pad         int
	alpha, beta float64
}

func (c gemmCase) String() string {
	return fmt.Sprintf("m=%d n=%d k=%d tA=%v tB=%v pad=%d alpha=%g beta=%g", c.m, c.n, c.k, c.tA, c.tB, c.pad, c.alpha, c.beta)
}

// operands returns random a, b and c for tc, with their row strides, drawn from seed.
func operands[T Float](tc gemmCase, seed uint64) (a []T, lda int, b []T, ldb int, c []T, ldc int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	fill := func(rows, cols, ld int) []T {
		x := make([]T, max(0, (rows-1)*ld+cols))
		for i := range x {
			x[i] = T(2*rng.Float64() - 1)
		}
		return x
	}
	ra, ca := tc.m, tc.k
	if tc.tA {
		ra, ca = tc.k, tc.m
	}
	rb, cb := tc.k, tc.n
	if tc.tB {
		rb, cb = tc.n, tc.k
	}
	lda, ldb, ldc = max(1, ca)+tc.pad, max(1, cb)+tc.pad, tc.n+tc.pad
	return fill(ra, ca, lda), lda, fill(rb, cb, ldb), ldb, fill(tc.m, tc.n, ldc), ldc
}

// checkAgree computes tc with want and got and checks that they agree within tol·(k+1), that
// both leave the padding of c alone and that got gives the same bytes twice.
func checkAgree[T Float](t *testing.T, want, got *impl, tc gemmCase, seed uint64, tol float64) {
	t.Helper()
	a, lda, b, ldb, c, ldc := operands[T](tc, seed)
	cw, cg, cg2 := slices.Clone(c), slices.Clone(c), slices.Clone(c)
	gemmWith(want, tc.tA, tc.tB, tc.m, tc.n, tc.k, T(tc.alpha), a, lda, b, ldb, T(tc.beta), cw, ldc)
	gemmWith(got, tc.tA, tc.tB, tc.m, tc.n, tc.k, T(tc.alpha), a, lda, b, ldb, T(tc.beta), cg, ldc)
	gemmWith(got, tc.tA, tc.tB, tc.m, tc.n, tc.k, T(tc.alpha), a, lda, b, ldb, T(tc.beta), cg2, ldc)
	assert.Equal(t, cg, cg2, "%s %T: %s twice", got.name, c[0], tc)
	tol *= float64(tc.k + 1)
	for i := range c {
		if i%ldc >= tc.n {
			if c[i] != cw[i] || c[i] != cg[i] {
				t.Errorf("%s %T: %s changed padding element %d", got.name, c[0], tc, i)
			}
			continue
		}
		if !scalar.EqualWithinAbsOrRel(float64(cw[i]), float64(cg[i]), tol, tol) {
			t.Errorf("%s %T: %s: c[%d] = %v, %s gives %v", got.name, c[0], tc, i, cg[i], want.name, cw[i])
		}
	}
}

// The CBLAS library that auto finds computes what gonum computes, to rounding, on every
// combination of transposes, strides and scalars, and the same bytes every time.
func TestNativeAgreesWithGonum(t *testing.T) {
	t.Parallel()
	native, err := choose("auto", nativeAuto)
	require.NoError(t, err)
	if native == pureGo {
		t.Skip("no CBLAS library loads on this machine: only gonum's pure Go to test")
	}
	checkAgreesWithGonum(t, native)
}

// checkAgreesWithGonum checks native against gonum on a table of products and fixed-seed
// random ones.
func checkAgreesWithGonum(t *testing.T, native *impl) {
	t.Helper()
	tests := []gemmCase{
		{m: 8, n: 8, k: 8, alpha: 1},
		{m: 5, n: 7, k: 3, tA: true, alpha: 1},
		{m: 5, n: 7, k: 3, tB: true, alpha: 1},
		{m: 9, n: 4, k: 6, tA: true, tB: true, alpha: 1},
		{m: 6, n: 5, k: 7, pad: 3, alpha: 1},
		{m: 6, n: 5, k: 7, tA: true, tB: true, pad: 2, alpha: 1},
		{m: 4, n: 6, k: 5, tB: true, pad: 1, alpha: -0.75, beta: 0.5},
		{m: 3, n: 3, k: 4, tA: true, beta: 2},
		{m: 3, n: 4, k: 0, pad: 1, alpha: 1, beta: 0.5},
		{m: 1, n: 17, k: 9, alpha: 2, beta: 1},
		{m: 17, n: 1, k: 9, tA: true, tB: true, alpha: 1, beta: 1},
		{m: 70, n: 65, k: 130, tB: true, pad: 5, alpha: 1.5, beta: -1},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 24 {
		tc := gemmCase{m: 1 + rng.IntN(40), n: 1 + rng.IntN(40), k: 1 + rng.IntN(40),
			tA: rng.IntN(2) == 1, tB: rng.IntN(2) == 1, pad: rng.IntN(4), alpha: 1, beta: 0}
		if rng.IntN(2) == 1 {
			tc.alpha, tc.beta = 2*rng.Float64()-1, 2*rng.Float64()-1
		}
		tests = append(tests, tc)
	}
	for i, tc := range tests {
		checkAgree[float64](t, pureGo, native, tc, uint64(i), 1e-14)
		checkAgree[float32](t, pureGo, native, tc, uint64(i), 2e-6)
	}
	// Sizes that do not fit the storage panic in Go before any C call.
	assert.Panics(t, func() {
		gemmWith(native, false, false, 2, 2, 2, 1, make([]float64, 3), 2, make([]float64, 4), 2, 0, make([]float64, 4), 2)
	})
	assert.Panics(t, func() {
		gemmWith(native, false, true, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 1, 0, make([]float32, 4), 2)
	})
}

// WTACRS_BLAS: go and gonum force the pure Go, auto and unset use what the search finds (the
// pure Go when it finds nothing), anything else is a library whose failure is an error.
func TestChoose(t *testing.T) {
	t.Parallel()
	found := &impl{name: "found"}
	none := func() *impl { return nil }
	some := func() *impl { return found }
	tests := []struct {
		setting string
		auto    func() *impl
		want    *impl
	}{
		{"go", some, pureGo},
		{"gonum", some, pureGo},
		{"auto", some, found},
		{"", some, found},
		{"auto", none, pureGo},
		{"", none, pureGo},
	}
	for _, tc := range tests {
		got, err := choose(tc.setting, tc.auto)
		require.NoError(t, err, "%q", tc.setting)
		assert.Same(t, tc.want, got, "%q", tc.setting)
	}
	for _, lib := range []string{"/nonexistent/libnope.so.0", "libnope-wtacrs.so"} {
		got, err := choose(lib, some)
		require.Error(t, err, lib)
		assert.True(t, errors.Is(err, ErrLoad), "%v", err)
		assert.True(t, strings.HasPrefix(err.Error(), "WTACRS_BLAS="+lib+": cannot load a CBLAS library: "), "%v", err)
		assert.Same(t, pureGo, got, lib)
	}
}

func TestThreadsLabel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int
		want string
	}{{1, "1 thread"}, {2, "2 threads"}, {64, "64 threads"}} {
		assert.Equal(t, tc.want, threadsLabel(tc.n), "%d", tc.n)
	}
}

// The backend in use is the one WTACRS_BLAS of this process selects.
func TestBackendFollowsEnvironment(t *testing.T) {
	t.Parallel()
	setting := os.Getenv(EnvVar)
	want, wantErr := choose(setting, nativeAuto)
	assert.Equal(t, want.name, Backend(), "%s=%q", EnvVar, setting)
	assert.Equal(t, wantErr, Init())
	if setting == "go" || setting == "gonum" {
		assert.Equal(t, "gonum (pure Go)", Backend())
	}
	t.Logf("%s=%q: %s", EnvVar, setting, Backend())
}

// checkSizes accepts exactly the calls whose operands fit their storage and the 32-bit ints of
// CBLAS.
func TestCheckSizes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                                     string
		tA, tB                                   bool
		m, n, k, lenA, lda, lenB, ldb, lenC, ldc int
		ok                                       bool
	}{
		{"fits", false, false, 2, 3, 4, 8, 4, 12, 3, 6, 3, true},
		{"strided", false, false, 2, 3, 4, 9, 5, 15, 4, 7, 4, true},
		{"transposed", true, true, 2, 3, 4, 8, 2, 12, 4, 6, 3, true},
		{"a short", false, false, 2, 3, 4, 7, 4, 12, 3, 6, 3, false},
		{"b short", false, false, 2, 3, 4, 8, 4, 11, 3, 6, 3, false},
		{"c short", false, false, 2, 3, 4, 8, 4, 12, 3, 5, 3, false},
		{"lda small", false, false, 2, 3, 4, 8, 3, 12, 3, 6, 3, false},
		{"transposed lda small", true, false, 2, 3, 4, 8, 1, 12, 3, 6, 3, false},
		{"ldc small", false, false, 2, 3, 4, 8, 4, 12, 3, 6, 2, false},
		{"negative", false, false, -1, 3, 4, 8, 4, 12, 3, 6, 3, false},
		{"beyond int32", false, false, 1, 1, 1, 1, 1, 1 << 31, 1 << 31, 1, 1, false},
	}
	for _, tc := range tests {
		call := func() {
			checkSizes(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.lenA, tc.lda, tc.lenB, tc.ldb, tc.lenC, tc.ldc)
		}
		if tc.ok {
			assert.NotPanics(t, call, tc.name)
		} else {
			assert.Panics(t, call, tc.name)
		}
	}
}
