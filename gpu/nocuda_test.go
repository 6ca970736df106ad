//go:build !cuda

package gpu

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOpenWithoutCUDAReportsNoGPU(t *testing.T) {
	t.Parallel()
	d, err := Open(0)
	require.ErrorIs(t, err, ErrNoGPU)
	require.Nil(t, d)
}
