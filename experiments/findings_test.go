package experiments_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/analysis"
	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/model"
)

// handRecords returns records of block1.k, exact norms, k = 0.1|D|, for the seeds, two steps
// each, whose share above the diagonal is seed/10 at step 10 and seed/10 + 0.1 at step 20, with
// top-10% mass 0.2·seed (step 10) and 0.3·seed (step 20).
func handRecords(seeds ...uint64) []experiments.Record {
	var recs []experiments.Record
	for _, s := range seeds {
		for i, step := range []int{10, 20} {
			st := analysis.Stats{M: 100, K: 10, AboveDiagonal: float64(s)/10 + 0.1*float64(i), Top10Mass: (0.2 + 0.1*float64(i)) * float64(s),
				MassTenthK: 0.5, MassHalfK: 0.7}
			recs = append(recs, experiments.Record{Layer: model.LayerID{Block: 1, Kind: model.Key}, Seed: s, Step: step,
				Source: experiments.SourceExact, Budget: 0.1, Stats: st, ExactRatio: math.NaN()})
		}
	}
	return recs
}

func findingOf(fs []experiments.Finding, q string) experiments.Finding {
	for _, f := range fs {
		if f.Quantity == q {
			return f
		}
	}
	return experiments.Finding{}
}

// The findings' arithmetic on a hand case: per seed the share above the diagonal averages its two
// steps (0.15, 0.25, 0.35 for seeds 1..3): mean 0.25, standard deviation 0.1, 95% t interval
// 0.25 ∓ t₂·0.1/√3 with t₂ = 0.95/√(2·0.975·0.025) = 4.3027 (ν = 2 in closed form).
func TestFindingsIntervalsHandCase(t *testing.T) {
	t.Parallel()
	fs := experiments.Findings(handRecords(1, 2, 3))
	share := findingOf(fs, experiments.QuantityAboveDiagonal)
	require.Equal(t, 3, share.N)
	assert.Equal(t, 6, share.Records)
	assert.InDelta(t, 0.25, share.Mean, 1e-15)
	assert.InDelta(t, 0.1, share.SD, 1e-15)
	half := 0.95 / math.Sqrt(2*0.975*0.025) * 0.1 / math.Sqrt(3)
	assert.InDelta(t, 0.25-half, share.Lo, 1e-9)
	assert.InDelta(t, 0.25+half, share.Hi, 1e-9)
	// Top-10% mass at the first (0.2·seed) and last (0.3·seed) step: means 0.4 and 0.6; the
	// intervals are clipped to [0, 1].
	first, last := findingOf(fs, experiments.QuantityTop10First), findingOf(fs, experiments.QuantityTop10Last)
	assert.InDelta(t, 0.4, first.Mean, 1e-15)
	assert.InDelta(t, 0.6, last.Mean, 1e-15)
	assert.Equal(t, 0.0, first.Lo, "0.4 − 4.30·0.2/√3 < 0, clipped")
	assert.Equal(t, 1.0, last.Hi, "0.6 + 4.30·0.3/√3 > 1, clipped")
	assert.Equal(t, 3, first.Records)
	// Equal values across seeds: an interval of width 0.
	tenth := findingOf(fs, experiments.QuantityMassTenthK)
	assert.Equal(t, [3]float64{0.5, 0.5, 0.5}, [3]float64{tenth.Mean, tenth.Lo, tenth.Hi})
	// No exact ratios recorded: no such finding.
	assert.Zero(t, findingOf(fs, experiments.QuantityExactRatio).N)

	// One seed: the value, no interval.
	one := findingOf(experiments.Findings(handRecords(2)), experiments.QuantityAboveDiagonal)
	assert.Equal(t, 1, one.N)
	assert.InDelta(t, 0.25, one.Mean, 1e-15)
	assert.True(t, math.IsNaN(one.Lo) && math.IsNaN(one.Hi))
}

// Cached-norm records of steps whose cache was cold hold fill-in norms: they do not count, and a
// cold record with an extreme value (the negative control) leaves the findings as they were.
func TestFindingsSkipColdCachedSteps(t *testing.T) {
	t.Parallel()
	recs := handRecords(1, 2, 3)
	for i := range recs {
		recs[i].Source = experiments.SourceCached
	}
	want := experiments.Findings(recs)
	cold := recs[0]
	cold.Step, cold.Cold, cold.Stats.AboveDiagonal, cold.Stats.Top10Mass = 1, true, 1, 1
	assert.Equal(t, want, experiments.Findings(append(recs, cold)))
	cold.Cold = false // the same record with a warm cache counts
	assert.NotEqual(t, want, experiments.Findings(append(recs, cold)))
}

// findings.csv and summary.md of a run of three seeds hold the intervals; a run of one seed says
// there is none; neither states the claims that hold by construction as findings.
func TestFindingsInOutputs(t *testing.T) {
	t.Parallel()
	o, one := sharedRuns(t)
	rows := readCSV(t, filepath.Join(o.Dir, "findings.csv"))
	assert.Equal(t, []string{"layer", "block", "kind", "source", "budget", "quantity", "seeds", "records", "mean", "sd", "ci_low", "ci_high"}, rows[0])
	quantities := map[string]bool{}
	for _, r := range rows[1:] {
		assert.Equal(t, "3", r[6], "three seeds")
		assert.NotEmpty(t, r[10], "an interval")
		quantities[r[5]] = true
	}
	assert.Equal(t, map[string]bool{"above_diagonal_share": true, "mass_at_0.1k": true, "mass_at_0.5k": true, "top10_first": true,
		"top10_last": true, "exact_variance_ratio": true}, quantities)
	sum, err := os.ReadFile(filepath.Join(o.Dir, "summary.md"))
	require.NoError(t, err)
	text := string(sum)
	assert.Contains(t, text, "## Findings per block")
	assert.Contains(t, text, "| exact | 0.1 | block0.q | n = 3 | ")
	assert.Contains(t, text, "95% t interval")
	assert.Contains(t, text, "hold by construction and are not findings")
	assert.NotContains(t, text, "Theorem 2 holds")
	assert.Contains(t, text, "Observed run: 2 blocks, d = 128, 4 heads, batch 16, 2 epochs (40 steps), seeds 3, 1, 2,")

	sum, err = os.ReadFile(filepath.Join(one.Dir, "summary.md"))
	require.NoError(t, err)
	assert.Contains(t, string(sum), "| exact | 0.1 | block0.q | n = 1, no CI | ")
	for _, r := range readCSV(t, filepath.Join(one.Dir, "findings.csv"))[1:] {
		assert.Equal(t, []string{"1", "", "", ""}, []string{r[6], r[9], r[10], r[11]}, "one seed: no spread, no interval")
	}
	assert.False(t, strings.Contains(string(sum), "[0."), "no interval with one seed")
}
