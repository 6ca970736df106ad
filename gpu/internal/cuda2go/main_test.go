package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gpuDir is package gpu, seen from here.
const gpuDir = "../.."

// The committed kernels_gen.go and launch_gen.go are what the kernel sources generate: run
// go generate ./gpu after changing a kernel's signature or common.cuh.
func TestGeneratedFilesUpToDate(t *testing.T) {
	t.Parallel()
	files, err := Generate(gpuDir)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{tableFile, launchFile}, sortedKeys(files))
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(gpuDir, name))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), "gpu/%s is stale: run go generate ./gpu", name)
	}
}

func TestCheckReportsStaleFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(dir, "kernels"), os.DirFS(filepath.Join(gpuDir, "kernels"))))
	require.Error(t, run(dir, true), "no generated files yet")
	require.NoError(t, run(dir, false))
	require.NoError(t, run(dir, true))
	for _, name := range []string{tableFile, launchFile} {
		want, err := os.ReadFile(filepath.Join(gpuDir, name))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, tableFile), []byte("package gpu\n"), 0o644))
	require.ErrorContains(t, run(dir, true), "out of date")
}

func TestParseParam(t *testing.T) {
	t.Parallel()
	tests := []struct {
		decl    string
		want    kernelParam
		wantErr string
	}{
		{decl: "const double *__restrict__ w", want: kernelParam{name: "w", ctype: "const double *", kind: kindPtr, goTyp: "dptr[float64]"}},
		{decl: " unsigned int *keptFlag", want: kernelParam{name: "keptFlag", ctype: "unsigned int *", kind: kindPtr, goTyp: "dptr[uint32]"}},
		{decl: "int* __restrict__ rowIdx", want: kernelParam{name: "rowIdx", ctype: "int *", kind: kindPtr, goTyp: "dptr[int32]"}},
		{decl: "const float *h", want: kernelParam{name: "h", ctype: "const float *", kind: kindPtr, goTyp: "dptr[float32]"}},
		{decl: "long long m", want: kernelParam{name: "m", ctype: "long long", kind: kindInt64, goTyp: "int64"}},
		{decl: "unsigned long long seed", want: kernelParam{name: "seed", ctype: "unsigned long long", kind: kindUint64, goTyp: "uint64"}},
		{decl: "double scale", want: kernelParam{name: "scale", ctype: "double", kind: kindFloat64, goTyp: "float64"}},
		{decl: "int n", wantErr: "8 bytes per argument"},
		{decl: "float x", wantErr: "8 bytes per argument"},
		{decl: "unsigned int u", wantErr: "8 bytes per argument"},
		{decl: "char *p", wantErr: "pointer to \"char\""},
		{decl: "float **pp", wantErr: "pointer to pointer"},
		{decl: "long long grid", wantErr: "cannot be a Go parameter"},
		{decl: "long long len", wantErr: "cannot be a Go parameter"},
		{decl: "long long type", wantErr: "cannot be a Go parameter"},
		{decl: "double", wantErr: "want a type and a name"},
	}
	for _, tt := range tests {
		t.Run(tt.decl, func(t *testing.T) {
			t.Parallel()
			got, err := parseParam(tt.decl)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseDefines(t *testing.T) {
	t.Parallel()
	src := `#pragma once
// Threads per block.
#define WTACRS_RANK_THREADS 256  // one per candidate
#define OTHER_MACRO 3
#define WTACRS_RANK_TILE (WTACRS_RANK_THREADS * 4)
#define WTACRS_HALF (WTACRS_RANK_TILE / 3 - 1)
`
	defs, err := parseDefines("h.cuh", src)
	require.NoError(t, err)
	require.Len(t, defs, 3)
	assert.Equal(t, "rankThreads", defs[0].goName)
	assert.Equal(t, "256", defs[0].expr)
	assert.Equal(t, []string{"Threads per block."}, defs[0].doc)
	assert.Equal(t, "one per candidate", defs[0].note)
	assert.Equal(t, "rankTile", defs[1].goName)
	assert.Equal(t, "(rankThreads * 4)", defs[1].expr)
	assert.Equal(t, "1024", defs[1].value.ExactString())
	assert.Equal(t, "340", defs[2].value.ExactString(), "integer division")
	assert.Nil(t, defs[1].doc)

	bad := []struct{ src, wantErr string }{
		{"#define WTACRS_A WTACRS_B", "not an earlier"},
		{"#define WTACRS_A 1u", "expression"},
		{"#define WTACRS_A 0x10", "decimal"},
		{"#define WTACRS_A (1 << 3)", "not allowed"},
		{"#define WTACRS_A 1.5", "decimal"},
		{"#define WTACRS_A (4 / 0)", "division by zero"},
		{"#define WTACRS_A 1\n#define WTACRS_A 2", "twice"},
		{"#define WTACRS_lower 1", "upper-case"},
		{"#define WTACRS_A__B 1", "upper-case"},
		{"#define WTACRS_FUNC 1", "Go name"},
	}
	for _, tt := range bad {
		_, err := parseDefines("h.cuh", tt.src)
		assert.ErrorContains(t, err, tt.wantErr, tt.src)
	}
}

func TestParseKernels(t *testing.T) {
	t.Parallel()
	consts := map[string]define{}
	defs, err := parseDefines("h.cuh", "#define WTACRS_T 128")
	require.NoError(t, err)
	consts["WTACRS_T"] = defs[0]
	good := `// wtacrs_old(int n) in a comment is ignored
/* __global__ too */
extern "C" __global__ void __launch_bounds__(WTACRS_T * 2)
    wtacrs_scale(const float *__restrict__ x, long long n, double f, float *y) {
    y[0] = x[0] * f;
}`
	ks, err := parseKernels("scale", good, consts)
	require.NoError(t, err)
	require.Len(t, ks, 1)
	assert.Equal(t, "wtacrs_scale", ks[0].name)
	assert.Equal(t, "Scale", ks[0].goName)
	assert.Equal(t, "t * 2", ks[0].block)
	require.Len(t, ks[0].params, 4)
	assert.Equal(t, kindFloat64, ks[0].params[2].kind)

	bad := []struct{ src, wantErr string }{
		{`extern "C" __global__ void wtacrs_a(long long n) {}`, "of the form"},
		{`__global__ void __launch_bounds__(128) wtacrs_a(long long n) {}`, "of the form"},
		{`extern "C" __global__ void __launch_bounds__(128) other(long long n) {}`, "want the name"},
		{`extern "C" __global__ void __launch_bounds__(128) wtacrs_a_b(long long n) {}`, "want the name"},
		{`extern "C" __global__ void __launch_bounds__(128, 2) wtacrs_a(long long n) {}`, "minimum block count"},
		{`extern "C" __global__ void __launch_bounds__(BLOCK) wtacrs_a(long long n) {}`, "not an earlier"},
		{`extern "C" __global__ void __launch_bounds__(128) wtacrs_a(int n) {}`, "8 bytes per argument"},
		{`extern "C" __global__ void __launch_bounds__(128) wtacrs_a(long long n, double *n) {}`, "twice"},
	}
	for _, tt := range bad {
		_, err := parseKernels("a", tt.src, consts)
		assert.ErrorContains(t, err, tt.wantErr, tt.src)
	}
}

func TestGenerateRejectsDefinesOutsideTheHeader(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kdir := filepath.Join(dir, "kernels")
	require.NoError(t, os.MkdirAll(kdir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(kdir, headerFile), []byte("#define WTACRS_T 128\n"), 0o644))
	src := "#define WTACRS_LOCAL 3\nextern \"C\" __global__ void __launch_bounds__(WTACRS_T) wtacrs_a(long long n) {}\n"
	require.NoError(t, os.WriteFile(filepath.Join(kdir, "a.cu"), []byte(src), 0o644))
	_, err := Generate(dir)
	require.ErrorContains(t, err, "belong in common.cuh")
}
