package experiments_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/experiments"
)

func TestParseConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := experiments.ParseConfig([]byte("[train]\nepochs = 1\n"), "x.toml", "x")
	require.NoError(t, err)
	d := experiments.DefaultConfig()
	assert.Equal(t, "x", c.Experiment.Name)
	assert.Equal(t, d.Analysis, c.Analysis)
	assert.Equal(t, 1, c.Train.Epochs)
	assert.Equal(t, d.Train.Dim, c.Train.Dim)
}

func TestParseConfigErrorsNameKeyAndLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"unknown key", "[analysis]\nevery = 5\nbudgetz = [0.1]\n", []string{"line 3", "analysis.budgetz"}},
		{"unknown table", "[experiment]\nname = \"a\"\n\n[plots]\nx = 1\n", []string{"line 5", "plots.x"}},
		{"unknown train key", "[train]\ndim = 64\nheadz = 4\n", []string{"line 3", "train.headz"}},
		{"unknown variant key", "[[compare.variant]]\nname = \"a\"\nratoi = 0.3\n", []string{"line 3", "compare.variant.ratoi"}},
		{"wrong type", "[analysis]\n\nevery = \"ten\"\n", []string{"line 3", "analysis.every"}},
		{"wrong element type", "[analysis]\nbudgets = [0.1, \"half\"]\n", []string{"line 2", "analysis.budgets"}},
		{"wrong train type", "[train]\nepochs = 1.5\n", []string{"line 2", "train.epochs"}},
		{"malformed", "[analysis]\nevery = \n", []string{"line 2"}},
		{"duplicate", "[analysis]\nevery = 1\nevery = 2\n", []string{"line 3", "analysis.every"}},
		{"bad value", "[analysis]\nevery = 0\n", []string{"line 2", "analysis.every"}},
		{"bad budget", "[analysis]\n\nbudgets = [0.1, 1.5]\n", []string{"line 3", "analysis.budgets[1]"}},
		{"bad source", "[analysis]\nsources = [\"cache\"]\n", []string{"line 2", "analysis.sources[0]"}},
		{"bad kind", "[analysis]\nkinds = [\"q\", \"x\"]\n", []string{"line 2", "analysis.kinds[1]"}},
		{"bad block", "[analysis]\nblocks = [5]\n", []string{"line 2", "analysis.blocks[0]"}},
		{"bad train value", "[train]\nbatch_size = 0\n", []string{"line 2", "batch_size"}},
		{"bad train layer", "[train.layers.q]\nmethod = \"wtacrs\"\nratio = 2.0\n", []string{"line 3", "layers.q.ratio"}},
		{"bad variant", "[[compare.variant]]\nname = \"a\"\nmethod = \"fast\"\n", []string{"line 3", "compare.variant[0].method"}},
		{"duplicate variant", "[[compare.variant]]\nname = \"a\"\n[[compare.variant]]\nname = \"a\"\n", []string{"compare.variant[1].name"}},
		{"bad name", "[experiment]\nname = \"../x\"\n", []string{"line 2", "experiment.name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := experiments.ParseConfig([]byte(tc.text), "c.toml", "c")
			require.ErrorIs(t, err, experiments.ErrConfig)
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
			assert.ErrorContains(t, err, "c.toml")
		})
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	_, err := experiments.LoadConfig(filepath.Join(t.TempDir(), "missing.toml"))
	assert.ErrorIs(t, err, experiments.ErrConfig)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// Every shipped configuration parses, and its name is its file name.
func TestShippedConfigs(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("configs/*.toml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		c, err := experiments.LoadConfig(f)
		require.NoError(t, err, f)
		if filepath.Base(f) != "reference.toml" {
			assert.Equal(t, filepath.Base(f), c.Experiment.Name+".toml")
		}
	}
}

func TestEncodeRoundTrips(t *testing.T) {
	t.Parallel()
	c, err := experiments.ParseConfig([]byte(smallConfig), "s.toml", "s")
	require.NoError(t, err)
	text, err := c.Encode()
	require.NoError(t, err)
	back, err := experiments.ParseConfig(text, "as-run.toml", "other")
	require.NoError(t, err)
	assert.Equal(t, c, back)
}
