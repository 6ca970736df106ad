// Package gemm is the matrix-multiply backend of the project: gonum's pure-Go BLAS by default, a
// CBLAS library (OpenBLAS) through cgo with the build tag cblas.
//
// Matrices are row-major. Gemm computes C = alpha·op(A)·op(B) + beta·C with op(A) m×k, op(B)
// k×n and C m×n; lda, ldb, ldc are the row strides. It panics on inconsistent sizes, like BLAS.
package gemm

// Float is the element type of the backend: float32 or float64 exactly (a named float type
// would not reach the type switch below).
type Float interface{ float32 | float64 }

// Gemm computes c = alpha·op(a)·op(b) + beta·c (row-major; op is a transpose when transA/transB).
func Gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 { // an empty sum: BLAS implementations disagree on the strides they accept here
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				row[j] *= beta
			}
		}
		return
	}
	switch c := any(c).(type) {
	case []float32:
		sgemm(transA, transB, m, n, k, float32(alpha), any(a).([]float32), lda, any(b).([]float32), ldb, float32(beta), c, ldc)
	case []float64:
		dgemm(transA, transB, m, n, k, float64(alpha), any(a).([]float64), lda, any(b).([]float64), ldb, float64(beta), c, ldc)
	default:
		panic("gemm: element type must be float32 or float64")
	}
}
