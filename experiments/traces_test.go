package experiments_test

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/internal/npyfile"
)

// writeNpy writes a *mat.Dense as a 2-D '<f8' array, and a []float64, []float32 or []bool as a
// 1-D '<f8', '<f4' or '|b1' one.
func writeNpy(t *testing.T, path string, v any) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	var a npyfile.Array
	switch v := v.(type) {
	case *mat.Dense:
		r, c := v.Dims()
		a = npyfile.Array{Shape: []int{r, c}, DType: "<f8"}
		for i := range r {
			a.Data = append(a.Data, mat.Row(nil, i, v)...)
		}
	case []float64:
		a = npyfile.Array{Shape: []int{len(v)}, Data: v, DType: "<f8"}
	case []float32:
		a = npyfile.Array{Shape: []int{len(v)}, DType: "<f4"}
		for _, x := range v {
			a.Data = append(a.Data, float64(x))
		}
	case []bool:
		a = npyfile.Array{Shape: []int{len(v)}, DType: "|b1"}
		for _, b := range v {
			a.Data = append(a.Data, map[bool]float64{false: 0, true: 1}[b])
		}
	default:
		t.Fatalf("writeNpy: unsupported %T", v)
	}
	require.NoError(t, npyfile.WriteArray(path, a))
}

// makeTraces writes block0.q with H and ∇Z whose rows of H are orthogonal (so the norms-only
// variance ratio is exact) and block1.k with norms only, in float32.
func makeTraces(t *testing.T) string {
	dir := t.TempDir()
	const n, dout = 20, 4
	for _, step := range []int{1, 30} {
		h := mat.NewDense(n, n, nil)
		g := mat.NewDense(n, dout, nil)
		valid := make([]bool, n)
		act := make([]float32, n)
		grad := make([]float32, n)
		for i := range n {
			h.Set(i, i, 1+float64(i*i*step)/50)
			for j := range dout {
				g.Set(i, j, math.Cos(float64(i+j*step))+0.2)
			}
			valid[i] = i < n-3
			act[i] = float32(1 + i%3)
			grad[i] = float32(math.Pow(float64(i+1), 1.5))
		}
		sd := filepath.Join(dir, "block0.q", "step"+strconv.Itoa(step))
		writeNpy(t, filepath.Join(sd, "H.npy"), h)
		writeNpy(t, filepath.Join(sd, "dZ.npy"), g)
		writeNpy(t, filepath.Join(sd, "valid.npy"), valid)
		kd := filepath.Join(dir, "block1.k", "step"+strconv.Itoa(step))
		writeNpy(t, filepath.Join(kd, "act_norms.npy"), act)
		writeNpy(t, filepath.Join(kd, "grad_norms.npy"), grad)
		writeNpy(t, filepath.Join(kd, "cached_grad_norms.npy"), grad)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.txt"), []byte("ignored"), 0o644))
	return dir
}

func TestAnalyzeTraces(t *testing.T) {
	dir := makeTraces(t)
	out := t.TempDir()
	o, err := experiments.AnalyzeTraces(context.Background(), dir, experiments.TraceOptions{Out: out, Name: "tr"})
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(out, "tr"), o.Dir)
	for _, f := range []string{"layers.csv", "curves.csv", "summary.md", "manifest.json", "config.toml", "curves_k0.1_exact.png", "top10_cached.png"} {
		assert.FileExists(t, filepath.Join(o.Dir, f))
	}
	f, err := os.Open(filepath.Join(o.Dir, "layers.csv"))
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	// 2 steps × 2 budgets: block0.q exact only (no cached norms), block1.k exact and cached.
	require.Len(t, rows, 1+2*2+2*2*2)
	for _, r := range rows[1:] {
		exact := r[col["exact_variance_ratio"]]
		switch r[col["layer"]] {
		case "block0.q":
			assert.Equal(t, "17", r[col["m"]], "padding excluded")
			require.NotEmpty(t, exact)
			e, _ := strconv.ParseFloat(exact, 64)
			v, _ := strconv.ParseFloat(r[col["orthogonal_variance_ratio"]], 64)
			// Orthogonal rows of H: the norms-only ratio is the exact one up to rounding.
			assert.InDelta(t, e, v, 1e-9)
		case "block1.k":
			assert.Equal(t, "20", r[col["m"]])
			assert.Empty(t, exact, "no matrices, no exact ratio")
		default:
			t.Fatalf("unexpected layer %q", r[col["layer"]])
		}
	}
}

