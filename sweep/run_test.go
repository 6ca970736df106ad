package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/internal/outdir"
	"github.com/wtacrs/wtacrs/train"
)

// prepareTiny prepares the sweep of testdata/tiny.toml in a fresh folder.
func prepareTiny(t *testing.T) (*Sweep, string, *Index) {
	t.Helper()
	s, err := Load("testdata/tiny.toml")
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), s.Name)
	idx, jobs, err := Prepare(s, dir)
	require.NoError(t, err)
	require.Len(t, jobs, 4)
	return s, dir, idx
}

// mergedTables returns every CSV and Markdown file of dir/merged (the variant folders' too) by
// its path relative to it.
func mergedTables(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := filepath.Join(dir, MergedDir)
	require.NoError(t, filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		require.NoError(t, err)
		if ext := filepath.Ext(path); ext == ".csv" || ext == ".md" {
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			rel, _ := filepath.Rel(root, path)
			out[rel] = string(b)
		}
		return nil
	}))
	return out
}

// TestRunsMergeToTheSameBytes runs the tiny sweep one job at a time, and two at once with a
// job failing, then resumed, then with a job interrupted and resumed, and checks that the
// merged tables are the same bytes, that a resumed sweep trains only the jobs not done, and
// that the variant folders' CSV files are those a multi-seed wtacrs run of the variant writes.
// (cmd/wtacrs compares a local run with one through the entry point of a Slurm task.)
func TestRunsMergeToTheSameBytes(t *testing.T) {
	ctx := context.Background()
	var trained atomic.Int64
	counting := func(ctx context.Context, c train.Config, o train.Options) (*train.Result, error) {
		trained.Add(1)
		return train.Run(ctx, c, o)
	}

	// One at a time.
	_, dir, _ := prepareTiny(t)
	var events []Event
	c, err := RunLocal(ctx, dir, LocalOptions{Jobs: 1, Train: counting, Progress: func(e Event) { events = append(events, e) }})
	require.NoError(t, err)
	assert.Equal(t, Counts{Done: 4}, c)
	require.Len(t, events, 8, "a start and an end per job")
	assert.Equal(t, Counts{Done: 3, Running: 1}, events[6].Counts)
	assert.Positive(t, events[6].ETA)
	assert.Equal(t, Counts{Done: 4}, events[7].Counts)
	_, err = Merge(dir, MergeOptions{})
	require.NoError(t, err)
	want := mergedTables(t, dir)
	for _, f := range []string{"dev_accuracy.csv", "dev_accuracy.md", "tape_mib.csv", MergedJobsFile, MergedFindingsFile, MergedSummaryFile,
		filepath.Join("01-exact", experiments.CurvesFile), filepath.Join("02-WTA-CRS_0.5", experiments.LayersFile)} {
		assert.Contains(t, want, f)
	}
	assert.FileExists(t, filepath.Join(dir, MergedDir, "accuracy.png"))
	assert.FileExists(t, filepath.Join(dir, MergedDir, "02-WTA-CRS_0.5", "curves_k0.5_exact.png"))
	// Run again: nothing to train.
	c, err = RunLocal(ctx, dir, LocalOptions{Jobs: 2, Train: counting})
	require.NoError(t, err)
	assert.Equal(t, Counts{Done: 4}, c)
	assert.EqualValues(t, 4, trained.Load())

	// Two at once, one job failing.
	_, dir, idx := prepareTiny(t)
	target := idx.Jobs[2]
	method := train.MethodWTACRS
	if target.Variant == train.MethodExact {
		method = train.MethodExact
	}
	flaky := func(ctx context.Context, c train.Config, o train.Options) (*train.Result, error) {
		if c.Seed == target.Seed && c.Kind("q").Method == method {
			return nil, errors.New("boom")
		}
		return counting(ctx, c, o)
	}
	trained.Store(0)
	c, err = RunLocal(ctx, dir, LocalOptions{Jobs: 2, Train: flaky})
	require.ErrorIs(t, err, ErrFailed)
	assert.Contains(t, err.Error(), target.Hash)
	assert.Contains(t, err.Error(), "boom")
	assert.Equal(t, Counts{Done: 3, Failed: 1}, c)
	status := Status(dir, idx)
	assert.Equal(t, Failed, status[2].Status)
	assert.Contains(t, status[2].State.Error, "boom")
	_, err = Merge(dir, MergeOptions{})
	require.ErrorIs(t, err, ErrIncomplete)
	assert.Contains(t, err.Error(), target.Hash)
	_, err = Merge(dir, MergeOptions{Partial: true, NoFigures: true})
	require.NoError(t, err)
	sum, err := os.ReadFile(filepath.Join(dir, MergedDir, MergedSummaryFile))
	require.NoError(t, err)
	assert.Contains(t, string(sum), "**Partial merge**: 1 jobs not done ("+target.Hash+")")
	c, err = RunLocal(ctx, dir, LocalOptions{Jobs: 2, Train: counting})
	require.NoError(t, err)
	assert.Equal(t, Counts{Done: 4}, c)
	assert.EqualValues(t, 4, trained.Load(), "the failed job alone ran again")
	_, err = Merge(dir, MergeOptions{NoFigures: true})
	require.NoError(t, err, "a merge replaces the partial one")
	sameTables(t, want, mergedTables(t, dir), "-jobs 1 and -jobs 2 merge to the same bytes")

	// An interrupted job: its results there, its job.json not yet, a state.json saying it runs
	// in a process that is gone.
	j := idx.Jobs[1]
	require.NoError(t, os.Remove(filepath.Join(JobDir(dir, j.Hash), JobFile)))
	st, _ := json.Marshal(State{State: Running, Host: hostname(t), PID: 1 << 30})
	require.NoError(t, os.WriteFile(filepath.Join(JobDir(dir, j.Hash), StateFile), st, 0o644))
	status = Status(dir, idx)
	assert.Equal(t, Failed, status[1].Status)
	assert.Contains(t, status[1].State.Error, "gone without finishing")
	c, err = RunLocal(ctx, dir, LocalOptions{Jobs: 2, Train: counting})
	require.NoError(t, err)
	assert.Equal(t, Counts{Done: 4}, c)
	assert.EqualValues(t, 5, trained.Load(), "only the interrupted job ran again")
	assert.NoFileExists(t, filepath.Join(JobDir(dir, j.Hash), StateFile))
	entries, err := os.ReadDir(JobDir(dir, j.Hash))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{ConfigFile, JobFile, idx.Sweep}, names, "no staging folder or lock left")
	_, err = Merge(dir, MergeOptions{NoFigures: true})
	require.NoError(t, err)
	sameTables(t, want, mergedTables(t, dir), "a resumed sweep merges to the same bytes")

	// The variant folder is what wtacrs run writes for the variant's configuration over the
	// same seeds.
	s, err := Load("testdata/tiny.toml")
	require.NoError(t, err)
	cfg := s.jobs[0].cfg // exact, seed 1
	cfg.Experiment.Seeds = slices.Clone(s.Seeds)
	out := t.TempDir()
	_, err = experiments.Run(ctx, cfg, experiments.Options{Out: out})
	require.NoError(t, err)
	for _, f := range concatenated {
		b, err := os.ReadFile(filepath.Join(out, cfg.Experiment.Name, f))
		require.NoError(t, err)
		assert.Equal(t, string(b), want[filepath.Join("01-exact", f)], f)
	}
}

