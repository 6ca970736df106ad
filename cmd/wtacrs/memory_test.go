package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const tinyMemoryTOML = `dim = 8
heads = 2
blocks = 1
ffn_dim = 16
max_len = 6
vocab_size = 20
`

// Not parallel: the command measures the live heap of the whole process.
func TestMemoryCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tiny.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(tinyMemoryTOML), 0o644))
	out := filepath.Join(dir, "mem.csv")
	code, stdout, stderr := runCLI("memory", "-batch", "2,3", "-optimizer-precision", "model", "-budget", "1GiB", "-csv", out, cfg)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "largest measured batch within 1.0 GiB: 3")
	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 3)
	assert.Equal(t, memoryHeader, rows[0])
	col := func(row []string, name string) int {
		for i, h := range memoryHeader {
			if h == name {
				v, err := strconv.Atoi(row[i])
				require.NoError(t, err)
				return v
			}
		}
		t.Fatalf("no column %s", name)
		return 0
	}
	// The one-block model of train's TestMeasureStepByHand: 858 parameters.
	const d, f16, s, params = 8, 16, 6, 858
	for i, b := range []int{2, 3} {
		r := rows[i+1]
		assert.Equal(t, b, col(r, "batch"))
		assert.Equal(t, 4*params, col(r, "parameters"))
		assert.Equal(t, 2*4*params, col(r, "optimizer"), "float32 moments")
		assert.Equal(t, b*s*d*4, col(r, "saved_q"))
		assert.Equal(t, b*s*f16*4, col(r, "saved_ffn_out"))
		sum := 0
		for _, h := range memoryHeader[2 : len(memoryHeader)-3] { // up to the total, before the peaks
			sum += col(r, h)
		}
		assert.Equal(t, sum, col(r, "total"))
	}
	// The CSV is ours: writing it again is allowed.
	code, _, stderr = runCLI("memory", "-csv", out, cfg)
	require.Equal(t, 0, code, stderr)
}

func TestMemoryCommandErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tiny.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(tinyMemoryTOML), 0o644))
	other := filepath.Join(dir, "notes.csv")
	require.NoError(t, os.WriteFile(other, []byte("a,b\n1,2\n"), 0o644))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-batch", "0", cfg}, "-batch"},
		{[]string{"-batch", "2,x", cfg}, "-batch"},
		{[]string{"-optimizer-precision", "float16", cfg}, "-optimizer-precision"},
		{[]string{"-budget", "lots", cfg}, "-budget"},
		{[]string{"-csv", other, cfg}, "not a result this command wrote"},
		{[]string{filepath.Join(dir, "none.toml")}, "none.toml"},
		{[]string{cfg, cfg}, "at most one CONFIG"},
	} {
		code, _, stderr := runCLI(append([]string{"memory"}, tc.args...)...)
		assert.Equal(t, exitUsage, code, "%q: %s", tc.args, stderr)
		assert.Contains(t, stderr, tc.want, "%q", tc.args)
	}
	b, err := os.ReadFile(other)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), "a,b"), "a refused CSV is left alone")
}
