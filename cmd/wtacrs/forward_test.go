package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/checkpoint"
	"github.com/wtacrs/wtacrs/internal/npyfile"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
)

// forwardFixture saves a small model with both heads and writes a padded batch for it.
func forwardFixture(t *testing.T) (ckpt, batchDir string, m *model.Model[float32], b model.Batch) {
	t.Helper()
	dir := t.TempDir()
	cfg := model.Config{Vocab: 23, Dim: 8, Heads: 2, Blocks: 2, FFN: 12, MaxLen: 7, Classes: 2, Segments: 2, Pooling: model.PoolMean, MLM: model.MLMUntied}
	m, err := model.New[float32](cfg, 5)
	require.NoError(t, err)
	ckpt = filepath.Join(dir, "m")
	require.NoError(t, checkpoint.Save(ckpt, m, checkpoint.Meta{}))
	b = model.Batch{B: 3, S: 6, Tokens: make([]int, 18), Mask: make([]bool, 18), Segments: make([]int, 18), Labels: []int{1, 0, 1}, MLMTargets: make([]int, 18)}
	for i := range b.Tokens {
		b.Tokens[i] = (7*i + 3) % cfg.Vocab
		b.Mask[i] = i%6 < 6-2*(i/6)
		b.Segments[i] = i % 6 / 3
		b.MLMTargets[i] = -1
		if b.Mask[i] && i%6 == 1 {
			b.MLMTargets[i] = i % cfg.Vocab
		}
	}
	batchDir = filepath.Join(dir, "batch")
	require.NoError(t, os.Mkdir(batchDir, 0o755))
	write := func(name string, shape []int, v []int, dtype string) {
		data := make([]float64, len(v))
		for i, x := range v {
			data[i] = float64(x)
		}
		require.NoError(t, npyfile.WriteArray(filepath.Join(batchDir, name), npyfile.Array{Shape: shape, Data: data, DType: dtype}))
	}
	mask := make([]int, len(b.Mask))
	for i, v := range b.Mask {
		if v {
			mask[i] = 1
		}
	}
	write("tokens.npy", []int{3, 6}, b.Tokens, "<i8")
	write("mask.npy", []int{3, 6}, mask, "|b1")
	write("segments.npy", []int{3, 6}, b.Segments, "<i4")
	write("labels.npy", []int{3}, b.Labels, "<i8")
	write("mlm_targets.npy", []int{3, 6}, b.MLMTargets, "<i8")
	return ckpt, batchDir, m, b
}

