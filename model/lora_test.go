package model

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loraModel returns the tiny model with non-trivial weights, adapters on lora.Kinds and a
// non-zero B (so that A gets gradient).
func loraModel(t *testing.T, l LoRA) *Model[float64] {
	t.Helper()
	m, err := New[float64](tinyConfig(), 3)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(9, 10))
	for _, p := range m.Params {
		for i := range p.W.Data {
			p.W.Data[i] += 0.3 * rng.NormFloat64()
		}
	}
	require.NoError(t, m.AddLoRA(l, 7))
	for _, p := range m.Params {
		if strings.HasSuffix(p.Name, ".lora_b") {
			for i := range p.W.Data {
				p.W.Data[i] = 0.5 * rng.NormFloat64()
			}
		}
	}
	return m
}

// TestLoRAGradient checks the gradient of every trainable parameter of a LoRA model against
// central differences, and that every frozen parameter's gradient is exactly zero.
func TestLoRAGradient(t *testing.T) {
	t.Parallel()
	for _, l := range []LoRA{
		{Rank: 2, Alpha: 4, Kinds: []Kind{Query, Key, Value}},
		{Rank: 3, Alpha: 1.5, Kinds: []Kind{FFNOut, Output, FFNIn}, Biases: true},
	} {
		m := loraModel(t, l)
		b := tinyBatch()
		tape, err := m.Forward(b, nil)
		require.NoError(t, err)
		m.ZeroGrad()
		require.NoError(t, m.Backward(tape, nil))
		loss := func() float64 {
			tp, err := m.Forward(b, nil)
			require.NoError(t, err)
			return tp.Loss
		}
		trainable := 0
		for _, p := range m.Params {
			if p.Frozen {
				assert.Nil(t, p.G, "frozen %s has no gradient accumulator", p.Name)
				continue
			}
			trainable++
			checkGrad(t, p.Name, p.W.Data, p.G, loss)
		}
		want := 2 + 2*len(l.Kinds)*tinyConfig().Blocks // head.w, head.b and the adapters
		if l.Biases {
			want += LinearPerBlock * tinyConfig().Blocks
		}
		assert.Equal(t, want, trainable)
		assert.Len(t, m.Trainable(), trainable)
	}
}

// TestLoRAStartsAtBase checks that a fresh adapter (B = 0) changes no output and that the
// other parameters keep their values, and that frozen layers keep no input for backward.
func TestLoRAStartsAtBase(t *testing.T) {
	t.Parallel()
	base, err := New[float64](tinyConfig(), 3)
	require.NoError(t, err)
	m, err := New[float64](tinyConfig(), 3)
	require.NoError(t, err)
	require.NoError(t, m.AddLoRA(LoRA{Rank: 2, Alpha: 2, Kinds: []Kind{Value, Query}}, 1))
	want, err := base.Forward(tinyBatch(), nil)
	require.NoError(t, err)
	got, err := m.Forward(tinyBatch(), nil)
	require.NoError(t, err)
	assert.Equal(t, want.Logits, got.Logits)
	assert.Equal(t, "block0.q.lora_a", m.Params[len(base.Params)].Name)
	assert.Equal(t, "block1.v.lora_b", m.Params[len(m.Params)-1].Name)
	n := tinyBatch().B * tinyBatch().S
	for i := 0; i < tinyConfig().Blocks*LinearPerBlock; i++ {
		id := LayerOf(i)
		switch id.Kind {
		case Query, Value:
			assert.True(t, m.Adapted(i))
			// The A product's input (n×d, shared with the other adapted layer) and HA (n×2).
			assert.Equal(t, (n*8+n*2)*8, got.LayerBytes(i), "%v", id)
		default:
			assert.False(t, m.Adapted(i))
			assert.Zero(t, got.LayerBytes(i), "%v", id)
		}
	}
	assert.Less(t, got.SavedBytes(), want.SavedBytes())
}

