package train

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"

	"github.com/wtacrs/wtacrs/internal/tomlconf"
	"github.com/wtacrs/wtacrs/model"
)

// PretrainConfig describes one masked-language-model pretraining run of the encoder (BERT's
// objective without next-sentence prediction): every field has a default (see
// [DefaultPretrainConfig]); a TOML file read by [LoadPretrainConfig] overrides the fields it
// names. The linear layers run exact or WTA-CRS backward per kind exactly as in fine-tuning, so
// that pretraining under WTA-CRS can be studied too.
type PretrainConfig struct {
	// Dim is the model width d. Default 128.
	Dim int `toml:"dim"`
	// Heads is the number of attention heads; it must divide Dim. Default 4.
	Heads int `toml:"heads"`
	// Blocks is the number L of encoder blocks. Default 2.
	Blocks int `toml:"blocks"`
	// FFNDim is the hidden width of the feed-forward layers. Default 512.
	FFNDim int `toml:"ffn_dim"`
	// MaxLen is the length of a packed sequence ([CLS] text [SEP]), at least 3; it is the number
	// of positions of the checkpoint, the longest sequence a fine-tuning from it may use.
	// Default 128.
	MaxLen int `toml:"max_len"`
	// VocabSize caps the vocabulary built from the training corpus, special tokens and [MASK]
	// included. Default 8000.
	VocabSize int `toml:"vocab_size"`
	// MLMHead is "tied" (default: the output projection is the token embedding, as in BERT) or
	// "untied" (its own d×vocab matrix).
	MLMHead string `toml:"mlm_head"`

	// CorpusTrain and CorpusDev are the corpus files (one line of text per line, an empty line
	// between documents; .gz read as gzip); a relative path in a configuration file is relative
	// to that file's folder. Both empty (default) select the corpus bundled with the
	// repository; they are set both or neither.
	CorpusTrain string `toml:"corpus_train"`
	// CorpusDev is the held-out corpus file; see CorpusTrain.
	CorpusDev string `toml:"corpus_dev"`
	// MaxDevSequences, when positive, evaluates only the first MaxDevSequences packed dev
	// sequences. Default 0 (all).
	MaxDevSequences int `toml:"max_dev_sequences"`

	// MaskProb is the fraction of valid non-special tokens chosen for prediction. Default 0.15.
	MaskProb float64 `toml:"mask_prob"`
	// MaskTokenFrac is the fraction of the chosen tokens replaced by [MASK]. Default 0.8.
	MaskTokenFrac float64 `toml:"mask_token_frac"`
	// RandomTokenFrac is the fraction of the chosen tokens replaced by a random non-special
	// token; the rest are kept. Default 0.1.
	RandomTokenFrac float64 `toml:"random_token_frac"`

	// BatchSize is the number of packed sequences per optimiser step. Default 32.
	BatchSize int `toml:"batch_size"`
	// Steps is the number of optimiser steps, in [1, 2³¹−1]. Default 3000.
	Steps int `toml:"steps"`
	// LearningRate is the peak AdamW learning rate, reached after the warm-up and decayed
	// linearly to 0 at the last step. Default 1e-3.
	LearningRate float64 `toml:"learning_rate"`
	// WarmupSteps is the number of steps of linear warm-up. Default 300.
	WarmupSteps int `toml:"warmup_steps"`
	// Beta1 is AdamW's first-moment decay. Default 0.9.
	Beta1 float64 `toml:"beta1"`
	// Beta2 is AdamW's second-moment decay. Default 0.999.
	Beta2 float64 `toml:"beta2"`
	// Epsilon is AdamW's denominator term. Default 1e-8.
	Epsilon float64 `toml:"epsilon"`
	// WeightDecay is AdamW's decoupled weight decay. Default 0.01.
	WeightDecay float64 `toml:"weight_decay"`
	// ClipNorm, when positive, rescales the gradient to this global norm. Default 1.0.
	ClipNorm float64 `toml:"clip_norm"`
	// Seed fixes initialisation, the order of the sequences, the masking and every sampling
	// draw. Default 1.
	Seed uint64 `toml:"seed"`
	// Precision is "float32" (default) or "float64".
	Precision string `toml:"precision"`
	// OptimizerPrecision is the precision of AdamW's moments, as [Config.OptimizerPrecision].
	// Default "" (float64, and left out of a written configuration and of the fingerprint of a
	// training state, so that a state written before the key existed resumes).
	OptimizerPrecision string `toml:"optimizer_precision,omitempty" json:",omitempty"`
	// Recompute recomputes activations in backward instead of keeping them; see
	// [Config.Recompute]. Default true.
	Recompute bool `toml:"recompute"`
	// TrimPadding computes each batch only up to its longest sequence. Default true.
	TrimPadding bool `toml:"trim_padding"`

	// EvalEvery is the number of steps between evaluations of the MLM dev loss and accuracy
	// (and the last step is always evaluated), in [1, 2³¹−1]. Default 250.
	EvalEvery int `toml:"eval_every"`
	// CheckpointEvery is the number of steps between saved training states, from which
	// -resume continues an interrupted run to the same final weights; 0 saves none. Default
	// 250.
	CheckpointEvery int `toml:"checkpoint_every"`

	// Layers chooses exact or WTA-CRS backward per layer kind, as [Config.Layers].
	Layers map[model.Kind]KindConfig `toml:"layers"`
}

