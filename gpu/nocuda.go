//go:build !cuda

package gpu

import "fmt"

// openBackend reports that this build has no CUDA support.
func openBackend(ordinal int) (backend, error) {
	return nil, fmt.Errorf("%w: built without the cuda tag (go build -tags cuda on a machine with an NVIDIA GPU)", ErrNoGPU)
}
