package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/internal/npyfile"
)

const exampleX, exampleY = "../../testdata/example/X.npy", "../../testdata/example/Y.npy"

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestEstimateJSON(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"wtacrs", "crs", "uniform", "topk", "bernoulli", "norepl"} {
		code, stdout, stderr := runCLI("estimate", "-x", exampleX, "-y", exampleY, "-method", method, "-k", "64", "-trials", "20", "-seed", "3")
		require.Equal(t, 0, code, stderr)
		var got map[string]any
		require.NoError(t, json.Unmarshal([]byte(stdout), &got), stdout)
		for _, key := range []string{"method", "n", "m", "q", "k", "c", "mass_c", "exact_variance",
			"empirical_variance", "empirical_bias_max_abs", "trials", "seed"} {
			assert.Contains(t, got, key, method)
		}
		assert.Len(t, got, 12)
		assert.Equal(t, method, got["method"])
		assert.Equal(t, []float64{64, 512, 32, 64, 20, 3}, []float64{got["n"].(float64), got["m"].(float64),
			got["q"].(float64), got["k"].(float64), got["trials"].(float64), got["seed"].(float64)})
		if method == "norepl" {
			assert.Nil(t, got["exact_variance"], "no closed form over 384 positive pairs")
		} else {
			assert.Greater(t, got["exact_variance"].(float64), 0.0)
		}
	}
}

func TestEstimateReproducible(t *testing.T) {
	t.Parallel()
	_, a, _ := runCLI("estimate", "-x", exampleX, "-y", exampleY, "-k", "32", "-trials", "5", "-seed", "9")
	_, b, _ := runCLI("estimate", "-x", exampleX, "-y", exampleY, "-k", "32", "-trials", "5", "-seed", "9")
	_, c, _ := runCLI("estimate", "-x", exampleX, "-y", exampleY, "-k", "32", "-trials", "5", "-seed", "10")
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, c)
}

func TestEstimateFixedC(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCLI("estimate", "-x", exampleX, "-y", exampleY, "-k", "32", "-c", "5", "-trials", "2")
	require.Equal(t, 0, code, stderr)
	var got estimateResult
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	assert.Equal(t, 5, got.C)
	assert.Greater(t, got.MassC, 0.0)
}

func TestEstimateErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, rows, cols int, data []float64) string {
		m, err := estimator.NewDense(rows, cols, data)
		require.NoError(t, err)
		p := filepath.Join(dir, name)
		require.NoError(t, npyfile.Write(p, m))
		return p
	}
	x := write("x.npy", 2, 2, []float64{1, 2, 3, 4})
	y3 := write("y3.npy", 3, 1, []float64{1, 2, 3})
	nan := write("nan.npy", 2, 1, []float64{1, math.NaN()})
	inf := write("inf.npy", 2, 1, []float64{math.Inf(1), 1})
	garbage := filepath.Join(dir, "garbage.npy")
	require.NoError(t, os.WriteFile(garbage, []byte("hello"), 0o644))
	y := write("y.npy", 2, 1, []float64{1, 2})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"-x", filepath.Join(dir, "none.npy"), "-y", y, "-k", "1"}, "no such file"},
		{"not npy", []string{"-x", garbage, "-y", y, "-k", "1"}, "garbage.npy"},
		{"shape mismatch", []string{"-x", x, "-y", y3, "-k", "1"}, "shape mismatch"},
		{"NaN", []string{"-x", x, "-y", nan, "-k", "1"}, "NaN"},
		{"Inf", []string{"-x", x, "-y", inf, "-k", "1"}, "Inf"},
		{"k = 0", []string{"-x", x, "-y", y, "-k", "0"}, "budget"},
		{"c too large", []string{"-x", x, "-y", y, "-k", "2", "-c", "2"}, "|C|"},
		{"c for crs", []string{"-x", x, "-y", y, "-k", "2", "-c", "1", "-method", "crs"}, "-c"},
		{"bad method", []string{"-x", x, "-y", y, "-k", "1", "-method", "magic"}, "unknown method"},
		{"bad flag", []string{"-x", x, "-y", y, "-k", "1", "-frobnicate"}, "frobnicate"},
		{"bad number", []string{"-x", x, "-y", y, "-k", "many"}, "invalid value"},
		{"no files", []string{"-k", "1"}, "-x and -y"},
		{"trials", []string{"-x", x, "-y", y, "-k", "1", "-trials", "0"}, "trial"},
	} {
		code, stdout, stderr := runCLI(append([]string{"estimate"}, tc.args...)...)
		assert.Equal(t, 2, code, tc.name)
		assert.Empty(t, stdout, tc.name)
		assert.Contains(t, stderr, tc.want, tc.name)
	}
	code, _, stderr := runCLI("no-such-command")
	assert.Equal(t, 2, code)
	assert.True(t, strings.Contains(stderr, "unknown command"))
}

func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	require.NotEmpty(t, commands)
	for name := range commands {
		code, stdout, stderr := runCLI(name, "-h")
		assert.Equal(t, 0, code, name)
		assert.Empty(t, stdout, name)
		assert.Contains(t, strings.ToLower(stderr), "usage", name)
		assert.NotContains(t, stderr, "help requested", name)
	}
}
