package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/internal/memlimit"
	"github.com/wtacrs/wtacrs/internal/npyfile"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/philox"
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

// TestEstimateStratified: -strata G estimates with estimator.Stratified, k per stratum, and
// reports the closed form of ClosedFormStratified; -strata 1 is the plain estimate.
func TestEstimateStratified(t *testing.T) {
	t.Parallel()
	x, err := npyfile.Read(exampleX)
	require.NoError(t, err)
	y, err := npyfile.Read(exampleY)
	require.NoError(t, err)
	w, err := estimator.Weights(x, y)
	require.NoError(t, err)
	for _, rule := range estimator.CRules() {
		args := []string{"estimate", "-x", exampleX, "-y", exampleY, "-k", "6", "-strata", "16", "-c-rule", rule.String(), "-trials", "20", "-seed", "3"}
		code, stdout, stderr := runCLI(args...)
		require.Equal(t, 0, code, stderr)
		var got map[string]any
		require.NoError(t, json.Unmarshal([]byte(stdout), &got), stdout)
		assert.Len(t, got, 14, "the plain figures and strata, c_rule")
		assert.Equal(t, 16.0, got["strata"])
		assert.Equal(t, rule.String(), got["c_rule"])
		assert.Equal(t, 6.0, got["k"], "the budget of each stratum")
		s, err := estimator.NewStratifiedWTACRS(w, 16, 6, rule)
		require.NoError(t, err)
		var c float64
		for _, v := range s.C() {
			c += float64(v)
		}
		assert.Equal(t, c, got["c"], "|C| summed over the strata")
		assert.Equal(t, s.MassC(), got["mass_c"])
		cf, err := estimator.ClosedFormStratified(x, y, s)
		require.NoError(t, err)
		assert.InDelta(t, cf.ExpectedSquaredError(), got["exact_variance"].(float64), 1e-9*cf.ExpectedSquaredError())
		_, again, _ := runCLI(args...)
		assert.Equal(t, stdout, again, "reproducible")
	}
	// With k ≥ size every stratum keeps all its pairs: exact.
	code, stdout, stderr := runCLI("estimate", "-x", exampleX, "-y", exampleY, "-k", "32", "-strata", "16", "-trials", "3")
	require.Equal(t, 0, code, stderr)
	var exact estimateResult
	require.NoError(t, json.Unmarshal([]byte(stdout), &exact))
	v, _ := exact.ExactVariance.value()
	assert.Less(t, v, 1e-9)
	assert.Equal(t, 1.0, exact.MassC)
	// -strata 1 is the estimate without strata, byte for byte.
	_, one, _ := runCLI("estimate", "-x", exampleX, "-y", exampleY, "-k", "32", "-strata", "1", "-trials", "5")
	_, plain, _ := runCLI("estimate", "-x", exampleX, "-y", exampleY, "-k", "32", "-trials", "5")
	assert.Equal(t, plain, one)
	assert.NotContains(t, plain, "strata")
}

func TestEstimateErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, rows, cols int, data []float64) string {
		m, err := matrix.NewDense(rows, cols, data)
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
		{"strata = 0", []string{"-x", x, "-y", y, "-k", "1", "-strata", "0"}, "-strata 0: want at least 1"},
		{"strata not dividing m", []string{"-x", exampleX, "-y", exampleY, "-k", "1", "-strata", "3"}, "-strata 3 does not divide the 512 pairs"},
		{"strata for crs", []string{"-x", x, "-y", y, "-k", "1", "-strata", "2", "-method", "crs"}, "-method wtacrs only, not crs"},
		{"strata with -c", []string{"-x", x, "-y", y, "-k", "2", "-strata", "2", "-c", "1"}, "choose the strata's |C| with -c-rule"},
		{"c-rule without strata", []string{"-x", x, "-y", y, "-k", "1", "-c-rule", "shared"}, "-c-rule is only meaningful with -strata > 1"},
		{"c-rule with -strata 1", []string{"-x", x, "-y", y, "-k", "1", "-c-rule", "own", "-strata", "1"}, "-c-rule is only meaningful"},
		{"c-rule for topk", []string{"-x", x, "-y", y, "-k", "1", "-c-rule", "own", "-strata", "2", "-method", "topk"}, "-method wtacrs only"},
		{"bad c-rule", []string{"-x", x, "-y", y, "-k", "1", "-c-rule", "mean", "-strata", "2"}, "unknown |C| rule \"mean\""},
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

// writeScaled writes d·2^e (exact for these inputs) as dir/name and returns the path.
func writeScaled(t *testing.T, dir, name string, d matrix.Dense[float64], e int) string {
	t.Helper()
	out := matrix.Dense[float64]{Rows: d.Rows, Cols: d.Cols, Data: make([]float64, len(d.Data))}
	for i, v := range d.Data {
		out.Data[i] = math.Ldexp(v, e)
		require.Equal(t, v, math.Ldexp(out.Data[i], -e), "scaling by 2^%d must be exact", e)
	}
	p := filepath.Join(dir, name)
	require.NoError(t, npyfile.Write(p, out))
	return p
}

// integerProduct returns a 16×40 by 40×3 product of small integers with a few zero pairs, so that
// scaling it by 2^-1060 (subnormal) is exact.
func integerProduct(t *testing.T) (x, y matrix.Dense[float64]) {
	t.Helper()
	x, err := matrix.NewDense[float64](16, 40, nil)
	require.NoError(t, err)
	y, err = matrix.NewDense[float64](40, 3, nil)
	require.NoError(t, err)
	for i := range x.Data {
		if i%40%9 != 4 {
			x.Data[i] = math.Floor(philox.Uniform(8, 1, uint64(i))*61) - 30
		}
	}
	for i := range y.Data {
		y.Data[i] = math.Floor(philox.Uniform(8, 2, uint64(i))*21) - 10
	}
	return x, y
}

// estimateFigures runs estimate and returns its exit status, its stderr and its three figures as
// exact values (nil exact_variance when it is null).
func estimateFigures(t *testing.T, args ...string) (code int, stderr string, figs [3]*big.Float) {
	t.Helper()
	code, stdout, stderr := runCLI(append([]string{"estimate"}, args...)...)
	if code != 0 {
		return code, stderr, figs
	}
	var got estimateResult
	require.NoError(t, json.Unmarshal([]byte(stdout), &got), stdout)
	if got.ExactVariance != nil {
		figs[0] = got.ExactVariance.big()
	}
	figs[1], figs[2] = got.EmpiricalVariance.big(), got.EmpiricalBiasMaxAbs.big()
	return code, stderr, figs
}

// sameFigure reports whether got = want·2^e to a relative 1e-12.
func sameFigure(got, want *big.Float, e int) bool {
	if got == nil || want == nil {
		return got == want
	}
	w := new(big.Float).SetMantExp(want, e)
	if w.Sign() == 0 {
		return got.Sign() == 0
	}
	d := new(big.Float).Sub(got, w)
	d.Quo(d, w)
	r, _ := d.Float64()
	return math.Abs(r) <= 1e-12
}

// TestEstimateAtFloatLimits is the regression test of X = 1e-300 giving "exact_variance: 0" with
// a bias of the whole product (the norms underflowed, no pair was drawn) and of X = 1e300 being
// refused as "NaN or Inf in input": at every scale, from subnormal entries to entries near
// MaxFloat64, estimate reports the figures of the unscaled product times the power of two, never
// 0 for a figure that is not 0, and prints figures beyond float64 as strings.
func TestEstimateAtFloatLimits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ix, iy := integerProduct(t)
	ex, err := npyfile.Read(exampleX)
	require.NoError(t, err)
	ey, err := npyfile.Read(exampleY)
	require.NoError(t, err)
	var big float64
	for _, v := range ex.Data {
		big = math.Max(big, math.Abs(v))
	}
	_, top := math.Frexp(big)
	for _, tc := range []struct {
		name   string
		x, y   matrix.Dense[float64]
		sx, sy int
	}{
		{"X = 1e-300", ex, ey, -997, 0},
		{"X = 1e300", ex, ey, 997, 0},
		{"X and Y = 1e-300", ex, ey, -997, -997},
		{"X near MaxFloat64, Y = 1e-300", ex, ey, 1024 - top, -997},
		{"X = 1e300, Y = 1e-300", ex, ey, 997, -997},
		{"subnormal X", ix, iy, -1060, 0},
		{"subnormal X and Y", ix, iy, -1060, -1060},
	} {
		xs := writeScaled(t, dir, tc.name+"-x.npy", tc.x, tc.sx)
		ys := writeScaled(t, dir, tc.name+"-y.npy", tc.y, tc.sy)
		x0 := writeScaled(t, dir, tc.name+"-x0.npy", tc.x, 0)
		y0 := writeScaled(t, dir, tc.name+"-y0.npy", tc.y, 0)
		for _, method := range []string{"wtacrs", "crs", "uniform", "topk", "bernoulli", "norepl", "wtacrs -strata 2", "wtacrs -strata 4 -c-rule shared"} {
			common := append(strings.Fields("-method "+method), "-k", "8", "-trials", "20", "-seed", "4")
			code, stderr, ref := estimateFigures(t, append([]string{"-x", x0, "-y", y0}, common...)...)
			require.Equal(t, 0, code, stderr)
			code, stderr, got := estimateFigures(t, append([]string{"-x", xs, "-y", ys}, common...)...)
			require.Equal(t, 0, code, "%s, %s: %s", tc.name, method, stderr)
			e := tc.sx + tc.sy
			assert.True(t, sameFigure(got[0], ref[0], 2*e), "%s, %s: exact_variance %v, want %v·2^%d", tc.name, method, got[0], ref[0], 2*e)
			assert.True(t, sameFigure(got[1], ref[1], 2*e), "%s, %s: empirical_variance %v, want %v·2^%d", tc.name, method, got[1], ref[1], 2*e)
			assert.True(t, sameFigure(got[2], ref[2], e), "%s, %s: empirical_bias_max_abs %v, want %v·2^%d", tc.name, method, got[2], ref[2], e)
			if method != "topk" && method != "norepl" {
				require.NotNil(t, got[0])
				assert.Positive(t, got[0].Sign(), "%s, %s: the variance is not 0", tc.name, method)
			}
		}
	}
}

func TestFigureJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		f    figure
		want string
	}{
		{figure{0, 0}, "0"},
		{figure{0, -5000}, "0"},
		{figure{58805095.729133226, 0}, "58805095.729133226"},
		{figure{1.5, -3}, "0.1875"},
		{figure{1e-300, 0}, "1e-300"},
		{figure{1, -1100}, `"7.3621518290228627e-332"`},           // 2^-1100
		{figure{1e-300, -997}, `"7.4661089480257512e-601"`},       // 1e-300·2^-997
		{figure{-3, 2000}, `"-3.4443920858227636e+602"`},          // −3·2^2000
		{figure{5e-324, 0}, `"4.9406564584124654e-324"`},          // 2^-1074, subnormal
		{figure{math.MaxFloat64, 1}, `"3.5953862697246314e+308"`}, // above MaxFloat64
	} {
		b, err := json.Marshal(tc.f)
		require.NoError(t, err)
		assert.Equal(t, tc.want, string(b))
		if x, ok := tc.f.value(); ok {
			plain, _ := json.Marshal(x)
			assert.Equal(t, string(plain), string(b), "a figure float64 holds prints as json.Marshal prints the float64")
		}
		var back figure
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Zero(t, back.big().Cmp(tc.f.big()), "%s round trip", tc.want)
	}
	_, err := json.Marshal(figure{math.NaN(), 0})
	assert.Error(t, err)
	var f figure
	assert.Error(t, json.Unmarshal([]byte(`"many"`), &f))
}