func TestAnalyzeTracesErrors(t *testing.T) {
	ctx := context.Background()
	_, err := experiments.AnalyzeTraces(ctx, filepath.Join(t.TempDir(), "none"), experiments.TraceOptions{Out: t.TempDir()})
	assert.ErrorIs(t, err, experiments.ErrTrace)

	_, err = experiments.AnalyzeTraces(ctx, t.TempDir(), experiments.TraceOptions{Out: t.TempDir()})
	assert.ErrorIs(t, err, experiments.ErrTrace)
	assert.ErrorContains(t, err, "no <layer>/step<N>/")

	for _, tc := range []struct {
		name  string
		setup func(dir string)
		want  string
	}{
		{"wrong dims", func(d string) { writeNpy(t, filepath.Join(d, "block0.q/step1/act_norms.npy"), mat.NewDense(2, 2, nil)) }, "shape"},
		{"lengths", func(d string) {
			writeNpy(t, filepath.Join(d, "block0.q/step1/act_norms.npy"), []float64{1, 2})
			writeNpy(t, filepath.Join(d, "block0.q/step1/grad_norms.npy"), []float64{1, 2, 3})
		}, "2 tokens"},
		{"NaN", func(d string) {
			writeNpy(t, filepath.Join(d, "block0.q/step1/act_norms.npy"), []float64{1, math.NaN()})
			writeNpy(t, filepath.Join(d, "block0.q/step1/grad_norms.npy"), []float64{1, 2})
		}, "element 1 is NaN"},
		{"negative norm", func(d string) {
			writeNpy(t, filepath.Join(d, "block0.q/step1/act_norms.npy"), []float64{1, -1})
			writeNpy(t, filepath.Join(d, "block0.q/step1/grad_norms.npy"), []float64{1, 2})
		}, "act_norms.npy: element 1 is -1, but a norm is ≥ 0"},
		{"leading zeros only", func(d string) {
			writeNpy(t, filepath.Join(d, "block00.q/step1/act_norms.npy"), []float64{1, 2})
			writeNpy(t, filepath.Join(d, "block00.q/step1/grad_norms.npy"), []float64{1, 2})
		}, "write 0 without it"},
		{"missing gradient", func(d string) { writeNpy(t, filepath.Join(d, "block0.q/step1/act_norms.npy"), []float64{1, 2}) }, "needs"},
		{"not npy", func(d string) {
			require.NoError(t, os.MkdirAll(filepath.Join(d, "block0.q/step1"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(d, "block0.q/step1/H.npy"), []byte("hello"), 0o644))
		}, "H.npy"},
		{"step zero", func(d string) { writeNpy(t, filepath.Join(d, "block0.q/step0/act_norms.npy"), []float64{1}) }, "step must be"},
		{"truncated", func(d string) {
			writeNpy(t, filepath.Join(d, "block0.q/step1/act_norms.npy"), []float64{1, 2})
			p := filepath.Join(d, "block0.q/step1/grad_norms.npy")
			writeNpy(t, p, []float64{1, 2})
			require.NoError(t, os.Truncate(p, 128+15))
		}, "grad_norms.npy: truncated data: shape [2] of <f8 needs 16 bytes but the file holds 15"},
		{"trailing bytes", func(d string) {
			p := filepath.Join(d, "block0.q/step1/act_norms.npy")
			writeNpy(t, p, []float64{1, 2})
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.Write([]byte{0})
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}, "act_norms.npy: 1 trailing bytes"},
		{"negative shape", func(d string) {
			h := "{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }\n"
			require.NoError(t, os.MkdirAll(filepath.Join(d, "block0.q/step1"), 0o755))
			b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), 0)
			require.NoError(t, os.WriteFile(filepath.Join(d, "block0.q/step1/act_norms.npy"), append(b, h...), 0o644))
		}, "negative dimension -2"},
		{"fortran order", func(d string) {
			h := "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }\n"
			require.NoError(t, os.MkdirAll(filepath.Join(d, "block0.q/step1"), 0o755))
			b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), 0)
			require.NoError(t, os.WriteFile(filepath.Join(d, "block0.q/step1/H.npy"), append(append(b, h...), make([]byte, 32)...), 0o644))
		}, "H.npy: the array is in Fortran order"},
		{"unsupported dtype", func(d string) {
			require.NoError(t, os.MkdirAll(filepath.Join(d, "block0.q/step1"), 0o755))
			require.NoError(t, npyfile.WriteArray(filepath.Join(d, "block0.q/step1/act_norms.npy"), npyfile.Array{Shape: []int{1}, Data: []float64{1}, DType: "<f8"}))
			h := "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }\n"
			b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), 0)
			require.NoError(t, os.WriteFile(filepath.Join(d, "block0.q/step1/grad_norms.npy"), append(append(b, h...), make([]byte, 16)...), 0o644))
		}, "dtype \"<c16\" is not supported (complex numbers)"},
	} {
		d := t.TempDir()
		tc.setup(d)
		out := t.TempDir()
		_, err := experiments.AnalyzeTraces(ctx, d, experiments.TraceOptions{Out: out})
		assert.ErrorIs(t, err, experiments.ErrTrace, tc.name)
		assert.ErrorContains(t, err, tc.want, tc.name)
		entries, _ := os.ReadDir(out)
		assert.Empty(t, entries, tc.name)
	}
}

