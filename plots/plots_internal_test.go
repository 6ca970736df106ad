package plots

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A fixed y range is the axis range of the drawn panel, and the legend below the axes is kept out
// of the plot's own (inside) legend.
func TestBuildAxisLimitsAndLegendBelow(t *testing.T) {
	t.Parallel()
	pn := Panel{Series: []Series{{Label: "a", X: []float64{0, 1}, Y: []float64{0.2, 0.9}}}, YMin: 0, YMax: 1, Diagonal: true}
	b, err := build(pn)
	require.NoError(t, err)
	assert.Equal(t, [2]float64{0, 1}, [2]float64{b.p.Y.Min, b.p.Y.Max})
	assert.Empty(t, b.entries)

	pn.LegendBelow = true
	b, err = build(pn)
	require.NoError(t, err)
	require.Len(t, b.entries, 2, "the series and the diagonal")
	assert.Equal(t, "a", b.entries[0].label)
	assert.Equal(t, "y = x", b.entries[1].label)
	// The entries fit in two columns of a wide panel, in one of a narrow one.
	cols, rows, colW, _ := b.legendGrid(1000)
	assert.Equal(t, [2]int{2, 1}, [2]int{cols, rows})
	cols, rows, _, _ = b.legendGrid(colW * 1.5)
	assert.Equal(t, [2]int{1, 2}, [2]int{cols, rows})
	assert.Greater(t, b.legendHeight(colW*1.5), b.legendHeight(1000))

	// Without a fixed range the axis follows the data.
	pn.YMax, pn.Diagonal = 0, false
	b, err = build(pn)
	require.NoError(t, err)
	assert.InDelta(t, 0.9, b.p.Y.Max, 1e-12)
}
