package gemm

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"sync"
)

// EnvVar is the environment variable that chooses the backend (see the package documentation).
const EnvVar = "WTACRS_BLAS"

// ErrLoad reports a CBLAS library named by [EnvVar] that could not be used.
var ErrLoad = errors.New("cannot load a CBLAS library")

// impl is one backend: its name for [Backend] and its two products. sgemm and dgemm are called
// with m, n, k > 0.
type impl struct {
	name string
	// concurrent reports that calls from several goroutines at once run well side by side: a
	// backend without threads of its own (gonum's pure Go runs on goroutines, OpenBLAS with one
	// thread).
	concurrent bool
	sgemm      func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	dgemm      func(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int)
}

// pureGo is gonum's BLAS, in every build.
var pureGo = &impl{name: "gonum (pure Go)", concurrent: true, sgemm: gonumSgemm, dgemm: gonumDgemm}

var (
	once    sync.Once
	chosen  *impl
	initErr error
)

// current returns the backend, choosing it on the first call.
func current() *impl {
	once.Do(func() { chosen, initErr = choose(os.Getenv(EnvVar), nativeAuto) })
	return chosen
}

// Init chooses the backend from [EnvVar] if that is not done yet, and returns the error of the
// choice: nil, or an error wrapping [ErrLoad] that names the variable and the library when
// WTACRS_BLAS names a library that cannot be loaded (the backend is then the pure Go). Every
// call returns the same error.
func Init() error {
	current()
	return initErr
}

// Backend names the backend in use, choosing it first if not done yet: "gonum (pure Go)",
// "OpenBLAS (libopenblas.so.0, runtime, 2 threads)" (a library loaded at run time: OpenBLAS,
// or CBLAS for another implementation, with the name it was loaded by) or
// "OpenBLAS (cgo, 2 threads)". An OpenBLAS is named with the thread count it reported when it
// was chosen (OPENBLAS_NUM_THREADS, or one per CPU), since its bytes depend on it; another
// CBLAS does not say.
func Backend() string { return current().name }

// threadsLabel names a thread count: "1 thread", "2 threads".
func threadsLabel(n int) string {
	if n == 1 {
		return "1 thread"
	}
	return strconv.Itoa(n) + " threads"
}

// Concurrent reports whether the backend in use (chosen first if not done yet) runs calls from
// several goroutines at once well side by side: true for gonum's pure Go and for an OpenBLAS
// that runs one thread; false for an OpenBLAS with threads of its own, whose concurrent calls
// contend for its threads (a training step of many small per-head products then takes several
// times as long), and for another CBLAS, whose threads are unknown. Callers that run many small
// independent products may then call it from one goroutine at a time: the results are the same.
func Concurrent() bool { return current().concurrent }

// choose returns the backend that the value setting of [EnvVar] selects, with auto the search
// of "auto" (nil when it finds nothing). On an error it returns the pure Go too.
func choose(setting string, auto func() *impl) (*impl, error) {
	switch setting {
	case "go", "gonum":
		return pureGo, nil
	case "", "auto":
		if im := auto(); im != nil {
			return im, nil
		}
		return pureGo, nil
	}
	im, err := nativeOpen(setting)
	if err != nil {
		return pureGo, fmt.Errorf("%s=%s: %w: %v", EnvVar, setting, ErrLoad, err)
	}
	return im, nil
}

// checkSizes mirrors the argument checks of the reference BLAS, so that a bad call panics in Go
// rather than corrupting memory in C. It also refuses sizes and strides beyond the 32-bit int of
// the CBLAS interface.
func checkSizes(tA, tB bool, m, n, k, lenA, lda, lenB, ldb, lenC, ldc int) {
	ra, ca := m, k
	if tA {
		ra, ca = k, m
	}
	rb, cb := k, n
	if tB {
		rb, cb = n, k
	}
	bad := m < 0 || n < 0 || k < 0 || lda < max(1, ca) || ldb < max(1, cb) || ldc < max(1, n) ||
		(ra > 0 && lenA < (ra-1)*lda+ca) || (rb > 0 && lenB < (rb-1)*ldb+cb) || (m > 0 && lenC < (m-1)*ldc+n) ||
		max(m, n, k, lda, ldb, ldc) > math.MaxInt32
	if bad {
		panic(fmt.Sprintf("gemm: bad sizes m=%d n=%d k=%d lda=%d ldb=%d ldc=%d", m, n, k, lda, ldb, ldc))
	}
}
