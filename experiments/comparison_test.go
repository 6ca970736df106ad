package experiments_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/experiments"
)

// Two results directories are drawn side by side, against the step and at matched loss, with
// every plotted number in comparison.csv; the output is replaced atomically and may not hold
// the inputs.
func TestWriteComparison(t *testing.T) {
	t.Parallel()
	a, b := sharedRuns(t)
	runs := []experiments.ComparisonRun{{Label: "from scratch", Dir: a.Dir}, {Label: "pretrained", Dir: b.Dir}}

	figs, err := experiments.ComparisonFigures(runs)
	require.NoError(t, err)
	var names []string
	for _, f := range figs {
		names = append(names, f.Name)
		require.Len(t, f.Panels, 12, "%s: 3 kinds × 2 quantities × (step, loss)", f.Name)
		assert.Contains(t, f.Title, "from scratch vs pretrained")
		for i, pn := range f.Panels {
			assert.Equal(t, [2]float64{0, 1}, [2]float64{pn.YMin, pn.YMax}, pn.Title)
			if i%2 == 0 {
				assert.Equal(t, []string{"from scratch", "pretrained"}, labels(pn), pn.Title)
				assert.NotNil(t, pn.Series[0].Lo, "three seeds: a band")
				assert.Nil(t, pn.Series[1].Lo, "one seed: none")
			} else {
				assert.Contains(t, pn.XLabel, "smoothed training loss")
				assert.Equal(t, []string{"from scratch (a point per seed and step)", "pretrained (a point per seed and step)"}, labels(pn))
			}
		}
	}
	assert.Equal(t, []string{"compare_k0.1_exact", "compare_k0.5_exact", "compare_k0.1_cached", "compare_k0.5_cached"}, names)

	out := filepath.Join(t.TempDir(), "cmp")
	files, err := experiments.WriteComparison(out, runs)
	require.NoError(t, err)
	assert.Contains(t, files, "compare_k0.1_exact.png")
	assert.Contains(t, files, "comparison.csv")
	require.NoError(t, experiments.CheckResultsDir(out, "cmp"), "a directory its manifest describes")
	rows := readCSV(t, filepath.Join(out, "comparison.csv"))
	assert.Equal(t, []string{"label", "seed", "kind", "source", "budget", "step", "loss", "blocks", "top10_mass", "above_diagonal"}, rows[0])
	seen := map[string]bool{}
	for _, r := range rows[1:] {
		seen[r[0]+" "+r[1]] = true
		assert.Equal(t, "2", r[7], "two blocks averaged")
		assert.NotEmpty(t, r[6], "every recorded step has a loss")
	}
	assert.Equal(t, map[string]bool{"from scratch 1": true, "from scratch 2": true, "from scratch 3": true, "pretrained 1": true}, seen)
	conf, err := os.ReadFile(filepath.Join(out, "comparison.toml"))
	require.NoError(t, err)
	assert.Contains(t, string(conf), `label = "from scratch"`)

	// Again: replaced in place, same numbers.
	again, err := experiments.WriteComparison(out, runs)
	require.NoError(t, err)
	assert.Equal(t, files, again)
	assert.Equal(t, rows, readCSV(t, filepath.Join(out, "comparison.csv")))

	mine := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(mine, "notes.md"), []byte("mine"), 0o644))
	for _, tc := range []struct {
		name string
		runs []experiments.ComparisonRun
		out  string
		want string
	}{
		{"one run", runs[:1], t.TempDir() + "/x", "two or more"},
		{"same label", []experiments.ComparisonRun{runs[0], {Label: "from scratch", Dir: b.Dir}}, t.TempDir() + "/x", "unique"},
		{"empty label", []experiments.ComparisonRun{runs[0], {Dir: b.Dir}}, t.TempDir() + "/x", "unique and not empty"},
		{"not results", []experiments.ComparisonRun{runs[0], {Label: "x", Dir: t.TempDir()}}, t.TempDir() + "/x", "holds no analyses"},
		{"output is an input", runs, a.Dir, "refusing to write the output"},
		{"output of someone else", runs, mine, "manifest"},
	} {
		_, err := experiments.WriteComparison(tc.out, tc.runs)
		require.Error(t, err, tc.name)
		assert.True(t, strings.Contains(err.Error(), tc.want), "%s: %v", tc.name, err)
	}
}
