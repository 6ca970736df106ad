package experiments_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/internal/memlimit"
	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/plots"
)

// seedsRun runs smallConfig with seeds 1, 2 and 3 and the given number of jobs into out.
func seedsRun(t *testing.T, out string, jobs int, keys ...string) *experiments.Outcome {
	t.Helper()
	text := strings.Replace(smallConfig, "description = \"Synthetic heavy-tailed norms.\"\n",
		"description = \"Synthetic heavy-tailed norms.\"\nseeds = [3, 1, 2]\n", 1)
	text = strings.Replace(text, "every = 5\n", "every = 5\n"+strings.Join(keys, "\n")+"\n", 1)
	cfg, err := experiments.ParseConfig([]byte(text), "small.toml", "small")
	require.NoError(t, err)
	o, err := experiments.Run(context.Background(), cfg, experiments.Options{Out: out, Train: fakeTrain(40, 0), Jobs: jobs, MemLimit: memlimit.Unlimited})
	require.NoError(t, err)
	return o
}

// The observed run is repeated per seed; every CSV file and figure is the same bytes whether the
// seeds train one at a time or at once, and rows are sorted by seed.
func TestSeedsCSVsByteIdenticalAcrossJobs(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	oa := seedsRun(t, a, 1)
	ob := seedsRun(t, b, 3)
	assert.Equal(t, 1, oa.Manifest.Jobs)
	assert.Equal(t, min(3, max(1, runtimeProcs())), ob.Manifest.Jobs)
	assert.Equal(t, []uint64{3, 1, 2}, ob.Manifest.Seeds)
	require.Len(t, ob.Mains, 3)
	assert.Equal(t, uint64(3), ob.Main.Config.Seed, "Main is the first seed given")
	for _, f := range []string{"config.toml", "layers.csv", "curves.csv", "training.csv", "compare.csv", "findings.csv",
		"curves_k0.1_exact.png", "top10_cached.svg", "matched_k0.1_exact.svg", "ratio_exact.svg", "summary.md"} {
		x, err := os.ReadFile(filepath.Join(a, "synthetic", f))
		require.NoError(t, err)
		y, err := os.ReadFile(filepath.Join(b, "synthetic", f))
		require.NoError(t, err)
		if f == "summary.md" { // its timing table holds wall times (constant in the fake, not in training)
			x, y = []byte(strings.Split(string(x), "## Timing")[0]), []byte(strings.Split(string(y), "## Timing")[0])
		}
		assert.Equal(t, x, y, f)
	}
	for _, name := range []string{"layers.csv", "curves.csv", "training.csv"} {
		rows := readCSV(t, filepath.Join(a, "synthetic", name))
		col := slices.Index(rows[0], "seed")
		require.GreaterOrEqual(t, col, 0, name)
		var seeds []string
		for _, r := range rows[1:] {
			if r[1] == "wta30" { // a compare variant: train.seed
				assert.Equal(t, "1", r[col])
				continue
			}
			seeds = append(seeds, r[col])
		}
		assert.True(t, slices.IsSorted(seeds), "%s rows sorted by seed", name)
		assert.Equal(t, []string{"1", "2", "3"}, slices.Compact(seeds), name)
	}
	// Negative control: the seeds are really different runs.
	var s1, s2 []float64
	for _, r := range oa.Records {
		if r.Layer == (model.LayerID{Block: 0, Kind: model.Query}) && r.Source == experiments.SourceExact && r.Budget == 0.1 {
			switch r.Seed {
			case 1:
				s1 = append(s1, r.Stats.Top10Mass)
			case 2:
				s2 = append(s2, r.Stats.Top10Mass)
			}
		}
	}
	require.Len(t, s1, 9)
	assert.NotEqual(t, s1, s2)
}

