package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/internal/npyfile"
)

func TestAnalyzeCommand(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []struct {
		name string
		v    []float64
	}{{"act_norms.npy", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}, {"grad_norms.npy", []float64{9, 1, 1, 1, 1, 1, 1, 1, 1, 1}}} {
		p := filepath.Join(dir, "block0.v", "step3", f.name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, npyfile.WriteArray(p, npyfile.Array{Shape: []int{len(f.v)}, Data: f.v, DType: "<f8"}))
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"analyze", "-out", out, "-name", "mine", "-budgets", "0.5", dir}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stdout.String(), "analysed 1 ")
	layers, err := os.ReadFile(filepath.Join(out, "mine", "layers.csv"))
	require.NoError(t, err)
	assert.Contains(t, string(layers), "block0.v,0,v,3,0,exact,0.5,10,5,")
}
