package model

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/linear"
	"github.com/wtacrs/wtacrs/matrix"
)

// halfHook sketches every linear layer with WTA-CRS on the row norms of its input, keeping half
// the tokens, deterministically per layer and pass, and counts its calls.
type halfHook[T matrix.Float] struct {
	sketches, gradients int
}

func (h *halfHook[T]) Sketch(i int, x matrix.Dense[T]) (*estimator.Sketch, error) {
	return h.SketchNorms(i, estimator.RowNorms(x))
}

// SketchNorms is Sketch from the row norms of the input.
func (h *halfHook[T]) SketchNorms(i int, norms []float64) (*estimator.Sketch, error) {
	h.sketches++
	w := make([]float64, len(norms))
	for r, v := range norms {
		w[r] = v + 1e-3 // every token drawable
	}
	plan, err := estimator.NewWTACRS(w, len(w)/2)
	if err != nil {
		return nil, err
	}
	return plan.Sample(17, uint64(i)), nil
}

func (h *halfHook[T]) Gradient(int, matrix.Dense[T]) error {
	h.gradients++
	return nil
}

// attentionAllHook is halfHook that also claims every attention product.
type attentionAllHook[T matrix.Float] struct{ halfHook[T] }

func (attentionAllHook[T]) AttentionSampled(int, Product) bool { return true }
func (attentionAllHook[T]) AttentionSketch(int, Product, []float64, int, int) (*estimator.Sketch, error) {
	return nil, nil
}
func (attentionAllHook[T]) AttentionGradient(int, Product, []float64) error { return nil }

type optionRun struct {
	loss              float64
	logits            []byte
	grads             map[string]string
	sketches, gradsIn int
	parts             SavedParts
	kept              []int // the rows each linear layer kept, by index
}

// runOptions runs one forward and backward of the tiny model with the given memory options.
func runOptions[T matrix.Float](t *testing.T, recompute, reuse, checkpoint, sampled, lora bool) optionRun {
	t.Helper()
	cfg := tinyConfig()
	cfg.Recompute, cfg.ReuseLayerNorm, cfg.Checkpoint = recompute, reuse, checkpoint
	m, err := New[T](cfg, 21)
	require.NoError(t, err)
	if lora {
		require.NoError(t, m.AddLoRA(LoRA{Rank: 2, Alpha: 4, Kinds: []Kind{Query, Value, FFNIn}, Biases: true}, 5))
		for _, p := range m.Params { // non-zero B so that the adapters carry gradient
			if !p.Frozen {
				for i := range p.W.Data {
					p.W.Data[i] += T(0.01 * float64(i%7-3))
				}
			}
		}
	}
	h := &halfHook[T]{}
	var hook Hook[T]
	if sampled {
		hook = h
	}
	tape, err := m.Forward(tinyBatch(), hook)
	require.NoError(t, err)
	parts := tape.SavedParts()
	var kept []int
	for i := 0; i < cfg.Blocks*LinearPerBlock; i++ {
		k, _ := tape.SampledRows(i)
		kept = append(kept, k)
	}
	m.ZeroGrad()
	require.NoError(t, m.Backward(tape, hook))
	r := optionRun{loss: tape.Loss, logits: []byte(fmt.Sprint(tape.Logits.Data)), grads: map[string]string{}, sketches: h.sketches, gradsIn: h.gradients, parts: parts, kept: kept}
	for _, p := range m.Params {
		r.grads[p.Name] = fmt.Sprintf("%x", hashBits(p.G))
	}
	return r
}

// TestMemoryOptionsSameNumbers checks that ReuseLayerNorm and Checkpoint, alone and together,
// with and without Recompute, exact or sampled, with and without LoRA, in float32 and float64,
// give the loss, logits and every gradient of the plain path bit for bit, and that a sampling
// hook still sees each layer once per pass in forward and in backward.
func TestMemoryOptionsSameNumbers(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, run func(recompute, reuse, checkpoint, sampled, lora bool) optionRun) {
		for _, recompute := range []bool{false, true} {
			for _, sampled := range []bool{false, true} {
				for _, lora := range []bool{false, true} {
					base := run(recompute, false, false, sampled, lora)
					for _, opt := range [][2]bool{{true, false}, {false, true}, {true, true}} {
						got := run(recompute, opt[0], opt[1], sampled, lora)
						name := fmt.Sprintf("recompute %v sampled %v lora %v reuse %v checkpoint %v", recompute, sampled, lora, opt[0], opt[1])
						assert.Equal(t, base.loss, got.loss, name)
						assert.Equal(t, base.logits, got.logits, name)
						assert.Equal(t, base.grads, got.grads, name)
						assert.Equal(t, base.sketches, got.sketches, name)
						assert.Equal(t, base.gradsIn, got.gradsIn, name)
					}
				}
			}
		}
	}
	t.Run("float32", func(t *testing.T) {
		check(t, func(a, b, c, d, e bool) optionRun { return runOptions[float32](t, a, b, c, d, e) })
	})
	t.Run("float64", func(t *testing.T) {
		check(t, func(a, b, c, d, e bool) optionRun { return runOptions[float64](t, a, b, c, d, e) })
	})
}

