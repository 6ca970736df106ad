package analysis_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/analysis"
)

// TestBudgetRoundsDownAtNonIntegralFraction pins k = ⌊fraction·m⌋ (not ⌈fraction·m⌉) where
// fraction·m is not an integer, as the paper's k = 0.1|D| and 0.5|D| are read.
func TestBudgetRoundsDownAtNonIntegralFraction(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		m    int
		f    float64
		want int
	}{
		{10, 0.25, 2}, // 2.5
		{25, 0.1, 2},  // 2.5
		{7, 0.5, 3},   // 3.5
		{19, 0.1, 1},  // 1.9
		{10, 0.3, 3},  // 3.0000000000000004
	} {
		k, err := analysis.Budget(tc.m, tc.f)
		require.NoError(t, err)
		assert.Equal(t, tc.want, k, "m=%d f=%v", tc.m, tc.f)
	}
}