// TestEstimateMemoryLimit: the memory an estimate needs is checked before it is allocated,
// against -mem-limit or by default the memory available; a 10^5×1 by 1×10^6 product (800 GB)
// used to die of a fatal out-of-memory error.
func TestEstimateMemoryLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	col, err := matrix.NewDense[float64](100000, 1, nil)
	require.NoError(t, err)
	row, err := matrix.NewDense[float64](1, 1000000, nil)
	require.NoError(t, err)
	col.Data[0], row.Data[0] = 1, 1
	xPath, yPath := filepath.Join(dir, "col.npy"), filepath.Join(dir, "row.npy")
	require.NoError(t, npyfile.Write(xPath, col))
	require.NoError(t, npyfile.Write(yPath, row))
	_, known := memlimit.Available() // else the default limit is none
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"default limit", []string{"-x", xPath, "-y", yPath, "-k", "1"},
			[]string{"estimate of a 100000×1 by 1×1000000 product needs about", "TiB, above the limit of", "-mem-limit"}},
		{"given limit", []string{"-x", exampleX, "-y", exampleY, "-k", "8", "-mem-limit", "64KiB"},
			[]string{"estimate of a 64×512 by 512×32 product needs about", "above the limit of 64.0 KiB"}},
		{"bad size", []string{"-x", exampleX, "-y", exampleY, "-k", "8", "-mem-limit", "lots"},
			[]string{"-mem-limit", "malformed size"}},
	} {
		if tc.name == "default limit" && !known {
			continue
		}
		code, stdout, stderr := runCLI(append([]string{"estimate"}, tc.args...)...)
		assert.Equal(t, 2, code, tc.name)
		assert.Empty(t, stdout, tc.name)
		for _, w := range tc.want {
			assert.Contains(t, stderr, w, tc.name)
		}
	}
	code, _, stderr := runCLI("estimate", "-x", exampleX, "-y", exampleY, "-k", "8", "-trials", "2", "-mem-limit", "1GiB")
	assert.Equal(t, 0, code, stderr)
	code, _, stderr = runCLI("estimate", "-x", exampleX, "-y", exampleY, "-k", "8", "-trials", "2", "-mem-limit", "none")
	assert.Equal(t, 0, code, stderr)
}

// TestEstimateWorkBound is the regression test of -k 9223372036854775807 -method crs running for
// ever: the random draws over all trials are bounded up front (-max-draws), while a huge budget
// costs O(m) where the method allows it.
func TestEstimateWorkBound(t *testing.T) {
	t.Parallel()
	const huge = "9223372036854775807"
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"crs, k = MaxInt64", []string{"-method", "crs", "-k", huge},
			[]string{"1000 trials × 9223372036854775807 random draws per trial (crs with k = 9223372036854775807 over m = 512 pairs) = more than 1.8e+19, above -max-draws 1000000000"}},
		{"uniform, -max-draws lowered", []string{"-method", "uniform", "-k", "2000", "-trials", "10", "-max-draws", "1e4"},
			[]string{"10 trials × 2000 random draws per trial", "= 20000, above -max-draws 10000", "raise -max-draws"}},
		{"bernoulli, -max-draws lowered", []string{"-method", "bernoulli", "-k", "5", "-trials", "10", "-max-draws", "5000"},
			[]string{"10 trials × 512 random draws per trial"}},
		{"bad -max-draws", []string{"-k", "5", "-max-draws", "0"}, []string{"-max-draws", "count ≥ 1"}},
		{"strata, -max-draws lowered", []string{"-k", "100", "-strata", "2", "-c-rule", "shared", "-trials", "10", "-max-draws", "500"},
			[]string{"10 trials × ", "68 random draws per trial (wtacrs with k = 100 in each of 2 strata of 256 pairs, shared |C|) = 680, above -max-draws 500"}},
		{"strata, -max-work lowered", []string{"-k", "8", "-strata", "64", "-trials", "10", "-max-work", "1e6"},
			[]string{"10 trials × about", "over at most 512 pairs", "above -max-work 1000000"}},
	} {
		code, stdout, stderr := runCLI(append([]string{"estimate", "-x", exampleX, "-y", exampleY}, tc.args...)...)
		assert.Equal(t, 2, code, tc.name)
		assert.Empty(t, stdout, tc.name)
		for _, w := range tc.want {
			assert.Contains(t, stderr, w, tc.name)
		}
	}
	for _, method := range []string{"wtacrs", "bernoulli", "topk", "norepl"} {
		code, stdout, stderr := runCLI("estimate", "-x", exampleX, "-y", exampleY, "-method", method, "-k", huge, "-trials", "3")
		require.Equal(t, 0, code, "%s: %s", method, stderr)
		var got estimateResult
		require.NoError(t, json.Unmarshal([]byte(stdout), &got))
		assert.Equal(t, math.MaxInt64, got.K, method)
		if got.ExactVariance != nil {
			v, _ := got.ExactVariance.value()
			assert.Less(t, v, 1e-9, "%s: every pair kept: exact", method)
		}
	}
	// A tiny product over many trials is bounded by the fixed cost of a trial: 1e9 top-k
	// trials of a 3×4 by 4×2 product (28 multiply-adds each) would take minutes.
	dir := t.TempDir()
	ones := func(r, c int) matrix.Dense[float64] {
		d := matrix.Dense[float64]{Rows: r, Cols: c, Data: make([]float64, r*c)}
		for i := range d.Data {
			d.Data[i] = float64(i%3 + 1)
		}
		return d
	}
	px, py := writeScaled(t, dir, "x.npy", ones(3, 4), 0), writeScaled(t, dir, "y.npy", ones(4, 2), 0)
	code, _, stderr := runCLI("estimate", "-x", px, "-y", py, "-method", "topk", "-k", "2", "-trials", "1000000000")
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "above -max-work")
	// Raising the bound lets a large CRS budget run, in O(m) memory.
	code, _, stderr = runCLI("estimate", "-x", exampleX, "-y", exampleY, "-method", "crs", "-k", "400000", "-trials", "3", "-max-draws", "2e6")
	assert.Equal(t, 0, code, stderr)
}

