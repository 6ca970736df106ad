package checkpoint_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/checkpoint"
	"github.com/wtacrs/wtacrs/data"
	"github.com/wtacrs/wtacrs/internal/inputfile"
	"github.com/wtacrs/wtacrs/internal/safetensors"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
)

// vocab returns a valid vocabulary of n ≥ 5 tokens.
func vocab(n int) []string {
	v := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]"}
	for i := len(v); i < n; i++ {
		v = append(v, fmt.Sprintf("w%d", i))
	}
	return v
}

// smallConfig is a small encoder with segments and a classification head.
func smallConfig() model.Config {
	return model.Config{Vocab: 12, Dim: 8, Heads: 2, Blocks: 2, FFN: 16, MaxLen: 6, Classes: 3, Segments: 2}
}

// newModel returns the model of cfg with every parameter drawn from seed (not only the
// weights: gains and biases too), with -0 and a float32 subnormal among them.
func newModel[T matrix.Float](t testing.TB, cfg model.Config, seed uint64) *model.Model[T] {
	t.Helper()
	m, err := model.New[T](cfg, seed)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, p := range m.Params {
		for i := range p.W.Data {
			p.W.Data[i] = T(rng.NormFloat64())
		}
	}
	w := m.Params[0].W.Data
	w[0], w[1] = T(math.Copysign(0, -1)), T(math.SmallestNonzeroFloat32)
	return m
}

// sameParams fails unless a and b have the same parameters, names, shapes and bits.
func sameParams[T matrix.Float](t testing.TB, a, b *model.Model[T]) {
	t.Helper()
	require.Len(t, b.Params, len(a.Params))
	for i, p := range a.Params {
		q := b.Params[i]
		require.Equal(t, p.Name, q.Name)
		require.Equal(t, [2]int{p.W.Rows, p.W.Cols}, [2]int{q.W.Rows, q.W.Cols}, p.Name)
		for j := range p.W.Data {
			require.Equal(t, bits(p.W.Data[j]), bits(q.W.Data[j]), "%s element %d", p.Name, j)
		}
	}
}

func bits[T matrix.Float](v T) uint64 {
	if f, ok := any(v).(float32); ok {
		return uint64(math.Float32bits(f))
	}
	return math.Float64bits(float64(v))
}

// meta returns a Meta with every field set, for the model of cfg.
func meta(cfg model.Config) checkpoint.Meta {
	return checkpoint.Meta{
		Vocab:    vocab(cfg.Vocab),
		KeepCase: true,
		Provenance: checkpoint.Provenance{
			ConfigSHA256: strings.Repeat("ab", 32), GitCommit: "0123abc", Steps: 300, Tokens: 76800,
			Data: "data/rte-synth (train)", From: "pretrain/ckpt", Created: time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC),
			Extra: map[string]string{"note": "<a & b>"},
		},
	}
}