// TestMergeLoRA checks that the merged model computes what the adapted one does.
func TestMergeLoRA(t *testing.T) {
	t.Parallel()
	m := loraModel(t, LoRA{Rank: 2, Alpha: 3, Kinds: []Kind{Query, FFNIn}})
	merged, err := m.MergeLoRA()
	require.NoError(t, err)
	_, has := merged.LoRA()
	assert.False(t, has)
	assert.Len(t, merged.Trainable(), len(merged.Params))
	a, err := m.Forward(tinyBatch(), nil)
	require.NoError(t, err)
	b, err := merged.Forward(tinyBatch(), nil)
	require.NoError(t, err)
	assert.InDeltaSlice(t, a.Logits.Data, b.Logits.Data, 1e-12)
	assert.InDelta(t, a.Loss, b.Loss, 1e-12)
}

func TestLoRAValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		l    LoRA
		want string
	}{
		{"no kinds", LoRA{Rank: 2, Alpha: 1}, "adapts no layer"},
		{"unknown kind", LoRA{Rank: 2, Alpha: 1, Kinds: []Kind{"w"}}, "unknown layer kind"},
		{"repeat", LoRA{Rank: 2, Alpha: 1, Kinds: []Kind{Query, Query}}, "given twice"},
		{"rank 0", LoRA{Rank: 0, Alpha: 1, Kinds: []Kind{Query}}, "rank 0"},
		{"rank too big", LoRA{Rank: 9, Alpha: 1, Kinds: []Kind{Query}}, "rank 9"},
		{"alpha", LoRA{Rank: 2, Alpha: 0, Kinds: []Kind{Query}}, "alpha"},
	} {
		m, err := New[float32](tinyConfig(), 1)
		require.NoError(t, err)
		err = m.AddLoRA(tc.l, 1)
		require.ErrorIs(t, err, ErrConfig, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
	}
	m, err := New[float32](tinyConfig(), 1)
	require.NoError(t, err)
	require.NoError(t, m.AddLoRA(LoRA{Rank: 1, Alpha: 1, Kinds: []Kind{Key}}, 1))
	assert.ErrorIs(t, m.AddLoRA(LoRA{Rank: 1, Alpha: 1, Kinds: []Kind{Key}}, 1), ErrConfig)
}

// A LoRA model refuses MLM backward (its MLM head is frozen) with an error, not a panic.
func TestLoRARefusesMLMBackward(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig()
	cfg.MLM = MLMTied
	m, err := New[float64](cfg, 1)
	require.NoError(t, err)
	require.NoError(t, m.AddLoRA(LoRA{Rank: 2, Alpha: 2, Kinds: []Kind{Query}}, 1))
	b := tinyBatch()
	b.MLMTargets = make([]int, b.B*b.S)
	for i := range b.MLMTargets {
		b.MLMTargets[i] = -1
	}
	b.MLMTargets[1] = 3
	tape, err := m.Forward(b, nil)
	require.NoError(t, err)
	assert.ErrorIs(t, m.Backward(tape, nil), ErrInput)
}

// TestLoRARecomputeSameGradients checks that recomputing q, k, v and the feed-forward
// pre-activation includes the adapters: with every kind adapted, exact and sampled, the
// gradients with Recompute equal those of the stored path bit for bit (a recomputation from
// the base weights alone gives other attention and GELU gradients, which this rejects).
func TestLoRARecomputeSameGradients(t *testing.T) {
	t.Parallel()
	for _, sampled := range []bool{false, true} {
		var g [2]map[string][]float64
		for i, rc := range []bool{false, true} {
			cfg := tinyConfig()
			cfg.Recompute = rc
			m, err := New[float64](cfg, 3)
			require.NoError(t, err)
			require.NoError(t, m.AddLoRA(LoRA{Rank: 2, Alpha: 4, Kinds: Kinds()}, 5))
			for _, p := range m.Params { // B ≠ 0, so that the adapters change the outputs
				if !p.Frozen {
					for j := range p.W.Data {
						p.W.Data[j] += 0.05 * float64(j%5-2)
					}
				}
			}
			var hook Hook[float64]
			if sampled {
				hook = &halfHook[float64]{}
			}
			tape, err := m.Forward(tinyBatch(), hook)
			require.NoError(t, err)
			require.NoError(t, m.Backward(tape, hook))
			g[i] = map[string][]float64{}
			for _, p := range m.Params {
				if !p.Frozen {
					g[i][p.Name] = p.G
				}
			}
		}
		assert.Equal(t, g[0], g[1], "sampled %v", sampled)
	}
}