// Runs of several seeds need memory for each at once: a limit that holds one run trains them
// one at a time, with the same outputs.
func TestSeedsSequentialWhenMemoryIsShort(t *testing.T) {
	t.Parallel()
	text := strings.Replace(smallConfig, "[analysis]\n", "[analysis]\n", 1)
	text = strings.Replace(text, "description = \"Synthetic heavy-tailed norms.\"\n", "seeds = [1, 2]\n", 1)
	cfg, err := experiments.ParseConfig([]byte(text), "small.toml", "small")
	require.NoError(t, err)
	// A limit too small for one run reports the estimate with the exact ratios' share.
	_, err = experiments.Run(context.Background(), cfg, experiments.Options{Out: t.TempDir(), Train: fakeTrain(40, 0), MemLimit: 1 << 20})
	require.ErrorIs(t, err, memlimit.ErrTooLarge)
	assert.ErrorContains(t, err, "exact variance ratios")
	need := neededBytes(t, err.Error())
	o, err := experiments.Run(context.Background(), cfg, experiments.Options{Out: t.TempDir(), Train: fakeTrain(40, 0), MemLimit: need + need/2})
	require.NoError(t, err)
	assert.Equal(t, 1, o.Manifest.Jobs, "room for one run only")
	if runtimeProcs() >= 2 {
		o, err = experiments.Run(context.Background(), cfg, experiments.Options{Out: t.TempDir(), Train: fakeTrain(40, 0), MemLimit: 3 * need})
		require.NoError(t, err)
		assert.Equal(t, 2, o.Manifest.Jobs, "room for both")
	}
}

// neededBytes parses the "needs about X" of a memlimit error (X within 0.1% as formatted).
func neededBytes(t *testing.T, msg string) uint64 {
	t.Helper()
	_, rest, ok := strings.Cut(msg, "needs about ")
	require.True(t, ok, msg)
	size, _, _ := strings.Cut(rest, ",")
	v, err := memlimit.ParseSize(strings.ReplaceAll(size, " ", ""))
	require.NoError(t, err, size)
	return v + v/500
}

// Figures 10 and 11 draw one curve per block (no mean over blocks), a panel per kind and plotted
// step; probability axes run from 0 to 1 with the labelled diagonal; every plotted mass lies in
// [0, 1].
func TestFiguresPerBlockAndAxisLimits(t *testing.T) {
	t.Parallel()
	o, _ := sharedRuns(t)
	loss, err := experiments.LoadSmoothedLoss(o.Dir)
	require.NoError(t, err)
	figs := append(experiments.Figures(o.Records), experiments.MatchedFigures(o.Records, loss)...)
	byName := map[string]plots.Figure{}
	for _, f := range figs {
		byName[f.Name] = f.Figure
	}
	curves, ok := byName["curves_k0.1_exact"]
	require.True(t, ok)
	assert.Equal(t, 3, curves.Columns)
	require.Len(t, curves.Panels, 9, "3 steps × 3 kinds")
	assert.Contains(t, curves.Title, "one line per block, mean over 3 seeds, band: min to max over the seeds")
	assert.Equal(t, "query, step 1 (epoch 1)", curves.Panels[0].Title)
	assert.Equal(t, "value, step 40 (epoch 2)", curves.Panels[8].Title)
	for _, pn := range curves.Panels {
		require.Len(t, pn.Series, 2, pn.Title)
		assert.Equal(t, "block 0", pn.Series[0].Label)
		assert.Equal(t, "block 1", pn.Series[1].Label)
		assert.NotNil(t, pn.Series[0].Lo, "a band over the seeds")
		assert.True(t, pn.Diagonal)
		assert.Equal(t, "P_C = |C|/k", pn.DiagonalLabel)
		assert.True(t, pn.LegendBelow, "the legend covers no data")
	}
	top, ok := byName["top10_exact"]
	require.True(t, ok)
	for _, pn := range top.Panels {
		assert.Equal(t, []string{"block 0", "block 1", "uniform p (0.1)"}, labels(pn))
	}
	require.Contains(t, byName, "matched_k0.5_cached")
	require.Len(t, byName["matched_k0.5_cached"].Panels, 12, "3 kinds × (2 quantities × step, loss)")
	ratio := byName["ratio_exact"]
	assert.Contains(t, labels(ratio.Panels[0]), "k = 0.1|D|: exact")
	assert.Contains(t, labels(ratio.Panels[0]), "k = 0.1|D|: orthogonal approximation")
	for name, f := range byName {
		if strings.HasPrefix(name, "ratio_") {
			continue
		}
		for _, pn := range f.Panels {
			assert.Equal(t, [2]float64{0, 1}, [2]float64{pn.YMin, pn.YMax}, "%s %s", name, pn.Title)
			for _, s := range pn.Series {
				for _, v := range slices.Concat(s.Y, s.Lo, s.Hi) {
					assert.True(t, v >= 0 && v <= 1, "%s %s %s: %v", name, pn.Title, s.Label, v)
				}
			}
		}
	}
}

