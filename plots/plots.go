// Package plots draws the project's figures with gonum/plot: one or more panels side by side
// or in a grid, each a set of line series with optional bands, scatter points (filled or
// hollow) and the diagonal y = x, with the legend inside the axes or below them, saved as PNG
// and SVG.
//
// Figures are described by plain values ([Figure], [Panel], [Series]) so that a figure can be
// rebuilt from the CSV files a run wrote. [Save] validates the description and returns an error
// (never panics) for NaN or ±Inf values, mismatched lengths, or non-positive values on a log
// axis. Files are written atomically: to a temporary file in the same directory, then renamed.
package plots

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/wtacrs/wtacrs/internal/atomicfile"
)

// ErrFigure reports a figure description that cannot be drawn.
var ErrFigure = errors.New("plots: invalid figure")

// Series is one curve of a panel.
type Series struct {
	// Label is the legend entry ("" for none).
	Label string
	// X and Y are the points, of equal length ≥ 1, finite.
	X, Y []float64
	// Lo and Hi, when not nil, have the length of X and draw a shaded band between them.
	Lo, Hi []float64
	// Points draws markers only, no line (for Monte Carlo estimates beside a closed form).
	Points bool
	// Hollow draws the markers of a Points series as rings instead of filled discs (to mark
	// points of a different kind on top of a line of the same colour).
	Hollow bool
	// Dashed draws a dashed line.
	Dashed bool
	// Color indexes the palette [Palette]; series with equal Color share a colour.
	Color int
	// Width is the line width in points (default 1.6).
	Width float64
}

// Panel is one set of axes.
type Panel struct {
	// Title is drawn above the axes, XLabel and YLabel along them; each may be empty.
	Title, XLabel, YLabel string
	// Series are the curves, drawn and listed in the legend (those with a Label) in this order.
	Series []Series
	// Diagonal adds the dashed grey line y = x over the x range of the series.
	Diagonal bool
	// DiagonalLabel is the diagonal's legend entry (default "y = x").
	DiagonalLabel string
	// LogX and LogY use logarithmic axes; every value on them must then be > 0.
	LogX, LogY bool
	// YMin and YMax, when YMax > YMin, fix the y range.
	YMin, YMax float64
	// LegendLeft puts the legend at the top left instead of the top right; LegendBottom at the
	// bottom.
	LegendLeft, LegendBottom bool
	// LegendBelow draws the legend outside the axes, under the x axis label, its entries in as
	// many columns as the panel's width holds, so that it covers no data (LegendLeft and
	// LegendBottom are then ignored). The panels of a grid row share the height of the row's
	// tallest legend, so that their axes stay aligned.
	LegendBelow bool
}

// Figure is a row, or a grid, of panels under a common title.
type Figure struct {
	// Title is the common title above the panels, one or more lines separated by "\n"; empty
	// leaves no room for it.
	Title string
	// Panels are the panels from left to right, row after row.
	Panels []Panel
	// Columns is the number of panels per row (the last row may be shorter); 0 puts every
	// panel in one row.
	Columns int
	// PanelWidth and PanelHeight are the size of one panel in centimetres (default 9 × 8).
	PanelWidth, PanelHeight float64
}

// Palette returns the colour cycle of [Series.Color] (colour-blind safe, Okabe–Ito), a fresh
// copy at each call.
func Palette() []color.RGBA { return slices.Clone(palette[:]) }

var palette = [...]color.RGBA{
	{0x00, 0x72, 0xB2, 0xff}, // blue
	{0xD5, 0x5E, 0x00, 0xff}, // vermillion
	{0x00, 0x9E, 0x73, 0xff}, // bluish green
	{0xCC, 0x79, 0xA7, 0xff}, // reddish purple
	{0xE6, 0x9F, 0x00, 0xff}, // orange
	{0x56, 0xB4, 0xE9, 0xff}, // sky blue
	{0x00, 0x00, 0x00, 0xff}, // black
	{0xF0, 0xE4, 0x42, 0xff}, // yellow
}

