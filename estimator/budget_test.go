package estimator

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBudgetRoundsUpAtNonIntegralFraction pins k = ⌈fraction·n⌉ (not ⌊fraction·n⌋) where
// fraction·n is not an integer, the guard against fraction·n landing just above an integer, the
// clamp to [1, n] and the errors.
func TestBudgetRoundsUpAtNonIntegralFraction(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		f    float64
		n    int
		want int
	}{
		{0.25, 10, 3}, // 2.5
		{0.1, 25, 3},  // 2.5
		{0.5, 7, 4},   // 3.5
		{0.1, 19, 2},  // 1.9
		{0.1, 55, 6},  // 5.5
		{0.3, 10, 3},  // 3.0000000000000004 stays 3
		{0.3, 30, 9},  // 8.999… rounds to 9
		{0.01, 10, 1}, // 0.1, at least 1
		{0.1, 7, 1},
		{0.1, 100, 10}, {0.5, 100, 50},
		{1, 5, 5},
	} {
		k, err := Budget(tc.f, tc.n)
		require.NoError(t, err)
		assert.Equal(t, tc.want, k, "fraction %v of %d", tc.f, tc.n)
	}
	for _, bad := range []struct {
		f float64
		n int
	}{{0.1, 0}, {0, 10}, {1.5, 10}, {2, 5}, {-0.1, 10}, {math.NaN(), 10}} {
		_, err := Budget(bad.f, bad.n)
		assert.ErrorIs(t, err, ErrBudget, "%+v", bad)
	}
}
