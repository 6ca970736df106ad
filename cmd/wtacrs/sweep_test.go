package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/sweep"
)

// tinySweep is a sweep of 4 jobs of a few steps each, without analyses (fast).
const tinySweep = `
[sweep]
name = "tiny"

[axes]
seeds = [1, 2]
methods = ["exact", "wtacrs:0.5"]

[analysis]
enabled = false

[train]
dim = 16
heads = 2
blocks = 1
ffn_dim = 32
max_len = 24
vocab_size = 300
max_train = 32
max_dev = 16
batch_size = 8
epochs = 1
`

// tables reads the merged CSV and Markdown files of a sweep folder.
func tables(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, pat := range []string{"*.csv", "*.md", "*/*.csv"} {
		paths, err := filepath.Glob(filepath.Join(dir, sweep.MergedDir, pat))
		require.NoError(t, err)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			rel, _ := filepath.Rel(dir, p)
			out[rel] = string(b)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// A local sweep and the same sweep run task by task through `wtacrs sweep run-job -task`, the
// command a Slurm array task runs, merge to the same bytes.
func TestSweepCommandLocalAndTasks(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tiny.toml")
	require.NoError(t, os.WriteFile(file, []byte(tinySweep), 0o644))
	a, b := t.TempDir(), t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"sweep", "-jobs", "2", "-out", a, file}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	out := stdout.String()
	assert.Contains(t, out, "sweep tiny: 4 jobs in "+filepath.Join(a, "tiny")+" (0 done, 0 running, 0 failed, 4 pending); running 2 at once")
	assert.Contains(t, out, "[4/4] done ")
	assert.Contains(t, out, "ETA ")
	assert.Contains(t, out, "merged into "+filepath.Join(a, "tiny", sweep.MergedDir))

	// Again: every job is skipped.
	stdout.Reset()
	code = run([]string{"sweep", "-out", a, file}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stdout.String(), "(4 done, 0 running, 0 failed, 0 pending)")
	assert.Contains(t, stdout.String(), "done already")

	stdout.Reset()
	code = run([]string{"sweep", "status", filepath.Join(a, "tiny")}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stdout.String(), "4 jobs: 4 done, 0 running, 0 failed, 0 pending")

	stdout.Reset()
	code = run([]string{"sweep", "-list", file}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stdout.String(), "sweep tiny: 4 jobs; axes: method, seed\n")

	// The Slurm script, then each task's command by hand.
	stdout.Reset()
	code = run([]string{"sweep", "-slurm", "-bin", "/bin/sh", "-out", b, file}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stdout.String(), "wrote "+filepath.Join(b, "tiny", sweep.ScriptFile))
	assert.FileExists(t, filepath.Join(b, "tiny", sweep.ScriptFile))
	for i := range 4 {
		stdout.Reset()
		code = run([]string{"sweep", "run-job", "-task", strconv.Itoa(i), filepath.Join(b, "tiny")}, &stdout, &stderr)
		require.Equal(t, 0, code, stderr.String())
		assert.Contains(t, stdout.String(), "done in ")
	}
	stdout.Reset()
	code = run([]string{"sweep", "run-job", "-task", "0", filepath.Join(b, "tiny")}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stdout.String(), "done already, skipped")
	code = run([]string{"sweep", "merge", filepath.Join(b, "tiny")}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Equal(t, tables(t, filepath.Join(a, "tiny")), tables(t, filepath.Join(b, "tiny")))
}

func TestSweepCommandErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tiny.toml")
	require.NoError(t, os.WriteFile(file, []byte(tinySweep), 0o644))
	bad := filepath.Join(dir, "bad.toml")
	require.NoError(t, os.WriteFile(bad, []byte("[axes]\nseeds = [1]\nmethod = [\"exact\"]\n"), 0o644))
	prepared := t.TempDir()
	var so, se bytes.Buffer
	require.Equal(t, 0, run([]string{"sweep", "-slurm", "-bin", "/bin/sh", "-out", prepared, file}, &so, &se), se.String())
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no file", []string{"sweep"}, 2, "exactly one SWEEP.toml"},
		{"unknown axis", []string{"sweep", "-list", bad}, 2, "bad.toml line 3: unknown key axes.method"},
		{"submit without slurm", []string{"sweep", "-submit", file}, 2, "go with -slurm"},
		{"jobs with slurm", []string{"sweep", "-slurm", "-jobs", "2", file}, 2, "for a local run"},
		{"bad slurm time", []string{"sweep", "-slurm", "-bin", "/bin/sh", "-time", "soon", "-out", t.TempDir(), file}, 2, "sweep.slurm.time"},
		{"not a program", []string{"sweep", "-slurm", "-bin", dir, "-out", t.TempDir(), file}, 2, "not an executable program"},
		{"merge nothing", []string{"sweep", "merge", t.TempDir()}, 2, "unusable sweep folder"},
		{"merge not done", []string{"sweep", "merge", filepath.Join(prepared, "tiny")}, 1, "4 of 4 jobs"},
		{"unknown hash", []string{"sweep", "run-job", filepath.Join(prepared, "tiny"), "0123456789abcdef"}, 2, `no job "0123456789abcdef"`},
		{"task out of range", []string{"sweep", "run-job", "-task", "4", filepath.Join(prepared, "tiny")}, 2, "jobs 0 to 3"},
		{"status nothing", []string{"sweep", "status", t.TempDir()}, 2, "unusable sweep folder"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		assert.Equal(t, tc.code, code, "%s: %s", tc.name, stderr.String())
		assert.Contains(t, stderr.String(), tc.want, tc.name)
	}
	// A folder of the user's is not made a sweep folder.
	mine := filepath.Join(t.TempDir(), "tiny")
	require.NoError(t, os.MkdirAll(mine, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(mine, "notes.txt"), []byte("mine"), 0o644))
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 2, run([]string{"sweep", "-out", filepath.Dir(mine), file}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "is not a sweep folder")
}
