// Command variance compares the estimators of package estimator (CRS, WTA-CRS and the baselines
// uniform CRS, top-k, Bernoulli and sampling without replacement) on synthetic weight-gradient
// products HᵀG: the expected squared error E‖HᵀG − estimate‖²_F against the budget k, in closed
// form (lines) beside a Monte Carlo estimate (dots), on a heavy-tailed batch and on the same batch
// half padded. It writes variance.{png,svg}, variance.csv and report.md under
// results/notebooks/variance/. It trains nothing and takes a few seconds.
//
//	go run ./notebooks-go/variance [-trials N] [-seed S] [-out DIR]
package main

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/internal/atomicfile"
	"github.com/wtacrs/wtacrs/notebooks-go/internal/nb"
	"github.com/wtacrs/wtacrs/notebooks-go/internal/varexp"
	"github.com/wtacrs/wtacrs/plots"
)

const (
	tokens, dIn, dOut = 512, 64, 32
	alpha             = 1.5 // Pareto tail index of the token norms
)

var ks = []int{8, 16, 32, 64, 128, 256}

func main() { nb.Main(run) }

func run() error {
	trials := flag.Int("trials", 400, "Monte Carlo trials per method and budget (≥ 2)")
	seed := flag.Uint64("seed", 1, "seed of the synthetic matrices and of the sketches")
	out := flag.String("out", filepath.Join("results", "notebooks", "variance"), "output directory")
	flag.Parse()
	heavy, err := varexp.HeavyTailed("heavy-tailed", tokens, dIn, dOut, alpha, 0, *seed)
	if err != nil {
		return err
	}
	padded, err := varexp.HeavyTailed("padded (50% zero tokens)", tokens, dIn, dOut, alpha, 0.5, *seed)
	if err != nil {
		return err
	}
	methods := estimator.Methods()
	fig := plots.Figure{Title: "Expected squared error against the budget k: lines closed form, dots Monte Carlo", PanelHeight: 10, PanelWidth: 11}
	var rows [][]string
	var table strings.Builder
	table.WriteString("| batch | k | " + strings.Join(names(methods), " | ") + " |\n|---|---|" + strings.Repeat("---|", len(methods)) + "\n")
	maxZ := 0.0
	for _, p := range []varexp.Problem{heavy, padded} {
		pts, err := varexp.Sweep(p, methods, ks, *trials, *seed)
		if err != nil {
			return err
		}
		pn := plots.Panel{Title: p.Name, XLabel: "budget k (pairs kept)", YLabel: "E‖HᵀG − estimate‖²_F", LogX: true, LogY: true, LegendBottom: true, LegendLeft: true}
		byKey := map[string]varexp.Point{}
		// Errors that are zero up to rounding (every positive pair kept) cannot sit on a log axis.
		floor := 0.0
		for _, pt := range pts {
			floor = max(floor, 1e-6*pt.MonteCarlo)
		}
		for mi, m := range methods {
			line := plots.Series{Label: m.String(), Color: mi}
			dots := plots.Series{Color: mi, Points: true}
			for _, pt := range pts {
				if pt.Method != m {
					continue
				}
				byKey[fmt.Sprint(m, pt.K)] = pt
				rows = append(rows, []string{p.Name, m.String(), strconv.Itoa(pt.K), fnum(pt.ClosedForm), fnum(pt.MonteCarlo), fnum(pt.MCStdErr), fnum(pt.Z)})
				if !math.IsNaN(pt.Z) {
					maxZ = max(maxZ, math.Abs(pt.Z))
				}
				if pt.ClosedForm > floor {
					line.X, line.Y = append(line.X, float64(pt.K)), append(line.Y, pt.ClosedForm)
				}
				if pt.MonteCarlo > floor {
					dots.X, dots.Y = append(dots.X, float64(pt.K)), append(dots.Y, pt.MonteCarlo)
				}
			}
			if len(line.X) == 0 { // no closed form (sampling without replacement): join the dots
				line.X, line.Y, line.Dashed = dots.X, dots.Y, true
				line.Label += " (Monte Carlo only)"
			}
			if len(line.X) > 0 {
				pn.Series = append(pn.Series, line)
			}
			if len(dots.X) > 0 {
				pn.Series = append(pn.Series, dots)
			}
		}
		fig.Panels = append(fig.Panels, pn)
		for _, k := range ks {
			fmt.Fprintf(&table, "| %s | %d |", p.Name, k)
			for _, m := range methods {
				pt := byKey[fmt.Sprint(m, k)]
				v := pt.ClosedForm
				if math.IsNaN(v) {
					v = pt.MonteCarlo
				}
				fmt.Fprintf(&table, " %.4g |", v)
			}
			table.WriteString("\n")
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := plots.Save(fig, filepath.Join(*out, "variance")); err != nil {
		return err
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"layer", "method", "k", "closed_form", "monte_carlo", "mc_stderr", "z"})
	w.WriteAll(rows)
	if err := writeAtomic(filepath.Join(*out, "variance.csv"), buf.Bytes()); err != nil {
		return err
	}
	report := fmt.Sprintf(`# Estimators against the budget: closed form beside Monte Carlo

Produced by `+"`go run ./notebooks-go/variance -trials %d -seed %d`"+` (no training; a few seconds).

## What is shown

The product is a weight gradient HᵀG with %d tokens, H of width %d and G of width %d. Token t's
row of H has a Pareto(α = %g) norm (heavy-tailed, as the paper observes for activations and
gradients) and a random direction; G is standard Gaussian. The padded batch is the same with
its last half of tokens all zero, as padding tokens are. For every estimator and budget k the
figure shows the exact expected squared Frobenius error E‖HᵀG − estimate‖²_F (bias² + variance,
from estimator.ClosedForm; lines) and its Monte Carlo estimate over %d independent sketches
(dots). Sampling without replacement has no closed form at this size (it enumerates subsets), so
its line joins its Monte Carlo dots. The column layer of variance.csv names the batch.

- crs: column-row sampling, k i.i.d. draws with p_t ∝ ‖H_t‖‖G_t‖ (Eq. 2–3), unbiased;
- wtacrs: WTA-CRS (Eq. 4) with |C| chosen by Eq. 5–7, unbiased;
- uniform: CRS with p_t = 1/m, unbiased;
- topk: the k heaviest pairs, unscaled; deterministic, its error is all bias;
- bernoulli: pair t kept with probability min(1, k p_t), scaled, unbiased;
- norepl: k distinct pairs drawn without replacement, unscaled (a fallback of the published code); biased.

The largest |z| = |Monte Carlo − closed form| / standard error over all methods with a closed form
is %.2f (about N(0,1) when the closed form is right).

![variance](variance.png)

## Numbers (closed form; Monte Carlo for norepl)

%s`, *trials, *seed, tokens, dIn, dOut, alpha, *trials, maxZ, table.String())
	if err := writeAtomic(filepath.Join(*out, "report.md"), []byte(report)); err != nil {
		return err
	}
	fmt.Println("wrote", filepath.Join(*out, "report.md"))
	return nil
}

func names(ms []estimator.Method) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out
}

func fnum(x float64) string {
	if math.IsNaN(x) {
		return ""
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

func writeAtomic(path string, data []byte) error { return atomicfile.WriteFile(path, data) }
