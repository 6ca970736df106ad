package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const tinyTrainTOML = `dim = 16
heads = 2
blocks = 1
ffn_dim = 32
max_len = 48
vocab_size = 500
max_train = 48
max_dev = 32
batch_size = 16
epochs = 1
`

func TestTrainCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tiny.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(tinyTrainTOML), 0o644))
	out := filepath.Join(dir, "result.json")
	code, stdout, stderr := runCLI("train", "-quiet", "-all", "wtacrs:0.3", "-out", out, cfg)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "dev accuracy:")
	assert.Contains(t, stdout, "examples: 48 train, 32 dev")
	var res map[string]any
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &res))
	assert.Equal(t, 3.0, res["Steps"])
	assert.Len(t, res["Memory"], 6)

	code, stdout, stderr = runCLI("train", "-quiet", "-table", "0.5", "-seeds", "1", cfg)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "| exact |")
	assert.Contains(t, stdout, "| WTA-CRS@0.5 |")
}

func TestTrainCommandErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	require.NoError(t, os.WriteFile(bad, []byte("dim = 16\nheads = [\n"), 0o644))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"malformed config", []string{"train", bad}, "line"},
		{"missing config", []string{"train", filepath.Join(dir, "none.toml")}, "none.toml"},
		{"bad -all", []string{"train", "-all", "topk:0.3"}, "-all"},
		{"bad ratio", []string{"train", "-all", "wtacrs:2"}, "ratio"},
		{"two configs", []string{"train", bad, bad}, "at most one"},
		{"bad flag", []string{"train", "-nope"}, "nope"},
		{"bad table", []string{"train", "-table", "x"}, "-table"},
	}
	for _, tc := range tests {
		code, _, stderr := runCLI(tc.args...)
		assert.Equal(t, 2, code, tc.name)
		assert.Contains(t, stderr, tc.want, tc.name)
	}
}
