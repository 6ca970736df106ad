package experiments

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/plots"
)

// SmoothedLoss is the smoothed training loss of the observed run of a results directory: per seed
// and step, the trailing moving mean of the batch losses over max(1, ⌊steps/40⌋) steps (as drawn
// in loss.png). Quantities at a step are compared across runs at matched loss through it.
type SmoothedLoss map[uint64]map[int]float64

// LoadSmoothedLoss reads the observed run's losses from training.csv of dir (nil, nil without
// one). Without a seed column the rows have the seed of manifest.json. Errors wrap ErrResults and
// name the file and line.
func LoadSmoothedLoss(dir string) (SmoothedLoss, error) {
	t, err := readTable(dir, TrainingFile, trainingRequired, true)
	if err != nil || t == nil {
		return nil, err
	}
	type point struct {
		step int
		loss float64
	}
	fileSeed := manifestSeed(dir)
	runs := map[uint64][]point{}
	for i := range t.rows {
		if t.str(i, "variant") != RunVariantName {
			continue
		}
		seed, err := t.seed(i)
		if err != nil {
			return nil, err
		}
		if !t.has("seed") {
			seed = fileSeed
		}
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
		runs[seed] = append(runs[seed], point{step, loss})
	}
	out := SmoothedLoss{}
	for seed, pts := range runs {
		slices.SortStableFunc(pts, func(a, b point) int { return cmp.Compare(a.step, b.step) })
		y := make([]float64, len(pts))
		for i, p := range pts {
			y[i] = p.loss
		}
		sm := smooth(y, lossWindow(len(y)))
		out[seed] = map[int]float64{}
		for i, p := range pts {
			out[seed][p.step] = sm[i]
		}
	}
	return out, nil
}

// lossWindow is the moving-mean window of a run of n steps.
func lossWindow(n int) int { return max(1, n/40) }

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

// lossFigure draws the smoothed loss of every run (and seed) of training.csv against the step.
func lossFigure(dir string) (*plots.Figure, error) {
	t, err := readTable(dir, TrainingFile, trainingRequired, true)
	if err != nil || t == nil || len(t.rows) == 0 {
		return nil, err
	}
	type key struct {
		run  string
		seed uint64
	}
	var order []key
	series := map[key]*plots.Series{}
	seeds := map[string]map[uint64]bool{}
	for i := range t.rows {
		seed, err := t.seed(i)
		if err != nil {
			return nil, err
		}
		k := key{t.str(i, "variant"), seed}
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
		s := series[k]
		if s == nil {
			s = &plots.Series{Color: len(order)}
			series[k] = s
			order = append(order, k)
			if seeds[k.run] == nil {
				seeds[k.run] = map[uint64]bool{}
			}
			seeds[k.run][seed] = true
		}
		s.X, s.Y = append(s.X, float64(step)), append(s.Y, loss)
	}
	pn := plots.Panel{Title: "training loss (cross-entropy of each batch)", XLabel: stepLabel, YLabel: "loss", LegendBelow: true}
	for _, k := range order {
		s := series[k]
		s.Y = smooth(s.Y, lossWindow(len(s.Y)))
		s.Label = k.run + " (moving mean)"
		if len(seeds[k.run]) > 1 {
			s.Label = fmt.Sprintf("%s seed %d (moving mean)", k.run, k.seed)
		}
		pn.Series = append(pn.Series, *s)
	}
	return &plots.Figure{Panels: []plots.Panel{pn}, PanelWidth: 14, PanelHeight: 10}, nil
}

// matchedPoint is one seed and step of a group of a matched-loss figure.
type matchedPoint struct {
	seed         uint64
	step         int
	top10, above float64
	loss         float64 // NaN: unknown
}

// matchedGroup is one line of a matched-loss figure: a block of a run, or a run averaged over
// its blocks.
type matchedGroup struct {
	label  string
	points []matchedPoint
}

