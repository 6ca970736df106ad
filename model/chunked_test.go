package model

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
)

// normHook is halfHook (or exact, with every sketch nil) as a NormHook: it records the
// row norms of each layer's output gradient it is given, whole or as norms.
type normHook struct {
	halfHook[float64]
	exact bool
	norms map[int][]float64
	needs int    // a layer whose gradient it needs whole; -1 for none
	calls [2]int // the calls of Gradient and of GradientNorms
}

func (h *normHook) Sketch(i int, x matrix.Dense[float64]) (*estimator.Sketch, error) {
	if h.exact {
		return nil, nil
	}
	return h.halfHook.Sketch(i, x)
}

func (h *normHook) Gradient(i int, g matrix.Dense[float64]) error {
	h.calls[0]++
	h.norms[i] = estimator.RowNorms(g)
	return nil
}

func (h *normHook) NeedsRows(i int) bool { return i == h.needs }

func (h *normHook) Sampled(int) bool { return !h.exact }

func (h *normHook) GradientNorms(i int, norms []float64) error {
	h.calls[1]++
	h.norms[i] = append([]float64(nil), norms...)
	return nil
}

func chunkBatch() Batch {
	const b, s = 5, 6
	bt := Batch{B: b, S: s, Tokens: make([]int, b*s), Mask: make([]bool, b*s), Segments: make([]int, b*s), Labels: []int{1, 0, 0, 1, 1}}
	for i := range bt.Tokens {
		bt.Tokens[i] = (7*i + 3) % 11
		bt.Mask[i] = i%s < s-i/s%3 // sequences of 6, 5 and 4 valid tokens
		bt.Segments[i] = i % s / 3
	}
	return bt
}

type chunkRun struct {
	grads map[string][]float64
	norms map[int][]float64
	calls [2]int // the hook's calls of Gradient and of GradientNorms
}

// loraKinds are the adapted kinds of runChunked's LoRA settings: none, kinds whose feed-forward
// half runs whole in forward (ffn_in adapted), and the default q, k, v (both halves grouped,
// the feed-forward layers frozen).
var loraKinds = [][]Kind{nil, {Key, Output, FFNIn}, {Query, Key, Value}}

func runChunked(t *testing.T, chunk int, recompute, reuse, checkpoint, exact bool, lora, needs int) chunkRun {
	t.Helper()
	cfg := tinyConfig()
	cfg.Recompute, cfg.ReuseLayerNorm, cfg.Checkpoint, cfg.ChunkTokens = recompute, reuse, checkpoint, chunk
	m, err := New[float64](cfg, 13)
	require.NoError(t, err)
	if lora > 0 {
		require.NoError(t, m.AddLoRA(LoRA{Rank: 2, Alpha: 4, Kinds: loraKinds[lora], Biases: lora == 1}, 2))
	}
	for _, p := range m.Params {
		if !p.Frozen {
			for j := range p.W.Data {
				p.W.Data[j] += 0.05 * float64(j%5-2)
			}
		}
	}
	h := &normHook{exact: exact, norms: map[int][]float64{}, needs: needs}
	tape, err := m.Forward(chunkBatch(), h)
	require.NoError(t, err)
	require.NoError(t, m.Backward(tape, h))
	r := chunkRun{grads: map[string][]float64{}, norms: h.norms, calls: h.calls}
	for _, p := range m.Params {
		if !p.Frozen {
			r.grads[p.Name] = p.G
		}
	}
	return r
}

// closeTo returns the first index where got differs from want by more than 1e-12 of want's
// largest entry, or -1.
func closeTo(want, got []float64) int {
	scale := 0.0
	for _, v := range want {
		scale = max(scale, math.Abs(v))
	}
	for i := range want {
		if math.Abs(want[i]-got[i]) > 1e-12*scale {
			return i
		}
	}
	return -1
}

func assertClose(t *testing.T, want, got []float64, name string) {
	t.Helper()
	require.Len(t, got, len(want), name)
	if i := closeTo(want, got); i >= 0 {
		t.Errorf("%s[%d]: whole %v, chunked %v", name, i, want[i], got[i])
	}
}

