package experiments

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/train"
)

// Summarize renders summary.md for the results in dir (its layers.csv and compare.csv, and the
// figures present), for the experiment cfg whose observed run gave mains, one result per seed of
// [Config.RunSeeds] (none for trace input). It reads the directory ([gatherSummary]), then writes
// Markdown ([summary.markdown]).
func Summarize(dir string, cfg Config, mains []*train.Result, timings []Timing) ([]byte, error) {
	s, err := gatherSummary(dir, cfg, mains, timings)
	if err != nil {
		return nil, err
	}
	return s.markdown(), nil
}

// summary is what summary.md reports.
type summary struct {
	name, description string
	run               *runFacts // the observed training run; nil for trace input
	analyses          []analysisGroup
	findings          []Finding
	compare           [][]string // formatted cells of compare.csv's rows
	figures           []string   // PNG files present
	timings           []Timing
}

// runFacts describes the observed training run.
type runFacts struct {
	cfg    train.Config
	seeds  []uint64
	res    []*train.Result // per seed
	wtacrs []string        // "q (k/n = 0.3)" for each WTA-CRS kind
}

// analysisGroup aggregates the records of one norm source, budget and layer kind.
type analysisGroup struct {
	source, kind          string
	budget                float64
	records, kept         int     // kept: records whose rule keeps |C| > 0
	fraction, mass, ratio float64 // means over the records; ratio: the orthogonal approximation
	exact                 float64 // mean exact ratio over the records that have one (NaN: none)
	exactRecords          int
	top10First, top10Last float64 // mean top-10% mass at the first and last recorded step
}

// gatherSummary reads what the summary reports from dir and the run's results.
func gatherSummary(dir string, cfg Config, mains []*train.Result, timings []Timing) (summary, error) {
	s := summary{name: cfg.Experiment.Name, description: strings.TrimSpace(cfg.Experiment.Description), timings: timings}
	if len(mains) > 0 {
		f := &runFacts{cfg: cfg.Train, seeds: cfg.RunSeeds(), res: mains}
		for _, k := range model.Kinds() {
			if kc := cfg.Train.Kind(k); kc.Method == train.MethodWTACRS {
				f.wtacrs = append(f.wtacrs, fmt.Sprintf("%s (k/n = %s)", k, ftoa(kc.Ratio)))
			}
		}
		s.run = f
	}
	recs, err := LoadRecords(dir)
	if err != nil {
		return s, err
	}
	s.analyses = groupAnalyses(recs)
	s.findings = Findings(recs)
	t, err := readTable(dir, CompareFile, compareRequired, true)
	if err != nil {
		return s, err
	}
	if t != nil {
		for i := range t.rows {
			f := func(col string) string {
				v, err := t.float(i, col)
				if err != nil {
					return t.str(i, col)
				}
				return fmt.Sprintf("%.3f", v)
			}
			ratio := t.str(i, "ratio")
			if t.str(i, "method") != train.MethodWTACRS {
				ratio = "–"
			}
			seed := "–"
			if t.has("seed") {
				seed = t.str(i, "seed")
			}
			s.compare = append(s.compare, []string{t.str(i, "variant"), t.str(i, "method"), ratio, t.str(i, "kinds"),
				t.str(i, "epochs"), f("dev_accuracy"), f("final_loss"), f("saved_mib"), f("exact_mib"), f("memory_ratio"), seed})
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return s, fmt.Errorf("experiments: %w", err)
	}
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".png" {
			s.figures = append(s.figures, e.Name())
		}
	}
	return s, nil
}

