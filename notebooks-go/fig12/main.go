// Command fig12 redraws Figure 12 of the paper (the probability mass of the top 10% of
// column-row pairs against the iteration, for the query, key and value layers) from the results
// of experiments/configs/fig12.toml, running it first when they are missing, and writes
// results/notebooks/fig12/report.md.
//
//	go run ./notebooks-go/fig12 [-rerun] [-results DIR] [-out DIR]
package main

import (
	"fmt"
	"strings"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/notebooks-go/internal/nb"
)

func main() { nb.Main(run) }

func run() error {
	s := nb.Parse("fig12")
	recs, err := nb.Records(s, "fig12")
	if err != nil {
		return err
	}
	// The top-10% mass does not depend on the budget: keep the smallest budget's records.
	low := recs[0].Budget
	for _, r := range recs {
		low = min(low, r.Budget)
	}
	recs = nb.Filter(recs, func(r experiments.Record) bool { return r.Budget == low })
	figs, err := nb.SaveFigures(s, recs, "top10_exact", "top10_cached")
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(nb.Header("Figure 12: mass of the top-10% column-row pairs against iteration", "fig12", s, "fig12"))
	b.WriteString(`## What is shown

At every recorded optimiser step and for each encoder block, the tokens of the batch (the
column-row pairs of ∇W = Hᵀ∇Z) get probabilities p_t ∝ ‖H_t‖·‖∇Z_t‖ (Eq. 3); the figure plots
the total probability of the ⌈0.1·|D|⌉ most probable tokens (D: the valid tokens of the batch).
A uniform distribution gives 0.1 (dashed line); the higher the curve, the more the mass sits on
few pairs, and the more WTA-CRS gains by keeping them exactly. It is drawn with the exact
gradient norms of the step and with the cached norms Algorithm 1 samples with (in the first
epoch the cache is cold and the mass is that of ‖H_t‖ alone).

`)
	for _, f := range figs {
		fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(f, ".png"), f)
	}
	b.WriteString("## Numbers\n\nTop-10% mass, mean over blocks, at the first, middle and last recorded steps, and its range over all steps.\n\n")
	b.WriteString("| norms | layer | first | middle | last | min | max |\n|---|---|---|---|---|---|---|\n")
	for _, src := range []string{experiments.SourceExact, experiments.SourceCached} {
		rs := nb.Filter(recs, func(r experiments.Record) bool { return r.Source == src })
		steps, picked := nb.Steps(rs)
		if len(steps) == 0 {
			continue
		}
		for _, kind := range nb.Kinds(rs) {
			at := func(st int) float64 {
				return nb.Mean(nb.Filter(rs, func(r experiments.Record) bool { return r.Layer.Kind == kind && r.Step == st }),
					func(r experiments.Record) float64 { return r.Stats.Top10Mass })
			}
			lo, hi := 1.0, 0.0
			for _, st := range steps {
				lo, hi = min(lo, at(st)), max(hi, at(st))
			}
			mid := picked[len(picked)/2]
			fmt.Fprintf(&b, "| %s | %s | %.3f (step %d) | %.3f (step %d) | %.3f (step %d) | %.3f | %.3f |\n", src, nb.KindName(kind),
				at(picked[0]), picked[0], at(mid), mid, at(picked[len(picked)-1]), picked[len(picked)-1], lo, hi)
		}
	}
	return nb.WriteReport(s, b.String())
}
