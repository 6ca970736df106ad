package experiments

import (
	"bytes"
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
func Summarize(dir string, cfg Config, res *train.Result, timings []Timing) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Experiment %s\n\n", cfg.Experiment.Name)
	if d := strings.TrimSpace(cfg.Experiment.Description); d != "" {
		fmt.Fprintf(&b, "%s\n\n", d)
	}
	if res != nil {
		t := cfg.Train
		fmt.Fprintf(&b, "Observed run: %d blocks, d = %d, %d heads, batch %d, %d epochs (%d steps), seed %d, %s; "+
			"%d training and %d dev examples. Dev accuracy after each epoch: %s (majority class: %.3f).\n\n",
			t.Blocks, t.Dim, t.Heads, t.BatchSize, t.Epochs, res.Steps, t.Seed, t.Precision,
			res.TrainExamples, res.DevExamples, fmtList(res.EpochDevAccuracy), res.MajorityAccuracy)
		var wta []string
		for _, k := range model.Kinds() {
			if kc := t.Kind(k); kc.Method == train.MethodWTACRS {
				wta = append(wta, fmt.Sprintf("%s (k/n = %s)", k, ftoa(kc.Ratio)))
			}
		}
		if len(wta) > 0 {
			fmt.Fprintf(&b, "Layers trained with WTA-CRS (Algorithm 1): %s; the others exact.\n\n", strings.Join(wta, ", "))
		} else {
			b.WriteString("Every layer trained exactly (no cached norms to analyse).\n\n")
		}
	}
	recs, err := LoadRecords(dir)
	if err != nil {
		return nil, err
	}
	rows := layerRowsOf(recs)
	if len(rows) > 0 {
		b.WriteString("## Analyses\n\n")
		b.WriteString("Per layer kind, over every recorded step and block. D is the set of valid tokens of the batch, " +
			"p_t ∝ ‖H_t‖·‖∇Z_t‖, |C| is chosen by the rule of Eq. 5–7, Theorem 2's condition is P_C > |C|/k at that |C|; " +
			"the variance ratio uses the closed forms with the pairs' outer products taken as orthogonal (norms only).\n\n")
		b.WriteString("| source | k/\\|D\\| | kind | records | mean \\|C\\|/k | mean P_C at \\|C\\| | Theorem 2 holds | top-10% mass (first → last step) | mean Var ratio WTA-CRS/CRS |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
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
			if d := sourceOrder(a.src) - sourceOrder(c.src); d != 0 {
				return d
			}
			if a.budget != c.budget {
				if a.budget < c.budget {
					return -1
				}
				return 1
			}
			return model.Kind(a.kind).Position() - model.Kind(c.kind).Position()
		})
		for _, k := range keys {
			g := groups[k]
			var frac, mass, ratio float64
			holds := 0
			first, last := g[0].step, g[0].step
			for _, r := range g {
				frac += r.fractionAtC
				mass += r.massAtC
				ratio += r.ratio
				if r.theorem2 {
					holds++
				}
				first, last = min(first, r.step), max(last, r.step)
			}
			var t0, t1 float64
			var n0, n1 int
			for _, r := range g {
				if r.step == first {
					t0 += r.top10
					n0++
				}
				if r.step == last {
					t1 += r.top10
					n1++
				}
			}
			n := float64(len(g))
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %.3f | %.3f | %d/%d | %.3f → %.3f | %.3f |\n", k.src, ftoa(k.budget), k.kind,
				len(g), frac/n, mass/n, holds, len(g), t0/float64(n0), t1/float64(n1), ratio/n)
		}
		b.WriteString("\n")
	}
	if t, err := readTable(dir, Files.Compare, compareHeader, true); err != nil {
		return nil, err
	} else if t != nil {
		b.WriteString("## Accuracy and memory\n\n")
		b.WriteString("| variant | method | k/n | kinds | epochs | dev accuracy | final epoch loss | activation MiB saved for backward | exact MiB | ratio |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
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
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t.str(i, "variant"), t.str(i, "method"), ratio,
				t.str(i, "kinds"), t.str(i, "epochs"), f("dev_accuracy"), f("final_loss"), f("saved_mib"), f("exact_mib"), f("memory_ratio"))
		}
		b.WriteString("\n")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	var figs []string
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".png" {
			figs = append(figs, e.Name())
		}
	}
	if len(figs) > 0 {
		b.WriteString("## Figures\n\n")
		for _, f := range figs {
			fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(f, ".png"), f)
		}
	}
	if len(timings) > 0 {
		b.WriteString("## Timing (varies from run to run; not in the CSV files)\n\n| run | training seconds | tokens/s |\n|---|---|---|\n")
		for _, t := range timings {
			fmt.Fprintf(&b, "| %s | %.1f | %.0f |\n", t.Run, t.TrainSeconds, t.TokensPerSecond)
		}
		b.WriteString("\n")
	}
	b.WriteString("Files: config.toml (the configuration as run), manifest.json (hash, seed, commit, timings), " +
		"layers.csv (one row per layer, step, source and budget), curves.csv (P_C for |C| = 0..k), training.csv (loss per step)" +
		", compare.csv (accuracy and memory per variant, when configured). Re-plot with `wtacrs plot " + "<this directory>`.\n")
	return b.Bytes(), nil
}

func fmtList(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.3f", x)
	}
	return strings.Join(s, ", ")
}
