package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/internal/memlimit"
	"github.com/wtacrs/wtacrs/internal/npyfile"
	"github.com/wtacrs/wtacrs/internal/outdir"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/train"
)

// countingTrain is stubTrain that counts its calls.
func countingTrain(calls *int) experiments.TrainFunc {
	return func(ctx context.Context, cfg train.Config, opt train.Options) (*train.Result, error) {
		*calls++
		return stubTrain(ctx, cfg, opt)
	}
}

// tree maps every path under root to its content, for "nothing was touched" checks.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		require.NoError(t, err)
		rel, _ := filepath.Rel(root, p)
		if info.IsDir() {
			out[rel] = "<dir>"
			return nil
		}
		b, _ := os.ReadFile(p)
		out[rel] = string(b)
		return nil
	}))
	return out
}

// Regression: `run` replaced <out>/<name> whatever it was (myproj/thesis.tex was lost), and
// an unwritable output was found only after training.
func TestRunRefusesBeforeTraining(t *testing.T) {
	calls := 0
	experimentTrain = countingTrain(&calls)
	defer func() { experimentTrain = train.Run }()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, out string) (config string)
		want  string
	}{
		{"user directory", func(t *testing.T, out string) string {
			require.NoError(t, os.MkdirAll(filepath.Join(out, "myproj"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(out, "myproj", "thesis.tex"), []byte("chapter 1"), 0o644))
			return writeConfig(t, "[experiment]\nname = \"myproj\"\n[train]\nepochs = 1\n")
		}, "is not a results directory this program wrote"},
		{"user file", func(t *testing.T, out string) string {
			require.NoError(t, os.WriteFile(filepath.Join(out, "exp"), []byte("notes"), 0o644))
			return writeConfig(t, "[train]\nepochs = 1\n")
		}, "is not a results directory (a file)"},
		{"results with a user file added", func(t *testing.T, out string) string {
			cfg := writeConfig(t, "[train]\nepochs = 1\n")
			var so, se bytes.Buffer
			require.Equal(t, 0, run([]string{"run", "-out", out, cfg}, &so, &se), se.String())
			require.NoError(t, os.WriteFile(filepath.Join(out, "exp", "my-notes.md"), []byte("keep"), 0o644))
			return cfg
		}, "my-notes.md"},
		{"config inside the output", func(t *testing.T, out string) string {
			cfg := writeConfig(t, "[train]\nepochs = 1\n")
			var so, se bytes.Buffer
			require.Equal(t, 0, run([]string{"run", "-out", out, cfg}, &so, &se), se.String())
			return filepath.Join(out, "exp", "config.toml") // names itself "exp"
		}, "lies inside"},
		{"data inside the output", func(t *testing.T, out string) string {
			cfg := writeConfig(t, "[train]\nepochs = 1\n")
			var so, se bytes.Buffer
			require.Equal(t, 0, run([]string{"run", "-out", out, cfg}, &so, &se), se.String())
			return writeConfig(t, fmt.Sprintf("[train]\nepochs = 1\ntrain_path = %q\ndev_path = %q\n",
				filepath.Join(out, "exp", "training.csv"), filepath.Join(out, "exp", "training.csv")))
		}, "lies inside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			cfg := tc.setup(t, out)
			before := tree(t, out)
			calls = 0
			var stdout, stderr bytes.Buffer
			code := run([]string{"run", "-out", out, cfg}, &stdout, &stderr)
			assert.Equal(t, exitUsage, code, stderr.String())
			assert.Contains(t, stderr.String(), tc.want)
			assert.Zero(t, calls, "refused before training")
			assert.Equal(t, before, tree(t, out), "nothing the user owns is touched")
		})
	}
	// An impossible output folder: a path below a file.
	blocker := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))
	calls = 0
	var stdout, stderr bytes.Buffer
	code := run([]string{"run", "-out", filepath.Join(blocker, "sub"), writeConfig(t, "[train]\nepochs = 1\n")}, &stdout, &stderr)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr.String(), "cannot create the output folder")
	assert.Zero(t, calls)
}

