package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wtacrs/wtacrs/data"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
)

const (
	// Format is the format version of the checkpoints this package writes and reads.
	Format = "wtacrs-checkpoint/1"
	// ArchitectureType is the architecture "type" of the encoder of package model.
	ArchitectureType = "wtacrs-encoder"
	// PrecisionFloat32 and PrecisionFloat64 are the precisions: the element type of the
	// parameters, F32 or F64 tensors.
	PrecisionFloat32 = "float32"
	PrecisionFloat64 = "float64"
	// MaxMetaBytes is the largest JSON file of a checkpoint that is read (a vocabulary of a
	// million tokens takes about 20 MB).
	MaxMetaBytes = 64 << 20
)

// PrecisionOf returns the precision of parameters of type T.
func PrecisionOf[T matrix.Float]() string {
	if matrix.ElemSize[T]() == 4 {
		return PrecisionFloat32
	}
	return PrecisionFloat64
}

// Meta is what the JSON file of a checkpoint holds besides the tensors.
type Meta struct {
	// Format is the format version, [Format]; [Save] sets it when empty.
	Format string
	// Architecture holds the sizes and options of the encoder; [Save] sets it from the model
	// when it is the zero Config. Recompute, ReuseLayerNorm, Checkpoint and ChunkTokens choose how to run the
	// model, not what it computes ([model.Config.Architecture]): they are not stored and are
	// false in a Meta that is read.
	Architecture model.Config
	// Vocab is the tokenizer's vocabulary in id order ([VocabOf] gives it), with exactly
	// Architecture.Vocab tokens; nil for a model trained on token ids without a tokenizer.
	Vocab []string
	// KeepCase is the tokenizer's letter-case setting ([data.Tokenizer.KeepCase]).
	KeepCase bool
	// Precision is [PrecisionFloat32] or [PrecisionFloat64]; [Save] sets it when empty.
	Precision string
	// Provenance says where the parameters come from; the caller fills it.
	Provenance Provenance
}

// Provenance says where a checkpoint's parameters come from. Every field is the caller's to
// fill; the zero value records nothing.
type Provenance struct {
	// ConfigSHA256 is the SHA-256, in hex, of the training configuration file.
	ConfigSHA256 string `json:"config_sha256,omitempty"`
	// GitCommit is the commit of the code that trained the model.
	GitCommit string `json:"git_commit,omitempty"`
	// Steps is the number of optimiser steps taken.
	Steps int64 `json:"steps"`
	// Tokens is the number of training tokens seen.
	Tokens int64 `json:"tokens"`
	// Data describes the training data (a path, a corpus name and split).
	Data string `json:"data,omitempty"`
	// From names the checkpoint the parameters started from (a fine-tuned model's
	// pretraining checkpoint); empty for a model trained from its initialisation.
	From string `json:"from,omitempty"`
	// Created is when the checkpoint was made.
	Created time.Time `json:"created,omitzero"`
	// Extra holds the caller's other entries.
	Extra map[string]string `json:"extra,omitempty"`
}

// Tokenizer returns the tokenizer of the vocabulary and the letter-case setting. It returns
// the error of [data.ReadVocab] when there is no vocabulary (one wrapping data.ErrEmpty) or
// it is not a valid one.
func (m Meta) Tokenizer() (*data.Tokenizer, error) {
	for i, tok := range m.Vocab {
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
			return nil, fmt.Errorf("%w: vocabulary token %d (%q) is empty or holds white space", data.ErrFormat, i, tok)
		}
	}
	t, err := data.ReadVocab(strings.NewReader(strings.Join(m.Vocab, "\n")), m.KeepCase)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// VocabOf returns the vocabulary of t in id order, for [Meta.Vocab].
func VocabOf(t *data.Tokenizer) []string {
	out := make([]string, t.VocabSize())
	for i := range out {
		out[i] = t.Token(i)
	}
	return out
}