// The outputs are the model's own numbers, bit for bit, and the trace is one analyze reads.
func TestForwardCommand(t *testing.T) {
	ckpt, batchDir, m, b := forwardFixture(t)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runCLI("forward", "-trace", ckpt, batchDir, out)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "wrote "+out)

	tape, err := m.Forward(b, nil)
	require.NoError(t, err)
	require.NoError(t, m.Backward(tape, nil))
	logits, err := npyfile.Read(filepath.Join(out, "logits.npy"))
	require.NoError(t, err)
	assert.Equal(t, matrix.ToFloat64(tape.Logits).Data, logits.Data)
	var res forwardResult
	text, err := os.ReadFile(filepath.Join(out, "result.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(text, &res))
	assert.Equal(t, tape.Loss, res.Loss)
	assert.Equal(t, tape.MLMLoss, res.MLMLoss)
	assert.True(t, res.Backward)
	assert.False(t, res.ModelSaved)
	grads, _, err := checkpoint.LoadTensors(filepath.Join(out, "grads.safetensors"))
	require.NoError(t, err)
	require.Len(t, grads, len(m.Params))
	for _, g := range grads {
		assert.Equal(t, m.Param(g.Name).G, g.F32, g.Name)
	}
	for i := 0; i < m.Cfg.Blocks*model.LinearPerBlock; i++ {
		for _, f := range []string{"H.npy", "dZ.npy", "valid.npy"} {
			assert.FileExists(t, filepath.Join(out, "trace", model.LayerOf(i).String(), "step1", f))
		}
	}
	code, _, stderr = runCLI("analyze", "-out", t.TempDir(), filepath.Join(out, "trace"))
	assert.Equal(t, 0, code, stderr)
	entries, err := os.ReadDir(filepath.Dir(out))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no staging folder is left beside OUT_DIR")
}

// -classes draws a new head and keeps the encoder; -precision float64 widens exactly; the model
// that ran is saved and loads.
func TestForwardNewHeadAndFloat64(t *testing.T) {
	ckpt, batchDir, m, _ := forwardFixture(t)
	require.NoError(t, os.Remove(filepath.Join(batchDir, "mlm_targets.npy")))
	out := filepath.Join(t.TempDir(), "out")
	code, _, stderr := runCLI("forward", "-classes", "3", "-pooling", "cls", "-precision", "float64", ckpt, batchDir, out)
	require.Equal(t, 0, code, stderr)
	m64, meta, err := checkpoint.Load[float64](filepath.Join(out, "model"))
	require.NoError(t, err)
	assert.Equal(t, 3, meta.Architecture.Classes)
	assert.Equal(t, model.PoolCLS, meta.Architecture.Pooling)
	assert.Equal(t, model.MLMNone, meta.Architecture.MLM)
	for _, p := range m64.Params {
		if strings.HasPrefix(p.Name, "head.") {
			continue
		}
		src := m.Param(p.Name)
		require.NotNil(t, src, p.Name)
		for j, v := range src.W.Data {
			require.Equal(t, float64(v), p.W.Data[j], p.Name)
		}
	}
	logits, err := npyfile.Read(filepath.Join(out, "logits.npy"))
	require.NoError(t, err)
	assert.Equal(t, 3, logits.Cols)
}

func TestForwardRefusals(t *testing.T) {
	ckpt, batchDir, _, _ := forwardFixture(t)
	full := t.TempDir()
	mine := filepath.Join(full, "mine.txt")
	require.NoError(t, os.WriteFile(mine, []byte("keep"), 0o644))
	bad := t.TempDir()
	require.NoError(t, npyfile.WriteArray(filepath.Join(bad, "tokens.npy"), npyfile.Array{Shape: []int{1, 2}, Data: []float64{1.5, 2}, DType: "<f8"}))
	short := t.TempDir()
	require.NoError(t, npyfile.WriteArray(filepath.Join(short, "tokens.npy"), npyfile.Array{Shape: []int{1, 2}, Data: []float64{1, 2}, DType: "<i8"}))
	require.NoError(t, npyfile.WriteArray(filepath.Join(short, "mask.npy"), npyfile.Array{Shape: []int{2}, Data: []float64{1, 1}, DType: "|b1"}))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"non-empty out", []string{ckpt, batchDir, full}, "is not empty"},
		{"arguments", []string{ckpt, batchDir}, "CHECKPOINT, BATCH_DIR and OUT_DIR"},
		{"classes 1", []string{"-classes", "1", ckpt, batchDir, filepath.Join(t.TempDir(), "o")}, "-classes 1"},
		{"no tokens", []string{ckpt, t.TempDir(), filepath.Join(t.TempDir(), "o")}, "tokens.npy"},
		{"fraction", []string{ckpt, bad, filepath.Join(t.TempDir(), "o")}, "not an integer id"},
		{"mask shape", []string{ckpt, short, filepath.Join(t.TempDir(), "o")}, "mask.npy has shape [2]"},
		{"no checkpoint", []string{filepath.Join(t.TempDir(), "none"), batchDir, filepath.Join(t.TempDir(), "o")}, "none"},
		{"narrowing", []string{"-precision", "float16", ckpt, batchDir, filepath.Join(t.TempDir(), "o")}, "float16"},
	} {
		code, _, stderr := runCLI(append([]string{"forward"}, tc.args...)...)
		assert.Equal(t, exitUsage, code, tc.name)
		assert.Contains(t, stderr, tc.want, tc.name)
	}
	text, err := os.ReadFile(mine)
	require.NoError(t, err)
	assert.Equal(t, "keep", string(text))
	entries, err := os.ReadDir(full)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}