// Regression: two concurrent runs into one <out>/<name> raced.
func TestRunRefusesWhileAnotherRunWrites(t *testing.T) {
	calls := 0
	experimentTrain = countingTrain(&calls)
	defer func() { experimentTrain = train.Run }()
	out := t.TempDir()
	held, err := outdir.Open(out, "exp", outdir.Options{Owned: func(string) error { return nil }})
	require.NoError(t, err)
	var stdout, stderr bytes.Buffer
	code := run([]string{"run", "-out", out, writeConfig(t, "[train]\nepochs = 1\n")}, &stdout, &stderr)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr.String(), "another process is writing it")
	assert.Zero(t, calls)
	require.NoError(t, held.Close())
	stderr.Reset()
	require.Equal(t, 0, run([]string{"run", "-out", out, writeConfig(t, "[train]\nepochs = 1\n")}, &stdout, &stderr), stderr.String())
}

// Regression: absurd sizes ran until a fatal out-of-memory error.
func TestRunRefusesWhatDoesNotFitInMemory(t *testing.T) {
	calls := 0
	experimentTrain = countingTrain(&calls)
	defer func() { experimentTrain = train.Run }()
	for _, tc := range []struct{ name, config string }{
		{"dim", "[train]\ndim = 1000000000\nheads = 1\n"},
		{"ffn_dim", "[train]\nffn_dim = 1000000000000\n"},
		{"max_len", "[train]\nmax_len = 100000000\n"},
		{"blocks", "[train]\nblocks = 1000000000\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"run", "-out", t.TempDir(), writeConfig(t, tc.config)}, &stdout, &stderr)
		assert.Equal(t, exitUsage, code, tc.name)
		assert.Contains(t, stderr.String(), "above the limit of", tc.name)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"run", "-mem-limit", "1MiB", "-out", t.TempDir(), writeConfig(t, "[train]\nepochs = 1\n")}, &stdout, &stderr)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr.String(), "above the limit of 1.0 MiB")
	assert.Contains(t, stderr.String(), "optimizer")
	code = run([]string{"run", "-mem-limit", "lots", "-out", t.TempDir(), writeConfig(t, "[train]\nepochs = 1\n")}, &stdout, &stderr)
	assert.Equal(t, exitUsage, code)
	assert.Zero(t, calls)
}

func TestExitStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{flag.ErrHelp, 0},
		{errUsage("x"), 2},
		{fmt.Errorf("ctx: %w", experiments.ErrConfig), 2},
		{fmt.Errorf("ctx: %w", train.ErrConfig), 2},
		{fmt.Errorf("ctx: %w", memlimit.ErrTooLarge), 2},
		{fmt.Errorf("ctx: %w", outdir.ErrRefused), 2},
		{fmt.Errorf("open: %w", os.ErrNotExist), 2},
		{fmt.Errorf("ctx: %w", outdir.ErrLocked), 1},
		{fmt.Errorf("ctx: %w", train.ErrDiverged), 1},
		{errors.New("disk full"), 1},
		{fmt.Errorf("%w: %w", interrupted{os.Interrupt}, context.Canceled), 130},
	} {
		assert.Equal(t, tc.want, exitStatus(tc.err), "%v", tc.err)
	}
}

