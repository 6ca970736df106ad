package safetensors

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// referenceFile was written by testdata/reference.py, a writer of its own built from the
// published format with json, struct and numpy.
const referenceFile = "testdata/reference.safetensors"

// referenceTensors are the tensors of reference.py's reference_tensors, built here from the
// same values.
func referenceTensors() ([]Tensor, map[string]string) {
	f32 := func(bits ...uint32) []float32 {
		out := make([]float32, len(bits))
		for i, b := range bits {
			out[i] = math.Float32frombits(b)
		}
		return out
	}
	embed := make([]float32, 8)
	for i := range embed {
		embed[i] = float32(i)*0.25 - 1
	}
	return []Tensor{
			NewTensor("a.weight", []int{2, 3}, f32(0x3EAAAAAB, 0x00000001, 0x7F7FFFFF, 0x7F800000, 0x80000000, 0xBFC00000)),
			NewTensor("a.bias", []int{3}, []float64{0.1, -2.5, 5e-324}),
			NewTensor("embed", []int{4, 2}, embed),
			NewTensor("empty", []int{0, 4}, []float32{}),
			NewTensor("one", []int{1}, []float32{7}),
			NewTensor("scalar", []int{}, []float64{math.Pi}),
			NewTensor("λ.scale", []int{2}, []float64{math.MaxFloat64, math.Inf(-1)}),
		}, map[string]string{
			"format": "pt",
			"note":   "reference file: \"quotes\", a tab\t, a back\\slash, ü",
			"ctl":    "\x01",
		}
}

// TestReferenceFile reads the file of the independent writer and checks every value bit for
// bit, and that our writer writes the same bytes for the same tensors.
func TestReferenceFile(t *testing.T) {
	t.Parallel()
	want, wantMeta := referenceTensors()
	got, meta, err := Read(referenceFile)
	require.NoError(t, err)
	sameTensors(t, want, got)
	assert.Equal(t, wantMeta, meta)

	var order []string
	for _, g := range got {
		order = append(order, g.Name)
	}
	assert.Equal(t, []string{"a.bias", "scalar", "λ.scale", "a.weight", "embed", "empty", "one"}, order, "the data order: F64 before F32, then by name")
	assert.Equal(t, float32(1.0/3), got[3].F32[0])

	raw, err := os.ReadFile(referenceFile)
	require.NoError(t, err)
	assert.Equal(t, raw, encode(t, want, wantMeta), "Encode writes the reference writer's bytes")
}

// python returns a Python 3 interpreter with numpy: $WTACRS_PYTHON, else python3 or
// /usr/bin/python3; it skips the test when there is none.
func python(t *testing.T) string {
	t.Helper()
	cands := []string{"python3", "/usr/bin/python3"}
	if p := os.Getenv("WTACRS_PYTHON"); p != "" {
		cands = []string{p}
	}
	for _, c := range cands {
		if exec.Command(c, "-c", "import numpy").Run() == nil {
			return c
		}
	}
	t.Skip("no python3 with numpy (set WTACRS_PYTHON to one)")
	return ""
}

// TestReferenceScript checks that testdata/reference.py still writes the committed file.
func TestReferenceScript(t *testing.T) {
	t.Parallel()
	py := python(t)
	p := filepath.Join(t.TempDir(), "ref.safetensors")
	out, err := exec.Command(py, "testdata/reference.py", "write", p).CombinedOutput()
	require.NoError(t, err, "%s", out)
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	want, err := os.ReadFile(referenceFile)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

// TestReferenceReadsOurs has the independent reader read a file of our writer, with the
// values and shapes that are hard to get right.
func TestReferenceReadsOurs(t *testing.T) {
	t.Parallel()
	py := python(t)
	w := make([]float32, 70000) // more than one write buffer
	for i := range w {
		w[i] = float32(math.Sin(float64(i))) * 1e3
	}
	ts := []Tensor{
		NewTensor("block0.q.w", []int{350, 200}, w),
		NewTensor("nan", []int{1, 1, 4}, []float64{math.NaN(), math.Inf(1), math.Copysign(0, -1), 5e-324}),
		NewTensor("scalar", []int{}, []float32{-0.5}),
		NewTensor("zero", []int{2, 0, 3}, []float64(nil)),
		NewTensor("ünï \"q\"", []int{2}, []float32{math.MaxFloat32, math.SmallestNonzeroFloat32}),
	}
	meta := map[string]string{"step": "12", "note": "tab\tnewline\n\x1f ☃"}
	p := filepath.Join(t.TempDir(), "ours.safetensors")
	require.NoError(t, Write(p, ts, meta))
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(py, "testdata/reference.py", "read", p)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s", stderr.String())

	var res struct {
		Metadata map[string]string
		Tensors  []struct {
			Name  string
			DType string
			Shape []int
			Bits  []uint64
		}
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res))
	assert.Equal(t, meta, res.Metadata)
	var got []Tensor
	for _, r := range res.Tensors {
		d, err := ParseDType(r.DType)
		require.NoError(t, err)
		g := Tensor{Name: r.Name, DType: d, Shape: r.Shape}
		for _, b := range r.Bits {
			if d == F32 {
				g.F32 = append(g.F32, math.Float32frombits(uint32(b)))
			} else {
				g.F64 = append(g.F64, math.Float64frombits(b))
			}
		}
		got = append(got, g)
	}
	sameTensors(t, ts, got)
}