// batch returns a batch for the model of cfg.
func batch(cfg model.Config) model.Batch {
	b := model.Batch{B: 2, S: 4, Tokens: []int{2, 5, 6, 3, 2, 7, 3, 0}, Mask: []bool{true, true, true, true, true, true, true, false}}
	if cfg.Segments > 0 {
		b.Segments = []int{0, 0, 1, 1, 0, 0, 1, 0}
	}
	if cfg.HasHead() {
		b.Labels = []int{1, 0}
	}
	if cfg.MLM != model.MLMNone {
		b.MLMTargets = []int{-1, 4, -1, -1, -1, 8, -1, -1}
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	cfgs := map[string]model.Config{
		"classifier": smallConfig(),
		"pretraining, untied MLM, no head, mean pooling": {Vocab: 10, Dim: 4, Heads: 1, Blocks: 1, FFN: 8, MaxLen: 5, MLM: model.MLMUntied, Pooling: model.PoolMean},
		"tied MLM and a head, no segments":               {Vocab: 9, Dim: 6, Heads: 3, Blocks: 3, FFN: 5, MaxLen: 4, Classes: 2, MLM: model.MLMTied},
	}
	for name, cfg := range cfgs {
		t.Run(name+"/float32", func(t *testing.T) { t.Parallel(); roundTrip[float32](t, cfg) })
		t.Run(name+"/float64", func(t *testing.T) { t.Parallel(); roundTrip[float64](t, cfg) })
	}
}

func roundTrip[T matrix.Float](t *testing.T, cfg model.Config) {
	m := newModel[T](t, cfg, 1)
	m.Cfg.Recompute = true // not stored
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt")
	want := meta(cfg)
	require.NoError(t, checkpoint.Save(path, m, want))

	got, gm, err := checkpoint.Load[T](path + ".safetensors")
	require.NoError(t, err)
	sameParams(t, m, got)
	assert.Equal(t, cfg, got.Cfg)
	assert.Equal(t, cfg, gm.Architecture)
	assert.Equal(t, checkpoint.Format, gm.Format)
	assert.Equal(t, checkpoint.PrecisionOf[T](), gm.Precision)
	assert.Equal(t, want.Vocab, gm.Vocab)
	assert.True(t, gm.KeepCase)
	assert.Equal(t, want.Provenance, gm.Provenance)
	rm, err := checkpoint.ReadMeta(path)
	require.NoError(t, err)
	assert.Equal(t, gm, rm)
	tok, err := gm.Tokenizer()
	require.NoError(t, err)
	assert.Equal(t, cfg.Vocab, tok.VocabSize())
	assert.Equal(t, want.Vocab, checkpoint.VocabOf(tok))

	// The loaded model computes what the saved one does, bit for bit.
	m.Cfg.Recompute = false
	b := batch(cfg)
	t1, err := m.Forward(b, nil)
	require.NoError(t, err)
	t2, err := got.Forward(b, nil)
	require.NoError(t, err)
	assert.Equal(t, math.Float64bits(t1.Loss), math.Float64bits(t2.Loss))
	assert.Equal(t, math.Float64bits(t1.MLMLoss), math.Float64bits(t2.MLMLoss))

	// The same model and Meta give the same bytes; Save fills Format and Precision.
	first := readBoth(t, path)
	full := gm
	full.Provenance = want.Provenance
	require.NoError(t, checkpoint.Save(filepath.Join(dir, "again.safetensors"), got, full))
	assert.Equal(t, first, readBoth(t, filepath.Join(dir, "again")))
}

// readBoth returns the bytes of the two files of a checkpoint.
func readBoth(t *testing.T, path string) [2][]byte {
	t.Helper()
	tp, mp := checkpoint.Files(path)
	a, err := os.ReadFile(tp)
	require.NoError(t, err)
	b, err := os.ReadFile(mp)
	require.NoError(t, err)
	return [2][]byte{a, b}
}

// TestFiles checks the layout of the two files for a researcher who opens them elsewhere.
func TestFiles(t *testing.T) {
	t.Parallel()
	tp, mp := checkpoint.Files("run/model.safetensors")
	assert.Equal(t, "run/model.safetensors", tp)
	assert.Equal(t, "run/model.json", mp)
	tp, mp = checkpoint.Files("run/model.v2")
	assert.Equal(t, "run/model.v2.safetensors", tp)
	assert.Equal(t, "run/model.v2.json", mp)

	cfg := smallConfig()
	path := filepath.Join(t.TempDir(), "m")
	require.NoError(t, checkpoint.Save(path, newModel[float32](t, cfg, 2), meta(cfg)))
	h, err := safetensors.ReadHeader(path + ".safetensors")
	require.NoError(t, err)
	shapes := map[string][]int{}
	for _, ti := range h.Tensors {
		assert.Equal(t, safetensors.F32, ti.DType)
		shapes[ti.Name] = ti.Shape
	}
	assert.Equal(t, []int{12, 8}, shapes["tok_emb"])
	assert.Equal(t, []int{8, 16}, shapes["block1.ffn_in.w"])
	assert.Equal(t, []int{1, 8}, shapes["block0.ln1.g"])
	assert.Equal(t, []int{8, 3}, shapes["head.w"])
	assert.Len(t, shapes, 3+2*16+2+2)

	text, err := os.ReadFile(path + ".json")
	require.NoError(t, err)
	for _, want := range []string{
		`"format": "wtacrs-checkpoint/1"`, `"type": "wtacrs-encoder"`, `"max_len": 6`, `"pooling": "cls"`, `"mlm_head": "none"`,
		`"precision": "float32"`, `"keep_case": true`, "\n    \"[PAD]\",\n    \"[UNK]\",", `"steps": 300`, `"created": "2025-03-04T05:06:07.000000008Z"`,
		`"note": "<a & b>"`,
	} {
		assert.Contains(t, string(text), want)
	}
	sum := sha256.Sum256(text)
	assert.Equal(t, map[string]string{"wtacrs.format": checkpoint.Format, "wtacrs.meta_sha256": hex.EncodeToString(sum[:])}, h.Metadata)
}

func TestLoadInto(t *testing.T) {
	t.Parallel()
	pre := model.Config{Vocab: 12, Dim: 8, Heads: 2, Blocks: 2, FFN: 16, MaxLen: 6, Segments: 2, MLM: model.MLMUntied}
	path := filepath.Join(t.TempDir(), "pre")
	src := newModel[float64](t, pre, 3)
	require.NoError(t, checkpoint.Save(path, src, meta(pre)))

	fine := pre
	fine.MLM, fine.Classes = model.MLMNone, 2
	dst := newModel[float64](t, fine, 4)
	head := map[string][]float64{}
	for _, p := range dst.Params {
		if strings.HasPrefix(p.Name, "head.") {
			head[p.Name] = append([]float64(nil), p.W.Data...)
		}
	}
	skipHead := func(name string) bool { return strings.HasPrefix(name, "head.") }

	_, err := checkpoint.LoadInto(path, dst, nil)
	require.ErrorIs(t, err, checkpoint.ErrMissingTensor)
	assert.Contains(t, err.Error(), `has no tensor "head.w" for the parameter of shape [8 2] in the model`)
	assert.NotErrorIs(t, err, checkpoint.ErrArchitecture)

	gm, err := checkpoint.LoadInto(path, dst, skipHead)
	require.NoError(t, err)
	assert.Equal(t, pre, gm.Architecture)
	for _, p := range dst.Params {
		if w, ok := head[p.Name]; ok {
			assert.Equal(t, w, p.W.Data, "%s is kept", p.Name)
			continue
		}
		q := src.Param(p.Name)
		require.NotNil(t, q, p.Name)
		assert.Equal(t, q.W.Data, p.W.Data, p.Name)
	}
	_, err = dst.Forward(batch(fine), nil)
	require.NoError(t, err)

	wide := fine
	wide.Dim, wide.FFN = 12, 16
	before := newModel[float64](t, wide, 5)
	other := newModel[float64](t, wide, 5)
	_, err = checkpoint.LoadInto(path, other, skipHead)
	require.ErrorIs(t, err, checkpoint.ErrShape)
	assert.Contains(t, err.Error(), `tensor "tok_emb" is [12 8] in the file but [12 12] in the model`)
	sameParams(t, before, other) // nothing was set

	small := newModel[float32](t, fine, 4)
	_, err = checkpoint.LoadInto(path, small, skipHead)
	require.ErrorIs(t, err, checkpoint.ErrDType)
	assert.Contains(t, err.Error(), "is a float64 checkpoint, not float32")

	_, err = checkpoint.LoadInto[float64](path, nil, nil)
	require.ErrorIs(t, err, checkpoint.ErrInvalid)
}

// fixture is a saved float32 checkpoint of smallConfig that a test may break.
type fixture struct {
	path, tensors, meta string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	cfg := smallConfig()
	path := filepath.Join(t.TempDir(), "ckpt")
	require.NoError(t, checkpoint.Save(path, newModel[float32](t, cfg, 6), meta(cfg)))
	tp, mp := checkpoint.Files(path)
	return fixture{path, tp, mp}
}

// editJSON replaces old by new in the JSON file (once, which must match).
func (f fixture) editJSON(t *testing.T, old, new string) {
	t.Helper()
	b, err := os.ReadFile(f.meta)
	require.NoError(t, err)
	require.Contains(t, string(b), old)
	require.NoError(t, os.WriteFile(f.meta, []byte(strings.Replace(string(b), old, new, 1)), 0o644))
}

// rewrite rewrites the tensor file with the tensors edit returns, linked to the JSON file as
// it is now, as a Save that wrote them would.
func (f fixture) rewrite(t *testing.T, edit func([]safetensors.Tensor) []safetensors.Tensor) {
	t.Helper()
	ts, md, err := safetensors.Read(f.tensors)
	require.NoError(t, err)
	text, err := os.ReadFile(f.meta)
	require.NoError(t, err)
	sum := sha256.Sum256(text)
	md["wtacrs.meta_sha256"] = hex.EncodeToString(sum[:])
	require.NoError(t, safetensors.Write(f.tensors, edit(ts), md))
}

// without returns ts without the tensor name.
func without(name string) func([]safetensors.Tensor) []safetensors.Tensor {
	return func(ts []safetensors.Tensor) []safetensors.Tensor {
		var out []safetensors.Tensor
		for _, x := range ts {
			if x.Name != name {
				out = append(out, x)
			}
		}
		return out
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		spoil func(t *testing.T, f fixture)
		is    []error
		want  string
	}{
		{"missing tensor", func(t *testing.T, f fixture) { f.rewrite(t, without("block1.o.b")) },
			[]error{checkpoint.ErrMissingTensor, checkpoint.ErrArchitecture}, `has no tensor "block1.o.b" for the parameter of shape [1 8] in the model that the architecture of`},
		{"extra tensor", func(t *testing.T, f fixture) {
			f.rewrite(t, func(ts []safetensors.Tensor) []safetensors.Tensor {
				return append(ts, safetensors.NewTensor("mlm.b", []int{1, 12}, make([]float32, 12)))
			})
		}, []error{checkpoint.ErrArchitecture}, `tensor "mlm.b" [1 12] is no parameter of the model that the architecture of`},
		{"shape mismatch", func(t *testing.T, f fixture) {
			f.rewrite(t, func(ts []safetensors.Tensor) []safetensors.Tensor {
				for i := range ts {
					if ts[i].Name == "block0.q.w" {
						ts[i].Shape = []int{4, 16}
					}
				}
				return ts
			})
		}, []error{checkpoint.ErrShape, checkpoint.ErrArchitecture}, `tensor "block0.q.w" is [4 16] in the file but [8 8] in the model`},
		{"vector stored 1-D", func(t *testing.T, f fixture) {
			f.rewrite(t, func(ts []safetensors.Tensor) []safetensors.Tensor {
				for i := range ts {
					if ts[i].Name == "lnf.g" {
						ts[i].Shape = []int{8}
					}
				}
				return ts
			})
		}, []error{checkpoint.ErrShape}, `tensor "lnf.g" is [8] in the file but [1 8]`},
		{"vocabulary and architecture larger than tok_emb", func(t *testing.T, f fixture) {
			f.editJSON(t, `"vocab": 12,`, `"vocab": 13,`)
			f.editJSON(t, `"w11"`, `"w11", "w12"`)
			f.rewrite(t, func(ts []safetensors.Tensor) []safetensors.Tensor { return ts })
		}, []error{checkpoint.ErrShape, checkpoint.ErrArchitecture}, `tensor "tok_emb" is [12 8] in the file but [13 8]`},
		{"architecture far larger than the tensors", func(t *testing.T, f fixture) {
			f.editJSON(t, `"dim": 8,`, `"dim": 100000,`)
			f.rewrite(t, func(ts []safetensors.Tensor) []safetensors.Tensor { return ts })
		}, []error{checkpoint.ErrArchitecture}, "the architecture needs at least 80008700000 parameters but"},
		{"vocabulary larger than the architecture", func(t *testing.T, f fixture) { f.editJSON(t, `"w11"`, `"w11", "w12"`) },
			[]error{checkpoint.ErrArchitecture}, "the vocabulary has 13 tokens but the architecture 12 (the rows of tok_emb)"},
		{"tensor of the other dtype", func(t *testing.T, f fixture) {
			f.rewrite(t, func(ts []safetensors.Tensor) []safetensors.Tensor {
				for i := range ts {
					if ts[i].Name == "pos_emb" {
						ts[i] = safetensors.NewTensor("pos_emb", ts[i].Shape, make([]float64, len(ts[i].F32)))
					}
				}
				return ts
			})
		}, []error{checkpoint.ErrDType}, `tensor "pos_emb" is F64 but the model is float32`},
		{"unknown architecture type", func(t *testing.T, f fixture) { f.editJSON(t, `"wtacrs-encoder"`, `"bert"`) },
			[]error{checkpoint.ErrArchitecture}, `unknown architecture type "bert" (want "wtacrs-encoder")`},
		{"no architecture type", func(t *testing.T, f fixture) { f.editJSON(t, `"type": "wtacrs-encoder",`, ``) },
			[]error{checkpoint.ErrArchitecture}, "unknown architecture type (none)"},
		{"unknown format version", func(t *testing.T, f fixture) { f.editJSON(t, `"wtacrs-checkpoint/1"`, `"wtacrs-checkpoint/2"`) },
			[]error{checkpoint.ErrFormat}, `unknown format version "wtacrs-checkpoint/2" (want "wtacrs-checkpoint/1")`},
		{"no format", func(t *testing.T, f fixture) { f.editJSON(t, `"format": "wtacrs-checkpoint/1",`, ``) },
			[]error{checkpoint.ErrFormat}, `no "format" key (not a checkpoint of this program?)`},
		{"corrupt JSON", func(t *testing.T, f fixture) { f.editJSON(t, `"precision": "float32",`, `"precision": float32,`) },
			[]error{checkpoint.ErrFormat}, "not a JSON object: invalid character 'l' in literal false (expecting 'a') at byte"},
		{"JSON cut short", func(t *testing.T, f fixture) {
			b, _ := os.ReadFile(f.meta)
			os.WriteFile(f.meta, b[:len(b)/2], 0o644)
		}, []error{checkpoint.ErrFormat}, "not a JSON object: unexpected end of JSON input"},
		{"JSON array", func(t *testing.T, f fixture) { os.WriteFile(f.meta, []byte(" [1]"), 0o644) },
			[]error{checkpoint.ErrFormat}, `not a JSON object: it starts with "[1]"`},
		{"empty JSON file", func(t *testing.T, f fixture) { os.WriteFile(f.meta, nil, 0o644) },
			[]error{checkpoint.ErrFormat}, "not a JSON object: unexpected end of JSON input"},
		{"JSON null", func(t *testing.T, f fixture) { os.WriteFile(f.meta, []byte("null"), 0o644) },
			[]error{checkpoint.ErrFormat}, `not a JSON object: it starts with "null"`},
		{"unknown key", func(t *testing.T, f fixture) { f.editJSON(t, `"keep_case": true,`, `"keep_case": true, "lr": 1,`) },
			[]error{checkpoint.ErrFormat}, `json: unknown field "lr"`},
		{"unknown provenance key", func(t *testing.T, f fixture) { f.editJSON(t, `"steps": 300,`, `"steps": 300, "epochs": 3,`) },
			[]error{checkpoint.ErrFormat}, `json: unknown field "epochs"`},
		{"missing key", func(t *testing.T, f fixture) { f.editJSON(t, `"keep_case": true,`, ``) },
			[]error{checkpoint.ErrFormat}, `no "keep_case" key`},
		{"unknown architecture key", func(t *testing.T, f fixture) { f.editJSON(t, `"heads": 2,`, `"heads": 2, "experts": 4,`) },
			[]error{checkpoint.ErrArchitecture}, `architecture: json: unknown field "experts"`},
		{"missing architecture key", func(t *testing.T, f fixture) { f.editJSON(t, `"segments": 2,`, ``) },
			[]error{checkpoint.ErrArchitecture}, `the architecture has no "segments" key`},
		{"invalid architecture", func(t *testing.T, f fixture) { f.editJSON(t, `"heads": 2,`, `"heads": 3,`) },
			[]error{checkpoint.ErrArchitecture, model.ErrConfig}, "model: invalid configuration"},
		{"unknown pooling", func(t *testing.T, f fixture) { f.editJSON(t, `"pooling": "cls"`, `"pooling": "max"`) },
			[]error{checkpoint.ErrArchitecture, model.ErrConfig}, `unknown pooling "max"`},
		{"architecture not an object", func(t *testing.T, f fixture) {
			b, _ := os.ReadFile(f.meta)
			s := string(b)
			i, j := strings.Index(s, `"architecture": {`), strings.Index(s, `"precision"`)
			os.WriteFile(f.meta, []byte(s[:i]+`"architecture": [], `+s[j:]), 0o644)
		}, []error{checkpoint.ErrArchitecture}, `"architecture" is not a JSON object: []`},
		{"unknown precision", func(t *testing.T, f fixture) { f.editJSON(t, `"float32"`, `"bfloat16"`) },
			[]error{checkpoint.ErrFormat}, `precision "bfloat16" (want "float32" or "float64")`},
		{"invalid vocabulary", func(t *testing.T, f fixture) { f.editJSON(t, `"w11"`, `"w10"`) },
			[]error{checkpoint.ErrFormat, data.ErrFormat}, `vocabulary line 12 repeats token "w10" of line 11`},
		{"vocabulary token with a newline", func(t *testing.T, f fixture) { f.editJSON(t, `"w11"`, `"w\n11"`) },
			[]error{checkpoint.ErrFormat, data.ErrFormat}, "empty or holds white space"},
		{"JSON edited", func(t *testing.T, f fixture) { f.editJSON(t, `"steps": 300`, `"steps": 301`) },
			[]error{checkpoint.ErrFormat}, "was not saved with"},
		{"tensor file of another program", func(t *testing.T, f fixture) {
			ts, _, err := safetensors.Read(f.tensors)
			require.NoError(t, err)
			require.NoError(t, safetensors.Write(f.tensors, ts, map[string]string{"format": "pt"}))
		}, []error{checkpoint.ErrFormat}, `the metadata has no "wtacrs.format"`},
		{"header too large", func(t *testing.T, f fixture) {
			b, _ := os.ReadFile(f.tensors)
			binary.LittleEndian.PutUint64(b, 1<<40)
			os.WriteFile(f.tensors, b, 0o644)
		}, []error{checkpoint.ErrFormat, safetensors.ErrHeaderTooLarge}, "the header length 1099511627776 is over the limit"},
		{"tensor file garbage", func(t *testing.T, f fixture) {
			os.WriteFile(f.tensors, []byte("PK\x03\x04 a zip file, not tensors"), 0o644)
		},
			[]error{checkpoint.ErrFormat}, "over the limit"},
		{"no JSON file", func(t *testing.T, f fixture) { os.Remove(f.meta) }, []error{fs.ErrNotExist, inputfile.ErrUnreadable}, "ckpt.json"},
		{"no tensor file", func(t *testing.T, f fixture) { os.Remove(f.tensors) }, []error{fs.ErrNotExist}, "ckpt.safetensors"},
		{"JSON file a directory", func(t *testing.T, f fixture) { os.Remove(f.meta); os.Mkdir(f.meta, 0o755) },
			[]error{inputfile.ErrNotRegular}, "it is a directory"},
	}
	// The cases of problems in the tensors only, which ReadMeta does not see; those whose
	// problem is with the model built from the JSON file alone, which LoadInto into a model
	// of the fixture's architecture does not see either, are true.
	tensorOnly := map[string]bool{
		"missing tensor": false, "extra tensor": true, "shape mismatch": false, "vector stored 1-D": false,
		"vocabulary and architecture larger than tok_emb": true, "tensor of the other dtype": false,
		"architecture far larger than the tensors": true,
	}
	for _, c := range cases {
		intoOK, metaOK := tensorOnly[c.name]
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			c.spoil(t, f)
			_, _, err := checkpoint.Load[float32](f.path)
			require.Error(t, err)
			for _, s := range c.is {
				assert.ErrorIs(t, err, s)
			}
			assert.Contains(t, err.Error(), c.want)
			assert.Contains(t, err.Error(), f.path, "the error names the file")
			errLoad := err
			_, err = checkpoint.ReadMeta(f.path)
			if metaOK {
				assert.NoError(t, err)
			} else {
				assert.Equal(t, errMessage(err), errMessage(errLoad), "ReadMeta fails as Load does")
			}
			_, err = checkpoint.LoadInto(f.path, newModel[float32](t, smallConfig(), 9), nil)
			if intoOK {
				assert.NoError(t, err)
			} else {
				require.Error(t, err)
				for _, s := range c.is {
					if s != checkpoint.ErrArchitecture || !metaOK {
						assert.ErrorIs(t, err, s, "LoadInto")
					}
				}
			}
		})
	}
}