// TestChunkedBackwardMatchesWhole checks the backward by groups of sequences against the whole
// backward in float64: every gradient and every row norm the hook receives agree to 1e-12 of
// the largest entry, for groups of one and of two sequences, exact and sampled, with and
// without recomputation, reuse of the LayerNorm outputs, checkpointing and LoRA (adapters on
// k, o and ffn_in with biases, or on q, k and v). A group size that misses the last rows of the batch, or a
// group that reads another's saved rows, fails it (see TestChunkedBackwardControl).
func TestChunkedBackwardMatchesWhole(t *testing.T) {
	t.Parallel()
	for _, exact := range []bool{true, false} {
		for lora := range loraKinds {
			for _, o := range [][3]bool{{true, false, false}, {false, false, false}, {true, true, false}, {true, true, true}} {
				whole := runChunked(t, 0, o[0], o[1], o[2], exact, lora, -1)
				for _, chunk := range []int{1, 12} { // 1 and 2 sequences of 6 tokens
					name := fmt.Sprintf("exact %v lora %d recompute %v reuse %v checkpoint %v chunk %d", exact, lora, o[0], o[1], o[2], chunk)
					got := runChunked(t, chunk, o[0], o[1], o[2], exact, lora, -1)
					require.Equal(t, len(whole.grads), len(got.grads), name)
					for p, g := range whole.grads {
						assertClose(t, g, got.grads[p], name+" "+p)
					}
					require.Equal(t, len(whole.norms), len(got.norms), name)
					for i, g := range whole.norms {
						assertClose(t, g, got.norms[i], fmt.Sprintf("%s norms of layer %d", name, i))
					}
				}
			}
		}
	}
}

// TestChunkedBackwardControl checks that the comparison above can fail and compares what it
// means to: the grouped runs go through the norms (GradientNorms for every layer, never
// Gradient), a hook that needs a layer's rows whole makes its block run whole (bit for bit the
// whole backward, through Gradient), and a relative change of 1e-9 in one entry is rejected.
func TestChunkedBackwardControl(t *testing.T) {
	t.Parallel()
	whole := runChunked(t, 0, true, true, false, false, 0, -1)
	needs := runChunked(t, 1, true, true, false, false, 0, LayerID{Block: 1, Kind: Query}.Index())
	chunked := runChunked(t, 1, true, true, false, false, 0, -1)
	layers := tinyConfig().Blocks * LinearPerBlock
	assert.Equal(t, [2]int{layers, 0}, whole.calls, "whole: Gradient, GradientNorms")
	assert.Equal(t, [2]int{0, layers}, chunked.calls, "grouped: Gradient, GradientNorms")
	assert.Equal(t, [2]int{LinearPerBlock, LinearPerBlock}, needs.calls, "one block whole, one grouped")
	for p, g := range whole.grads {
		if len(p) > 6 && p[:6] == "block1" {
			assert.Equal(t, g, needs.grads[p], p)
		}
	}
	g := append([]float64(nil), whole.grads["block0.q.w"]...)
	i := len(g) / 2
	g[i] *= 1 + 1e-9
	assert.Equal(t, i, closeTo(whole.grads["block0.q.w"], g), "a relative change of 1e-9 must fail the comparison")
}

// TestChunkedWithoutHook checks the grouped forward and backward without a hook (every layer
// exact) against the whole ones.
func TestChunkedWithoutHook(t *testing.T) {
	t.Parallel()
	run := func(chunk int) map[string][]float64 {
		cfg := tinyConfig()
		cfg.Recompute, cfg.ChunkTokens = true, chunk
		m, err := New[float64](cfg, 13)
		require.NoError(t, err)
		tape, err := m.Forward(chunkBatch(), nil)
		require.NoError(t, err)
		require.NoError(t, m.Backward(tape, nil))
		g := map[string][]float64{}
		for _, p := range m.Params {
			g[p.Name] = p.G
		}
		return g
	}
	whole, chunked := run(0), run(6)
	for p, g := range whole {
		assertClose(t, g, chunked[p], p)
	}
}