// groupAnalyses aggregates records per norm source, budget and kind, in that order, over every
// block, step and seed.
func groupAnalyses(recs []Record) []analysisGroup {
	type key struct {
		src    string
		budget float64
		kind   string
	}
	var keys []key
	groups := map[key][]Record{}
	for _, r := range recs {
		k := key{r.Source, r.Budget, string(r.Layer.Kind)}
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	slices.SortStableFunc(keys, func(a, c key) int {
		return cmp.Or(sourceOrder(a.src)-sourceOrder(c.src), cmp.Compare(a.budget, c.budget),
			model.Kind(a.kind).Position()-model.Kind(c.kind).Position())
	})
	var out []analysisGroup
	for _, k := range keys {
		g := groups[k]
		a := analysisGroup{source: k.src, budget: k.budget, kind: k.kind, records: len(g)}
		first, last := g[0].Step, g[0].Step
		for _, r := range g {
			if r.Stats.K > 0 {
				a.fraction += float64(r.Stats.ChosenC) / float64(r.Stats.K)
			}
			a.mass += r.Stats.MassAtC
			a.ratio += r.Stats.VarianceRatio
			if !math.IsNaN(r.ExactRatio) {
				a.exact += r.ExactRatio
				a.exactRecords++
			}
			if r.Stats.ChosenC > 0 {
				a.kept++
			}
			first, last = min(first, r.Step), max(last, r.Step)
		}
		var n0, n1 int
		for _, r := range g {
			if r.Step == first {
				a.top10First += r.Stats.Top10Mass
				n0++
			}
			if r.Step == last {
				a.top10Last += r.Stats.Top10Mass
				n1++
			}
		}
		n := float64(len(g))
		a.fraction, a.mass, a.ratio = a.fraction/n, a.mass/n, a.ratio/n
		a.exact = a.exact / float64(a.exactRecords) // NaN without exact ratios
		a.top10First, a.top10Last = a.top10First/float64(n0), a.top10Last/float64(n1)
		out = append(out, a)
	}
	return out
}

// ByConstruction states what holds by construction, so that no table reports it as a finding.
const ByConstruction = "Two statements hold by construction and are not findings: a |C| > 0 chosen by the rule " +
	"always has P_C > |C|/k (the rule keeps |C| = 0 unless a larger |C| brings the bound k(1 − P_C)/(k − |C|) below 1, " +
	"which is that inequality), and every variance ratio, exact or orthogonal approximation, is at most Theorem 2's " +
	"bound (the theorem's proof, the law of total variance, holds for any sampling weights and matrices)."

// markdown renders the summary.
func (s summary) markdown() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Experiment %s\n\n", s.name)
	if s.description != "" {
		fmt.Fprintf(&b, "%s\n\n", s.description)
	}
	if r := s.run; r != nil {
		t, res := r.cfg, r.res[0]
		seeds := make([]string, len(r.seeds))
		acc := make([]string, len(r.seeds))
		for i, seed := range r.seeds {
			seeds[i] = utoa(seed)
			acc[i] = fmtList(r.res[i].EpochDevAccuracy)
			if len(r.seeds) > 1 {
				acc[i] = fmt.Sprintf("seed %d: %s", seed, acc[i])
			}
		}
		word := "seed"
		if len(seeds) > 1 {
			word = "seeds"
		}
		fmt.Fprintf(&b, "Observed run: %d blocks, d = %d, %d heads, batch %d, %d epochs (%d steps), %s %s, %s; "+
			"%d training and %d dev examples. Dev accuracy after each epoch: %s (majority class: %.3f).\n\n",
			t.Blocks, t.Dim, t.Heads, t.BatchSize, t.Epochs, res.Steps, word, strings.Join(seeds, ", "), t.Precision,
			res.TrainExamples, res.DevExamples, strings.Join(acc, "; "), res.MajorityAccuracy)
		if len(r.wtacrs) > 0 {
			fmt.Fprintf(&b, "Layers trained with WTA-CRS (Algorithm 1): %s; the others exact.\n\n", strings.Join(r.wtacrs, ", "))
		} else {
			b.WriteString("Every layer of the observed run trained exactly (no cached norms to analyse).\n\n")
		}
	}
	if len(s.analyses) > 0 {
		b.WriteString("## Analyses\n\n")
		b.WriteString("Per layer kind, over every recorded step, block and seed. D is the set of valid tokens of the batch, " +
			"p_t ∝ ‖H_t‖·‖∇Z_t‖, |C| is chosen by the rule of Eq. 5–7. The exact variance ratio is the closed form from " +
			"the recorded H and ∇Z (where recorded, see analysis.exact_every); the orthogonal approximation uses the norms " +
			"alone, taking the pairs' outer products as orthogonal.\n\n")
		b.WriteString("| source | k/\\|D\\| | kind | records | mean \\|C\\|/k | mean P_C at \\|C\\| | rule keeps \\|C\\| > 0 | " +
			"top-10% mass (first → last step) | mean Var ratio WTA-CRS/CRS, exact | mean Var ratio, orthogonal approximation |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
		for _, a := range s.analyses {
			exact := "–"
			if a.exactRecords > 0 {
				exact = fmt.Sprintf("%.3f (%d records)", a.exact, a.exactRecords)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %.3f | %.3f | %d/%d | %.3f → %.3f | %s | %.3f |\n", a.source, ftoa(a.budget), a.kind,
				a.records, a.fraction, a.mass, a.kept, a.records, a.top10First, a.top10Last, exact, a.ratio)
		}
		b.WriteString("\n" + ByConstruction + "\n\n")
	}
	if len(s.findings) > 0 {
		s.findingsTable(&b)
	}
	if s.compare != nil {
		b.WriteString("## Accuracy and memory\n\n")
		b.WriteString("| variant | method | k/n | kinds | epochs | dev accuracy | final epoch loss | activation MiB saved for backward | exact MiB | ratio | seed |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, row := range s.compare {
			fmt.Fprintf(&b, "| %s |\n", strings.Join(row, " | "))
		}
		b.WriteString("\n")
	}
	if len(s.figures) > 0 {
		b.WriteString("## Figures\n\n")
		for _, f := range s.figures {
			fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(f, ".png"), f)
		}
	}
	if len(s.timings) > 0 {
		b.WriteString("## Timing (varies from run to run; not in the CSV files)\n\n| run | seed | training seconds | tokens/s |\n|---|---|---|---|\n")
		for _, t := range s.timings {
			fmt.Fprintf(&b, "| %s | %d | %.1f | %.0f |\n", t.Run, t.Seed, t.TrainSeconds, t.TokensPerSecond)
		}
		b.WriteString("\n")
	}
	b.WriteString("Files: config.toml (the configuration as run), manifest.json (hash, seeds, commit, timings), " +
		"layers.csv (one row per seed, layer, step, source and budget), curves.csv (P_C for |C| = 0..k), " +
		"findings.csv (the findings table), training.csv (loss per step)" +
		", compare.csv (accuracy and memory per variant, when configured). Re-plot with `wtacrs plot " + "<this directory>`.\n")
	return b.Bytes()
}

