//go:build !cblas && (linux || freebsd || netbsd || darwin) && (amd64 || arm64)

package gemm

import (
	"errors"
	"runtime"
	"strings"

	"github.com/ebitengine/purego"
)

// CBLAS enumerations (cblas.h).
const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
)

// cblasTranspose returns the CBLAS_TRANSPOSE of a transpose flag.
func cblasTranspose(t bool) int32 {
	if t {
		return cblasTrans
	}
	return cblasNoTrans
}

// candidates are the libraries "auto" tries, in order: OpenBLAS, then a generic CBLAS.
func candidates() []string {
	if runtime.GOOS == "darwin" {
		return []string{"libopenblas.0.dylib", "libopenblas.dylib", "/System/Library/Frameworks/Accelerate.framework/Accelerate"}
	}
	return []string{"libopenblas.so.0", "libopenblas.so", "libcblas.so.3", "libblas.so.3"}
}

// nativeAuto returns the first of the candidates that loads, or nil.
func nativeAuto() *impl { return loadFirst(candidates()) }

// loadFirst returns the first of libs that loads as a CBLAS library, or nil.
func loadFirst(libs []string) *impl {
	for _, lib := range libs {
		if im, err := nativeOpen(lib); err == nil {
			return im
		}
	}
	return nil
}

// nativeOpen loads the CBLAS library lib (a path or a name dlopen searches) for good. Its
// backend is named after OpenBLAS when lib exports openblas_get_config; an OpenBLAS whose
// configuration says it takes 64-bit integers is refused.
func nativeOpen(lib string) (*impl, error) {
	h, err := purego.Dlopen(lib, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, err
	}
	s, err := purego.Dlsym(h, "cblas_sgemm")
	var d uintptr
	if err == nil {
		d, err = purego.Dlsym(h, "cblas_dgemm")
	}
	if err != nil {
		_ = purego.Dlclose(h)
		return nil, err
	}
	vendor := "CBLAS"
	concurrent := false
	threads := ""
	if cfg, err := purego.Dlsym(h, "openblas_get_config"); err == nil {
		vendor = "OpenBLAS"
		var config func() string
		purego.RegisterFunc(&config, cfg)
		if strings.Contains(config(), "USE64BITINT") { // built with INTERFACE64: 64-bit ints
			_ = purego.Dlclose(h)
			return nil, errors.New(lib + ": an OpenBLAS with 64-bit integers (INTERFACE64); a 32-bit-integer build is needed")
		}
		if nt, err := purego.Dlsym(h, "openblas_get_num_threads"); err == nil {
			var numThreads func() int32
			purego.RegisterFunc(&numThreads, nt)
			n := int(numThreads())
			concurrent = n == 1
			threads = ", " + threadsLabel(n)
		}
	}
	// The C prototypes, with the 32-bit ints of cblas.h (the sizes, strides and enumerations).
	var cs func(order, transA, transB, m, n, k int32, alpha float32, a *float32, lda int32, b *float32, ldb int32, beta float32, c *float32, ldc int32)
	var cd func(order, transA, transB, m, n, k int32, alpha float64, a *float64, lda int32, b *float64, ldb int32, beta float64, c *float64, ldc int32)
	purego.RegisterFunc(&cs, s)
	purego.RegisterFunc(&cd, d)
	return &impl{
		name:       vendor + " (" + lib + ", runtime" + threads + ")",
		concurrent: concurrent,
		sgemm: func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			checkSizes(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
			cs(cblasRowMajor, cblasTranspose(tA), cblasTranspose(tB), int32(m), int32(n), int32(k),
				alpha, &a[0], int32(lda), &b[0], int32(ldb), beta, &c[0], int32(ldc))
		},
		dgemm: func(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
			checkSizes(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
			cd(cblasRowMajor, cblasTranspose(tA), cblasTranspose(tB), int32(m), int32(n), int32(k),
				alpha, &a[0], int32(lda), &b[0], int32(ldb), beta, &c[0], int32(ldc))
		},
	}, nil
}
