package experiments

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"slices"

	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/plots"
)

// Replot redraws every figure of a results directory from its CSV files (curves.csv,
// layers.csv, training.csv; each optional) and returns the figure files written, sorted. The
// figures ([Figures], [MatchedFigures]) are:
//
//   - curves_k<budget>_<source>.{png,svg}: P_C against |C|/k (Figures 10 and 11), a panel per
//     layer kind (columns) and plotted step (rows: the first, middle and last recorded steps),
//     one line per block, beside the diagonal P_C = |C|/k;
//   - top10_<source>: the mass of the top 10% of pairs against the step (Figure 12), a panel
//     per kind, one line per block, steps with a cold gradient-norm cache marked;
//   - ratio_<source>: the variance ratio Var[WTA-CRS]/Var[CRS], exact (closed form from H and
//     ∇Z) and in the norms-only orthogonal approximation, with Theorem 2's bound, against the
//     step, per budget;
//   - matched_k<budget>_<source>: the top-10% mass and the share of |C| above the diagonal
//     against the step and against the smoothed training loss (needs training.csv), a row per
//     kind, one line or set of points per block;
//   - loss: the training loss of every run against the step.
//
// With several seeds every line is the mean over the seeds, with a band from their minimum to
// their maximum (the curves of different seeds, whose k differ, are interpolated onto a grid of
// |C|/k). Axes of probability masses and shares run from 0 to 1. It returns an error wrapping
// ErrResults for unreadable or malformed CSV files.
func Replot(dir string) ([]string, error) {
	var written []string
	save := func(fig plots.Figure, base string) error {
		if err := plots.Save(fig, filepath.Join(dir, base)); err != nil {
			return err
		}
		written = append(written, base+".png", base+".svg")
		return nil
	}
	recs, err := LoadRecords(dir)
	if err != nil {
		return nil, err
	}
	loss, err := LoadSmoothedLoss(dir)
	if err != nil {
		return nil, err
	}
	for _, fig := range append(Figures(recs), MatchedFigures(recs, loss)...) {
		if err := save(fig.Figure, fig.Name); err != nil {
			return nil, err
		}
	}
	lf, err := lossFigure(dir)
	if err != nil {
		return nil, err
	}
	if lf != nil {
		if err := save(*lf, "loss"); err != nil {
			return nil, err
		}
	}
	slices.Sort(written)
	return written, nil
}

// NamedFigure is a figure and the base name of its files.
type NamedFigure struct {
	plots.Figure
	// Name is the base name of the figure's files, without extension: for example
	// "curves_k0.1_exact" or "top10_cached"; [Replot] writes Name.png and Name.svg.
	Name string
}

// Figures returns the analysis figures of [Replot] that need the records only (curves, top10,
// ratio), in a fixed order.
func Figures(recs []Record) []NamedFigure {
	figs := curveFigures(recs)
	for _, src := range []string{SourceExact, SourceCached} {
		var rs []Record
		for _, r := range recs {
			if r.Source == src {
				rs = append(rs, r)
			}
		}
		if len(rs) > 0 {
			figs = append(figs, NamedFigure{top10Figure(rs, recs, src), "top10_" + src}, NamedFigure{ratioFigure(rs, src), "ratio_" + src})
		}
	}
	return figs
}

// The axis labels and legend entries shared by the figures.
const (
	stepLabel     = "iteration (optimiser step)"
	lossLabel     = "smoothed training loss (falls as training proceeds)"
	massLabel     = "P_C (probability mass of C)"
	top10Label    = "mass of the top 10% of pairs"
	aboveLabel    = "share of |C| with P_C > |C|/k"
	diagonalLabel = "P_C = |C|/k"
)

// kindsIn returns the kinds of recs in block order.
func kindsIn(recs []Record) []model.Kind {
	var out []model.Kind
	for _, k := range model.Kinds() {
		if slices.ContainsFunc(recs, func(r Record) bool { return r.Layer.Kind == k }) {
			out = append(out, k)
		}
	}
	return out
}

