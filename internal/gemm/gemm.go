// Package gemm is the matrix-multiply backend of the project: a CBLAS library (OpenBLAS) when
// one can be used, gonum's pure-Go BLAS otherwise.
//
// Matrices are row-major. Gemm computes C = alpha·op(A)·op(B) + beta·C with op(A) m×k, op(B)
// k×n and C m×n; lda, ldb, ldc are the row strides. It panics on inconsistent sizes, like BLAS.
//
// # Choosing the backend
//
// The backend is chosen once, at the first call of [Init], [Backend] or [Gemm], from the
// environment variable WTACRS_BLAS:
//
//   - "auto" or unset: the default build loads a CBLAS library at run time, without cgo:
//     libopenblas.so.0, libopenblas.so, then a generic CBLAS (libcblas.so.3, libblas.so.3; on
//     macOS libopenblas.0.dylib, libopenblas.dylib, then Accelerate), the first that loads and
//     exports cblas_sgemm and cblas_dgemm; gonum's pure Go when none does or the platform cannot
//     load libraries (only linux, freebsd, netbsd and darwin on amd64 and arm64 can).
//   - "go" or "gonum": gonum's pure Go.
//   - anything else: the path (or soname, searched as dlopen searches) of the CBLAS library to
//     load. When it cannot be loaded, [Init] returns an error wrapping [ErrLoad] and the products
//     are computed by gonum's pure Go.
//
// With the build tag cblas the package is linked to OpenBLAS through cgo instead
// (`#cgo LDFLAGS: -lopenblas`): "auto" is that library, "go" still selects the pure Go and a
// path is an error. gonum's pure Go is in every build.
//
// A program should call [Init] at start-up and stop on its error: a lazy choice made by
// [Gemm] cannot report one, and falls back to the pure Go silently. [Backend] names the
// backend in use, for the record of a run. On one machine each backend gives the same bytes on
// every call for the same inputs (a library may pick other kernels on another processor);
// different backends round differently.
package gemm

// Float is the element type of the backend: float32 or float64 exactly (a named float type
// would not reach the type switch below).
type Float interface{ float32 | float64 }

// Gemm computes c = alpha·op(a)·op(b) + beta·c (row-major; op is a transpose when transA/transB)
// with the backend of [Backend], choosing it first if not done yet. It changes only c.
func Gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	gemmWith(current(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmWith is Gemm with the backend im.
func gemmWith[T Float](im *impl, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
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
		im.sgemm(transA, transB, m, n, k, float32(alpha), any(a).([]float32), lda, any(b).([]float32), ldb, float32(beta), c, ldc)
	case []float64:
		im.dgemm(transA, transB, m, n, k, float64(alpha), any(a).([]float64), lda, any(b).([]float64), ldb, float64(beta), c, ldc)
	default:
		panic("gemm: element type must be float32 or float64")
	}
}
