package experiments

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"

	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/plots"
)

// curveKey identifies one curve of curves.csv.
type curveKey struct {
	kind, source string
	budget       float64
	step, block  int
}

type curve struct {
	epoch, k int
	mass     []float64 // indexed by c
}

// Replot redraws every figure of a results directory from its CSV files (curves.csv,
// layers.csv, training.csv; each optional) and returns the figure files written, sorted. The
// figures are:
//
//   - curves_k<budget>_<source>.{png,svg}: P_C against |C|/k per kind (Figures 10 and 11) at
//     the first, middle and last recorded steps, mean over blocks with a min–max band, beside
//     the diagonal;
//   - top10_<source>: the mass of the top 10% of pairs against the step, one line per block
//     (Figure 12);
//   - ratio_<source>: the variance ratio WTA-CRS/CRS from the norms-only closed forms and
//     Theorem 2's bound factor against the step, mean over blocks, per budget;
//   - loss: the training loss of every run against the step.
//
// It returns an error wrapping ErrResults for unreadable or malformed CSV files.
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
	for _, fig := range Figures(recs) {
		if err := save(fig.Figure, fig.Name); err != nil {
			return nil, err
		}
	}
	loss, err := lossFigure(dir)
	if err != nil {
		return nil, err
	}
	if loss != nil {
		if err := save(*loss, "loss"); err != nil {
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

// Figures returns the analysis figures of [Replot] for the records, in a fixed order.
func Figures(recs []Record) []NamedFigure {
	curves := map[curveKey]*curve{}
	for _, r := range recs {
		if len(r.Stats.Mass) > 0 {
			curves[curveKey{string(r.Layer.Kind), r.Source, r.Budget, r.Step, r.Layer.Block}] = &curve{epoch: r.Epoch, k: r.Stats.K, mass: r.Stats.Mass}
		}
	}
	return append(curveFigures(curves), layerFigures(layerRowsOf(recs))...)
}

func layerRowsOf(recs []Record) []layerRow {
	rows := make([]layerRow, len(recs))
	for i, r := range recs {
		frac := 0.0
		if r.Stats.K > 0 {
			frac = float64(r.Stats.ChosenC) / float64(r.Stats.K)
		}
		rows[i] = layerRow{kind: string(r.Layer.Kind), source: r.Source, block: r.Layer.Block, step: r.Step, epoch: r.Epoch,
			k: r.Stats.K, budget: r.Budget, top10: r.Stats.Top10Mass, ratio: r.Stats.VarianceRatio, bound: r.Stats.BoundFactor,
			massAtC: r.Stats.MassAtC, fractionAtC: frac, theorem2: r.Stats.Theorem2}
	}
	return rows
}

// kindsOf returns the kinds present, in block order (model.Kinds).
func kindsOf(present map[string]bool) []string {
	var out []string
	for _, k := range model.Kinds() {
		if present[string(k)] {
			out = append(out, string(k))
		}
	}
	return out
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

func curveFigures(curves map[curveKey]*curve) []NamedFigure {
	type group struct {
		source string
		budget float64
	}
	groups := map[group]map[string]bool{}
	for key := range curves {
		g := group{key.source, key.budget}
		if groups[g] == nil {
			groups[g] = map[string]bool{}
		}
		groups[g][key.kind] = true
	}
	keys := make([]group, 0, len(groups))
	for g := range groups {
		keys = append(keys, g)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].budget != keys[j].budget {
			return keys[i].budget < keys[j].budget
		}
		return sourceOrder(keys[i].source) < sourceOrder(keys[j].source)
	})
	var figs []NamedFigure
	for _, g := range keys {
		fig := plots.Figure{Title: fmt.Sprintf("%sP_C against |C|/k at k = %s|D|, %s; line: mean over blocks, band: min to max", figureNumber(g.budget), ftoa(g.budget), sourceTitle(g.source))}
		for _, kind := range kindsOf(groups[g]) {
			stepSet, blockSet := map[int]bool{}, map[int]bool{}
			for key := range curves {
				if key.kind == kind && key.source == g.source && key.budget == g.budget {
					stepSet[key.step], blockSet[key.block] = true, true
				}
			}
			steps, blocks := sortedKeys(stepSet), sortedKeys(blockSet)
			pn := plots.Panel{Title: model.Kind(kind).Title(), XLabel: "|C| / k", YLabel: "P_C (probability mass of C)",
				Diagonal: true, DiagonalLabel: "P_C = |C|/k", LegendLeft: true, YMin: 0, YMax: 1.3}
			for si, step := range pickSteps(steps) {
				var cs []*curve
				for _, b := range blocks {
					if cv := curves[curveKey{kind, g.source, g.budget, step, b}]; cv != nil && len(cv.mass) > 0 {
						if len(cs) == 0 || (cv.k == cs[0].k && len(cv.mass) == len(cs[0].mass)) {
							cs = append(cs, cv)
						}
					}
				}
				if len(cs) == 0 {
					continue
				}
				n, k := len(cs[0].mass), cs[0].k
				s := plots.Series{Label: fmt.Sprintf("step %d (epoch %d)", step, cs[0].epoch+1), Color: si, Width: 2,
					X: make([]float64, n), Y: make([]float64, n)}
				if len(cs) > 1 {
					s.Lo, s.Hi = make([]float64, n), make([]float64, n)
				}
				for c := range n {
					s.X[c] = float64(c) / float64(k)
					lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
					for _, cv := range cs {
						lo, hi, sum = min(lo, cv.mass[c]), max(hi, cv.mass[c]), sum+cv.mass[c]
					}
					s.Y[c] = sum / float64(len(cs))
					if s.Lo != nil {
						s.Lo[c], s.Hi[c] = lo, hi
					}
				}
				pn.Series = append(pn.Series, s)
			}
			if len(pn.Series) > 0 {
				fig.Panels = append(fig.Panels, pn)
			}
		}
		if len(fig.Panels) > 0 {
			figs = append(figs, NamedFigure{fig, fmt.Sprintf("curves_k%s_%s", ftoa(g.budget), g.source)})
		}
	}
	return figs
}

func sortedKeys(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// layerRow is the part of a layers.csv row the figures use.
type layerRow struct {
	kind, source          string
	block, step, epoch, k int
	budget                float64
	top10, ratio, bound   float64
	massAtC, fractionAtC  float64
	theorem2              bool
}

func layerFigures(rows []layerRow) []NamedFigure {
	if len(rows) == 0 {
		return nil
	}
	var figs []NamedFigure
	budgets := map[float64]bool{}
	sources := map[string]bool{}
	for _, r := range rows {
		budgets[r.budget], sources[r.source] = true, true
	}
	bl := make([]float64, 0, len(budgets))
	for b := range budgets {
		bl = append(bl, b)
	}
	slices.Sort(bl)
	for _, src := range []string{SourceExact, SourceCached} {
		if !sources[src] {
			continue
		}
		kinds := map[string]bool{}
		for _, r := range rows {
			if r.source == src {
				kinds[r.kind] = true
			}
		}
		// Figure 12: top-10% mass (independent of the budget: take the smallest budget's rows).
		top := plots.Figure{Title: "Figure 12: probability mass of the top-10% column-row pairs against iteration, " + sourceTitle(src)}
		ratio := plots.Figure{Title: "Variance of WTA-CRS relative to CRS (norms-only closed forms) and Theorem 2's bound, " + sourceTitle(src)}
		for _, kind := range kindsOf(kinds) {
			byBlock := map[int][][2]float64{}
			for _, r := range rows {
				if r.source == src && r.kind == kind && r.budget == bl[0] {
					byBlock[r.block] = append(byBlock[r.block], [2]float64{float64(r.step), r.top10})
				}
			}
			pn := plots.Panel{Title: model.Kind(kind).Title(), XLabel: "iteration (optimiser step)", YLabel: "mass of the top 10% of pairs",
				YMin: 0, YMax: 1.2, LegendLeft: true}
			var xmin, xmax = math.Inf(1), math.Inf(-1)
			for bi, b := range sortedKeys(keysOf(byBlock)) {
				pts := byBlock[b]
				s := plots.Series{Label: fmt.Sprintf("block %d", b), Color: bi}
				for _, p := range pts {
					s.X, s.Y = append(s.X, p[0]), append(s.Y, p[1])
					xmin, xmax = min(xmin, p[0]), max(xmax, p[0])
				}
				pn.Series = append(pn.Series, s)
			}
			pn.Series = append(pn.Series, plots.Series{Label: "uniform p (0.1)", X: []float64{xmin, xmax}, Y: []float64{0.1, 0.1}, Dashed: true, Color: 6})
			top.Panels = append(top.Panels, pn)

			rp := plots.Panel{Title: model.Kind(kind).Title(), XLabel: "iteration (optimiser step)", YLabel: "Var[WTA-CRS] / Var[CRS]",
				LegendBottom: true, YMin: 0, YMax: 1.05}
			for bi, b := range bl {
				steps := map[int][]layerRow{}
				for _, r := range rows {
					if r.source == src && r.kind == kind && r.budget == b {
						steps[r.step] = append(steps[r.step], r)
					}
				}
				sr := plots.Series{Label: fmt.Sprintf("k = %s|D|: ratio", ftoa(b)), Color: bi}
				sb := plots.Series{Label: fmt.Sprintf("k = %s|D|: bound k(1−P_C)/(k−|C|)", ftoa(b)), Color: bi, Dashed: true}
				for _, st := range sortedKeys(keysOf(steps)) {
					var r, f float64
					for _, row := range steps[st] {
						r += row.ratio
						f += row.bound
					}
					n := float64(len(steps[st]))
					sr.X, sr.Y = append(sr.X, float64(st)), append(sr.Y, r/n)
					sb.X, sb.Y = append(sb.X, float64(st)), append(sb.Y, f/n)
				}
				rp.Series = append(rp.Series, sr, sb)
			}
			ratio.Panels = append(ratio.Panels, rp)
		}
		figs = append(figs, NamedFigure{top, "top10_" + src}, NamedFigure{ratio, "ratio_" + src})
	}
	return figs
}

func keysOf[V any](m map[int]V) map[int]bool {
	out := make(map[int]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func lossFigure(dir string) (*plots.Figure, error) {
	t, err := readTable(dir, TrainingFile, trainingHeader, true)
	if err != nil || t == nil || len(t.rows) == 0 {
		return nil, err
	}
	var order []string
	series := map[string]*plots.Series{}
	for i := range t.rows {
		run := t.str(i, "variant")
		step, err := t.int(i, "step")
		if err != nil {
			return nil, err
		}
		loss, err := t.float(i, "loss")
		if err != nil {
			return nil, err
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return nil, fmt.Errorf("%w: %s line %d: loss %v", ErrResults, t.name, i+2, loss)
		}
		s := series[run]
		if s == nil {
			s = &plots.Series{Label: run, Color: len(order)}
			series[run] = s
			order = append(order, run)
		}
		s.X, s.Y = append(s.X, float64(step)), append(s.Y, loss)
	}
	pn := plots.Panel{Title: "training loss (cross-entropy of each batch)", XLabel: "iteration (optimiser step)", YLabel: "loss"}
	for _, run := range order {
		s := series[run]
		s.Y = smooth(s.Y, max(1, len(s.Y)/40))
		s.Label += " (moving mean)"
		pn.Series = append(pn.Series, *s)
	}
	return &plots.Figure{Panels: []plots.Panel{pn}, PanelWidth: 14, PanelHeight: 9}, nil
}

// smooth returns the trailing moving mean of y over w points.
func smooth(y []float64, w int) []float64 {
	out := make([]float64, len(y))
	var sum float64
	for i, v := range y {
		sum += v
		if i >= w {
			sum -= y[i-w]
		}
		out[i] = sum / float64(min(i+1, w))
	}
	return out
}
