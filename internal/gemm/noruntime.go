//go:build !cblas && !((linux || freebsd || netbsd || darwin) && (amd64 || arm64))

package gemm

import (
	"errors"
	"runtime"
)

// nativeAuto returns nil: this platform cannot load a library at run time.
func nativeAuto() *impl { return nil }

// nativeOpen refuses: this platform cannot load a library at run time.
func nativeOpen(string) (*impl, error) {
	return nil, errors.New("libraries cannot be loaded at run time on " + runtime.GOOS + "/" + runtime.GOARCH)
}