// findingsTable writes the findings per source, budget and layer, one column per quantity.
func (s summary) findingsTable(b *bytes.Buffer) {
	type key struct {
		source string
		budget float64
		layer  model.LayerID
	}
	var keys []key
	cells := map[key]map[string]Finding{}
	for _, f := range s.findings {
		k := key{f.Source, f.Budget, f.Layer}
		if cells[k] == nil {
			keys = append(keys, k)
			cells[k] = map[string]Finding{}
		}
		cells[k][f.Quantity] = f
	}
	b.WriteString("## Findings per block\n\n")
	fmt.Fprintf(b, "Per norm source, budget and layer, each quantity is reduced per seed, then summarised over the seeds: "+
		"the mean with its %.0f%% t interval [low, high] (Student t with n − 1 degrees of freedom, n the number of seeds, "+
		"clipped to [0, 1]); "+
		"with one seed the value alone (n = 1, no CI). Share above the diagonal: the share of |C| in 1..k−1 whose P_C "+
		"exceeds |C|/k, from the whole curve (not the rule's choice), mean over the recorded steps; P_C at |C| = ⌈0.1k⌉ "+
		"and ⌈0.5k⌉: mean over the recorded steps; top-10%% mass at the first and the last recorded step; exact Var ratio: "+
		"mean over the steps with one. Cached norms: steps with a warm cache only. The same numbers are in findings.csv.\n\n",
		100*FindingsLevel)
	b.WriteString("| source | k/\\|D\\| | layer | seeds | share of \\|C\\| above the diagonal | P_C at ⌈0.1k⌉ | P_C at ⌈0.5k⌉ | " +
		"top-10% mass, first step | top-10% mass, last step | exact Var ratio WTA-CRS/CRS |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, k := range keys {
		c := cells[k]
		n := 0
		for _, f := range c {
			n = max(n, f.N)
		}
		seeds := fmt.Sprintf("n = %d", n)
		if n == 1 {
			seeds = "n = 1, no CI"
		}
		row := []string{k.source, ftoa(k.budget), k.layer.String(), seeds}
		for _, q := range quantities {
			row = append(row, fmtFinding(c[q]))
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(row, " | "))
	}
	b.WriteString("\n")
}

// fmtFinding renders a finding's mean and interval ("–" for none).
func fmtFinding(f Finding) string {
	switch {
	case f.N == 0:
		return "–"
	case f.N == 1:
		return fmt.Sprintf("%.3f", f.Mean)
	}
	return fmt.Sprintf("%.3f [%.3f, %.3f]", f.Mean, f.Lo, f.Hi)
}

func fmtList(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.3f", x)
	}
	return strings.Join(s, ", ")
}
