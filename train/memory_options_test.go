package train

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/internal/tomlconf"
	"github.com/wtacrs/wtacrs/model"
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
}

// normCounter is the training sampler counting the calls that take row norms only.
type normCounter struct {
	*sampler[float64]
	sketchNorms, gradientNorms int
}

func (c *normCounter) SketchNorms(i int, a []float64) (*estimator.Sketch, error) {
	c.sketchNorms++
	return c.sampler.SketchNorms(i, a)
}

func (c *normCounter) GradientNorms(i int, g []float64) error {
	c.gradientNorms++
	return c.sampler.GradientNorms(i, g)
}

// TestSamplerRunsGrouped checks that the training sampler takes the grouped path of
// chunk_tokens: a step of a WTA-CRS model sketches ffn_out from norms in every block and gives
// every layer its gradient as norms, whatever the GEMM backend rounds.
func TestSamplerRunsGrouped(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig().WithAll(MethodWTACRS, 0.3)
	cfg.Precision, cfg.ChunkTokens, cfg.ReuseLayerNorm = "float64", 32, true
	const batch, seq, vocab = 6, 16, 50
	m, err := newModel[float64](cfg, vocab, seq, nil)
	require.NoError(t, err)
	mb := model.Batch{B: batch, S: seq, Tokens: make([]int, batch*seq), Mask: make([]bool, batch*seq), Labels: make([]int, batch)}
	for i := range mb.Tokens {
		mb.Tokens[i], mb.Mask[i] = (7*i)%vocab, i%seq < seq-i/seq
	}
	c := &normCounter{sampler: newSampler[float64](cfg, m, batch, seq)}
	c.begin(1, 0, []int{0, 1, 2, 3, 4, 5}, mb, nil)
	tape, err := m.Forward(mb, c)
	require.NoError(t, err)
	require.NoError(t, m.Backward(tape, c))
	assert.Equal(t, cfg.Blocks, c.sketchNorms)
	assert.Equal(t, cfg.Blocks*model.LinearPerBlock, c.gradientNorms)
}