// errMessage returns the message of err, or "" for nil.
func errMessage(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestLoadDType loads a float64 checkpoint as float32 and the reverse.
func TestLoadDType(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	dir := t.TempDir()
	require.NoError(t, checkpoint.Save(filepath.Join(dir, "f64"), newModel[float64](t, cfg, 1), meta(cfg)))
	require.NoError(t, checkpoint.Save(filepath.Join(dir, "f32"), newModel[float32](t, cfg, 1), meta(cfg)))
	_, _, err := checkpoint.Load[float32](filepath.Join(dir, "f64"))
	require.ErrorIs(t, err, checkpoint.ErrDType)
	assert.Contains(t, err.Error(), "f64.json is a float64 checkpoint, not float32: load it into a float64 model (no conversion is made)")
	_, _, err = checkpoint.Load[float64](filepath.Join(dir, "f32"))
	require.ErrorIs(t, err, checkpoint.ErrDType)
}

// TestTruncated cuts the tensor file at several points: in the header length, in the header,
// at the start of the data, in a tensor and before the last byte.
func TestTruncated(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	full, err := os.ReadFile(f.tensors)
	require.NoError(t, err)
	n := int(binary.LittleEndian.Uint64(full))
	for _, cut := range []int{0, 5, 8, 8 + n/2, 8 + n, 8 + n + 100, len(full) - 1} {
		require.NoError(t, os.WriteFile(f.tensors, full[:cut], 0o644))
		_, _, err := checkpoint.Load[float32](f.path)
		require.ErrorIs(t, err, checkpoint.ErrTruncated, "cut at %d of %d", cut, len(full))
		require.ErrorIs(t, err, checkpoint.ErrFormat, "cut at %d", cut)
		assert.Contains(t, err.Error(), f.tensors)
		_, err = checkpoint.ReadMeta(f.path)
		require.ErrorIs(t, err, checkpoint.ErrTruncated, "cut at %d", cut)
	}
}

func TestSaveErrors(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	m := newModel[float32](t, cfg, 1)
	other := cfg
	other.Classes = 4
	cases := []struct {
		name string
		path string
		m    *model.Model[float32]
		meta checkpoint.Meta
		is   error
		want string
	}{
		{"empty path", "", m, checkpoint.Meta{}, checkpoint.ErrInvalid, "names no file"},
		{"only the extension", ".safetensors", m, checkpoint.Meta{}, checkpoint.ErrInvalid, "names no file"},
		{"a directory", "dir/", m, checkpoint.Meta{}, checkpoint.ErrInvalid, "names no file"},
		{"nil model", "x", nil, checkpoint.Meta{}, checkpoint.ErrInvalid, "nil model"},
		{"another architecture", "x", m, checkpoint.Meta{Architecture: other}, checkpoint.ErrArchitecture, "is not the model's"},
		{"another precision", "x", m, checkpoint.Meta{Precision: checkpoint.PrecisionFloat64}, checkpoint.ErrDType, `precision "float64" for a float32 model`},
		{"another format", "x", m, checkpoint.Meta{Format: "wtacrs-checkpoint/0"}, checkpoint.ErrInvalid, `format "wtacrs-checkpoint/0"`},
		{"vocabulary of another size", "x", m, checkpoint.Meta{Vocab: vocab(11)}, checkpoint.ErrArchitecture, "the vocabulary has 11 tokens but the architecture 12"},
		{"invalid vocabulary", "x", m, checkpoint.Meta{Vocab: append(vocab(11), "w4")}, checkpoint.ErrInvalid, `repeats token "w4"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := c.path
			if path == "x" {
				path = filepath.Join(dir, path)
			}
			err := checkpoint.Save(path, c.m, c.meta)
			require.ErrorIs(t, err, c.is)
			assert.Contains(t, err.Error(), c.want)
			entries, _ := os.ReadDir(dir)
			assert.Empty(t, entries, "nothing is written")
		})
	}
	broken := newModel[float32](t, cfg, 1)
	broken.Params[3].W.Data = broken.Params[3].W.Data[1:]
	err := checkpoint.Save(filepath.Join(t.TempDir(), "x"), broken, checkpoint.Meta{})
	require.ErrorIs(t, err, checkpoint.ErrShape)
	assert.Contains(t, err.Error(), broken.Params[3].Name)

	// Recompute is not part of the architecture.
	rc := cfg
	rc.Recompute = true
	require.NoError(t, checkpoint.Save(filepath.Join(t.TempDir(), "x"), m, checkpoint.Meta{Architecture: rc}))
}

func TestTensors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	moments := make([]float32, 100003)
	for i := range moments {
		moments[i] = float32(i) / 7
	}
	ts := []checkpoint.Tensor{
		checkpoint.NewTensor("adam.m.tok_emb", []int{100003}, moments),
		checkpoint.NewTensor("adam.v.tok_emb", []int{1, 100003}, moments),
		checkpoint.NewTensor("gradnorm", []int{3, 2}, []float64{1, 2, 3, 4, 5, math.Inf(1)}),
		checkpoint.NewTensor("step", []int{}, []float64{42}),
	}
	md := map[string]string{"step": "42", "rng": "pcg:1:2"}
	require.NoError(t, checkpoint.SaveTensors(filepath.Join(dir, "state"), ts, md))
	got, gotMD, err := checkpoint.LoadTensors(filepath.Join(dir, "state.safetensors"))
	require.NoError(t, err)
	assert.Equal(t, md, gotMD)
	byName := map[string]checkpoint.Tensor{}
	for _, g := range got {
		byName[g.Name] = g
	}
	for _, w := range ts {
		g := byName[w.Name]
		assert.Equal(t, w.Shape, g.Shape, w.Name)
		assert.Equal(t, w.DType, g.DType, w.Name)
		assert.Equal(t, w.F32, g.F32, w.Name)
		assert.Equal(t, w.F64, g.F64, w.Name)
	}

	dst := []checkpoint.Tensor{
		checkpoint.NewTensor("adam.m.tok_emb", []int{100003}, make([]float32, 100003)),
		checkpoint.NewTensor("step", []int{}, make([]float64, 1)),
	}
	gotMD, err = checkpoint.LoadTensorsInto(filepath.Join(dir, "state"), dst)
	require.NoError(t, err)
	assert.Equal(t, md, gotMD)
	assert.Equal(t, moments, dst[0].F32)
	assert.Equal(t, []float64{42}, dst[1].F64)

	into := func(d ...checkpoint.Tensor) error {
		_, err := checkpoint.LoadTensorsInto(filepath.Join(dir, "state"), d)
		return err
	}
	err = into(checkpoint.NewTensor("adam.m.head", []int{1}, make([]float32, 1)))
	assert.ErrorIs(t, err, checkpoint.ErrMissingTensor)
	err = into(checkpoint.NewTensor("step", []int{}, make([]float32, 1)))
	assert.ErrorIs(t, err, checkpoint.ErrDType)
	assert.Contains(t, err.Error(), `tensor "step" is F64, not F32`)
	err = into(checkpoint.NewTensor("gradnorm", []int{2, 3}, make([]float64, 6)))
	assert.ErrorIs(t, err, checkpoint.ErrShape)
	assert.Contains(t, err.Error(), `tensor "gradnorm" is [3 2] in the file but [2 3] in the destination`)
	err = into(checkpoint.NewTensor("gradnorm", []int{3, 2}, make([]float64, 5)))
	assert.ErrorIs(t, err, checkpoint.ErrInvalid)
	err = into(checkpoint.Tensor{Name: "step", DType: safetensors.BF16, Shape: []int{}})
	assert.ErrorIs(t, err, checkpoint.ErrInvalid)

	err = checkpoint.SaveTensors(filepath.Join(dir, "bad"), []checkpoint.Tensor{checkpoint.NewTensor("x", []int{2}, []float32{1})}, nil)
	assert.ErrorIs(t, err, checkpoint.ErrInvalid)
	assert.NoFileExists(t, filepath.Join(dir, "bad.safetensors"))

	b, err := os.ReadFile(filepath.Join(dir, "state.safetensors"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cut.safetensors"), b[:len(b)-3], 0o644))
	_, _, err = checkpoint.LoadTensors(filepath.Join(dir, "cut"))
	assert.ErrorIs(t, err, checkpoint.ErrTruncated)
	assert.ErrorIs(t, err, checkpoint.ErrFormat)

	h := `{"h":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bf16.safetensors"), append(binary.LittleEndian.AppendUint64(nil, uint64(len(h))), h+"\x00\x00\x00\x00"...), 0o644))
	_, _, err = checkpoint.LoadTensors(filepath.Join(dir, "bf16"))
	assert.ErrorIs(t, err, checkpoint.ErrDType)
	assert.NotErrorIs(t, err, checkpoint.ErrFormat)
}

// TestNoVocab saves and loads a model trained on token ids, without a tokenizer.
func TestNoVocab(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	path := filepath.Join(t.TempDir(), "ids")
	require.NoError(t, checkpoint.Save(path, newModel[float64](t, cfg, 1), checkpoint.Meta{Vocab: []string{}}))
	text, err := os.ReadFile(path + ".json")
	require.NoError(t, err)
	assert.Contains(t, string(text), `"vocab": [],`)
	_, meta, err := checkpoint.Load[float64](path)
	require.NoError(t, err)
	assert.Nil(t, meta.Vocab)
	assert.Equal(t, checkpoint.PrecisionFloat64, meta.Precision)
	_, err = meta.Tokenizer()
	assert.ErrorIs(t, err, data.ErrEmpty)
}