func labels(pn plots.Panel) []string {
	var out []string
	for _, s := range pn.Series {
		if s.Label != "" {
			out = append(out, s.Label)
		}
	}
	return out
}

// coldRecords returns cached records of block 0's query at steps 1 and 2 for seed 1, the cache
// cold at step 1 only, and their exact twins.
func coldRecords(t *testing.T, cold bool) []experiments.Record {
	t.Helper()
	var recs []experiments.Record
	for _, step := range []int{1, 2} {
		for _, src := range []string{experiments.SourceExact, experiments.SourceCached} {
			recs = append(recs, experiments.Record{Layer: model.LayerID{Block: 0, Kind: model.Query}, Seed: 1, Step: step, Source: src,
				Budget: 0.5, Cold: cold && src == experiments.SourceCached && step == 1, ExactRatio: math.NaN(), Stats: statsOf(t, step)})
		}
	}
	return recs
}

// Steps whose cache was cold are marked: hollow markers in Figure 12 (both sources: the exact
// norms' run trained with that cache) and a note in the title of the curve panels.
func TestColdStepsMarked(t *testing.T) {
	t.Parallel()
	hollow := func(recs []experiments.Record) map[string][]float64 {
		out := map[string][]float64{}
		for _, f := range experiments.Figures(recs) {
			for _, pn := range f.Panels {
				for _, s := range pn.Series {
					if s.Hollow {
						out[f.Name] = append(out[f.Name], s.X...)
					}
				}
				if strings.Contains(pn.Title, "cache cold") {
					out[f.Name+" title"] = append(out[f.Name+" title"], 1)
				}
			}
		}
		return out
	}
	assert.Equal(t, map[string][]float64{"top10_cached": {1}, "top10_exact": {1}, "curves_k0.5_cached title": {1}}, hollow(coldRecords(t, true)))
	// Negative control: a warm cache marks nothing.
	assert.Empty(t, hollow(coldRecords(t, false)))
}

// A results directory written before seeds, curve points and the exact ratios had columns reads
// back: the seed of its manifest, the norms-only ratio from variance_ratio, NaN where nothing was
// recorded. testdata/earlier-fig10 is results/fig10 as committed in f864bbe, before those columns.
func TestLoadRecordsOfEarlierResults(t *testing.T) {
	t.Parallel()
	recs, err := experiments.LoadRecords("testdata/earlier-fig10")
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	for _, r := range recs {
		assert.Equal(t, uint64(1), r.Seed)
		assert.True(t, math.IsNaN(r.Stats.MassTenthK) && math.IsNaN(r.ExactRatio))
		assert.False(t, math.IsNaN(r.Stats.VarianceRatio))
	}
	loss, err := experiments.LoadSmoothedLoss("testdata/earlier-fig10")
	require.NoError(t, err)
	assert.Len(t, loss[1], 300)
}
