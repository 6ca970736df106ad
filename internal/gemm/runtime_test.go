//go:build !cblas && linux && (amd64 || arm64)

package gemm

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
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
