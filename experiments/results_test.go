package experiments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/experiments"
)

// tinyConfig is the default configuration as experiment "exp" of one epoch.
func tinyConfig() experiments.Config {
	cfg := experiments.DefaultConfig()
	cfg.Experiment.Name = "exp"
	cfg.Train.Epochs = 1
	return cfg
}

// tinyRun runs cfg into out with five fake training steps.
func tinyRun(t *testing.T, cfg experiments.Config, out string) *experiments.Outcome {
	t.Helper()
	o, err := experiments.Run(context.Background(), cfg, experiments.Options{Out: out, Train: fakeTrain(5, 0)})
	require.NoError(t, err)
	return o
}

func TestCheckResultsDir(t *testing.T) {
	t.Parallel()
	o := tinyRun(t, tinyConfig(), t.TempDir())
	require.NoError(t, experiments.CheckResultsDir(o.Dir, "exp"))

	assert.ErrorContains(t, experiments.CheckResultsDir(o.Dir, "other"), `not the manifest of experiment "other"`)
	assert.ErrorIs(t, experiments.CheckResultsDir(t.TempDir(), "exp"), experiments.ErrNotResults)

	// A file the user added makes it theirs.
	require.NoError(t, os.WriteFile(filepath.Join(o.Dir, "notes.md"), []byte("mine"), 0o644))
	assert.ErrorContains(t, experiments.CheckResultsDir(o.Dir, "exp"), "notes.md")
	require.NoError(t, experiments.RecordFiles(o.Dir, []string{"notes.md"}))
	require.NoError(t, experiments.CheckResultsDir(o.Dir, "exp"), "once recorded in the manifest")

	// A sub-directory is never an output.
	require.NoError(t, os.Mkdir(filepath.Join(o.Dir, "sub"), 0o755))
	assert.ErrorContains(t, experiments.CheckResultsDir(o.Dir, "exp"), "sub")

	// Some other program's manifest.json.
	other := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(other, experiments.ManifestFile), []byte(`{"name": "my web app", "icons": []}`), 0o644))
	assert.ErrorIs(t, experiments.CheckResultsDir(other, "exp"), experiments.ErrNotResults)
	require.NoError(t, os.WriteFile(filepath.Join(other, experiments.ManifestFile), []byte(`not json`), 0o644))
	assert.ErrorIs(t, experiments.CheckResultsDir(other, "exp"), experiments.ErrNotResults)
}

func TestRunReplacesItsOwnResults(t *testing.T) {
	t.Parallel()
	cfg, out := tinyConfig(), t.TempDir()
	tinyRun(t, cfg, out)
	cfg.Experiment.Description = "second"
	o := tinyRun(t, cfg, out)
	sum, err := os.ReadFile(filepath.Join(o.Dir, experiments.SummaryFile))
	require.NoError(t, err)
	assert.Contains(t, string(sum), "second")
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no staging directory, old results or lock file left")
}

// The manifests already committed, some written before the GEMM backend was recorded, still
// decode with no field unknown, and a program that rewrites one (RecordFiles) does not make up
// a backend for one that has none.
func TestCommittedManifestsStillRead(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob("../results/*/" + experiments.ManifestFile)
	require.NoError(t, err)
	paths = append(paths, filepath.Join("testdata", "earlier-fig10", experiments.ManifestFile))
	for _, p := range paths {
		js, err := os.ReadFile(p)
		require.NoError(t, err)
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		var m experiments.Manifest
		require.NoError(t, dec.Decode(&m), p)
		out, err := json.MarshalIndent(m, "", "  ")
		require.NoError(t, err)
		assert.Equal(t, bytes.Contains(js, []byte(`"gemm_backend"`)), bytes.Contains(out, []byte(`"gemm_backend"`)), p)
	}
}