func TestPrepareRefusesWhatItDidNotWrite(t *testing.T) {
	s, err := Load("testdata/tiny.toml")
	require.NoError(t, err)
	// A folder of the user's.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644))
	_, _, err = Prepare(s, dir)
	require.ErrorIs(t, err, outdir.ErrRefused)
	b, err := os.ReadFile(filepath.Join(dir, "notes.txt"))
	require.NoError(t, err)
	assert.Equal(t, "mine", string(b))
	// Another sweep's folder.
	other := *s
	other.Name = "other"
	dir = filepath.Join(t.TempDir(), "x")
	_, _, err = Prepare(&other, dir)
	require.NoError(t, err)
	_, _, err = Prepare(s, dir)
	require.ErrorIs(t, err, outdir.ErrRefused)
	assert.Contains(t, err.Error(), `the folder of the sweep "other"`)
	// An edited job configuration.
	_, dir, idx := prepareTiny(t)
	path := filepath.Join(JobDir(dir, idx.Jobs[0].Hash), ConfigFile)
	b, err = os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	_, _, err = Prepare(s, dir)
	require.ErrorIs(t, err, ErrFolder)
	_, _, err = RunJob(context.Background(), dir, idx.Jobs[0].Hash, RunOptions{})
	require.ErrorIs(t, err, ErrFolder)
	assert.Contains(t, err.Error(), "no longer has the hash")
	// Preparing again keeps the jobs' folders.
	require.NoError(t, os.WriteFile(path, b, 0o644))
	_, _, err = Prepare(s, dir)
	require.NoError(t, err)
}

