package train

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/internal/memlimit"
	"github.com/wtacrs/wtacrs/model"
)

func tinyStepConfig() Config {
	cfg := DefaultConfig()
	cfg.Dim, cfg.Heads, cfg.Blocks, cfg.FFNDim, cfg.MaxLen, cfg.VocabSize, cfg.BatchSize = 8, 2, 1, 16, 6, 20, 3
	return cfg
}

// TestMeasureStepByHand checks the accounting of a one-block model against sizes counted by
// hand. It does not run in parallel: the live heap it measures is the whole process's.
func TestMeasureStepByHand(t *testing.T) {
	const d, f, s, vocab, b, elem = 8, 16, 6, 20, 3, 4
	const n = b * s
	// Token, position and 2 segment embeddings; per block q, k, v, o (d×d and d), ffn_in (d×f
	// and f), ffn_out (f×d and d), two LayerNorms (2d each); the final LayerNorm; the head (d×2
	// and 2).
	const params = vocab*d + s*d + 2*d + 4*(d*d+d) + d*f + f + f*d + d + 4*d + 2*d + 2*d + 2
	for _, moments := range []string{"", OptimizerModel} {
		cfg := tinyStepConfig()
		cfg.OptimizerPrecision = moments
		m, err := MeasureStep(cfg, 0)
		require.NoError(t, err)
		assert.Equal(t, params*elem, m.Parameters)
		assert.Equal(t, params*elem, m.Gradients)
		perMoment := 8
		if moments == OptimizerModel {
			perMoment = elem
		}
		assert.Equal(t, 2*params*perMoment, m.Optimizer, moments)
		// Exact layers keep their inputs: q's (shared by k and v), o's and ffn_in's n×d, ffn_out's n×f.
		assert.Equal(t, [model.LinearPerBlock]int{n * d * elem, 0, 0, n * d * elem, n * d * elem, n * f * elem}, m.Saved.Linear)
		assert.Equal(t, b, m.Batch)
		assert.Equal(t, s, m.SeqLen)
		assert.Greater(t, m.Samples, 2*6)
		assert.Equal(t, m.Parameters+m.Gradients+m.Optimizer+m.Saved.Total()+m.Workspace, m.Total())
	}

	// A WTA-CRS layer keeps at most k = Budget(ratio, n) distinct rows of its input (a token
	// drawn twice is kept once), each with its index.
	cfg := tinyStepConfig().WithMethod(MethodWTACRS, 0.5, []model.Kind{model.FFNOut})
	m, err := MeasureStep(cfg, 0)
	require.NoError(t, err)
	k, err := estimator.Budget(0.5, n)
	require.NoError(t, err)
	kept := m.Saved.Linear[model.FFNOut.Position()]
	assert.Zero(t, kept%(f*elem+8))
	assert.LessOrEqual(t, kept, k*(f*elem+8))
	assert.Positive(t, kept)

	// Backward holds at least the n×d gradient of the residual stream (the tiny sizes above
	// are within the live heap's noise of a few kilobytes).
	cfg = tinyStepConfig()
	cfg.BatchSize, cfg.MaxLen = 32, 32
	m, err = MeasureStep(cfg, 0)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, m.Workspace, 32*32*d*elem)

	// LoRA: moments for the adapters and the head only.
	cfg = tinyStepConfig()
	cfg.LoRA = &LoRAConfig{Rank: 2, Alpha: 4, Kinds: []model.Kind{model.Query}}
	m, err = MeasureStep(cfg, 0)
	require.NoError(t, err)
	const trainable = 2*d + 2*d + 2*d + 2 // A (d×2) and B (2×d) of q, the head (d×2 and 2)
	assert.Equal(t, 2*8*trainable, m.Optimizer)
	assert.Equal(t, elem*trainable, m.Gradients, "frozen parameters have no gradient")
	assert.Equal(t, params*elem+elem*(2*d+2*d), m.Parameters, "the base and the adapters")
}

func TestMeasureStepRefuses(t *testing.T) {
	t.Parallel()
	cfg := tinyStepConfig()
	cfg.BatchSize = 0
	_, err := MeasureStep(cfg, 0)
	assert.ErrorIs(t, err, ErrConfig)
	_, err = MeasureStep(tinyStepConfig(), 1<<10)
	assert.ErrorIs(t, err, memlimit.ErrTooLarge)
}
