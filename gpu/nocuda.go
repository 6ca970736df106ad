//go:build !cuda

package gpu

// openBackend reports that this build has no CUDA support.
func openBackend(ordinal int) (backend, error) { return nil, ErrNoGPU }
