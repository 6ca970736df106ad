package experiments

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/wtacrs/wtacrs/analysis"
	"github.com/wtacrs/wtacrs/model"
)

// FindingsLevel is the confidence level of the findings' intervals across seeds.
const FindingsLevel = 0.95

// The quantities of the findings, in the order of findings.csv and summary.md. Each is first
// reduced per seed (over that seed's recorded steps of the layer, source and budget), then
// summarised over the seeds ([Finding]).
const (
	// QuantityAboveDiagonal is the mean over the recorded steps of the share of |C| in
	// 1..k−1 whose P_C lies above the diagonal |C|/k (the whole curve, not the rule's choice;
	// |C| = k is left out: it leaves no draws, and P_C > 1 is impossible).
	QuantityAboveDiagonal = "above_diagonal_share"
	// QuantityMassTenthK and QuantityMassHalfK are the mean over the recorded steps of P_C at
	// |C| = ⌈0.1k⌉ and ⌈0.5k⌉.
	QuantityMassTenthK = "mass_at_0.1k"
	QuantityMassHalfK  = "mass_at_0.5k"
	// QuantityTop10First and QuantityTop10Last are the mass of the top 10% of pairs at the first
	// and the last recorded step.
	QuantityTop10First = "top10_first"
	QuantityTop10Last  = "top10_last"
	// QuantityExactRatio is the mean over the steps that have one of the exact closed-form
	// variance ratio Var[WTA-CRS]/Var[CRS] at the rule's |C|.
	QuantityExactRatio = "exact_variance_ratio"
)

var quantities = []string{QuantityAboveDiagonal, QuantityMassTenthK, QuantityMassHalfK, QuantityTop10First, QuantityTop10Last, QuantityExactRatio}

// Finding is one quantity of one layer, norm source and budget across the seeds of a run.
type Finding struct {
	// Layer, Source and Budget identify the records summarised.
	Layer  model.LayerID
	Source string
	Budget float64
	// Quantity is one of the Quantity constants.
	Quantity string
	// Records is the number of (seed, step) records the per-seed values were taken from.
	Records int
	// Interval is the mean of the per-seed values (one per seed that has records) with its
	// two-sided t interval at FindingsLevel (n − 1 degrees of freedom), clipped to [0, 1], the
	// range of every quantity; no interval for one seed.
	analysis.Interval
}

// Findings summarises records per norm source, budget, layer and quantity (see the Quantity
// constants), sorted by source (exact first), budget, block, kind and quantity. For the cached
// norms only steps whose cache was warm for every sample count: at a cold step the weights hold
// fill-in norms, not measurements. Quantities without a finite value for any seed (a
// curve point absent from an older layers.csv, no exact ratios) are left out.
func Findings(recs []Record) []Finding {
	type key struct {
		source string
		budget float64
		layer  model.LayerID
	}
	groups := map[key][]Record{}
	for _, r := range recs {
		if r.Source == SourceCached && r.Cold {
			continue
		}
		k := key{r.Source, r.Budget, r.Layer}
		groups[k] = append(groups[k], r)
	}
	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(sourceOrder(a.source)-sourceOrder(b.source), cmp.Compare(a.budget, b.budget),
			cmp.Compare(a.layer.Block, b.layer.Block), a.layer.Kind.Position()-b.layer.Kind.Position())
	})
	var out []Finding
	for _, k := range keys {
		bySeed := map[uint64][]Record{}
		for _, r := range groups[k] {
			bySeed[r.Seed] = append(bySeed[r.Seed], r)
		}
		seeds := make([]uint64, 0, len(bySeed))
		for s := range bySeed {
			seeds = append(seeds, s)
		}
		slices.Sort(seeds)
		for _, q := range quantities {
			var values []float64
			n := 0
			for _, s := range seeds {
				v, used := perSeed(q, bySeed[s])
				if used > 0 && !math.IsNaN(v) {
					values = append(values, v)
					n += used
				}
			}
			if len(values) == 0 {
				continue
			}
			iv, err := analysis.TInterval(values, FindingsLevel)
			if err != nil {
				panic(fmt.Sprintf("experiments: interval of finite values: %v", err))
			}
			if iv.N > 1 { // every quantity lies in [0, 1]
				iv.Lo, iv.Hi = max(iv.Lo, 0), min(iv.Hi, 1)
			}
			out = append(out, Finding{Layer: k.layer, Source: k.source, Budget: k.budget, Quantity: q, Records: n, Interval: iv})
		}
	}
	return out
}

// perSeed reduces one seed's records (of one layer, source and budget) to the value of quantity
// q, and returns the number of records used (0: none has the quantity).
func perSeed(q string, recs []Record) (float64, int) {
	mean := func(f func(Record) float64) (float64, int) {
		var sum float64
		n := 0
		for _, r := range recs {
			if v := f(r); !math.IsNaN(v) {
				sum += v
				n++
			}
		}
		if n == 0 {
			return math.NaN(), 0
		}
		return sum / float64(n), n
	}
	at := func(pick func(a, b int) bool) (float64, int) {
		best := -1
		for i, r := range recs {
			if best < 0 || pick(r.Step, recs[best].Step) {
				best = i
			}
		}
		return recs[best].Stats.Top10Mass, 1
	}
	switch q {
	case QuantityAboveDiagonal:
		return mean(func(r Record) float64 { return r.Stats.AboveDiagonal })
	case QuantityMassTenthK:
		return mean(func(r Record) float64 { return r.Stats.MassTenthK })
	case QuantityMassHalfK:
		return mean(func(r Record) float64 { return r.Stats.MassHalfK })
	case QuantityTop10First:
		return at(func(a, b int) bool { return a < b })
	case QuantityTop10Last:
		return at(func(a, b int) bool { return a > b })
	case QuantityExactRatio:
		return mean(func(r Record) float64 { return r.ExactRatio })
	}
	panic("experiments: unknown quantity " + q)
}

func findingsRows(fs []Finding) [][]string {
	rows := make([][]string, 0, len(fs))
	for _, f := range fs {
		sd := f.SD
		if f.N < 2 {
			sd = math.NaN() // one seed: no spread to report
		}
		rows = append(rows, []string{f.Layer.String(), itoa(f.Layer.Block), string(f.Layer.Kind), f.Source, ftoa(f.Budget),
			f.Quantity, itoa(f.N), itoa(f.Records), ftoa(f.Mean), ftoa(sd), ftoa(f.Lo), ftoa(f.Hi)})
	}
	return rows
}
