package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseOptions(t *testing.T) {
	t.Parallel()
	for _, p := range []Pooling{PoolCLS, PoolMean} {
		got, err := ParsePooling(p.String())
		require.NoError(t, err)
		assert.Equal(t, p, got)
	}
	for _, h := range []MLMHead{MLMNone, MLMTied, MLMUntied} {
		got, err := ParseMLMHead(h.String())
		require.NoError(t, err)
		assert.Equal(t, h, got)
	}
	assert.Equal(t, "cls", PoolCLS.String())
	assert.Equal(t, "mean", PoolMean.String())
	assert.Equal(t, "Pooling(7)", Pooling(7).String())
	assert.Equal(t, "none", MLMNone.String())
	assert.Equal(t, "tied", MLMTied.String())
	assert.Equal(t, "untied", MLMUntied.String())
	assert.Equal(t, "MLMHead(-1)", MLMHead(-1).String())
	for _, s := range []string{"", "max", "CLS", "Pooling(1)"} {
		_, err := ParsePooling(s)
		assert.ErrorIs(t, err, ErrConfig, "%q", s)
	}
	for _, s := range []string{"", "shared", "Tied", "MLMHead(1)"} {
		_, err := ParseMLMHead(s)
		assert.ErrorIs(t, err, ErrConfig, "%q", s)
	}
	_, err := ParseMLMHead("both")
	assert.ErrorContains(t, err, `"both" (want none, tied or untied)`)
}
