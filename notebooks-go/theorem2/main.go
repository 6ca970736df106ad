// Command theorem2 studies Theorem 2 on the recorded norms of experiments/configs/fig10.toml and
// fig11.toml (k = 0.1|D| and 0.5|D|): how often the |C| rule of Eq. 5–7 picks a non-empty C that
// satisfies P_C > |C|/k, and how the variance ratio WTA-CRS/CRS compares with the theorem's bound
// k(1 − P_C)/(k − |C|). It writes results/notebooks/theorem2/report.md.
//
//	go run ./notebooks-go/theorem2 [-rerun] [-results DIR] [-out DIR]
package main

import (
	"fmt"
	"strings"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/notebooks-go/internal/nb"
)

func main() { nb.Main(run) }

func run() error {
	s := nb.Parse("theorem2")
	var recs []experiments.Record
	for _, e := range []string{"fig10", "fig11"} {
		r, err := nb.Records(s, e)
		if err != nil {
			return err
		}
		recs = append(recs, r...)
	}
	figs, err := nb.SaveFigures(s, recs, "ratio_exact", "ratio_cached")
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(nb.Header("Theorem 2 on recorded gradient norms", "theorem2", s, "fig10"))
	b.WriteString("It also reads the results of experiments/configs/fig11.toml (k = 0.5|D|).\n\n")
	b.WriteString(`## What is shown

For each recorded step, block and layer, with p_t ∝ ‖H_t‖·‖∇Z_t‖ over the valid tokens D and the
budget k, the rule of Eq. 5–7 picks |C| = argmin_c (1 − P_C)/(k − c). Theorem 2 bounds
Var[WTA-CRS] ≤ k(1 − P_C)/(k − |C|) · Var[CRS]; the bound is below 1 exactly when P_C > |C|/k.

The variance ratio plotted is computed from the norms alone: the exact closed forms
Var[CRS] = (Σ_i w_i²/p_i − ‖HᵀG‖²_F)/k and
Var[WTA-CRS] = ((1 − P_C)Σ_{j∉C} w_j²/p_j − ‖H_{D\C}ᵀG_{D\C}‖²_F)/(k − |C|) need the inner products
between different tokens' outer products, which norms do not give; they are set to zero
(orthogonal pairs), giving (W² − Σw²)/k and (R² − Σ_{j∉C} w_j²)/(k − |C|) with W = Σw and
R = Σ_{j∉C} w_j. For traces that hold H and ∇Z themselves, ` + "`wtacrs analyze`" + ` also reports the exact ratio.

`)
	for _, f := range figs {
		fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(f, ".png"), f)
	}
	b.WriteString("## Numbers\n\n| norms | k/\\|D\\| | layer | records | rule picks \\|C\\| > 0 | P_C > \\|C\\|/k there | mean ratio | mean bound | ratio ≤ bound |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, src := range []string{experiments.SourceExact, experiments.SourceCached} {
		for _, budget := range []float64{0.1, 0.5} {
			rs := nb.Filter(recs, func(r experiments.Record) bool { return r.Source == src && r.Budget == budget })
			for _, kind := range nb.Kinds(rs) {
				g := nb.Filter(rs, func(r experiments.Record) bool { return r.Layer.Kind == kind })
				pos := len(nb.Filter(g, func(r experiments.Record) bool { return r.Stats.ChosenC > 0 }))
				holds := len(nb.Filter(g, func(r experiments.Record) bool { return r.Stats.Theorem2 }))
				within := len(nb.Filter(g, func(r experiments.Record) bool { return r.Stats.VarianceRatio <= r.Stats.BoundFactor*(1+1e-12) }))
				fmt.Fprintf(&b, "| %s | %g | %s | %d | %d | %d | %.3f | %.3f | %d/%d |\n", src, budget, nb.KindName(kind), len(g), pos, holds,
					nb.Mean(g, func(r experiments.Record) float64 { return r.Stats.VarianceRatio }),
					nb.Mean(g, func(r experiments.Record) float64 { return r.Stats.BoundFactor }), within, len(g))
			}
		}
	}
	b.WriteString("\n*ratio ≤ bound* checks Theorem 2 on the norms-only closed forms (they are exact for orthogonal pairs, so the theorem applies to them).\n")
	return nb.WriteReport(s, b.String())
}
