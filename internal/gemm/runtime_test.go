//go:build !cblas && linux && (amd64 || arm64)

package gemm

import (
	"errors"
	"testing"

	"github.com/ebitengine/purego"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A library without cblas_sgemm is not a CBLAS: named, it is an error; searched, it is skipped.
func TestLibraryWithoutCBLAS(t *testing.T) {
	t.Parallel()
	_, err := choose("libm.so.6", nativeAuto)
	assert.True(t, errors.Is(err, ErrLoad), "%v", err)
	assert.ErrorContains(t, err, "cblas_sgemm")
	assert.Nil(t, loadFirst([]string{"/nonexistent/libnope.so.0", "libm.so.6"}))
}

// Every library of the search that loads here computes what gonum computes.
func TestEveryCandidateAgreesWithGonum(t *testing.T) {
	t.Parallel()
	loaded := 0
	for _, lib := range candidates() {
		im, err := nativeOpen(lib)
		if err != nil {
			t.Logf("%s: %v", lib, err)
			continue
		}
		loaded++
		t.Log(im.name)
		checkAgreesWithGonum(t, im)
	}
	if loaded == 0 {
		t.Skip("none of the libraries of the search loads on this machine")
	}
}

// TestConcurrentFollowsThreads: an OpenBLAS loaded at run time takes concurrent calls well
// exactly when it runs one thread (as OPENBLAS_NUM_THREADS=1 asks), and its name records that
// thread count; the pure Go always does.
func TestConcurrentFollowsThreads(t *testing.T) {
	t.Parallel()
	assert.True(t, pureGo.concurrent)
	im, err := nativeOpen("libopenblas.so.0")
	if err != nil {
		t.Skipf("no OpenBLAS here: %v", err)
	}
	h, err := purego.Dlopen("libopenblas.so.0", purego.RTLD_NOW|purego.RTLD_LOCAL)
	require.NoError(t, err)
	sym, err := purego.Dlsym(h, "openblas_get_num_threads")
	require.NoError(t, err)
	var threads func() int32
	purego.RegisterFunc(&threads, sym)
	assert.Equal(t, threads() == 1, im.concurrent, "%d threads", threads())
	assert.Equal(t, "OpenBLAS (libopenblas.so.0, runtime, "+threadsLabel(int(threads()))+")", im.name)
}
