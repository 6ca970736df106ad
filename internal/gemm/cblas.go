//go:build cblas

package gemm

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import "errors"

// linked is OpenBLAS linked through cgo.
var linked = &impl{sgemm: sgemm, dgemm: dgemm}

// nativeAuto returns the library linked in, named with its thread count.
func nativeAuto() *impl {
	n := int(C.openblas_get_num_threads())
	linked.name = "OpenBLAS (cgo, " + threadsLabel(n) + ")"
	linked.concurrent = n == 1
	return linked
}

// nativeOpen refuses a library to load: this build has one linked in.
func nativeOpen(string) (*impl, error) {
	return nil, errors.New("this build links OpenBLAS through cgo (build tag cblas): " + EnvVar + " may only be auto or go")
}

func trans(t bool) C.enum_CBLAS_TRANSPOSE {
	if t {
		return C.CblasTrans
	}
	return C.CblasNoTrans
}

func sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkSizes(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	C.cblas_sgemm(C.CblasRowMajor, trans(tA), trans(tB), C.blasint(m), C.blasint(n), C.blasint(k),
		C.float(alpha), (*C.float)(&a[0]), C.blasint(lda), (*C.float)(&b[0]), C.blasint(ldb),
		C.float(beta), (*C.float)(&c[0]), C.blasint(ldc))
}

func dgemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkSizes(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	C.cblas_dgemm(C.CblasRowMajor, trans(tA), trans(tB), C.blasint(m), C.blasint(n), C.blasint(k),
		C.double(alpha), (*C.double)(&a[0]), C.blasint(lda), (*C.double)(&b[0]), C.blasint(ldb),
		C.double(beta), (*C.double)(&c[0]), C.blasint(ldc))
}