func TestPanicIsAnInternalError(t *testing.T) {
	register(command{name: "test-panic", summary: "test", run: func([]string, io.Writer, io.Writer) error { panic("boom") }})
	defer delete(commands, "test-panic")
	var stdout, stderr bytes.Buffer
	assert.Equal(t, exitInternal, run([]string{"test-panic"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "internal error")
	assert.Contains(t, stderr.String(), "boom")
}

// writeTraces makes a minimal trace directory (norms of one layer and step) under dir.
func writeTraces(t *testing.T, dir string) {
	t.Helper()
	for name, v := range map[string][]float64{"act_norms.npy": {1, 2, 3, 4}, "grad_norms.npy": {4, 1, 1, 1}} {
		p := filepath.Join(dir, "block0.v", "step3", name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, npyfile.WriteArray(p, npyfile.Array{Shape: []int{len(v)}, Data: v, DType: "<f8"}))
	}
}

// Regression: `analyze -out . -name X X` deleted its own input traces.
func TestAnalyzeNeverReplacesItsInput(t *testing.T) {
	parent := t.TempDir()
	traces := filepath.Join(parent, "X")
	writeTraces(t, traces)
	before := tree(t, parent)
	var stdout, stderr bytes.Buffer
	code := run([]string{"analyze", "-out", parent, "-name", "X", traces}, &stdout, &stderr)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr.String(), "not a results directory this program wrote")
	assert.Equal(t, before, tree(t, parent))

	// Traces kept inside an earlier results directory of the same name.
	stderr.Reset()
	require.Equal(t, 0, run([]string{"analyze", "-out", parent, "-name", "res", traces}, &stdout, &stderr), stderr.String())
	inner := filepath.Join(parent, "res", "traces")
	writeTraces(t, inner)
	before = tree(t, parent)
	code = run([]string{"analyze", "-out", parent, "-name", "res", inner}, &stdout, &stderr)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr.String(), "does not list: traces")
	assert.Equal(t, before, tree(t, parent))
}

// Regression: `train -out` (now -json) found an unwritable or impossible path only after training, and it
// would overwrite any file, its own config included.
func TestTrainChecksItsOutputFirst(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("epochs = 1\n"), 0o644))
	notes := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(notes, []byte("mine"), 0o644))
	blocker := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))
	before := tree(t, dir)
	for _, tc := range []struct{ out, want string }{
		{cfg, "is also an input"},
		{notes, "is not a result this command wrote"},
		{dir, "is a folder"},
		{filepath.Join(blocker, "r.json"), "cannot create the output folder"},
	} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"train", "-quiet", "-json", tc.out, cfg}, &stdout, &stderr)
		assert.Equal(t, exitUsage, code, tc.out)
		assert.Contains(t, stderr.String(), tc.want, tc.out)
		assert.Empty(t, stdout.String(), "nothing trained")
	}
	assert.Equal(t, before, tree(t, dir))

	// What it wrote before may be replaced.
	res := filepath.Join(dir, "r.json")
	require.NoError(t, train.WriteJSON(res, &train.Result{DevAccuracy: 0.5}))
	b, err := os.ReadFile(res)
	require.NoError(t, err)
	assert.True(t, isTrainJSON(b))
	require.NoError(t, train.WriteJSON(res, []train.TableRow{{Name: "exact"}}))
	b, err = os.ReadFile(res)
	require.NoError(t, err)
	assert.True(t, isTrainJSON(b))
	assert.False(t, isTrainJSON([]byte(`{"name": "x"}`)))
	assert.False(t, isTrainJSON([]byte(`[]`)))
	assert.NoError(t, checkOutputFile(res, []string{cfg}, isTrainJSON))
}