// Save draws fig and writes base+".png" and base+".svg" atomically. The directory of base must
// exist. It returns an error wrapping ErrFigure for an invalid description, or the I/O error.
func Save(fig Figure, base string) error {
	if len(fig.Panels) == 0 {
		return fmt.Errorf("%w: %s has no panels", ErrFigure, filepath.Base(base))
	}
	pw, ph := fig.PanelWidth, fig.PanelHeight
	if pw <= 0 {
		pw = 9
	}
	if ph <= 0 {
		ph = 8
	}
	cols := fig.Columns
	if cols <= 0 || cols > len(fig.Panels) {
		cols = len(fig.Panels)
	}
	rows := (len(fig.Panels) + cols - 1) / cols
	built := make([]panelPlot, len(fig.Panels))
	grid := make([][]*plot.Plot, rows)
	for r := range grid {
		grid[r] = make([]*plot.Plot, cols)
	}
	for i, pn := range fig.Panels {
		b, err := build(pn)
		if err != nil {
			return fmt.Errorf("%s panel %d (%q): %w", filepath.Base(base), i+1, pn.Title, err)
		}
		built[i] = b
		grid[i/cols][i%cols] = b.p
	}
	titleSty := built[0].p.Title.TextStyle
	titleSty.Font.Size = 13
	titleSty.XAlign = draw.XCenter
	titleSty.YAlign = draw.YCenter
	titleH := vg.Length(0)
	if fig.Title != "" {
		// One line takes 0.9 cm, each further line (a "\n" in the title) its own height.
		titleH = 0.9*vg.Centimeter + titleSty.Rectangle(fig.Title).Size().Y - titleSty.Rectangle("X").Size().Y
	}
	w := vg.Length(pw) * vg.Centimeter * vg.Length(cols)
	h := vg.Length(ph)*vg.Centimeter*vg.Length(rows) + titleH
	for _, format := range []string{"png", "svg"} {
		var c vg.CanvasWriterTo
		if format == "png" {
			c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(150))}
		} else {
			c = vgsvg.New(w, h)
		}
		dc := draw.New(c)
		// A white background (PNG is transparent otherwise).
		dc.FillPolygon(color.White, []vg.Point{{X: 0, Y: 0}, {X: w, Y: 0}, {X: w, Y: h}, {X: 0, Y: h}})
		if fig.Title != "" {
			dc.FillText(titleSty, vg.Point{X: w / 2, Y: h - titleH/2}, fig.Title)
		}
		body := draw.Crop(dc, 0, 0, 0, -titleH)
		tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 2, PadY: vg.Millimeter * 3, PadTop: vg.Millimeter,
			PadBottom: vg.Millimeter, PadLeft: vg.Millimeter, PadRight: vg.Millimeter * 2}
		canvases := plot.Align(grid, tiles, body)
		for r := range rows {
			// The legends below the axes of a row take the height of the tallest, in every
			// panel of the row, so that the rows' axes stay aligned.
			var legH vg.Length
			for j := range cols {
				if i := r*cols + j; i < len(built) && built[i].below {
					legH = max(legH, built[i].legendHeight(built[i].legendWidth(canvases[r][j])))
				}
			}
			for j := range cols {
				i := r*cols + j
				if i >= len(built) {
					continue
				}
				cv := canvases[r][j]
				pc := draw.Crop(cv, 0, 0, legH, 0)
				built[i].p.Draw(pc)
				if built[i].below {
					strip := cv
					strip.Max.Y = cv.Min.Y + legH
					strip.Min.X = cv.Max.X - built[i].legendWidth(cv)
					built[i].drawLegend(strip)
				}
			}
		}
		var buf bytes.Buffer
		if _, err := c.WriteTo(&buf); err != nil {
			return fmt.Errorf("plots: encoding %s.%s: %w", base, format, err)
		}
		if err := writeAtomic(base+"."+format, buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// panelPlot is a built panel: the plot and, for a legend below the axes, its entries.
type panelPlot struct {
	p       *plot.Plot
	below   bool
	entries []legendEntry
}

type legendEntry struct {
	label  string
	thumbs []plot.Thumbnailer
}

// legendGap is the space between the columns of a legend below the axes, and above it.
const legendGap = 3 * vg.Millimeter

// legendGrid returns the layout of the legend below the axes in a width: the number of
// columns and rows, the width of a column and the height of an entry.
func (b panelPlot) legendGrid(width vg.Length) (cols, rows int, colW, entH vg.Length) {
	if len(b.entries) == 0 {
		return 0, 0, 0, 0
	}
	sty := b.p.Legend.TextStyle
	for _, e := range b.entries {
		r := sty.Rectangle(" " + e.label)
		colW = max(colW, b.p.Legend.ThumbnailWidth+r.Max.X+legendGap)
		entH = max(entH, r.Max.Y)
	}
	cols = max(1, min(len(b.entries), int(width/colW)))
	rows = (len(b.entries) + cols - 1) / cols
	return cols, rows, colW, entH
}

// legendWidth returns the width of the legend below the axes in the panel's canvas c: from the
// left edge of the data area to the right edge of c.
func (b panelPlot) legendWidth(c draw.Canvas) vg.Length {
	return c.Max.X - b.p.DataCanvas(c).Min.X
}

// legendHeight returns the height the legend below the axes takes in a panel of that width.
func (b panelPlot) legendHeight(width vg.Length) vg.Length {
	_, rows, _, entH := b.legendGrid(width)
	if rows == 0 {
		return 0
	}
	return legendGap + vg.Length(rows)*(entH+vg.Points(1))
}

// drawLegend draws the legend below the axes into strip, entries row by row.
func (b panelPlot) drawLegend(strip draw.Canvas) {
	cols, _, colW, _ := b.legendGrid(strip.Max.X - strip.Min.X)
	for j := range cols {
		l := plot.NewLegend()
		l.TextStyle = b.p.Legend.TextStyle
		l.ThumbnailWidth = b.p.Legend.ThumbnailWidth
		l.Padding = vg.Points(1)
		l.Top, l.Left = true, true
		for i := j; i < len(b.entries); i += cols {
			l.Add(b.entries[i].label, b.entries[i].thumbs...)
		}
		c := strip
		c.Min.X = strip.Min.X + vg.Length(j)*colW
		c.Max.X = c.Min.X + colW
		c.Max.Y = strip.Max.Y - legendGap
		l.Draw(c)
	}
}

func build(pn Panel) (panelPlot, error) {
	p := plot.New()
	out := panelPlot{p: p, below: pn.LegendBelow}
	legend := func(label string, thumbs ...plot.Thumbnailer) {
		if pn.LegendBelow {
			out.entries = append(out.entries, legendEntry{label, thumbs})
		} else {
			p.Legend.Add(label, thumbs...)
		}
	}
	p.Title.Text = pn.Title
	p.Title.TextStyle.Font.Size = 12
	p.X.Label.Text = pn.XLabel
	p.Y.Label.Text = pn.YLabel
	p.Legend.Top = !pn.LegendBottom
	p.Legend.Left = pn.LegendLeft
	p.Legend.TextStyle.Font.Size = 9
	p.Add(plotter.NewGrid())
	if pn.LogX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if pn.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if len(pn.Series) == 0 {
		return out, fmt.Errorf("%w: no series", ErrFigure)
	}
	xmin, xmax := math.Inf(1), math.Inf(-1)
	for si, s := range pn.Series {
		if err := check(s, pn.LogX, pn.LogY); err != nil {
			return out, fmt.Errorf("series %d (%q): %w", si+1, s.Label, err)
		}
		col := palette[((s.Color%len(palette))+len(palette))%len(palette)]
		for _, x := range s.X {
			xmin, xmax = min(xmin, x), max(xmax, x)
		}
		if s.Lo != nil {
			band := make(plotter.XYs, 0, 2*len(s.X))
			for i := range s.X {
				band = append(band, plotter.XY{X: s.X[i], Y: s.Hi[i]})
			}
			for i := len(s.X) - 1; i >= 0; i-- {
				band = append(band, plotter.XY{X: s.X[i], Y: s.Lo[i]})
			}
			poly, err := plotter.NewPolygon(band)
			if err != nil {
				return out, fmt.Errorf("%w: %v", ErrFigure, err)
			}
			poly.Color = color.NRGBA{R: col.R, G: col.G, B: col.B, A: 0x38}
			poly.LineStyle.Width = 0
			poly.LineStyle.Color = nil
			p.Add(poly)
		}
		xy := make(plotter.XYs, len(s.X))
		for i := range s.X {
			xy[i] = plotter.XY{X: s.X[i], Y: s.Y[i]}
		}
		if s.Points {
			sc, err := plotter.NewScatter(xy)
			if err != nil {
				return out, fmt.Errorf("%w: %v", ErrFigure, err)
			}
			sc.GlyphStyle.Color = col
			sc.GlyphStyle.Radius = vg.Points(2.5)
			sc.GlyphStyle.Shape = draw.CircleGlyph{}
			if s.Hollow {
				sc.GlyphStyle.Radius = vg.Points(3.2)
				sc.GlyphStyle.Shape = draw.RingGlyph{}
			}
			p.Add(sc)
			if s.Label != "" {
				legend(s.Label, sc)
			}
			continue
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return out, fmt.Errorf("%w: %v", ErrFigure, err)
		}
		l.LineStyle.Color = col
		l.LineStyle.Width = vg.Points(1.6)
		if s.Width > 0 {
			l.LineStyle.Width = vg.Points(s.Width)
		}
		if s.Dashed {
			l.LineStyle.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(l)
		if s.Label != "" {
			legend(s.Label, l)
		}
	}
	if pn.Diagonal {
		lo, hi := max(xmin, 0), xmax
		if pn.LogX || pn.LogY {
			lo = xmin
		}
		d, err := plotter.NewLine(plotter.XYs{{X: lo, Y: lo}, {X: hi, Y: hi}})
		if err != nil {
			return out, fmt.Errorf("%w: %v", ErrFigure, err)
		}
		d.LineStyle.Color = color.Gray{Y: 0x60}
		d.LineStyle.Width = vg.Points(1.2)
		d.LineStyle.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(d)
		label := pn.DiagonalLabel
		if label == "" {
			label = "y = x"
		}
		legend(label, d)
	}
	if pn.YMax > pn.YMin {
		p.Y.Min, p.Y.Max = pn.YMin, pn.YMax
	}
	return out, nil
}

func check(s Series, logX, logY bool) error {
	n := len(s.X)
	if n == 0 || len(s.Y) != n {
		return fmt.Errorf("%w: %d x values and %d y values", ErrFigure, n, len(s.Y))
	}
	if (s.Lo == nil) != (s.Hi == nil) || (s.Lo != nil && (len(s.Lo) != n || len(s.Hi) != n)) {
		return fmt.Errorf("%w: band lengths %d and %d for %d points", ErrFigure, len(s.Lo), len(s.Hi), n)
	}
	for name, v := range map[string][]float64{"x": s.X, "y": s.Y, "lo": s.Lo, "hi": s.Hi} {
		for i, f := range v {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("%w: %s[%d] = %v", ErrFigure, name, i, f)
			}
			if f <= 0 && ((logX && name == "x") || (logY && name != "x")) {
				return fmt.Errorf("%w: %s[%d] = %v on a log axis", ErrFigure, name, i, f)
			}
		}
	}
	return nil
}

// writeAtomic writes data to a temporary file beside path and renames it over path.
func writeAtomic(path string, data []byte) error {
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	return nil
}
