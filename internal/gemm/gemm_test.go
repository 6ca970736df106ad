package gemm

import (
	"testing"

	"github.com/stretchr/testify/assert"
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
		assert.InDeltaSlice(t, want, c, 1e-12, "%s tA=%v tB=%v", Backend, tc.tA, tc.tB)

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
