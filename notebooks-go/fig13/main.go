// Command fig13 draws the Figure 13 analogue (the memory of one training step against batch
// size) from the CSV files `wtacrs memory -csv` wrote into results/fig13 (see
// results/fig13/summary.md for the commands), and writes results/notebooks/fig13/report.md. It
// plots the step total and the parts that are counted, not measured, so that the figure is the
// same from run to run apart from the measured workspace.
//
//	go run ./notebooks-go/fig13 [-results DIR] [-out DIR] [-budget MIB]
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wtacrs/wtacrs/notebooks-go/internal/nb"
	"github.com/wtacrs/wtacrs/plots"
)

// method is one CSV of results/fig13.
type method struct{ file, label string }

// methods are the CSVs drawn: first the two exact baselines (the default settings, and the
// lean memory options of every row after it) and full recomputation, then the methods.
var methods = []method{
	{"exact", "exact (default settings)"},
	{"exact-lean", "exact (lean)"},
	{"checkpoint", "exact, full recomputation"},
	{"wtacrs03", "WTA-CRS@0.3"},
	{"wtacrs01", "WTA-CRS@0.1"},
	{"lora", "LoRA r=8"},
	{"lora-wtacrs01", "LoRA+WTA-CRS@0.1"},
}

// row is one batch size of a method: the step total, and its counted part (parameters,
// gradients, moments and saved activations), in MiB.
type row struct {
	batch          float64
	total, counted float64
}

func read(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) < 2 {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, need := range []string{"batch", "total", "workspace"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("%s: no column %q", path, need)
		}
	}
	var out []row
	for li, r := range recs[1:] {
		num := func(name string) (float64, error) {
			v, err := strconv.ParseFloat(r[col[name]], 64)
			if err != nil {
				return 0, fmt.Errorf("%s line %d: %s: %w", path, li+2, name, err)
			}
			return v, nil
		}
		b, err := num("batch")
		if err != nil {
			return nil, err
		}
		tot, err := num("total")
		if err != nil {
			return nil, err
		}
		ws, err := num("workspace")
		if err != nil {
			return nil, err
		}
		out = append(out, row{batch: b, total: tot / (1 << 20), counted: (tot - ws) / (1 << 20)})
	}
	return out, nil
}

func main() { nb.Main(run) }

func run() error {
	budget := flag.Float64("budget", 128, "the memory budget drawn and reported, MiB")
	s := nb.Parse("fig13")
	data := map[string][]row{}
	for _, m := range methods {
		rs, err := read(filepath.Join(s.Results, "fig13", m.file+".csv"))
		if err != nil {
			return err
		}
		data[m.file] = rs
	}
	total := plots.Panel{Title: "step memory (live heap)", XLabel: "batch size (sequences of 128 tokens)", YLabel: "MiB", LogX: true, LegendBelow: true}
	counted := plots.Panel{Title: "without the measured workspace", XLabel: "batch size", YLabel: "MiB", LogX: true, LegendBelow: true}
	ratio := func(base string) (plots.Panel, error) {
		p := plots.Panel{Title: fmt.Sprintf("%s step total / method's", labelOf(base)), XLabel: "batch size", YLabel: "×", LogX: true, LegendBelow: true}
		ref := data[base]
		for i, m := range methods {
			if m.file == "exact" || m.file == base {
				continue
			}
			var xs, rs []float64
			for j, r := range data[m.file] {
				if j >= len(ref) || ref[j].batch != r.batch {
					return p, fmt.Errorf("fig13: %s.csv and %s.csv measure other batch sizes", m.file, base)
				}
				xs, rs = append(xs, r.batch), append(rs, ref[j].total/r.total)
			}
			p.Series = append(p.Series, plots.Series{Label: m.label, X: xs, Y: rs, Color: i})
		}
		return p, nil
	}
	for i, m := range methods {
		var xs, ts, cs []float64
		for _, r := range data[m.file] {
			xs, ts, cs = append(xs, r.batch), append(ts, r.total), append(cs, r.counted)
		}
		total.Series = append(total.Series, plots.Series{Label: m.label, X: xs, Y: ts, Color: i})
		counted.Series = append(counted.Series, plots.Series{Label: m.label, X: xs, Y: cs, Color: i})
	}
	exact, lean := data["exact"], data["exact-lean"]
	xs := []float64{exact[0].batch, exact[len(exact)-1].batch}
	total.Series = append(total.Series, plots.Series{Label: fmt.Sprintf("budget %g MiB", *budget), X: xs, Y: []float64{*budget, *budget}, Dashed: true, Color: len(methods)})
	vsExact, err := ratio("exact")
	if err != nil {
		return err
	}
	vsLean, err := ratio("exact-lean")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Out, 0o755); err != nil {
		return err
	}
	fig := plots.Figure{Title: "Figure 13 analogue: the memory of one training step against batch size\n(2 blocks, d = 128, float32, AdamW moments in float32, recomputation on)", Panels: []plots.Panel{total, counted, vsExact, vsLean}}
	if err := plots.Save(fig, filepath.Join(s.Out, "memory")); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("# Figure 13 analogue: the memory of one training step against batch size\n\n")
	b.WriteString("Drawn by `go run ./notebooks-go/fig13` from `results/fig13/*.csv` (written by `wtacrs memory`, see `results/fig13/summary.md`). Live heap, not RSS. The counted part (parameters, gradients, moments, saved activations) reproduces byte for byte; the workspace, and so the total, is measured and varies by a few percent between runs.\n\n![memory](memory.png)\n\n")
	fmt.Fprintf(&b, "| method | largest measured batch within %g MiB | total at the largest batch (MiB) | exact (default) / method there | exact (lean) / method there |\n|---|---|---|---|---|\n", *budget)
	for _, m := range methods {
		rs := data[m.file]
		fit := "none"
		for _, r := range rs {
			if r.total <= *budget {
				fit = strconv.FormatFloat(r.batch, 'g', -1, 64)
			}
		}
		last := rs[len(rs)-1]
		fmt.Fprintf(&b, "| %s | %s | %.1f | %.2f× | %.2f× |\n", m.label, fit, last.total, exact[len(exact)-1].total/last.total, lean[len(lean)-1].total/last.total)
	}
	return nb.WriteReport(s, b.String())
}

// labelOf returns the label of the CSV file named file.
func labelOf(file string) string {
	for _, m := range methods {
		if m.file == file {
			return m.label
		}
	}
	return file
}