// DefaultPretrainConfig returns the default pretraining configuration: the fine-tuning model's
// sizes (2 blocks, d = 128, 4 heads) on the bundled corpus, 3000 steps of 32 sequences of 128
// tokens, every layer exact.
func DefaultPretrainConfig() PretrainConfig {
	return PretrainConfig{
		Dim: 128, Heads: 4, Blocks: 2, FFNDim: 512, MaxLen: 128, VocabSize: 8000, MLMHead: "tied",
		MaskProb: 0.15, MaskTokenFrac: 0.8, RandomTokenFrac: 0.1,
		BatchSize: 32, Steps: 3000, LearningRate: 1e-3, WarmupSteps: 300,
		Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-8, WeightDecay: 0.01, ClipNorm: 1, Seed: 1, Precision: "float32",
		Recompute: true, TrimPadding: true, EvalEvery: 250, CheckpointEvery: 250,
		Layers: map[model.Kind]KindConfig{},
	}
}

// Kind returns the configuration of a layer kind (exact when absent).
func (c PretrainConfig) Kind(k model.Kind) KindConfig { return c.trainConfig().Kind(k) }

// trainConfig returns the fine-tuning configuration whose optimiser, sampler and memory
// estimate are those of c: the shared loop pieces read it.
func (c PretrainConfig) trainConfig() Config {
	return Config{Dim: c.Dim, Heads: c.Heads, Blocks: c.Blocks, FFNDim: c.FFNDim, MaxLen: c.MaxLen, VocabSize: c.VocabSize,
		TrimPadding: c.TrimPadding, Recompute: c.Recompute, BatchSize: c.BatchSize, Epochs: 1,
		LearningRate: c.LearningRate, WarmupSteps: c.WarmupSteps, ConstantSteps: 0,
		Beta1: c.Beta1, Beta2: c.Beta2, Epsilon: c.Epsilon, WeightDecay: c.WeightDecay, ClipNorm: c.ClipNorm,
		Seed: c.Seed, Precision: c.Precision, OptimizerPrecision: c.OptimizerPrecision, Layers: c.Layers}
}

