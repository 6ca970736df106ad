package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The one table of kinds agrees with itself and with every place that derives from it: the
// spelling round-trips, positions and layer indices invert each other, the titles and shapes are
// those of the encoder, and the model's parameters are named and shaped by it.
func TestKindsAgree(t *testing.T) {
	t.Parallel()
	ks := Kinds()
	require.Len(t, ks, LinearPerBlock)
	assert.Equal(t, []Kind{"q", "k", "v", "o", "ffn_in", "ffn_out"}, ks)
	assert.Equal(t, "q, k, v, o, ffn_in or ffn_out", KindNames())
	titles := map[string]bool{}
	for p, k := range ks {
		got, err := ParseKind(string(k))
		require.NoError(t, err)
		assert.Equal(t, k, got)
		assert.Equal(t, p, k.Position())
		assert.True(t, k.Valid())
		titles[k.Title()] = true
		for b := range 3 {
			id := LayerID{Block: b, Kind: k}
			assert.Equal(t, id, LayerOf(id.Index()))
			assert.Equal(t, b*LinearPerBlock+p, id.Index())
		}
	}
	assert.Len(t, titles, LinearPerBlock, "distinct titles")
	ks[0] = "changed"
	assert.Equal(t, Query, Kinds()[0], "Kinds returns a copy")

	_, err := ParseKind("ffn")
	assert.ErrorIs(t, err, ErrConfig)
	assert.ErrorContains(t, err, "q, k, v, o, ffn_in or ffn_out")
	assert.False(t, Kind("x").Valid())
	assert.Equal(t, LinearPerBlock, Kind("x").Position())
	assert.Panics(t, func() { _ = LayerID{Kind: "x"}.Index() })

	cfg := Config{Vocab: 10, Dim: 8, Heads: 2, Blocks: 2, FFN: 12, MaxLen: 4, Classes: 2}
	m, err := New[float64](cfg, 1)
	require.NoError(t, err)
	for i := range cfg.Blocks * LinearPerBlock {
		id := LayerOf(i)
		w, b := m.Linear(i)
		assert.Equal(t, id.String()+".w", w.Name)
		assert.Equal(t, id.String()+".b", b.Name)
		in, out := id.Kind.Shape(cfg.Dim, cfg.FFN)
		assert.Equal(t, [2]int{in, out}, [2]int{w.W.Rows, w.W.Cols}, id.String())
	}
}
