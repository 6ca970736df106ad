package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/train"
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
	code, stdout, stderr := runCLI("train", "-quiet", "-all", "wtacrs:0.3", "-json", out, cfg)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "dev accuracy:")
	assert.Contains(t, stdout, "examples: 48 train, 32 dev")
	var res map[string]any
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &res))
	assert.Equal(t, 3.0, res["Steps"])
	assert.Len(t, res["Memory"], 6)

	code, stdout, stderr = runCLI("table", "-quiet", "-ratios", "0.5", "-seeds", "1", cfg)
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
		{"bad table", []string{"table", "-ratios", "x"}, "-ratios"},
		{"flag after the config", []string{"train", bad, "-nope"}, "nope"},
	}
	for _, tc := range tests {
		code, _, stderr := runCLI(tc.args...)
		assert.Equal(t, 2, code, tc.name)
		assert.Contains(t, stderr, tc.want, tc.name)
	}
}

// Flags out of range and flags that would be ignored are usage errors; config errors name the
// file, the key and the line.
func TestTrainCommandRefusesBadFlagsAndConfigs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	negSeed := write("seed.toml", "epochs = 1\nseed = -1\n")
	zeroRatio := write("ratio.toml", "[layers.q]\nmethod = \"wtacrs\"\nratio = 0.0\n")
	onePath := write("path.toml", "\ntrain_path = \"train.tsv\"\n")
	kind := write("kind.toml", "[layers]\nq = {method = \"exact\"}\nx = {method = \"exact\"}\n")
	for _, tc := range []struct {
		name  string
		args  []string
		want  string
		usage bool
	}{
		{"negative -seed", []string{"-seed", "-5"}, "-seed", true},
		{"-seed beyond uint64", []string{"-seed", "18446744073709551616"}, "-seed", true},
		{"-jobs 0", []string{"table", "-ratios", "0.5", "-jobs", "0"}, "-jobs 0: want >= 1", true},
		{"-jobs -3", []string{"table", "-ratios", "0.5", "-jobs", "-3"}, "-jobs -3: want >= 1", true},
		{"-jobs on train", []string{"-jobs", "2"}, "not defined: -jobs", true},
		{"-seeds on train", []string{"-seeds", "1,2"}, "not defined: -seeds", true},
		{"-seed on table", []string{"table", "-ratios", "0.5", "-seed", "3"}, "not defined: -seed", true},
		{"-epochs 0", []string{"-epochs", "0"}, "-epochs 0: want >= 1", true},
		{"-epochs -2", []string{"-epochs", "-2"}, "-epochs -2: want >= 1", true},
		{"table -epochs 0", []string{"table", "-epochs", "0"}, "-epochs 0: want >= 1", true},
		{"-all ratio 0", []string{"-all", "wtacrs:0"}, "-all \"wtacrs:0\"", true},
		{"-all ratio NaN", []string{"-all", "wtacrs:NaN"}, "-all", true},
		{"-all exact with ratio", []string{"-all", "exact:0.3"}, "-all", true},
		{"-ratios 1.5", []string{"table", "-ratios", "0.5,1.5"}, "ratio 1.5, want in (0, 1]", true},
		{"-seeds negative", []string{"table", "-ratios", "0.5", "-seeds", "1,-2"}, "-seeds", true},
		{"config seed -1", []string{negSeed}, negSeed + " line 2: seed = -1, want an integer ≥ 0", false},
		{"config ratio 0", []string{zeroRatio}, zeroRatio + " line 3: layers.q.ratio = 0, want in (0, 1]", false},
		{"config one path", []string{onePath}, onePath + " line 2: missing key dev_path", false},
		{"config unknown kind", []string{kind}, kind + " line 3: unknown layer kind layers.x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			command, runCmd, args := "train", runTrain, tc.args
			if len(args) > 0 && args[0] == "table" {
				command, runCmd, args = "table", runTable, args[1:]
			}
			err := runCmd(append([]string{"-quiet"}, args...), &stdout, &stderr)
			require.ErrorContains(t, err, tc.want)
			var u errUsage
			assert.Equal(t, tc.usage, errors.As(err, &u), "usage error")
			if !tc.usage {
				assert.ErrorIs(t, err, train.ErrConfig)
			}
			code, _, errText := runCLI(append([]string{command, "-quiet"}, args...)...)
			assert.Equal(t, 2, code)
			assert.Contains(t, errText, "wtacrs "+command+": ")
		})
	}
}

// Regression: -seed -5 was silently ignored (a -1 sentinel meant "not set"); the seed is now
// set whenever the flag is given, 0 included.
func TestTrainSeedFlagSetsAnySeed(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "tiny.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(tinyTrainTOML), 0o644))
	for _, seed := range []string{"0", "18446744073709551615"} {
		out := filepath.Join(t.TempDir(), "r.json")
		code, _, stderr := runCLI("train", "-quiet", "-seed", seed, "-epochs", "1", "-json", out, cfg)
		require.Equal(t, 0, code, stderr)
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		var res struct{ Config struct{ Seed json.Number } }
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		require.NoError(t, dec.Decode(&res))
		assert.Equal(t, seed, res.Config.Seed.String())
	}
}
