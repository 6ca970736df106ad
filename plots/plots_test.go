package plots_test

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/plots"
)

func curvePanel(title string) plots.Panel {
	x := []float64{0, 0.25, 0.5, 0.75, 1}
	return plots.Panel{
		Title: title, XLabel: "|C| / k", YLabel: "P_C", Diagonal: true, DiagonalLabel: "P_C = |C|/k",
		LegendBottom: true,
		Series: []plots.Series{
			{Label: "step 1", X: x, Y: []float64{0, 0.4, 0.6, 0.7, 0.8}, Lo: []float64{0, 0.3, 0.5, 0.6, 0.7}, Hi: []float64{0, 0.5, 0.7, 0.8, 0.9}},
			{Label: "step 100", X: x, Y: []float64{0, 0.5, 0.7, 0.8, 0.85}, Color: 1, Dashed: true},
			{Label: "Monte Carlo", X: x, Y: []float64{0, 0.45, 0.65, 0.75, 0.8}, Color: 2, Points: true},
		},
	}
}

func TestSaveWritesPNGAndSVG(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := filepath.Join(dir, "fig")
	fig := plots.Figure{Title: "Smoke", Panels: []plots.Panel{curvePanel("query"), curvePanel("key"), curvePanel("value")}}
	require.NoError(t, plots.Save(fig, base))
	png, err := os.ReadFile(base + ".png")
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")), "PNG signature")
	assert.Greater(t, len(png), 10000)
	svg, err := os.ReadFile(base + ".svg")
	require.NoError(t, err)
	assert.Contains(t, string(svg), "<svg")
	assert.Contains(t, string(svg), "P_C = |C|/k")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "no temporary files left behind")

	// Same description, same bytes.
	require.NoError(t, plots.Save(fig, base+"2"))
	png2, err := os.ReadFile(base + "2.png")
	require.NoError(t, err)
	assert.Equal(t, png, png2)
}

func TestSaveLogAxes(t *testing.T) {
	t.Parallel()
	base := filepath.Join(t.TempDir(), "log")
	pn := plots.Panel{Title: "variance", XLabel: "k", YLabel: "E‖error‖²", LogX: true, LogY: true,
		Series: []plots.Series{{Label: "CRS", X: []float64{1, 10, 100}, Y: []float64{100, 10, 1}}}}
	require.NoError(t, plots.Save(plots.Figure{Panels: []plots.Panel{pn}}, base))
	pn.Series[0].Y[2] = 0
	err := plots.Save(plots.Figure{Panels: []plots.Panel{pn}}, base)
	assert.ErrorIs(t, err, plots.ErrFigure)
	assert.ErrorContains(t, err, "log axis")
}

func TestSaveRejectsBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		fig  plots.Figure
	}{
		{"no panels", plots.Figure{}},
		{"no series", plots.Figure{Panels: []plots.Panel{{Title: "empty"}}}},
		{"NaN", plots.Figure{Panels: []plots.Panel{{Series: []plots.Series{{X: []float64{1, 2}, Y: []float64{1, math.NaN()}}}}}}},
		{"Inf", plots.Figure{Panels: []plots.Panel{{Series: []plots.Series{{X: []float64{math.Inf(1)}, Y: []float64{1}}}}}}},
		{"lengths", plots.Figure{Panels: []plots.Panel{{Series: []plots.Series{{X: []float64{1, 2}, Y: []float64{1}}}}}}},
		{"band", plots.Figure{Panels: []plots.Panel{{Series: []plots.Series{{X: []float64{1}, Y: []float64{1}, Lo: []float64{1}}}}}}},
	} {
		err := plots.Save(tc.fig, filepath.Join(dir, "bad"))
		assert.ErrorIs(t, err, plots.ErrFigure, tc.name)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

func TestSaveUnwritableDirectory(t *testing.T) {
	t.Parallel()
	err := plots.Save(plots.Figure{Panels: []plots.Panel{curvePanel("q")}}, filepath.Join(t.TempDir(), "missing", "fig"))
	assert.Error(t, err)
}

func ExampleSave() {
	dir, _ := os.MkdirTemp("", "plots")
	defer os.RemoveAll(dir)
	fig := plots.Figure{Title: "P_C against |C|/k", Panels: []plots.Panel{{
		Title: "query", XLabel: "|C| / k", YLabel: "P_C", Diagonal: true,
		Series: []plots.Series{{Label: "step 1", X: []float64{0, 0.5, 1}, Y: []float64{0, 0.7, 0.9}}},
	}}}
	err := plots.Save(fig, filepath.Join(dir, "curve"))
	_, perr := os.Stat(filepath.Join(dir, "curve.png"))
	_, serr := os.Stat(filepath.Join(dir, "curve.svg"))
	fmt.Println(err, perr, serr)
	// Output: <nil> <nil> <nil>
}

// TestPaletteIsACopy: writing into the palette a caller got changes neither the next call's
// palette nor the colours of a figure.
func TestPaletteIsACopy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fig := plots.Figure{Panels: []plots.Panel{curvePanel("q")}}
	p := plots.Palette()
	require.Len(t, p, 8)
	want := slices.Clone(p)
	require.NoError(t, plots.Save(fig, filepath.Join(dir, "before")))
	for i := range p {
		p[i] = color.RGBA{}
	}
	assert.Equal(t, want, plots.Palette())
	require.NoError(t, plots.Save(fig, filepath.Join(dir, "after")))
	before, err := os.ReadFile(filepath.Join(dir, "before.svg"))
	require.NoError(t, err)
	after, err := os.ReadFile(filepath.Join(dir, "after.svg"))
	require.NoError(t, err)
	assert.Equal(t, before, after)
}

// A grid of panels with legends below the axes and hollow markers draws, with every legend entry
// in the SVG.
func TestSaveGridWithLegendBelow(t *testing.T) {
	t.Parallel()
	base := filepath.Join(t.TempDir(), "grid")
	var panels []plots.Panel
	for i := range 5 {
		pn := curvePanel(fmt.Sprintf("panel %d", i))
		pn.LegendBelow, pn.YMin, pn.YMax = true, 0, 1
		pn.Series = append(pn.Series, plots.Series{Label: "cold step", X: []float64{0.25}, Y: []float64{0.4}, Points: true, Hollow: true})
		panels = append(panels, pn)
	}
	require.NoError(t, plots.Save(plots.Figure{Title: "grid", Panels: panels, Columns: 3}, base))
	svg, err := os.ReadFile(base + ".svg")
	require.NoError(t, err)
	for _, label := range []string{"step 1", "step 100", "Monte Carlo", "cold step", "P_C = |C|/k", "panel 4"} {
		assert.Contains(t, string(svg), label)
	}
	// Two rows of three panels of 9 × 8 cm, and the title.
	assert.Contains(t, string(svg), `<svg width="765.35pt" height="479.06pt"`)
}
