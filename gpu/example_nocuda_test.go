//go:build !cuda

package gpu_test

import (
	"errors"
	"fmt"

	"github.com/wtacrs/wtacrs/gpu"
)

// Without the cuda build tag (or without an NVIDIA GPU) Open reports ErrNoGPU, and a caller falls
// back to package estimator on the CPU, which draws the same pairs.
func ExampleOpen() {
	d, err := gpu.Open(0)
	fmt.Println(d == nil, errors.Is(err, gpu.ErrNoGPU))
	// Output: true true
}