// TestMemoryOptionsSavedByHand checks what the tape keeps under each option against counts by
// hand: ReuseLayerNorm drops q's (shared by k and v) and ffn_in's input copies, and a sampled
// layer reading a LayerNorm output keeps only its indices and scales; Checkpoint keeps only the
// blocks' inputs (and sketches) besides the head.
func TestMemoryOptionsSavedByHand(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig()
	b := tinyBatch()
	n, d, f, blocks := b.B*b.S, cfg.Dim, cfg.FFN, cfg.Blocks
	const elem = 4
	head := (2*b.B*d + b.B) * elem // the final LayerNorm of the pooled rows
	lnParts := blocks * 2 * (n*d + n) * elem

	plain := runOptions[float32](t, true, false, false, false, false).parts
	assert.Equal(t, [LinearPerBlock]int{blocks * n * d * elem, 0, 0, blocks * n * d * elem, blocks * n * d * elem, blocks * n * f * elem}, plain.Linear)

	reuse := runOptions[float32](t, true, true, false, false, false).parts
	assert.Equal(t, [LinearPerBlock]int{0, 0, 0, blocks * n * d * elem, 0, blocks * n * f * elem}, reuse.Linear)
	assert.Equal(t, plain.Other, reuse.Other)
	assert.Equal(t, lnParts+head, reuse.Other)

	// Sampled: at most half the tokens kept (a token drawn twice is kept once), each with an
	// index (8 bytes) and, reading a LayerNorm, a scale (elem), otherwise its scaled row.
	run := runOptions[float32](t, true, true, false, true, false)
	var want [LinearPerBlock]int
	for i, k := range run.kept {
		require.LessOrEqual(t, k, n/2)
		kind := LayerOf(i).Kind
		in, _ := kind.Shape(d, f)
		if readsLayerNorm(kind) {
			want[kind.Position()] += k * (8 + elem)
		} else {
			want[kind.Position()] += k * (in*elem + 8)
		}
	}
	assert.Equal(t, want, run.parts.Linear)
	// The same kept rows (the same sketches) under checkpointing.
	assert.Equal(t, run.kept, runOptions[float32](t, true, true, true, true, false).kept)

	ck := runOptions[float32](t, true, false, true, false, false).parts
	assert.Equal(t, [LinearPerBlock]int{}, ck.Linear)
	assert.Zero(t, ck.Attention)
	assert.Equal(t, blocks*n*d*elem+head, ck.Other)
}

// TestReformEqualsGather checks the rows backward re-forms from x̂ against the rows
// linear.Forward gathers from the LayerNorm output for the same sketch, bit for bit; the check
// rejects rows re-formed without their scales (the control).
func TestReformEqualsGather(t *testing.T) {
	t.Parallel()
	x := matrix.Dense[float32]{Rows: 9, Cols: 6, Data: make([]float32, 54)}
	for i := range x.Data {
		x.Data[i] = float32(i%11) * 0.37 / float32(1+i%5)
	}
	g := []float32{1.1, 0.9, -0.7, 1.3, 0.2, 2.0}
	bias := []float32{0.1, -0.2, 0.3, 0, 0.05, -1}
	y, xhat, _ := layerNormForward(x, g, bias)
	w := matrix.Dense[float32]{Rows: 6, Cols: 3, Data: make([]float32, 18)}
	s, err := (&halfHook[float32]{}).Sketch(3, y)
	require.NoError(t, err)
	_, want, err := linear.Forward(y, w, nil, s)
	require.NoError(t, err)
	scale := make([]float32, len(s.Scale))
	ones := make([]float32, len(s.Scale))
	for j, c := range s.Scale {
		scale[j], ones[j] = float32(c), 1
	}
	stripped := linear.Saved[float32]{N: want.N, H: matrix.Dense[float32]{Rows: want.H.Rows, Cols: want.H.Cols}, Index: want.Index}
	got := reform(stripped, scale, nil, xhat, g, bias)
	assert.Equal(t, want.H.Data, got.H.Data)
	assert.NotEqual(t, want.H.Data, reform(stripped, ones, nil, xhat, g, bias).H.Data, "control: unscaled rows must differ")
	exact := reform(linear.Saved[float32]{N: 9, H: matrix.Dense[float32]{Rows: 9, Cols: 6}}, nil, func() matrix.Dense[float32] { return layerNormOutput(xhat, g, bias) }, xhat, g, bias)
	assert.Equal(t, y.Data, exact.H.Data)
}

// TestCheckpointRefusesSampledAttention checks that checkpointing with sampled attention
// products is an ErrInput naming the block, not a silent exact attention.
func TestCheckpointRefusesSampledAttention(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig()
	cfg.Checkpoint = true
	m, err := New[float64](cfg, 1)
	require.NoError(t, err)
	_, err = m.Forward(tinyBatch(), &attentionAllHook[float64]{})
	require.ErrorIs(t, err, ErrInput)
	assert.Contains(t, err.Error(), "block 0")
}