func TestScript(t *testing.T) {
	_, dir, idx := prepareTiny(t)
	res := Slurm{CPUs: 2, Memory: "2G", Time: "00:30:00", Partition: "short", Throttle: 3, Options: []string{"--account=lab"}}
	path, err := WriteScript(dir, idx, "/opt/bin/wtacrs", res)
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	text := string(b)
	abs, err := filepath.Abs(dir)
	require.NoError(t, err)
	for _, want := range []string{"#!/bin/bash\n", "#SBATCH --array=0-3%3\n", "#SBATCH --cpus-per-task=2\n", "#SBATCH --mem=2G\n",
		"#SBATCH --time=00:30:00\n", "#SBATCH --partition=short\n", "#SBATCH --account=lab\n",
		"#SBATCH --output=" + abs + "/logs/%A_%a.out\n", "  " + idx.Jobs[3].Hash + " # 3: ",
		"export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}\n",
		"exec '/opt/bin/wtacrs' sweep run-job '" + abs + "' \"${hashes[$SLURM_ARRAY_TASK_ID]}\"\n"} {
		assert.Contains(t, text, want)
	}
	assert.DirExists(t, filepath.Join(dir, LogsDir))
	_, err = Script("/a b/sweep", idx, "/opt/bin/wtacrs", res)
	require.ErrorIs(t, err, outdir.ErrRefused)
	_, err = Script(abs, idx, "wtacrs", res)
	require.ErrorIs(t, err, outdir.ErrRefused)
	res.Time = "soon"
	_, err = Script(abs, idx, "/opt/bin/wtacrs", res)
	require.ErrorIs(t, err, ErrConfig)
}

// sameTables checks that two merges have the same files with the same bytes, naming the
// files that differ.
func sameTables(t *testing.T, want, got map[string]string, msg string) {
	t.Helper()
	var names []string
	for n := range want {
		names = append(names, n)
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		if want[n] != got[n] {
			t.Errorf("%s: %s differs:\nwant %.300q\n got %.300q", msg, n, want[n], got[n])
		}
	}
}

func hostname(t *testing.T) string {
	h, err := os.Hostname()
	require.NoError(t, err)
	return h
}

// A job recorded as running in a Slurm task is failed once squeue no longer lists the task
// (killed at its time limit, say), and running while it does or while squeue cannot tell.
func TestSlurmTaskLeftTheQueue(t *testing.T) {
	_, dir, idx := prepareTiny(t)
	j := idx.Jobs[0]
	st, _ := json.Marshal(State{State: Running, Host: "node7", PID: 42, Slurm: "99_0", Log: "/x/logs/99_0.out"})
	require.NoError(t, os.WriteFile(filepath.Join(JobDir(dir, j.Hash), StateFile), st, 0o644))
	bin := t.TempDir()
	for _, tc := range []struct {
		script, want string
	}{
		{"#!/bin/sh\necho RUNNING\n", Running},
		{"#!/bin/sh\nexit 0\n", Failed},
		{"#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n", Failed},
		{"#!/bin/sh\necho 'Could not establish a configuration source' >&2\nexit 1\n", Running},
	} {
		require.NoError(t, os.WriteFile(filepath.Join(bin, "squeue"), []byte(tc.script), 0o755))
		t.Setenv("PATH", bin)
		s := Status(dir, idx)[0]
		assert.Equal(t, tc.want, s.Status, tc.script)
		if tc.want == Failed {
			assert.Contains(t, s.State.Error, "Slurm task 99_0 left the queue")
			assert.Equal(t, "/x/logs/99_0.out", s.State.Log)
		}
	}
}
