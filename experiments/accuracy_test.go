package experiments_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/experiments"
)

// TestMeanCI checks the interval on a hand case: values 1, 2, 3 have mean 2, standard error
// 1/√3 and t(0.975, 2 dof) = 4.302652729911275, so the half-width is 2.4841377118.
func TestMeanCI(t *testing.T) {
	m, h := experiments.MeanCI([]float64{1, 2, 3})
	assert.Equal(t, 2.0, m)
	assert.InDelta(t, 4.302652729911275/math.Sqrt(3), h, 1e-9)
	m, h = experiments.MeanCI([]float64{0.5})
	assert.Equal(t, 0.5, m)
	assert.True(t, math.IsNaN(h))
}

// TestAccuracyRun runs a small accuracy run for real and checks its files.
func TestAccuracyRun(t *testing.T) {
	text := `
[analysis]
enabled = false
[accuracy]
seeds = [1, 2]
ratios = [0.5]
[train]
dim = 16
heads = 2
blocks = 1
ffn_dim = 32
max_len = 32
max_train = 48
max_dev = 16
epochs = 1
pooling = "mean"
`
	cfg, err := experiments.ParseConfig([]byte(text), "acc.toml", "acc")
	require.NoError(t, err)
	out := t.TempDir()
	o, err := experiments.Run(context.Background(), cfg, experiments.Options{Out: out})
	require.NoError(t, err)
	csv, err := os.ReadFile(filepath.Join(o.Dir, experiments.AccuracyFile))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	require.Len(t, lines, 1+2*2, string(csv))
	assert.True(t, strings.HasPrefix(lines[1], "all,exact,,1,"), lines[1])
	assert.True(t, strings.HasPrefix(lines[4], "all,wtacrs,0.5,2,"), lines[4])
	sum, err := os.ReadFile(filepath.Join(o.Dir, experiments.SummaryFile))
	require.NoError(t, err)
	assert.Contains(t, string(sum), "95% CI")
	require.NoError(t, experiments.CheckResultsDir(o.Dir, "acc"))

	// The same configuration gives the same accuracy.csv, whatever the number of jobs.
	defer experiments.SetAccuracyJobs(1)()
	o2, err := experiments.Run(context.Background(), cfg, experiments.Options{Out: t.TempDir()})
	require.NoError(t, err)
	csv2, err := os.ReadFile(filepath.Join(o2.Dir, experiments.AccuracyFile))
	require.NoError(t, err)
	assert.Equal(t, string(csv), string(csv2))
}

func TestAccuracyConfigErrors(t *testing.T) {
	for _, tc := range []struct{ text, key string }{
		{"[analysis]\nenabled = false\n[accuracy]\nseeds = [1, 1]\nratios = [0.3]\n", "accuracy.seeds[1]"},
		{"[analysis]\nenabled = false\n[accuracy]\nseeds = [1]\n", "accuracy.ratios"},
		{"[analysis]\nenabled = false\n[accuracy]\nseeds = [1]\nratios = [1.5]\n", "accuracy.ratios[0]"},
		{"[accuracy]\nseeds = [1]\nratios = [0.3]\n", "analysis.enabled"},
		{"[accuracy]\nratios = [0.3]\n", "accuracy.seeds"},
	} {
		_, err := experiments.ParseConfig([]byte(tc.text), "a.toml", "a")
		require.Error(t, err, tc.text)
		assert.ErrorIs(t, err, experiments.ErrConfig)
		assert.Contains(t, err.Error(), tc.key, tc.text)
	}
}
