package estimator

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wtacrs/wtacrs/matrix"
)

// TestScaleRowFindsNonFinite: scaleRow writes src·f and reports a NaN or ±Inf at any position
// (the four lanes and the tail), including an overflow of a finite entry by its scale.
func TestScaleRowFindsNonFinite(t *testing.T) {
	t.Parallel()
	for n := 0; n <= 9; n++ {
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(i) - 2.5
		}
		dst := make([]float32, n+3)
		assert.False(t, scaleRow(dst, src, 3), "n=%d", n)
		for i, v := range src {
			require.Equal(t, v*3, dst[i])
		}
		for pos := 0; pos < n; pos++ {
			for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1)), 3e38} {
				s := append([]float32(nil), src...)
				s[pos] = bad
				assert.True(t, scaleRow(dst, s, 3), "n=%d pos=%d %v", n, pos, bad)
			}
		}
	}
}

// TestGatherIntoOverflow: a finite row whose scale overflows it is refused with ErrNonFinite.
func TestGatherIntoOverflow(t *testing.T) {
	t.Parallel()
	h := matrix.Dense[float32]{Rows: 2, Cols: 5, Data: []float32{1, 2, 3, 4, 5, 1, 2, 3, 3e38, 5}}
	s := &Sketch{M: 2, Index: []int{0, 1}, Scale: []float64{1, 4}}
	hs := matrix.Dense[float32]{Rows: 2, Cols: 5, Data: make([]float32, 10)}
	assert.ErrorIs(t, GatherInto(hs, matrix.Dense[float32]{}, h, matrix.Dense[float32]{}, s), ErrNonFinite)
	s.Scale[1] = 1
	require.NoError(t, GatherInto(hs, matrix.Dense[float32]{}, h, matrix.Dense[float32]{}, s))
	assert.Equal(t, h.Data, hs.Data)
}

// TestHasNonFinite: the dot-kernel test agrees with matrix.HasNonFinite, also for finite
// entries whose squares overflow.
func TestHasNonFinite(t *testing.T) {
	t.Parallel()
	for _, v := range [][]float32{nil, {1, 2, 3}, {3e38, 3e38}, {1, float32(math.NaN())}, {float32(math.Inf(1)), 0}, {-3e38, float32(math.Inf(-1))}} {
		assert.Equal(t, matrix.HasNonFinite(v), hasNonFinite(v), "%v", v)
	}
	for _, v := range [][]float64{nil, {1, 2, 3}, {1e300, 1e300}, {math.NaN()}, {1e300, math.Inf(-1)}} {
		assert.Equal(t, matrix.HasNonFinite(v), hasNonFinite(v), "%v", v)
	}
}