// Regression: `plot DIR` on a folder of the user's own figures overwrote their PNG and SVG files
// of the same names.
func TestPlotRedrawsOnlyResultsDirectories(t *testing.T) {
	experimentTrain = stubTrain
	defer func() { experimentTrain = train.Run }()
	dir := t.TempDir()
	mine := filepath.Join(dir, "thesis-figs")
	require.NoError(t, os.MkdirAll(mine, 0o755))
	for _, f := range []string{"curves_k0.1_exact.png", "loss.svg", "training.csv", "curves.csv", "layers.csv"} {
		require.NoError(t, os.WriteFile(filepath.Join(mine, f), []byte("mine"), 0o644))
	}
	before := tree(t, mine)
	var stdout, stderr bytes.Buffer
	assert.Equal(t, exitUsage, run([]string{"plot", mine}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "not a results directory")
	assert.Equal(t, before, tree(t, mine))

	// A results directory is redrawn, and stays one (its manifest lists the figures).
	cfg := writeConfig(t, "[analysis]\nevery = 4\n[train]\nepochs = 1\n")
	require.Equal(t, 0, run([]string{"run", "-out", dir, cfg}, &stdout, &stderr), stderr.String())
	res := filepath.Join(dir, "exp")
	require.NoError(t, os.Remove(filepath.Join(res, "loss.png")))
	stdout.Reset()
	require.Equal(t, 0, run([]string{"plot", res}, &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), "loss.png")
	assert.NoError(t, experiments.CheckResultsDir(res, "exp"))
	// With a file of the user's added, it is theirs.
	require.NoError(t, os.WriteFile(filepath.Join(res, "notes.md"), []byte("mine"), 0o644))
	assert.Equal(t, exitUsage, run([]string{"plot", res}, &stdout, &stderr))
}

// Regression: `verify -out DIR` overwrote a user's own DIR/theory/findings.md; absurd -cases and
// -sketches ran for hours.
func TestVerifyKeepsUserFilesAndBoundsItsWork(t *testing.T) {
	dir := t.TempDir()
	theoryDir := filepath.Join(dir, "theory")
	require.NoError(t, os.MkdirAll(theoryDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(theoryDir, "findings.md"), []byte("my notes"), 0o644))
	before := tree(t, dir)
	var stdout, stderr bytes.Buffer
	assert.Equal(t, exitUsage, run([]string{"verify", "-out", dir, "-cases", "2", "-sketches", "100"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "not a results directory this program wrote")
	assert.Equal(t, before, tree(t, dir))

	for _, args := range [][]string{
		{"-cases", "1000000000", "-sketches", "1000"},
		{"-cases", "2", "-sketches", "9223372036854775807"},
	} {
		stderr.Reset()
		assert.Equal(t, exitUsage, run(append([]string{"verify", "-out", t.TempDir()}, args...), &stdout, &stderr), "%q", args)
		assert.Contains(t, stderr.String(), "above -max-trials")
	}
	// Its own findings are replaced.
	out := t.TempDir()
	require.Equal(t, 0, run([]string{"verify", "-out", out, "-cases", "2", "-sketches", "100"}, &stdout, &stderr), stderr.String())
	require.Equal(t, 0, run([]string{"verify", "-out", out, "-cases", "2", "-sketches", "100", "-seed", "3"}, &stdout, &stderr), stderr.String())
	assert.Equal(t, []string{"findings.json", "findings.md"}, sortedNames(t, filepath.Join(out, "theory")))
}

func sortedNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// sparseNpy writes a .npy header declaring a rows×cols float32 array and extends the file to
// the size it declares without writing the data (a sparse file: no disk is used).
func sparseNpy(t *testing.T, path string, rows, cols int) {
	t.Helper()
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	header += strings.Repeat(" ", 63-(10+len(header))%64) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(header)), byte(len(header)>>8))
	b = append(b, header...)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	require.NoError(t, os.Truncate(path, int64(len(b))+int64(rows)*int64(cols)*4))
}

// Regression: a 6 GB (sparse) float32 .npy was read into 12 GB of float64 before any memory
// check; NaN errors did not name the file.
func TestEstimateChecksMemoryBeforeReading(t *testing.T) {
	dir := t.TempDir()
	x, y := filepath.Join(dir, "X.npy"), filepath.Join(dir, "Y.npy")
	sparseNpy(t, x, 20000, 30000) // 2.4 GB of float32, 4.8 GB as float64
	sparseNpy(t, y, 30000, 2)
	var stdout, stderr bytes.Buffer
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	code := run([]string{"estimate", "-x", x, "-y", y, "-k", "3", "-mem-limit", "100MiB"}, &stdout, &stderr)
	runtime.ReadMemStats(&after)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr.String(), "above the limit of 100.0 MiB")
	assert.Contains(t, stderr.String(), x)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20), "nothing near the array's size was allocated")

	nan := filepath.Join(dir, "nan.npy")
	require.NoError(t, npyfile.Write(nan, matrix.Dense[float64]{Rows: 2, Cols: 2, Data: []float64{1, math.NaN(), 3, 4}}))
	good := filepath.Join(dir, "good.npy")
	require.NoError(t, npyfile.Write(good, matrix.Dense[float64]{Rows: 2, Cols: 2, Data: []float64{1, 2, 3, 4}}))
	stderr.Reset()
	assert.Equal(t, exitUsage, run([]string{"estimate", "-x", good, "-y", nan, "-k", "1"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), nan+" (Y)[0,1] = NaN")
}

