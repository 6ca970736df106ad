package train

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
)

// adamSteps runs a few AdamW steps with fixed pseudo-random gradients on a fresh tiny model and
// returns its weights and the optimiser.
func adamSteps[T matrix.Float](t *testing.T, moments string) ([][]T, *adamW[T]) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Dim, cfg.Heads, cfg.FFNDim, cfg.OptimizerPrecision = 8, 2, 16, moments
	m, err := model.New[T](mustModelConfig(cfg, 16, 8), 1)
	require.NoError(t, err)
	a := newAdamW(m, cfg)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 3 {
		for _, p := range a.params {
			for i := range p.G {
				p.G[i] = T(rng.NormFloat64() * 1e-2)
			}
		}
		require.NoError(t, a.step(1e-3))
	}
	var w [][]T
	for _, p := range m.Params {
		w = append(w, p.W.Data)
	}
	return w, a
}

func TestAdamWMomentPrecision(t *testing.T) {
	t.Parallel()
	w64, a64 := adamSteps[float32](t, "")
	explicit, _ := adamSteps[float32](t, OptimizerFloat64)
	assert.Equal(t, w64, explicit, `"" and "float64" are the same optimiser`)
	w32, a32 := adamSteps[float32](t, OptimizerModel)
	require.NotNil(t, a32.m32)
	assert.Nil(t, a32.m64)
	assert.Equal(t, a64.stateBytes(), 2*a32.stateBytes(), "float32 moments take half the bytes")
	n := 0
	for _, p := range a64.params {
		n += len(p.G)
	}
	assert.Equal(t, 16*n, a64.stateBytes())
	// Rounding the moments moves the weights a little, not much.
	for i := range w64 {
		for j := range w64[i] {
			assert.InDelta(t, w64[i][j], w32[i][j], 1e-6)
		}
	}
	// A float64 model keeps float64 moments either way, bit for bit.
	d64, _ := adamSteps[float64](t, "")
	dModel, b := adamSteps[float64](t, OptimizerModel)
	assert.Nil(t, b.m32)
	assert.Equal(t, d64, dModel)
}

// Regression: a new key must not change the fingerprint of a state written before it existed.
func TestPretrainFingerprintOmitsDefaultMoments(t *testing.T) {
	t.Parallel()
	js, err := json.Marshal(DefaultPretrainConfig())
	require.NoError(t, err)
	assert.NotContains(t, string(js), "OptimizerPrecision")
	c := DefaultPretrainConfig()
	c.OptimizerPrecision = OptimizerModel
	a, err := DefaultPretrainConfig().fingerprint()
	require.NoError(t, err)
	b, err := c.fingerprint()
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
}