// FuzzEstimate runs estimate on small matrices whose entries span float64's whole range: it
// never panics, fails only with estimator.ErrRange (what float64 cannot hold), and its result
// always marshals to JSON with non-negative figures. Its -max-work is set, so that the figures
// are computed (a bound of 0 refused every estimate before its first trial).
func FuzzEstimate(f *testing.F) {
	f.Add([]byte{0x3f, 200, 201, 40, 255, 0, 90, 33, 180, 181, 2, 254, 100}, uint8(1), uint8(3))
	f.Add([]byte{0x15, 255, 255, 255, 255, 255, 255, 255, 255}, uint8(2), uint8(1))
	f.Add([]byte{0x2a, 97, 97, 97, 97, 97, 97, 97, 97, 97, 97, 97, 97}, uint8(5), uint8(200))
	f.Fuzz(func(t *testing.T, data []byte, methodByte, kByte uint8) {
		if len(data) < 2 {
			return
		}
		n, m, q := int(data[0]&3)+1, int(data[0]>>2&3)+1, int(data[0]>>4&3)+1
		entry := func(i int) float64 {
			if i+1 >= len(data) {
				return 0
			}
			b := data[i+1]
			v := int(b >> 1)
			sign := float64(1 - 2*int(b&1))
			switch {
			case v < 16:
				return 0
			case v < 48:
				return sign * float64(v-15)
			}
			return sign * math.Ldexp(1.5, min(-1074+(v-48)*2097/79, 1022))
		}
		x, _ := matrix.NewDense[float64](n, m, nil)
		y, _ := matrix.NewDense[float64](m, q, nil)
		for i := range x.Data {
			x.Data[i] = entry(i)
		}
		for i := range y.Data {
			y.Data[i] = entry(len(x.Data) + i)
		}
		method := estimator.Methods()[int(methodByte)%len(estimator.Methods())]
		k := int(kByte%8) + 1
		if kByte >= 128 {
			k = math.MaxInt
		}
		// wtacrs also runs over 2 or 4 strata where they divide m, with either |C| rule.
		strata := []int{1, 2, 4}[int(methodByte>>4)%3]
		if method != estimator.MethodWTACRS || m%strata != 0 {
			strata = 1
		}
		spec := estimateSpec{method: method, k: k, c: estimator.AutoC, strata: strata,
			rule: estimator.CRules()[int(methodByte>>6)%2], trials: 3, seed: 1}
		res, err := estimate(x, y, spec, estimateLimits{mem: memlimit.Unlimited, maxDraws: 1e6, maxWork: 1e9})
		if err != nil {
			if !errors.Is(err, estimator.ErrRange) && !errors.Is(err, errTooMuchWork) {
				t.Fatalf("%v, k = %d: %v", method, k, err)
			}
			return
		}
		out, err := json.Marshal(res)
		if err != nil {
			t.Fatalf("%v, k = %d: %v", method, k, err)
		}
		var back estimateResult
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		for _, fig := range []*figure{back.ExactVariance, &back.EmpiricalVariance, &back.EmpiricalBiasMaxAbs} {
			if fig != nil && fig.v < 0 {
				t.Fatalf("negative figure in %s", out)
			}
		}
	})
}
