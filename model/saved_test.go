package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSavedPartsByHand checks the split of an exact tape against the sizes counted by hand:
// per block the inputs of the linear layers (q's LayerNorm output shared by k and v, the
// attention context of o, ffn_in's LayerNorm output, ffn_out's n×f activation), the attention's
// queries, keys and values when not recomputed, and the rest.
func TestSavedPartsByHand(t *testing.T) {
	t.Parallel()
	const vocab, d, f, blocks, b, s, elem = 20, 8, 16, 2, 3, 5, 4
	const n = b * s
	for _, recompute := range []bool{true, false} {
		cfg := Config{Vocab: vocab, Dim: d, Heads: 2, Blocks: blocks, FFN: f, MaxLen: s, Classes: 2, Recompute: recompute}
		m, err := New[float32](cfg, 1)
		require.NoError(t, err)
		bt := Batch{B: b, S: s, Tokens: make([]int, n), Mask: make([]bool, n), Labels: make([]int, b)}
		for i := range bt.Tokens {
			bt.Tokens[i], bt.Mask[i] = (3*i)%vocab, true
		}
		tape, err := m.Forward(bt, nil)
		require.NoError(t, err)
		p := tape.SavedParts()
		want := [LinearPerBlock]int{blocks * n * d * elem, 0, 0, blocks * n * d * elem, blocks * n * d * elem, blocks * n * f * elem}
		assert.Equal(t, want, p.Linear, "recompute %v", recompute)
		// Per block the two normalised LayerNorm inputs and their inverse deviations; the final
		// LayerNorm of the b pooled rows (normalised rows, inverse deviations, output).
		attention, other := 0, blocks*2*(n*d+n)*elem+(2*b*d+b)*elem
		if !recompute {
			attention = blocks * 3 * n * d * elem
			other += blocks * n * f * elem // the feed-forward pre-activation
		}
		assert.Equal(t, attention, p.Attention, "recompute %v", recompute)
		assert.Equal(t, other, p.Other, "recompute %v", recompute)
		assert.Equal(t, tape.SavedBytes(), p.Total())
	}
}
