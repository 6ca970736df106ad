package nb

import (
	"fmt"
	"strings"

	"github.com/wtacrs/wtacrs/experiments"
)

// Curves is the notebook of Figure 10 (budget 0.1) or 11 (budget 0.5): the curves P_C against
// |C|/k of the query, key and value layers early, midway and late in training.
func Curves(notebook, experiment string, figure int, budget float64) error {
	s := Parse(notebook)
	recs, err := Records(s, experiment)
	if err != nil {
		return err
	}
	recs = Filter(recs, func(r experiments.Record) bool { return r.Budget == budget })
	if len(recs) == 0 {
		return fmt.Errorf("%s/%s has no analyses at k = %g|D|", s.Results, experiment, budget)
	}
	tag := fmt.Sprintf("curves_k%s", g(budget))
	figs, err := SaveFigures(s, recs, tag+"_exact", tag+"_cached")
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(Header(fmt.Sprintf("Figure %d: P_C against |C|/k at k = %s|D|", figure, g(budget)), notebook, s, experiment))
	fmt.Fprintf(&b, `## What is shown

For each of the query, key and value layers, and for each recorded training step, the tokens of
the batch are the column-row pairs of the weight gradient ∇W = Hᵀ∇Z, with probabilities
p_t ∝ ‖H_t‖·‖∇Z_t‖ (Eq. 3). C is the set of the |C| most probable tokens and P_C their total
probability. The curves plot P_C against |C|/k for |C| = 0..k at the budget k = %s|D| (D: the
valid tokens of the batch), at the first, middle and last recorded steps; the line is the mean over
the encoder blocks and the band spans their minimum and maximum. Above the dashed diagonal
P_C > |C|/k, the condition under which Theorem 2 guarantees that WTA-CRS has a lower variance than
CRS with the same budget. The figure is drawn twice: with the exact ‖∇Z_t‖ of the step, and with
the cached ‖∇Z_t‖ (from the last epoch that saw the sample) that Algorithm 1 actually samples
with; in the first epoch the cache is cold and those weights reduce to ‖H_t‖ times a constant.

`, g(budget))
	for _, f := range figs {
		fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(f, ".png"), f)
	}
	b.WriteString("## Numbers\n\nMeans over blocks. P_C at |C|/k = 0.1, 0.5 and 1; *above* is the share of |C| in 1..k−1 with " +
		"P_C > |C|/k; *chosen* is the |C|/k of the rule (Eq. 5–7) and *Thm 2* how many blocks satisfy P_C > |C|/k there.\n\n")
	b.WriteString("| norms | layer | step | k | P_C(0.1k) | P_C(0.5k) | P_C(k) | above | chosen \\|C\\|/k | Thm 2 |\n|---|---|---|---|---|---|---|---|---|---|\n")
	var holds, total int
	for _, src := range []string{experiments.SourceExact, experiments.SourceCached} {
		rs := Filter(recs, func(r experiments.Record) bool { return r.Source == src })
		_, picked := Steps(rs)
		for _, kind := range Kinds(rs) {
			for _, st := range picked {
				g := Filter(rs, func(r experiments.Record) bool { return r.Layer.Kind == kind && r.Step == st })
				if len(g) == 0 {
					continue
				}
				h := len(Filter(g, func(r experiments.Record) bool { return r.Stats.Theorem2 }))
				fmt.Fprintf(&b, "| %s | %s | %d | %d | %.3f | %.3f | %.3f | %.2f | %.3f | %d/%d |\n", src, KindName(kind), st, g[0].Stats.K,
					Mean(g, func(r experiments.Record) float64 { return MassAt(r, 0.1) }),
					Mean(g, func(r experiments.Record) float64 { return MassAt(r, 0.5) }),
					Mean(g, func(r experiments.Record) float64 { return MassAt(r, 1) }),
					Mean(g, func(r experiments.Record) float64 { return r.Stats.AboveDiagonal }),
					Mean(g, func(r experiments.Record) float64 { return float64(r.Stats.ChosenC) / float64(r.Stats.K) }),
					h, len(g))
			}
		}
		for _, r := range rs {
			total++
			if r.Stats.Theorem2 {
				holds++
			}
		}
	}
	fmt.Fprintf(&b, "\nOver every recorded step, block, layer and norm source: the rule picks a non-empty C with "+
		"P_C > |C|/k in %d of %d cases (the others pick |C| = 0, plain CRS).\n", holds, total)
	return WriteReport(s, b.String())
}
