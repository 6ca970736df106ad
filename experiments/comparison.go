package experiments

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/plots"
)

// The files of a comparison directory ([WriteComparison]) besides its figures and manifest.json.
const (
	// ComparisonConfigFile lists the results directories compared and their labels, in TOML;
	// the manifest's config_sha256 is its hash.
	ComparisonConfigFile = "comparison.toml"
	// ComparisonFile holds every plotted number of the comparison figures.
	ComparisonFile = "comparison.csv"
)

var comparisonHeader = []string{"label", "seed", "kind", "source", "budget", "step", "loss", "blocks", "top10_mass", "above_diagonal"}

// ComparisonRun is one results directory of a comparison.
type ComparisonRun struct {
	// Label names the run in the figures ("from scratch", "pretrained"): not empty, unique.
	Label string `toml:"label"`
	// Dir is the results directory, written by [Run] (training.csv supplies the losses).
	Dir string `toml:"dir"`
}

// comparisonRun is a run read back.
type comparisonRun struct {
	ComparisonRun
	recs []Record
	loss SmoothedLoss
}

// loadComparison reads the records and losses of every run; errors wrap ErrResults.
func loadComparison(runs []ComparisonRun) ([]comparisonRun, error) {
	if len(runs) < 2 {
		return nil, fmt.Errorf("%w: a comparison needs two or more results directories, got %d", ErrResults, len(runs))
	}
	out := make([]comparisonRun, len(runs))
	for i, r := range runs {
		if r.Label == "" || slices.ContainsFunc(runs[:i], func(o ComparisonRun) bool { return o.Label == r.Label }) {
			return nil, fmt.Errorf("%w: run %d (%s): labels must be unique and not empty, got %q", ErrResults, i+1, r.Dir, r.Label)
		}
		recs, err := LoadRecords(r.Dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Dir, err)
		}
		if len(recs) == 0 {
			return nil, fmt.Errorf("%w: %s holds no analyses (no %s)", ErrResults, r.Dir, LayersFile)
		}
		loss, err := LoadSmoothedLoss(r.Dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Dir, err)
		}
		out[i] = comparisonRun{r, recs, loss}
	}
	return out, nil
}

// comparisonPoints returns, per (source, budget) and kind, each run's points: per seed and step,
// the top-10% mass and the share of |C| above the diagonal averaged over the run's blocks, with
// the smoothed loss and the number of blocks averaged.
func comparisonPoints(runs []comparisonRun) (keys []recordKey, groups map[recordKey]map[model.Kind][]matchedGroup, blocks map[recordKey]map[model.Kind][][]int) {
	var all []Record
	for _, r := range runs {
		all = append(all, r.recs...)
	}
	keys = sourceBudgets(all)
	groups = map[recordKey]map[model.Kind][]matchedGroup{}
	blocks = map[recordKey]map[model.Kind][][]int{}
	for _, sb := range keys {
		groups[sb], blocks[sb] = map[model.Kind][]matchedGroup{}, map[model.Kind][][]int{}
		for _, kind := range model.Kinds() {
			for _, run := range runs {
				type at struct {
					seed uint64
					step int
				}
				sums := map[at]*matchedPoint{}
				count := map[at]int{}
				var order []at
				for _, r := range run.recs {
					if r.Source != sb.source || r.Budget != sb.budget || r.Layer.Kind != kind {
						continue
					}
					a := at{r.Seed, r.Step}
					p := sums[a]
					if p == nil {
						p = &matchedPoint{seed: r.Seed, step: r.Step, loss: run.loss.lossAt(r.Seed, r.Step)}
						sums[a] = p
						order = append(order, a)
					}
					p.top10 += r.Stats.Top10Mass
					p.above += r.Stats.AboveDiagonal
					count[a]++
				}
				if len(order) == 0 {
					continue
				}
				slices.SortFunc(order, func(x, y at) int { return cmp.Or(cmp.Compare(x.seed, y.seed), cmp.Compare(x.step, y.step)) })
				g := matchedGroup{label: run.Label}
				var n []int
				for _, a := range order {
					p := *sums[a]
					p.top10 /= float64(count[a])
					p.above /= float64(count[a])
					g.points = append(g.points, p)
					n = append(n, count[a])
				}
				groups[sb][kind] = append(groups[sb][kind], g)
				blocks[sb][kind] = append(blocks[sb][kind], n)
			}
		}
	}
	return keys, groups, blocks
}

