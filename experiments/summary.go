package experiments

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/train"
)

func sortStrings(s []string) { slices.Sort(s) }

// Summarize renders summary.md for the results in dir (its layers.csv and compare.csv, and the
// figures present), for the experiment cfg whose observed run gave res (nil for trace input).
// It reads the directory ([gatherSummary]), then writes Markdown ([summary.markdown]).
func Summarize(dir string, cfg Config, res *train.Result, timings []Timing) ([]byte, error) {
	s, err := gatherSummary(dir, cfg, res, timings)
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
	compare           [][]string // formatted cells of compare.csv's rows
	figures           []string   // PNG files present
	timings           []Timing
}

// runFacts describes the observed training run.
type runFacts struct {
	cfg    train.Config
	res    *train.Result
	wtacrs []string // "q (k/n = 0.3)" for each WTA-CRS kind
}

// analysisGroup aggregates the records of one norm source, budget and layer kind.
type analysisGroup struct {
	source, kind          string
	budget                float64
	records, holds        int
	fraction, mass, ratio float64 // means over the records
	top10First, top10Last float64 // mean top-10% mass at the first and last recorded step
}

// gatherSummary reads what the summary reports from dir and the run's result.
func gatherSummary(dir string, cfg Config, res *train.Result, timings []Timing) (summary, error) {
	s := summary{name: cfg.Experiment.Name, description: strings.TrimSpace(cfg.Experiment.Description), timings: timings}
	if res != nil {
		f := &runFacts{cfg: cfg.Train, res: res}
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
	s.analyses = groupAnalyses(layerRowsOf(recs))
	t, err := readTable(dir, CompareFile, compareHeader, true)
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
			s.compare = append(s.compare, []string{t.str(i, "variant"), t.str(i, "method"), ratio, t.str(i, "kinds"),
				t.str(i, "epochs"), f("dev_accuracy"), f("final_loss"), f("saved_mib"), f("exact_mib"), f("memory_ratio")})
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

// groupAnalyses aggregates layer rows per norm source, budget and kind, in that order.
func groupAnalyses(rows []layerRow) []analysisGroup {
	type key struct {
		src    string
		budget float64
		kind   string
	}
	var keys []key
	groups := map[key][]layerRow{}
	for _, r := range rows {
		k := key{r.source, r.budget, r.kind}
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
		first, last := g[0].step, g[0].step
		for _, r := range g {
			a.fraction += r.fractionAtC
			a.mass += r.massAtC
			a.ratio += r.ratio
			if r.theorem2 {
				a.holds++
			}
			first, last = min(first, r.step), max(last, r.step)
		}
		var n0, n1 int
		for _, r := range g {
			if r.step == first {
				a.top10First += r.top10
				n0++
			}
			if r.step == last {
				a.top10Last += r.top10
				n1++
			}
		}
		n := float64(len(g))
		a.fraction, a.mass, a.ratio = a.fraction/n, a.mass/n, a.ratio/n
		a.top10First, a.top10Last = a.top10First/float64(n0), a.top10Last/float64(n1)
		out = append(out, a)
	}
	return out
}

// markdown renders the summary.
func (s summary) markdown() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Experiment %s\n\n", s.name)
	if s.description != "" {
		fmt.Fprintf(&b, "%s\n\n", s.description)
	}
	if r := s.run; r != nil {
		t, res := r.cfg, r.res
		fmt.Fprintf(&b, "Observed run: %d blocks, d = %d, %d heads, batch %d, %d epochs (%d steps), seed %d, %s; "+
			"%d training and %d dev examples. Dev accuracy after each epoch: %s (majority class: %.3f).\n\n",
			t.Blocks, t.Dim, t.Heads, t.BatchSize, t.Epochs, res.Steps, t.Seed, t.Precision,
			res.TrainExamples, res.DevExamples, fmtList(res.EpochDevAccuracy), res.MajorityAccuracy)
		if len(r.wtacrs) > 0 {
			fmt.Fprintf(&b, "Layers trained with WTA-CRS (Algorithm 1): %s; the others exact.\n\n", strings.Join(r.wtacrs, ", "))
		} else {
			b.WriteString("Every layer of the observed run trained exactly (no cached norms to analyse).\n\n")
		}
	}
	if len(s.analyses) > 0 {
		b.WriteString("## Analyses\n\n")
		b.WriteString("Per layer kind, over every recorded step and block. D is the set of valid tokens of the batch, " +
			"p_t ∝ ‖H_t‖·‖∇Z_t‖, |C| is chosen by the rule of Eq. 5–7, Theorem 2's condition is P_C > |C|/k at that |C|; " +
			"the variance ratio uses the closed forms with the pairs' outer products taken as orthogonal (norms only).\n\n")
		b.WriteString("| source | k/\\|D\\| | kind | records | mean \\|C\\|/k | mean P_C at \\|C\\| | Theorem 2 holds | top-10% mass (first → last step) | mean Var ratio WTA-CRS/CRS |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
		for _, a := range s.analyses {
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %.3f | %.3f | %d/%d | %.3f → %.3f | %.3f |\n", a.source, ftoa(a.budget), a.kind,
				a.records, a.fraction, a.mass, a.holds, a.records, a.top10First, a.top10Last, a.ratio)
		}
		b.WriteString("\n")
	}
	if s.compare != nil {
		b.WriteString("## Accuracy and memory\n\n")
		b.WriteString("| variant | method | k/n | kinds | epochs | dev accuracy | final epoch loss | activation MiB saved for backward | exact MiB | ratio |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
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
		b.WriteString("## Timing (varies from run to run; not in the CSV files)\n\n| run | training seconds | tokens/s |\n|---|---|---|\n")
		for _, t := range s.timings {
			fmt.Fprintf(&b, "| %s | %.1f | %.0f |\n", t.Run, t.TrainSeconds, t.TokensPerSecond)
		}
		b.WriteString("\n")
	}
	b.WriteString("Files: config.toml (the configuration as run), manifest.json (hash, seed, commit, timings), " +
		"layers.csv (one row per layer, step, source and budget), curves.csv (P_C for |C| = 0..k), training.csv (loss per step)" +
		", compare.csv (accuracy and memory per variant, when configured). Re-plot with `wtacrs plot " + "<this directory>`.\n")
	return b.Bytes()
}

func fmtList(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.3f", x)
	}
	return strings.Join(s, ", ")
}
