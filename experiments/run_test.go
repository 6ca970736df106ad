package experiments_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/matrix"
)

const smallConfig = `
[experiment]
name = "synthetic"
description = "Synthetic heavy-tailed norms."

[analysis]
every = 5
budgets = [0.1, 0.5]

[[compare.variant]]
name = "wta30"
method = "wtacrs"
ratio = 0.3

[train]
blocks = 2
epochs = 2

[train.layers.q]
method = "wtacrs"
ratio = 0.3
`

func smallRun(t *testing.T, out string, cancelAt int, analysisKeys ...string) (*experiments.Outcome, error) {
	t.Helper()
	text := strings.Replace(smallConfig, "every = 5\n", "every = 5\n"+strings.Join(analysisKeys, "\n")+"\n", 1)
	cfg, err := experiments.ParseConfig([]byte(text), "small.toml", "small")
	require.NoError(t, err)
	return experiments.Run(context.Background(), cfg, experiments.Options{Out: out, Train: fakeTrain(40, cancelAt)})
}

func TestRunWritesEveryOutput(t *testing.T) {
	out := t.TempDir()
	o, err := smallRun(t, out, 0)
	require.NoError(t, err)
	dir := filepath.Join(out, "synthetic")
	assert.Equal(t, dir, o.Dir)
	for _, f := range []string{"config.toml", "manifest.json", "summary.md", "layers.csv", "curves.csv", "training.csv",
		"compare.csv", "curves_k0.1_exact.png", "curves_k0.5_cached.svg", "top10_exact.png", "top10_cached.png",
		"ratio_exact.png", "loss.png"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary directory left behind")

	var m experiments.Manifest
	js, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(js, &m))
	assert.Equal(t, "synthetic", m.Experiment)
	assert.Len(t, m.ConfigSHA256, 64)
	assert.Equal(t, uint64(1), m.Seed)
	assert.NotEmpty(t, m.GitCommit)
	assert.Equal(t, matrix.Backend(), m.GEMMBackend)
	assert.Contains(t, m.Files, "curves_k0.1_exact.png")
	assert.Len(t, m.Timings, 2)

	// Steps 1, 5, …, 40 → 9 steps × 2 blocks × 3 kinds × 2 budgets exact; the cache is all
	// zeros in epoch 0, so cached rows only at steps 25, 30, 35 and 40.
	layers, err := os.ReadFile(filepath.Join(dir, "layers.csv"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(layers)), "\n")
	assert.True(t, strings.HasPrefix(lines[0], "layer,block,kind,step"))
	assert.Equal(t, 1+9*6*2+4*6*2, len(lines))
	assert.Contains(t, string(layers), "block1.v,1,v,40,1,cached,0.5,")
	assert.NotContains(t, string(layers), ",o,", "o is not among the analysed kinds")

	// curves.csv holds the plotted steps only: 1, 20 and 40 (exact), 25, 30 and 40 (cached).
	curves, err := os.ReadFile(filepath.Join(dir, "curves.csv"))
	require.NoError(t, err)
	steps := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(curves)), "\n")[1:] {
		f := strings.Split(l, ",")
		steps[f[5]+" "+f[3]] = true
	}
	assert.Equal(t, map[string]bool{"exact 1": true, "exact 20": true, "exact 40": true, "cached 25": true, "cached 30": true, "cached 40": true}, steps)

	sum, err := os.ReadFile(filepath.Join(dir, "summary.md"))
	require.NoError(t, err)
	assert.Contains(t, string(sum), "Synthetic heavy-tailed norms.")
	assert.Contains(t, string(sum), "| wta30 | wtacrs | 0.3 |")
	assert.Contains(t, string(sum), "| main | mixed | – | as [train] |")
	assert.Contains(t, string(sum), "![curves_k0.1_exact](curves_k0.1_exact.png)")
}

func TestRunCSVsAreByteIdentical(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	_, err := smallRun(t, a, 0)
	require.NoError(t, err)
	_, err = smallRun(t, b, 0)
	require.NoError(t, err)
	for _, f := range []string{"config.toml", "layers.csv", "curves.csv", "training.csv", "compare.csv", "curves_k0.1_exact.png", "top10_cached.svg"} {
		x, err := os.ReadFile(filepath.Join(a, "synthetic", f))
		require.NoError(t, err)
		y, err := os.ReadFile(filepath.Join(b, "synthetic", f))
		require.NoError(t, err)
		assert.Equal(t, x, y, f)
	}
}

func TestRunInterruptedKeepsEarlierOutputs(t *testing.T) {
	out := t.TempDir()
	_, err := smallRun(t, out, 0)
	require.NoError(t, err)
	before, err := os.ReadFile(filepath.Join(out, "synthetic", "layers.csv"))
	require.NoError(t, err)
	_, err = smallRun(t, out, 17)
	require.ErrorIs(t, err, context.Canceled)
	after, err := os.ReadFile(filepath.Join(out, "synthetic", "layers.csv"))
	require.NoError(t, err)
	assert.Equal(t, before, after)
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "the interrupted run left no temporary directory")
}

func TestReplotRedrawsFromCSVs(t *testing.T) {
	out := t.TempDir()
	_, err := smallRun(t, out, 0)
	require.NoError(t, err)
	dir := filepath.Join(out, "synthetic")
	png := filepath.Join(dir, "curves_k0.1_exact.png")
	orig, err := os.ReadFile(png)
	require.NoError(t, err)
	require.NoError(t, os.Remove(png))
	figs, err := experiments.Replot(dir)
	require.NoError(t, err)
	assert.Contains(t, figs, "curves_k0.1_exact.png")
	again, err := os.ReadFile(png)
	require.NoError(t, err)
	assert.Equal(t, orig, again)

	// A corrupted CSV is reported with its file and line.
	curves := filepath.Join(dir, "curves.csv")
	data, err := os.ReadFile(curves)
	require.NoError(t, err)
	lines := strings.SplitN(string(data), "\n", 3)
	lines[1] = lines[1][:strings.LastIndex(lines[1], ",")+1] + "x" // the mass column
	require.NoError(t, os.WriteFile(curves, []byte(strings.Join(lines, "\n")), 0o644))
	_, err = experiments.Replot(dir)
	assert.ErrorIs(t, err, experiments.ErrResults)
	assert.ErrorContains(t, err, "curves.csv line 2")
}

func TestLoadRecordsRoundTrips(t *testing.T) {
	out := t.TempDir()
	o, err := smallRun(t, out, 0, "all_curves = true")
	require.NoError(t, err)
	back, err := experiments.LoadRecords(o.Dir)
	require.NoError(t, err)
	require.Len(t, back, len(o.Records))
	for i := range back {
		a, b := o.Records[i], back[i]
		// The observer of a training run gets H and ∇Z at every recorded step
		// (analysis.exact_every = 0): every record has its exact ratio, which round-trips.
		require.False(t, math.IsNaN(a.ExactRatio), "record %d", i)
		assert.Equal(t, a, b, "record %d", i)
	}
}