// Regression: analyze accepted block numbers that overflow, counted block00.q and block0.q (or
// step01 and step1) as different layers, read a 6 GB (sparse) H.npy without a memory check,
// accepted duplicate sources and an empty -name, and -mem-limit 0 meant "the default".
func TestAnalyzeRefusesAmbiguousOrHugeTraces(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, traces string)
		args  []string
		want  string
	}{
		{"block overflow", func(t *testing.T, d string) {
			writeTraces(t, filepath.Join(d, "x"))
			mv(t, d, "x/block0.v", "block9223372036854775808.v")
		}, nil, "above"},
		{"leading zero block", func(t *testing.T, d string) {
			writeTraces(t, filepath.Join(d, "x"))
			mv(t, d, "x/block0.v", "block00.v")
		}, nil, "leading zero"},
		{"leading zero step", func(t *testing.T, d string) {
			writeTraces(t, filepath.Join(d, "x"))
			mv(t, d, "x/block0.v", "block0.v")
			require.NoError(t, os.Rename(filepath.Join(d, "block0.v", "step3"), filepath.Join(d, "block0.v", "step03")))
		}, nil, "leading zero"},
		{"huge H", func(t *testing.T, d string) {
			writeTraces(t, filepath.Join(d, "x"))
			mv(t, d, "x/block0.v", "block0.v")
			sparseNpy(t, filepath.Join(d, "block0.v", "step3", "H.npy"), 40000, 40000)
		}, []string{"-mem-limit", "1GiB"}, "above the limit of 1.0 GiB"},
		{"duplicate source", func(t *testing.T, d string) { writeTraces(t, d) }, []string{"-sources", "exact,exact"}, "analysis.sources[1]"},
		{"empty name", func(t *testing.T, d string) { writeTraces(t, d) }, []string{"-name", ""}, "-name is empty"},
		{"mem-limit 0", func(t *testing.T, d string) { writeTraces(t, d) }, []string{"-mem-limit", "0"}, "want a positive size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			traces := t.TempDir()
			tc.setup(t, traces)
			var stdout, stderr bytes.Buffer
			args := append(append([]string{"analyze", "-out", t.TempDir()}, tc.args...), traces)
			assert.Equal(t, exitUsage, run(args, &stdout, &stderr))
			assert.Contains(t, stderr.String(), tc.want)
		})
	}
}

// mv moves root/from to root/to.
func mv(t *testing.T, root, from, to string) {
	t.Helper()
	require.NoError(t, os.Rename(filepath.Join(root, from), filepath.Join(root, to)))
}

// Regression: a training run that diverged (NaN in the model) exited 2, the status of an input
// error; it is a runtime failure (1).
func TestDivergedTrainingExitsOne(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "div.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(tinyTrainTOML+"learning_rate = 1e300\nclip_norm = 0.0\n"), 0o644))
	code, _, stderr := runCLI("train", "-quiet", cfg)
	assert.Equal(t, exitFailure, code, stderr)
	assert.Contains(t, stderr, "training diverged")
}