// TestAnalyzeTracesDTypes checks that norms and masks stored as integers, bools or big-endian
// floats give the same analysis as the same values in float64.
func TestAnalyzeTracesDTypes(t *testing.T) {
	const n = 12
	act, grad, valid := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		act[i], grad[i] = float64(1+i%5), float64((i*7)%11+1)
		if i < n-2 {
			valid[i] = 1
		}
	}
	layers := func(actType, gradType, validType string) string {
		dir := filepath.Join(t.TempDir(), "block0.v", "step2")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for _, f := range []struct {
			name, dtype string
			v           []float64
		}{{"act_norms.npy", actType, act}, {"grad_norms.npy", gradType, grad}, {"valid.npy", validType, valid}} {
			require.NoError(t, npyfile.WriteArray(filepath.Join(dir, f.name), npyfile.Array{Shape: []int{n}, Data: f.v, DType: f.dtype}))
		}
		out := t.TempDir()
		o, err := experiments.AnalyzeTraces(context.Background(), filepath.Dir(filepath.Dir(dir)), experiments.TraceOptions{Out: out, Name: "d"})
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(o.Dir, "layers.csv"))
		require.NoError(t, err)
		return string(b)
	}
	want := layers("<f8", "<f8", "<f8")
	for _, types := range [][3]string{{">f8", "<f4", "|b1"}, {"|u1", ">i2", "|u1"}, {"<i8", ">u4", ">f4"}} {
		assert.Equal(t, want, layers(types[0], types[1], types[2]), "%v", types)
	}
}

// TestAnalyzeTracesCountsCurves checks that the memory check counts the curves the analysis
// draws (k+1 points per budget and source), not only the arrays read: 200000 tokens of norms
// take 3.2 MB but their curves at k = 0.5|D| about 120 MB.
func TestAnalyzeTracesCountsCurves(t *testing.T) {
	d := t.TempDir()
	n := 200000
	ones := make([]float64, n)
	for i := range ones {
		ones[i] = 1
	}
	writeNpy(t, filepath.Join(d, "block0.q/step1/act_norms.npy"), ones)
	writeNpy(t, filepath.Join(d, "block0.q/step1/grad_norms.npy"), ones)
	opt := experiments.TraceOptions{Out: t.TempDir(), MemLimit: 40 << 20}
	_, err := experiments.AnalyzeTraces(context.Background(), d, opt)
	require.Error(t, err)
	assert.ErrorContains(t, err, "the traces of")
}