// ComparisonFigures returns the figures that compare two or more results directories:
// compare_k<budget>_<source> for each budget and norm source present in any of them, a row per
// layer kind, with the top-10% mass and the share of |C| in 1..k−1 above the diagonal against
// the step (one line per run: the mean over its blocks, then over its seeds, band min to max
// over the seeds) and against the smoothed training loss ([SmoothedLoss]: a point per run, seed
// and step, averaged over blocks), so that runs of different models (trained from scratch,
// pretrained) can be compared at matched loss. Errors wrap ErrResults.
func ComparisonFigures(runs []ComparisonRun) ([]NamedFigure, error) {
	loaded, err := loadComparison(runs)
	if err != nil {
		return nil, err
	}
	return comparisonFigures(loaded), nil
}

func comparisonFigures(runs []comparisonRun) []NamedFigure {
	keys, groups, _ := comparisonPoints(runs)
	var figs []NamedFigure
	for _, sb := range keys {
		var kinds []model.Kind
		for _, k := range model.Kinds() {
			if len(groups[sb][k]) > 0 {
				kinds = append(kinds, k)
			}
		}
		labels := ""
		for i, r := range runs {
			if i > 0 {
				labels += " vs "
			}
			labels += r.Label
		}
		title := fmt.Sprintf("%s: top-10%% mass and share of |C| in 1..k−1 above the diagonal at k = %s|D|, %s\n"+
			"against iteration (one line per run: mean over blocks, then over seeds, band: min to max over seeds) and at matched training loss "+
			"(a point per run, seed and step, mean over blocks)", labels, ftoa(sb.budget), sourceTitle(sb.source))
		figs = append(figs, NamedFigure{matchedFigure(title, kinds, groups[sb]), fmt.Sprintf("compare_k%s_%s", ftoa(sb.budget), sb.source)})
	}
	return figs
}

// comparisonRows returns the rows of comparison.csv: every point of the figures.
func comparisonRows(runs []comparisonRun) [][]string {
	keys, groups, blocks := comparisonPoints(runs)
	var rows [][]string
	for _, sb := range keys {
		for _, kind := range model.Kinds() {
			for gi, g := range groups[sb][kind] {
				for pi, p := range g.points {
					rows = append(rows, []string{g.label, utoa(p.seed), string(kind), sb.source, ftoa(sb.budget), itoa(p.step), ftoa(p.loss),
						itoa(blocks[sb][kind][gi][pi]), ftoa(p.top10), ftoa(p.above)})
				}
			}
		}
	}
	return rows
}

// WriteComparison draws [ComparisonFigures] of runs into the directory out, with
// comparison.toml (the runs), comparison.csv (every plotted number) and manifest.json, and
// returns the files written, sorted. Like [Run] it writes a staging directory and swaps it into
// place atomically; out must be absent or a comparison directory written earlier under the same
// name, and may not hold any of the runs' directories. Errors wrap ErrResults (unreadable runs),
// ErrNotResults or the output directory's errors.
func WriteComparison(out string, runs []ComparisonRun) ([]string, error) {
	loaded, err := loadComparison(runs)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	name := filepath.Base(abs)
	var inputs []string
	for _, r := range runs {
		inputs = append(inputs, r.Dir)
	}
	target, err := openTarget(filepath.Dir(abs), name, name, inputs)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	start := time.Now()
	tmp, err := target.Stage()
	if err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	var conf bytes.Buffer
	enc := toml.NewEncoder(&conf)
	enc.Indent = ""
	if err := enc.Encode(struct {
		Runs []ComparisonRun `toml:"run"`
	}{runs}); err != nil {
		return nil, fmt.Errorf("experiments: encoding %s: %w", ComparisonConfigFile, err)
	}
	files := map[string][]byte{
		ComparisonConfigFile: conf.Bytes(),
		ComparisonFile:       EncodeCSV(comparisonHeader, comparisonRows(loaded)),
	}
	written := []string{ComparisonConfigFile, ComparisonFile, ManifestFile}
	for n, data := range files {
		if err := os.WriteFile(filepath.Join(tmp, n), data, 0o644); err != nil {
			return nil, fmt.Errorf("experiments: %w", err)
		}
	}
	for _, f := range comparisonFigures(loaded) {
		if err := plots.Save(f.Figure, filepath.Join(tmp, f.Name)); err != nil {
			return nil, err
		}
		written = append(written, f.Name+".png", f.Name+".svg")
	}
	slices.Sort(written)
	m := newManifest(name, files[ComparisonConfigFile], start, time.Now())
	m.Files = written
	if _, err := commitResults(context.Background(), target, tmp, m); err != nil {
		return nil, err
	}
	return written, nil
}