// Validate returns nil or a *tomlconf.FieldError wrapping ErrConfig for the first invalid field.
func (c PretrainConfig) Validate() error {
	bad := func(key string, v any, want string, related ...string) error {
		return &tomlconf.FieldError{Key: key, Value: tomlconf.Format(v), Want: want, Related: related, Err: ErrConfig}
	}
	frac := func(v float64) bool { return !math.IsNaN(v) && v >= 0 && v <= 1 }
	switch {
	case c.VocabSize < 8:
		return bad("vocab_size", c.VocabSize, "≥ 8")
	case c.MLMHead != "tied" && c.MLMHead != "untied":
		return bad("mlm_head", c.MLMHead, `"tied" or "untied"`)
	case c.CorpusTrain != "" && c.CorpusDev == "":
		return &tomlconf.FieldError{Key: "corpus_dev", Problem: "missing key", Want: "it set together with corpus_train, or neither for the bundled corpus",
			Related: []string{"corpus_train"}, Err: ErrConfig}
	case c.CorpusTrain == "" && c.CorpusDev != "":
		return &tomlconf.FieldError{Key: "corpus_train", Problem: "missing key", Want: "it set together with corpus_dev, or neither for the bundled corpus",
			Related: []string{"corpus_dev"}, Err: ErrConfig}
	case c.MaxDevSequences < 0:
		return bad("max_dev_sequences", c.MaxDevSequences, "≥ 0")
	case !frac(c.MaskProb) || c.MaskProb == 0:
		return bad("mask_prob", c.MaskProb, "in (0, 1]")
	case !frac(c.MaskTokenFrac):
		return bad("mask_token_frac", c.MaskTokenFrac, "in [0, 1]")
	case !frac(c.RandomTokenFrac) || c.MaskTokenFrac+c.RandomTokenFrac > 1:
		return bad("random_token_frac", c.RandomTokenFrac, "in [0, 1 − mask_token_frac]", "mask_token_frac")
	case c.Steps < 1 || c.Steps > maxCount:
		return bad("steps", c.Steps, fmt.Sprintf("in [1, %d]", maxCount))
	case c.EvalEvery < 1 || c.EvalEvery > maxCount:
		return bad("eval_every", c.EvalEvery, fmt.Sprintf("in [1, %d]", maxCount))
	case c.CheckpointEvery < 0 || c.CheckpointEvery > maxCount:
		return bad("checkpoint_every", c.CheckpointEvery, fmt.Sprintf("in [0, %d] (0: none)", maxCount))
	}
	// The keys shared with fine-tuning are checked by the same rules.
	tc := c.trainConfig()
	if err := tc.Validate(); err != nil {
		return err
	}
	return nil
}

// LoadPretrainConfig reads a TOML pretraining configuration file (at most 1 MiB) over
// [DefaultPretrainConfig] and validates it; relative corpus paths are resolved against the
// file's folder. Errors are as for [LoadConfig].
func LoadPretrainConfig(path string) (PretrainConfig, error) {
	text, err := tomlconf.ReadFile(path, ErrConfig)
	if err != nil {
		return PretrainConfig{}, err
	}
	c, err := ParsePretrainConfig(text, path)
	if err != nil {
		return PretrainConfig{}, err
	}
	return c.ResolvePaths(filepath.Dir(path)), nil
}

// ResolvePaths returns c with relative corpus paths made absolute against dir.
func (c PretrainConfig) ResolvePaths(dir string) PretrainConfig {
	resolvePaths(dir, &c.CorpusTrain, &c.CorpusDev)
	return c
}

// ParsePretrainConfig parses TOML text (name is used in messages) over
// [DefaultPretrainConfig] and validates it; errors are as for [ParseConfig].
func ParsePretrainConfig(text, name string) (PretrainConfig, error) {
	c := DefaultPretrainConfig()
	m, err := tomlconf.Decode(text, name, &c, ErrConfig)
	if err != nil {
		return PretrainConfig{}, err
	}
	if c.Layers == nil {
		c.Layers = map[model.Kind]KindConfig{}
	}
	if err := c.Validate(); err != nil {
		return PretrainConfig{}, m.Locate(err)
	}
	return c, nil
}

// fingerprint identifies the configuration of a training state: the SHA-256 of its JSON with
// the fields that do not change the weights (checkpoint_every) cleared.
func (c PretrainConfig) fingerprint() (string, error) {
	c.CheckpointEvery = 0
	js, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrConfig, err)
	}
	h := sha256.Sum256(js)
	return hex.EncodeToString(h[:]), nil
}

// RelativeTo returns c with its corpus paths relative to dir where they can be; see
// [Config.RelativeTo].
func (c PretrainConfig) RelativeTo(dir string) PretrainConfig {
	relativePaths(dir, &c.CorpusTrain, &c.CorpusDev)
	return c
}

// LearningRateAt returns the learning rate of 0-based step s: a linear warm-up over
// WarmupSteps to LearningRate, then a linear decay to 0 at the last step.
func (c PretrainConfig) LearningRateAt(s int) float64 {
	return LearningRate(c.trainConfig(), s, c.Steps)
}
