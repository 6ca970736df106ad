package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/train"
)

// wtacrs plot -compare draws two results directories side by side, labelled in order; wtacrs run
// -jobs bounds the seeds trained at once.
func TestPlotCompareCommand(t *testing.T) {
	experimentTrain = stubTrain
	defer func() { experimentTrain = train.Run }()
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	a := writeConfig(t, "[experiment]\nname = \"scratch\"\nseeds = [1, 2]\n[analysis]\nevery = 4\n[train]\nepochs = 1\n")
	require.Equal(t, 0, run([]string{"run", "-jobs", "1", "-out", out, a}, &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), "main seed 2: step 1/12")
	b := writeConfig(t, "[experiment]\nname = \"pre\"\n[analysis]\nevery = 4\n[train]\nepochs = 1\n")
	require.Equal(t, 0, run([]string{"run", "-out", out, b}, &stdout, &stderr), stderr.String())

	cmp := filepath.Join(t.TempDir(), "cmp")
	stdout.Reset()
	code := run([]string{"plot", "-compare", cmp, "-label", "from scratch", filepath.Join(out, "scratch"), filepath.Join(out, "pre")}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stdout.String(), filepath.Join(cmp, "compare_k0.1_exact.png"))
	assert.FileExists(t, filepath.Join(cmp, "compare_k0.5_exact.svg"))
	data, err := os.ReadFile(filepath.Join(cmp, "comparison.toml"))
	require.NoError(t, err)
	conf := string(data)
	assert.Contains(t, conf, `label = "from scratch"`)
	assert.Contains(t, conf, `label = "pre"`, "the directory's name by default")

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"compare one", []string{"plot", "-compare", cmp, filepath.Join(out, "pre")}, "two or more RESULTS_DIR"},
		{"labels without compare", []string{"plot", "-label", "x", filepath.Join(out, "pre")}, "-label is for -compare"},
		{"too many labels", []string{"plot", "-compare", cmp, "-label", "a", "-label", "b", "-label", "c", filepath.Join(out, "pre"), filepath.Join(out, "scratch")}, "3 labels for 2"},
		{"negative jobs", []string{"run", "-jobs", "-1", a}, "-jobs -1"},
	} {
		var so, se bytes.Buffer
		assert.Equal(t, exitUsage, run(tc.args, &so, &se), tc.name)
		assert.Contains(t, se.String(), tc.want, tc.name)
	}
}
