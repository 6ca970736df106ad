package train

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/floats/scalar"

	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
)

// This file holds the regression tests of mutations that a review found surviving the rest of
// the suite; each test is named after what it pins.

// The budget rule k = ⌈ratio·n⌉ is estimator.Budget's, pinned there
// (TestBudgetRoundsUpAtNonIntegralFraction); the sampler uses it (TestObserver checks o.K).

// newTestSampler returns a sampler with every linear layer of one block on WTA-CRS, over nTrain
// samples of at most maxLen tokens.
func newTestSampler(t *testing.T, nTrain, maxLen int) *sampler[float64] {
	t.Helper()
	cfg := tinyConfig().WithAll(MethodWTACRS, 0.3)
	cfg.Dim, cfg.FFNDim, cfg.Blocks = 8, 16, 1
	m, err := model.New[float64](mustModelConfig(cfg, 20, maxLen), 1)
	require.NoError(t, err)
	return newSampler[float64](cfg, m, nTrain, maxLen)
}

// testBatch returns a b×s batch with the given mask (row-major) and zero tokens.
func testBatch(b, s int, mask []bool) model.Batch {
	return model.Batch{B: b, S: s, Tokens: make([]int, b*s), Mask: mask}
}

// assertNorms compares b with want entry by entry to a relative 1e-12.
func assertNorms(t *testing.T, want, b []float64, msg string) {
	t.Helper()
	require.Len(t, b, len(want), msg)
	for i := range want {
		assert.True(t, scalar.EqualWithinAbsOrRel(want[i], b[i], 1e-15, 1e-12), "%s: b[%d] = %v, want %v", msg, i, b[i], want[i])
	}
}

// TestGradientCacheRoundTrip pins where the gradient-norm cache is written and read: backward
// stores ‖∇Z‖ of batch row r, position p under training sample indices[r], position p, and a
// later batch that holds the samples in another order reads each sample's own norms back; a
// sample never seen gets the mean of the warm valid norms, and a warm norm of zero on a valid
// token is raised to the floor.
func TestGradientCacheRoundTrip(t *testing.T) {
	t.Parallel()
	const layer = 2
	s := newTestSampler(t, 5, 4)
	// Step 1: samples 3 and 1, three positions, sample 3's last position is padding.
	s.begin(1, 0, []int{3, 1}, testBatch(2, 3, []bool{true, true, false, true, true, true}), nil)
	gz, err := matrix.NewDense[float64](6, 2, nil)
	require.NoError(t, err)
	for tok := 0; tok < 6; tok++ {
		if tok != 2 { // padding rows have a zero gradient
			gz.Data[2*tok], gz.Data[2*tok+1] = 3*float64(tok+1), 4*float64(tok+1) // ‖row tok‖ = 5(tok+1)
		}
	}
	require.NoError(t, s.Gradient(layer, gz))
	for idx := 0; idx < 5; idx++ {
		row := s.cache[layer][idx*4 : (idx+1)*4]
		switch idx {
		case 3:
			assert.Equal(t, []float32{5, 10, 0, 0}, row, "sample 3 was batch row 0")
		case 1:
			assert.Equal(t, []float32{20, 25, 30, 0}, row, "sample 1 was batch row 1")
		default:
			assert.Equal(t, []float32{0, 0, 0, 0}, row, "sample %d was not in the batch", idx)
		}
		assert.Equal(t, idx == 1 || idx == 3, s.warm[layer][idx], "warm flag of sample %d", idx)
	}
	for i := range s.cache {
		if i != layer {
			assert.NotContains(t, s.warm[i], true, "layer %d was not written", i)
		}
	}

	// Step 2: samples 1, 4 (never seen) and 3, in that order; sample 3's position 2 is valid now.
	s.begin(2, 1, []int{1, 4, 3}, testBatch(3, 3, []bool{true, true, true, true, true, false, true, true, true}), nil)
	b, cold := s.cachedNorms(layer)
	assert.True(t, cold, "sample 4 has no cache entry")
	// Warm valid norms 20, 25, 30, 5, 10, 0: mean 15 for sample 4's valid tokens. Over the eight
	// valid tokens the mean is 120/8, so the floor is coldFloor·15.
	floor := coldFloor * 120 / 8
	assertNorms(t, []float64{20, 25, 30, 15, 15, 0, 5, 10, floor}, b, "step 2")

	// A batch of warm samples only is not cold and reads the norms unchanged.
	s.begin(3, 1, []int{3, 1}, testBatch(2, 2, []bool{true, true, true, true}), nil)
	b, cold = s.cachedNorms(layer)
	assert.False(t, cold)
	assertNorms(t, []float64{5, 10, 20, 25}, b, "step 3")
}

// TestColdCacheFill pins b_t of a token whose sample has no cache entry: 1 when no valid token of
// the batch has a positive cached norm (also when the warm ones are all zero), the mean warm norm
// otherwise; then every valid token is raised to coldFloor times the batch's mean b.
func TestColdCacheFill(t *testing.T) {
	t.Parallel()
	const layer = 0
	t.Run("every sample cold", func(t *testing.T) {
		t.Parallel()
		s := newTestSampler(t, 3, 2)
		s.begin(1, 0, []int{0, 2}, testBatch(2, 2, []bool{true, true, true, false}), nil)
		b, cold := s.cachedNorms(layer)
		assert.True(t, cold)
		assertNorms(t, []float64{1, 1, 1, 0}, b, "all cold")
	})
	t.Run("warm norms all zero", func(t *testing.T) {
		t.Parallel()
		s := newTestSampler(t, 3, 2)
		s.begin(1, 0, []int{0}, testBatch(1, 2, []bool{true, true}), nil)
		zero, err := matrix.NewDense[float64](2, 3, nil)
		require.NoError(t, err)
		require.NoError(t, s.Gradient(layer, zero))
		s.begin(2, 0, []int{0, 2}, testBatch(2, 2, []bool{true, true, true, true}), nil)
		b, cold := s.cachedNorms(layer)
		assert.True(t, cold)
		// Cold tokens get 1; the warm zeros are raised to coldFloor·(2/4).
		assertNorms(t, []float64{coldFloor / 2, coldFloor / 2, 1, 1}, b, "zero warm norms")
	})
	t.Run("warm and cold", func(t *testing.T) {
		t.Parallel()
		s := newTestSampler(t, 3, 2)
		s.begin(1, 0, []int{1}, testBatch(1, 2, []bool{true, true}), nil)
		gz, err := matrix.NewDense(2, 1, []float64{2, 6})
		require.NoError(t, err)
		require.NoError(t, s.Gradient(layer, gz))
		s.begin(2, 0, []int{2, 1}, testBatch(2, 2, []bool{true, false, true, true}), nil)
		b, cold := s.cachedNorms(layer)
		assert.True(t, cold)
		assertNorms(t, []float64{4, 0, 2, 6}, b, "cold token gets the warm mean")
	})
}

// mustModelConfig is modelConfig for a configuration the test knows to be valid.
func mustModelConfig(cfg Config, vocab, seqLen int) model.Config {
	mc, err := modelConfig(cfg, vocab, seqLen)
	if err != nil {
		panic(err)
	}
	return mc
}