// architecture is the JSON of a model.Config. Each field of model.Config but the run options (Recompute, ReuseLayerNorm, Checkpoint, ChunkTokens) has
// a key here (TestArchitectureCoversConfig checks it): a new field of the model goes into
// this struct, toArchitecture, configOf and architectureKeys.
type architecture struct {
	Type     string `json:"type"`
	Vocab    int    `json:"vocab"`
	Dim      int    `json:"dim"`
	Heads    int    `json:"heads"`
	Blocks   int    `json:"blocks"`
	FFN      int    `json:"ffn"`
	MaxLen   int    `json:"max_len"`
	Classes  int    `json:"classes"`
	Segments int    `json:"segments"`
	Pooling  string `json:"pooling"`
	MLM      string `json:"mlm_head"`
}

// architectureKeys are the keys every architecture holds.
var architectureKeys = []string{"type", "vocab", "dim", "heads", "blocks", "ffn", "max_len", "classes", "segments", "pooling", "mlm_head"}

func toArchitecture(c model.Config) architecture {
	return architecture{
		Type: ArchitectureType, Vocab: c.Vocab, Dim: c.Dim, Heads: c.Heads, Blocks: c.Blocks, FFN: c.FFN,
		MaxLen: c.MaxLen, Classes: c.Classes, Segments: c.Segments, Pooling: c.Pooling.String(), MLM: c.MLM.String(),
	}
}

// configOf returns the Config of a, not checked but for the spellings of the options; errors
// wrap ErrArchitecture and name path.
func configOf(a architecture, path string) (model.Config, error) {
	c := model.Config{Vocab: a.Vocab, Dim: a.Dim, Heads: a.Heads, Blocks: a.Blocks, FFN: a.FFN, MaxLen: a.MaxLen, Classes: a.Classes, Segments: a.Segments}
	var err error
	if c.Pooling, err = model.ParsePooling(a.Pooling); err != nil {
		return c, fmt.Errorf("%w: %s: %w", ErrArchitecture, path, err)
	}
	if c.MLM, err = model.ParseMLMHead(a.MLM); err != nil {
		return c, fmt.Errorf("%w: %s: %w", ErrArchitecture, path, err)
	}
	return c, nil
}

// fromArchitecture returns the Config of a, checked with Config.Validate; errors wrap
// ErrArchitecture.
func fromArchitecture(a architecture, path string) (model.Config, error) {
	c, err := configOf(a, path)
	if err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%w: %s: %w", ErrArchitecture, path, err)
	}
	return c, nil
}

// metaFile is the JSON file of a checkpoint.
type metaFile struct {
	Format       string          `json:"format"`
	Architecture json.RawMessage `json:"architecture"`
	Precision    string          `json:"precision"`
	KeepCase     bool            `json:"keep_case"`
	Vocab        []string        `json:"vocab"`
	Provenance   Provenance      `json:"provenance"`
}

// metaKeys are the keys every JSON file holds ("provenance" may be left out).
var metaKeys = []string{"format", "architecture", "precision", "keep_case", "vocab"}

// encodeMeta returns the JSON file of m, which must be valid: indented, one vocabulary token
// a line, the same bytes for the same Meta.
func encodeMeta(m Meta) ([]byte, error) {
	arch, err := json.Marshal(toArchitecture(m.Architecture))
	if err != nil {
		return nil, err
	}
	f := metaFile{Format: m.Format, Architecture: arch, Precision: m.Precision, KeepCase: m.KeepCase, Vocab: m.Vocab, Provenance: m.Provenance}
	if f.Vocab == nil {
		f.Vocab = []string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// checkKeys returns the first of keys that obj lacks, or "".
func checkKeys(obj map[string]json.RawMessage, keys []string) string {
	for _, k := range keys {
		if _, ok := obj[k]; !ok {
			return k
		}
	}
	return ""
}

// strict decodes b into v, refusing unknown keys and anything after the value.
func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("data after the JSON value at byte %d", dec.InputOffset())
	}
	return nil
}