// distinct returns the sorted distinct values of f over recs.
func distinct[T cmp.Ordered](recs []Record, f func(Record) T) []T {
	var out []T
	for _, r := range recs {
		out = append(out, f(r))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func seedsIn(recs []Record) []uint64 { return distinct(recs, func(r Record) uint64 { return r.Seed }) }

// describeSeeds says what a line of a figure is over the seeds.
func describeSeeds(seeds []uint64) string {
	if len(seeds) == 1 {
		return fmt.Sprintf("seed %d", seeds[0])
	}
	return fmt.Sprintf("mean over %d seeds, band: min to max over the seeds", len(seeds))
}

func sourceTitle(s string) string {
	if s == SourceCached {
		return "cached gradient norms (what Algorithm 1 samples with)"
	}
	return "exact gradient norms of the step"
}

func figureNumber(budget float64) string {
	switch budget {
	case 0.1:
		return "Figure 10: "
	case 0.5:
		return "Figure 11: "
	}
	return ""
}

// pickSteps returns the first, middle and last of the sorted steps (fewer when fewer exist).
func pickSteps(steps []int) []int {
	if len(steps) <= 3 {
		return steps
	}
	return []int{steps[0], steps[(len(steps)-1)/2], steps[len(steps)-1]}
}

func sortedKeys(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// spread returns the mean, minimum and maximum of v (not empty).
func spread(v []float64) (mean, lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range v {
		mean += x
		lo, hi = min(lo, x), max(hi, x)
	}
	return mean / float64(len(v)), lo, hi
}

// seriesOver returns the series through the points (x, mean of ys[x]) for the sorted xs, with a
// min–max band when some x has more than one value.
func seriesOver(xs []float64, ys map[float64][]float64) plots.Series {
	var s plots.Series
	band := false
	for _, x := range xs {
		band = band || len(ys[x]) > 1
	}
	for _, x := range xs {
		m, lo, hi := spread(ys[x])
		s.X, s.Y = append(s.X, x), append(s.Y, m)
		if band {
			s.Lo, s.Hi = append(s.Lo, lo), append(s.Hi, hi)
		}
	}
	return s
}

// curveGrid is the |C|/k grid onto which the curves of several seeds are interpolated.
const curveGrid = 100

// interpolate returns the curve mass (at c/k, c = 0..len(mass)−1) at x in [0, 1], linearly
// between its points.
func interpolate(mass []float64, k int, x float64) float64 {
	c := x * float64(k)
	i := min(int(c), len(mass)-1)
	if i >= len(mass)-1 {
		return mass[len(mass)-1]
	}
	f := c - float64(i)
	return mass[i]*(1-f) + mass[i+1]*f
}

func curveFigures(recs []Record) []NamedFigure {
	type group struct {
		source string
		budget float64
	}
	groups := map[group][]Record{}
	for _, r := range recs {
		if len(r.Stats.Mass) > 0 {
			g := group{r.Source, r.Budget}
			groups[g] = append(groups[g], r)
		}
	}
	keys := make([]group, 0, len(groups))
	for g := range groups {
		keys = append(keys, g)
	}
	slices.SortFunc(keys, func(a, b group) int {
		return cmp.Or(cmp.Compare(a.budget, b.budget), sourceOrder(a.source)-sourceOrder(b.source))
	})
	var figs []NamedFigure
	for _, g := range keys {
		rs := groups[g]
		kinds := kindsIn(rs)
		blocks := distinct(rs, func(r Record) int { return r.Layer.Block })
		fig := plots.Figure{Title: fmt.Sprintf("%sP_C against |C|/k at k = %s|D|, %s\none line per block, %s; "+
			"above the diagonal P_C = |C|/k, Theorem 2's condition holds",
			figureNumber(g.budget), ftoa(g.budget), sourceTitle(g.source), describeSeeds(seedsIn(rs))),
			Columns: len(kinds), PanelHeight: 9.5}
		for _, step := range pickSteps(distinct(rs, func(r Record) int { return r.Step })) {
			for _, kind := range kinds {
				pn := plots.Panel{XLabel: "|C| / k", YLabel: massLabel, Diagonal: true, DiagonalLabel: diagonalLabel,
					YMin: 0, YMax: 1, LegendBelow: true}
				epoch, cold := 0, false
				for bi, b := range blocks {
					var cs []Record
					for _, r := range rs {
						if r.Step == step && r.Layer == (model.LayerID{Block: b, Kind: kind}) {
							cs = append(cs, r)
						}
					}
					if len(cs) == 0 {
						continue
					}
					epoch = cs[0].Epoch
					s := plots.Series{Label: fmt.Sprintf("block %d", b), Color: bi, Width: 1.8}
					if len(cs) == 1 {
						s.X, s.Y = slices.Clone(cs[0].Stats.Fraction), slices.Clone(cs[0].Stats.Mass)
					} else {
						for j := 0; j <= curveGrid; j++ {
							x := float64(j) / curveGrid
							var v []float64
							for _, r := range cs {
								v = append(v, interpolate(r.Stats.Mass, r.Stats.K, x))
							}
							m, lo, hi := spread(v)
							s.X, s.Y, s.Lo, s.Hi = append(s.X, x), append(s.Y, m), append(s.Lo, lo), append(s.Hi, hi)
						}
					}
					for _, r := range cs {
						cold = cold || r.Cold
					}
					pn.Series = append(pn.Series, s)
				}
				pn.Title = fmt.Sprintf("%s, step %d (epoch %d)", kind.Title(), step, epoch+1)
				if cold {
					pn.Title += ", cache cold"
				}
				if len(pn.Series) == 0 { // keep the grid: a panel that says so
					pn.Series = []plots.Series{{Label: "no record of this kind at this step", X: []float64{0}, Y: []float64{0}, Points: true}}
				}
				fig.Panels = append(fig.Panels, pn)
			}
		}
		figs = append(figs, NamedFigure{fig, fmt.Sprintf("curves_k%s_%s", ftoa(g.budget), g.source)})
	}
	return figs
}

// coldSteps returns the (seed, layer, step) whose gradient-norm cache was cold for some sample,
// from the cached records of all.
func coldSteps(all []Record) map[recordKey]bool {
	out := map[recordKey]bool{}
	for _, r := range all {
		if r.Cold {
			out[recordKey{layer: r.Layer.String(), seed: r.Seed, step: r.Step}] = true
		}
	}
	return out
}

// top10Figure draws Figure 12 for the records rs of one source (all: every record, for the cold
// steps): the top-10% mass does not depend on the budget, so the smallest budget's rows are used.
func top10Figure(rs, all []Record, src string) plots.Figure {
	budget := distinct(rs, func(r Record) float64 { return r.Budget })[0]
	cold := coldSteps(all)
	coldLabel := "hollow: trained with a cold cache at that step"
	if src == SourceCached {
		coldLabel = "hollow: cache cold for some samples (fill-in norms)"
	}
	fig := plots.Figure{Title: "Figure 12: probability mass of the top-10% column-row pairs against iteration, " + sourceTitle(src) +
		"\none line per block, " + describeSeeds(seedsIn(rs)) + "; hollow markers: steps with a cold gradient-norm cache", PanelHeight: 9.5}
	for _, kind := range kindsIn(rs) {
		pn := plots.Panel{Title: kind.Title(), XLabel: stepLabel, YLabel: top10Label, YMin: 0, YMax: 1, LegendBelow: true}
		xmin, xmax := math.Inf(1), math.Inf(-1)
		labelled := false
		for bi, b := range distinct(rs, func(r Record) int { return r.Layer.Block }) {
			id := model.LayerID{Block: b, Kind: kind}
			ys := map[float64][]float64{}
			coldAt := map[float64]bool{}
			for _, r := range rs {
				if r.Layer == id && r.Budget == budget {
					x := float64(r.Step)
					ys[x] = append(ys[x], r.Stats.Top10Mass)
					coldAt[x] = coldAt[x] || cold[recordKey{layer: id.String(), seed: r.Seed, step: r.Step}]
				}
			}
			if len(ys) == 0 {
				continue
			}
			xs := sortedFloatKeys(ys)
			s := seriesOver(xs, ys)
			s.Label, s.Color = fmt.Sprintf("block %d", b), bi
			pn.Series = append(pn.Series, s)
			xmin, xmax = min(xmin, xs[0]), max(xmax, xs[len(xs)-1])
			mark := plots.Series{Color: bi, Points: true, Hollow: true}
			for i, x := range s.X {
				if coldAt[x] {
					mark.X, mark.Y = append(mark.X, x), append(mark.Y, s.Y[i])
				}
			}
			if len(mark.X) > 0 {
				if !labelled {
					mark.Label, labelled = coldLabel, true
				}
				pn.Series = append(pn.Series, mark)
			}
		}
		pn.Series = append(pn.Series, plots.Series{Label: "uniform p (0.1)", X: []float64{xmin, xmax}, Y: []float64{0.1, 0.1}, Dashed: true, Color: 6})
		fig.Panels = append(fig.Panels, pn)
	}
	return fig
}

func sortedFloatKeys[V any](m map[float64]V) []float64 {
	out := make([]float64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ratioFigure draws the variance ratios of one source against the step, per budget.
func ratioFigure(rs []Record, src string) plots.Figure {
	fig := plots.Figure{Title: "Var[WTA-CRS]/Var[CRS] against iteration, " + sourceTitle(src) + "\nexact closed form from H and dZ " +
		"(line; band: min to max over blocks and seeds), orthogonal approximation from the norms (points), Theorem 2's bound (dashed);\n" +
		"means over blocks and seeds; ratio ≤ bound holds by construction",
		PanelWidth: 10, PanelHeight: 9.5}
	budgets := distinct(rs, func(r Record) float64 { return r.Budget })
	for _, kind := range kindsIn(rs) {
		pn := plots.Panel{Title: kind.Title(), XLabel: stepLabel, YLabel: "Var[WTA-CRS] / Var[CRS]", YMin: 0, YMax: 1.05, LegendBelow: true}
		for bi, b := range budgets {
			exact, ortho, bound := map[float64][]float64{}, map[float64][]float64{}, map[float64][]float64{}
			for _, r := range rs {
				if r.Layer.Kind != kind || r.Budget != b {
					continue
				}
				x := float64(r.Step)
				ortho[x] = append(ortho[x], r.Stats.VarianceRatio)
				bound[x] = append(bound[x], r.Stats.BoundFactor)
				if !math.IsNaN(r.ExactRatio) {
					exact[x] = append(exact[x], r.ExactRatio)
				}
			}
			if len(exact) > 0 {
				s := seriesOver(sortedFloatKeys(exact), exact)
				s.Label, s.Color, s.Width = fmt.Sprintf("k = %s|D|: exact", ftoa(b)), bi, 2
				pn.Series = append(pn.Series, s)
			}
			so := meanSeries(ortho)
			so.Label, so.Color, so.Points = fmt.Sprintf("k = %s|D|: orthogonal approximation", ftoa(b)), bi, true
			sb := meanSeries(bound)
			sb.Label, sb.Color, sb.Dashed = fmt.Sprintf("k = %s|D|: bound k(1−P_C)/(k−|C|)", ftoa(b)), bi, true
			pn.Series = append(pn.Series, so, sb)
		}
		fig.Panels = append(fig.Panels, pn)
	}
	return fig
}

// meanSeries returns the series of the means of ys at its sorted x, without a band.
func meanSeries(ys map[float64][]float64) plots.Series {
	var s plots.Series
	for _, x := range sortedFloatKeys(ys) {
		m, _, _ := spread(ys[x])
		s.X, s.Y = append(s.X, x), append(s.Y, m)
	}
	return s
}
