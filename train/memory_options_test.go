package train

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/internal/tomlconf"
)

// TestMemoryOptionsSameTraining checks that reuse_layernorm and checkpoint_blocks change what a
// WTA-CRS run keeps, not what it computes: every step's loss and the dev accuracy equal those
// of the plain run bit for bit, while the tape shrinks (the LayerNorm copies; all but the block
// inputs).
func TestMemoryOptionsSameTraining(t *testing.T) {
	t.Parallel()
	opt := tinyData(t)
	run := func(reuse, ckpt bool) ([]float64, *Result) {
		c := tinyConfig().WithAll(MethodWTACRS, 0.3)
		c.Epochs, c.ReuseLayerNorm, c.CheckpointBlocks = 1, reuse, ckpt
		var losses []float64
		o := *opt
		o.Progress = func(p Progress) { losses = append(losses, p.Loss) }
		res, err := Run(context.Background(), c, o)
		require.NoError(t, err)
		return losses, res
	}
	base, plain := run(false, false)
	for _, o := range [][2]bool{{true, false}, {false, true}} {
		losses, res := run(o[0], o[1])
		assert.Equal(t, base, losses, "reuse %v checkpoint %v", o[0], o[1])
		assert.Equal(t, plain.DevAccuracy, res.DevAccuracy)
		assert.Less(t, res.TapeBytes, plain.TapeBytes, "reuse %v checkpoint %v", o[0], o[1])
	}
}

// TestCheckpointBlocksRefusesSampledAttention checks the configuration error naming the key.
func TestCheckpointBlocksRefusesSampledAttention(t *testing.T) {
	t.Parallel()
	c := tinyConfig()
	c.CheckpointBlocks = true
	c.Attention = &AttentionConfig{Method: MethodWTACRS, Ratio: 0.3, Products: []string{"scores"}, CRule: "own"}
	err := c.Validate()
	require.ErrorIs(t, err, ErrConfig)
	var fe *tomlconf.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "checkpoint_blocks", fe.Key)
}

// TestChunkTokensTraining checks that a float64 WTA-CRS run with chunk_tokens follows the
// whole-backward run to rounding: every step's loss within 1e-9 relative (a wrong group would
// change the gradients, and so the losses, at the first percent), the same kept rows.
func TestChunkTokensTraining(t *testing.T) {
	t.Parallel()
	opt := tinyData(t)
	run := func(chunk int) ([]float64, *Result) {
		c := tinyConfig().WithAll(MethodWTACRS, 0.3)
		c.Epochs, c.Precision, c.ChunkTokens = 1, "float64", chunk
		var losses []float64
		o := *opt
		o.Progress = func(p Progress) { losses = append(losses, p.Loss) }
		res, err := Run(context.Background(), c, o)
		require.NoError(t, err)
		return losses, res
	}
	base, plain := run(0)
	losses, res := run(40)
	require.Len(t, losses, len(base))
	for i := range base {
		assert.InEpsilon(t, base[i], losses[i], 1e-9, "step %d", i+1)
	}
	assert.Equal(t, plain.TapeBytes, res.TapeBytes)
	assert.NotEqual(t, base, losses, "the grouped backward ran (it rounds differently)")
}