// decodeMeta parses and checks the JSON file of a checkpoint: the format version first, then
// the architecture type, so that a file of another version or model says so rather than
// failing on a key it has and we do not. Errors wrap ErrFormat or, for the architecture,
// ErrArchitecture; they name the file path.
func decodeMeta(b []byte, path string) (Meta, error) {
	var m Meta
	var top map[string]json.RawMessage
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 && t[0] != '{' {
		return m, fmt.Errorf("%w: %s: not a JSON object: it starts with %q", ErrFormat, path, t[:min(len(t), 20)])
	}
	if err := json.Unmarshal(b, &top); err != nil || top == nil {
		if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
			err = fmt.Errorf("%v at byte %d", err, se.Offset)
		} else if err == nil {
			err = errors.New("null")
		}
		return m, fmt.Errorf("%w: %s: not a JSON object: %v", ErrFormat, path, err)
	}
	if k := checkKeys(top, []string{"format"}); k != "" {
		return m, fmt.Errorf("%w: %s: no %q key (not a checkpoint of this program?)", ErrFormat, path, k)
	}
	if err := json.Unmarshal(top["format"], &m.Format); err != nil || m.Format != Format {
		return m, fmt.Errorf("%w: %s: unknown format version %s (want %q)", ErrFormat, path, shorten(top["format"]), Format)
	}
	if k := checkKeys(top, metaKeys); k != "" {
		return m, fmt.Errorf("%w: %s: no %q key", ErrFormat, path, k)
	}
	var archObj map[string]json.RawMessage
	if err := json.Unmarshal(top["architecture"], &archObj); err != nil || archObj == nil {
		return m, fmt.Errorf("%w: %s: \"architecture\" is not a JSON object: %s", ErrArchitecture, path, shorten(top["architecture"]))
	}
	var typ string
	if err := json.Unmarshal(archObj["type"], &typ); err != nil || typ != ArchitectureType {
		return m, fmt.Errorf("%w: %s: unknown architecture type %s (want %q)", ErrArchitecture, path, shorten(archObj["type"]), ArchitectureType)
	}
	if k := checkKeys(archObj, architectureKeys); k != "" {
		return m, fmt.Errorf("%w: %s: the architecture has no %q key", ErrArchitecture, path, k)
	}
	var arch architecture
	if err := strict(top["architecture"], &arch); err != nil {
		return m, fmt.Errorf("%w: %s: architecture: %v", ErrArchitecture, path, err)
	}
	var f metaFile
	if err := strict(b, &f); err != nil {
		return m, fmt.Errorf("%w: %s: %v", ErrFormat, path, err)
	}
	cfg, err := fromArchitecture(arch, path)
	if err != nil {
		return m, err
	}
	m.Architecture, m.KeepCase, m.Precision, m.Provenance = cfg, f.KeepCase, f.Precision, f.Provenance
	if len(f.Vocab) > 0 {
		m.Vocab = f.Vocab
	}
	if err := checkMeta(m, path); err != nil {
		return Meta{}, err
	}
	return m, nil
}

// checkMeta checks the precision and the vocabulary of m against its architecture.
func checkMeta(m Meta, path string) error {
	if m.Precision != PrecisionFloat32 && m.Precision != PrecisionFloat64 {
		return fmt.Errorf("%w: %s: precision %q (want %q or %q)", ErrFormat, path, m.Precision, PrecisionFloat32, PrecisionFloat64)
	}
	if m.Vocab == nil {
		return nil
	}
	if len(m.Vocab) != m.Architecture.Vocab {
		return fmt.Errorf("%w: %s: the vocabulary has %d tokens but the architecture %d (the rows of tok_emb)", ErrArchitecture, path, len(m.Vocab), m.Architecture.Vocab)
	}
	if _, err := m.Tokenizer(); err != nil {
		return fmt.Errorf("%w: %s: vocabulary: %w", ErrFormat, path, err)
	}
	return nil
}

// shorten returns a JSON value for a message, cut after 60 bytes.
func shorten(raw json.RawMessage) string {
	if raw == nil {
		return "(none)"
	}
	if len(raw) > 60 {
		return string(raw[:60]) + "…"
	}
	return string(raw)
}