// matchedFigure lays out the matched-loss figure: a row per kind, with the top-10% mass and the
// share of |C| above the diagonal against the step (lines: the mean over seeds, band min to max)
// and against the smoothed training loss (a point per seed and step; columns left out when no
// point has a loss).
func matchedFigure(title string, kinds []model.Kind, groups map[model.Kind][]matchedGroup) plots.Figure {
	hasLoss := false
	for _, gs := range groups {
		for _, g := range gs {
			hasLoss = hasLoss || slices.ContainsFunc(g.points, func(p matchedPoint) bool { return !math.IsNaN(p.loss) })
		}
	}
	cols := 2
	if hasLoss {
		cols = 4
	}
	fig := plots.Figure{Title: title, Columns: cols, PanelHeight: 9.5}
	quantity := []struct {
		label string
		y     func(matchedPoint) float64
	}{{top10Label, func(p matchedPoint) float64 { return p.top10 }}, {aboveLabel, func(p matchedPoint) float64 { return p.above }}}
	for _, kind := range kinds {
		for _, q := range quantity {
			byStep := plots.Panel{Title: fmt.Sprintf("%s: %s", kind.Title(), q.label), XLabel: stepLabel, YLabel: q.label,
				YMin: 0, YMax: 1, LegendBelow: true}
			byLoss := plots.Panel{Title: fmt.Sprintf("%s: %s at matched loss", kind.Title(), q.label), XLabel: lossLabel, YLabel: q.label,
				YMin: 0, YMax: 1, LegendBelow: true}
			for gi, g := range groups[kind] {
				ys := map[float64][]float64{}
				pts := plots.Series{Label: g.label + " (a point per seed and step)", Color: gi, Points: true}
				for _, p := range g.points {
					ys[float64(p.step)] = append(ys[float64(p.step)], q.y(p))
					if !math.IsNaN(p.loss) {
						pts.X, pts.Y = append(pts.X, p.loss), append(pts.Y, q.y(p))
					}
				}
				s := seriesOver(sortedFloatKeys(ys), ys)
				s.Label, s.Color = g.label, gi
				byStep.Series = append(byStep.Series, s)
				if len(pts.X) > 0 {
					byLoss.Series = append(byLoss.Series, pts)
				}
			}
			fig.Panels = append(fig.Panels, byStep)
			if hasLoss {
				if len(byLoss.Series) == 0 {
					byLoss.Series = []plots.Series{{Label: "no training loss for these records", X: []float64{0}, Y: []float64{0}, Points: true}}
				}
				fig.Panels = append(fig.Panels, byLoss)
			}
		}
	}
	return fig
}

// sourceBudgets returns the distinct (source, budget) of recs, exact first, budgets ascending.
func sourceBudgets(recs []Record) []recordKey {
	var out []recordKey
	for _, r := range recs {
		k := recordKey{source: r.Source, budget: r.Budget}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b recordKey) int {
		return cmp.Or(sourceOrder(a.source)-sourceOrder(b.source), cmp.Compare(a.budget, b.budget))
	})
	return out
}

// lossAt returns the smoothed loss of seed at step, NaN when unknown.
func (l SmoothedLoss) lossAt(seed uint64, step int) float64 {
	if v, ok := l[seed][step]; ok {
		return v
	}
	return math.NaN()
}

// MatchedFigures returns the matched-loss figures of [Replot] for the records of one results
// directory and its smoothed loss (nil: the loss columns are left out): matched_k<budget>_<source>,
// one line (and set of points) per block.
func MatchedFigures(recs []Record, loss SmoothedLoss) []NamedFigure {
	var figs []NamedFigure
	for _, sb := range sourceBudgets(recs) {
		var rs []Record
		for _, r := range recs {
			if r.Source == sb.source && r.Budget == sb.budget {
				rs = append(rs, r)
			}
		}
		kinds := kindsIn(rs)
		groups := map[model.Kind][]matchedGroup{}
		for _, kind := range kinds {
			for _, b := range distinct(rs, func(r Record) int { return r.Layer.Block }) {
				g := matchedGroup{label: fmt.Sprintf("block %d", b)}
				for _, r := range rs {
					if r.Layer == (model.LayerID{Block: b, Kind: kind}) {
						g.points = append(g.points, matchedPoint{r.Seed, r.Step, r.Stats.Top10Mass, r.Stats.AboveDiagonal, loss.lossAt(r.Seed, r.Step)})
					}
				}
				if len(g.points) > 0 {
					groups[kind] = append(groups[kind], g)
				}
			}
		}
		title := fmt.Sprintf("Top-10%% mass and share of |C| in 1..k−1 above the diagonal at k = %s|D|, %s\n"+
			"against iteration (one line per block, %s) and at matched training loss (a point per seed and step)",
			ftoa(sb.budget), sourceTitle(sb.source), describeSeeds(seedsIn(rs)))
		figs = append(figs, NamedFigure{matchedFigure(title, kinds, groups), fmt.Sprintf("matched_k%s_%s", ftoa(sb.budget), sb.source)})
	}
	return figs
}
