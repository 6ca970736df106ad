package train

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"

	"github.com/wtacrs/wtacrs/internal/tomlconf"
	"github.com/wtacrs/wtacrs/model"
)

// Errors returned by this package, wrapped with context.
var (
	// ErrConfig reports an invalid configuration value or a malformed configuration file.
	ErrConfig = errors.New("train: invalid configuration")
	// ErrData reports training or dev data that cannot be used.
	ErrData = errors.New("train: unusable data")
	// ErrDiverged reports a non-finite loss or gradient during training.
	ErrDiverged = errors.New("train: training diverged")
)

// Methods of a linear layer kind.
//
// A "wtacrs" layer runs Algorithm 1 of the paper on the n = batch × sequence pooled tokens of a
// step: in forward it builds the WTA-CRS plan ([estimator.NewWTACRS], |C| by Theorem 2's rule)
// with budget k = [estimator.Budget](ratio, n) = ⌈ratio·n⌉ in [1, n] over the weights w_t = ‖H_t‖·b_t, draws one sketch with
// [estimator.Plan.Sample] (seed [StepSeed](Seed, step), stream = the layer's index block·6 +
// kind) and keeps only the sketch's pre-scaled rows of H; backward computes ∇H and the bias
// gradient exactly and ∇W from the kept rows, then writes the exact ‖∇Z_t‖ of every token of the
// batch into a cache keyed by (training sample, position), read by that sample's next forward.
//
// b_t is 0 for padding (whose output gradient is exactly zero: padding keys are masked and the
// loss reads only [CLS]). For a valid token it is the cached norm when the sample has an entry,
// and otherwise, while the cache is cold (first epoch), the mean cached norm of the batch's warm
// valid tokens of that layer, or 1 when none is warm: with an all-cold batch the weights are
// ‖H_t‖ alone. Every valid b_t is finally raised to at least 1e-3 times the batch's mean b over
// valid tokens. So every token with a nonzero ‖H_t‖ and a possibly nonzero gradient has w_t > 0,
// and the plan's own scale (1−P_C)/((k−|C|)·p_j) makes the estimate of ∇W unbiased in every
// cache state; a cold or stale cache only costs variance. (The published code instead scales
// sampled rows by (1−P_C) alone while the cache is empty, which is biased.)
const (
	MethodExact  = "exact"  // exact weight gradient, the whole input kept for backward
	MethodWTACRS = "wtacrs" // Algorithm 1: WTA-CRS weight gradient from the kept rows only
)

// DefaultRatio is the ratio k/n of a "wtacrs" layer whose configuration gives none.
const DefaultRatio = 0.3

// MinMaxLen is the shortest padded sequence a sentence pair encodes to: [CLS] a [SEP] b [SEP]
// with both sentences truncated away.
const MinMaxLen = 3

// KindConfig chooses the backward of one layer kind.
type KindConfig struct {
	// Method is "exact" (default) or "wtacrs".
	Method string `toml:"method"`
	// Ratio is k/n, the fraction of the n = batch × sequence pooled tokens kept by a "wtacrs"
	// layer, in (0, 1]; k = estimator.Budget(Ratio, n). Default [DefaultRatio] (0.3) for "wtacrs"; for
	// "exact" it is ignored and may be 0 (unset) or a fraction in (0, 1].
	Ratio float64 `toml:"ratio"`
}

// FillDefaults gives a "wtacrs" layer whose table has no ratio key the ratio [DefaultRatio];
// it is called by the configuration decoder after decoding a layer's table (given reports
// whether that table has a key).
func (kc *KindConfig) FillDefaults(given func(name string) bool) {
	if kc.Method == MethodWTACRS && !given("ratio") {
		kc.Ratio = DefaultRatio
	}
}

// Config describes one training run. Every field has a default (see [DefaultConfig]); a TOML
// file read by [LoadConfig] overrides the fields it names.
type Config struct {
	// Dim is the model width d. Default 128.
	Dim int `toml:"dim"`
	// Heads is the number of attention heads; it must divide Dim. Default 4.
	Heads int `toml:"heads"`
	// Blocks is the number L of encoder blocks. Default 2.
	Blocks int `toml:"blocks"`
	// FFNDim is the hidden width of the feed-forward layers. Default 4·Dim = 512.
	FFNDim int `toml:"ffn_dim"`
	// MaxLen is the padded sequence length (tokens per example, [CLS] and [SEP] included), at
	// least [MinMaxLen]. Default 128.
	MaxLen int `toml:"max_len"`
	// VocabSize caps the tokenizer's vocabulary (most frequent training words). Default 8000.
	VocabSize int `toml:"vocab_size"`
	// TrimPadding computes each batch only up to its longest example instead of MaxLen; the
	// remaining padding columns are all masked and would not change any value. n = batch ×
	// trimmed length is then the pooled token count. Default true.
	TrimPadding bool `toml:"trim_padding"`
	// Recompute makes backward recompute each block's queries, keys, values and feed-forward
	// pre-activations from the saved LayerNorm outputs rather than keep them, so that the
	// inputs of the linear layers dominate the activation memory (what WTA-CRS reduces). The
	// numbers are bit for bit those without it; the arithmetic grows by about 15%. Default true.
	Recompute bool `toml:"recompute"`
	// ReuseLayerNorm makes the layers that read a LayerNorm output (q, k, v, ffn_in) keep no copy
	// of it: backward re-forms their input rows from the LayerNorm's saved x̂ (see
	// [model.Config.ReuseLayerNorm]); the same numbers bit for bit, one n×d copy per LayerNorm
	// less. Default false (left out of a written configuration).
	ReuseLayerNorm bool `toml:"reuse_layernorm,omitempty"`
	// CheckpointBlocks is full recomputation (gradient checkpointing, the baseline memory
	// savings are compared against): forward keeps only each block's input and backward reruns
	// the block (see [model.Config.Checkpoint]); the same numbers bit for bit. Not with sampled
	// attention products. Default false (left out of a written configuration).
	CheckpointBlocks bool `toml:"checkpoint_blocks,omitempty"`
	// ChunkTokens, when positive, runs each block's forward and backward over groups of whole
	// sequences of about this many tokens, so that no n×ffn_dim activation and no n×d_out
	// gradient is formed whole (see [model.Config.ChunkTokens]): less workspace, the same
	// computation up to rounding. Default 0 (whole; left out of a written configuration).
	ChunkTokens int `toml:"chunk_tokens,omitzero"`
	// Pooling is the row of the last block the classification head reads: "cls" (the [CLS]
	// token's) or "mean" (the mean over the valid tokens, so that every token of the last block
	// gets gradient). Default "" (the same as "cls", and left out of a written configuration).
	Pooling string `toml:"pooling,omitempty"`
	// Init, when not empty, is a checkpoint (the path of NAME.safetensors with NAME.json beside
	// it, see package checkpoint) fine-tuning starts from: the encoder's weights and the
	// vocabulary come from it, the classification head is new (drawn from Seed), and dim,
	// heads, blocks, ffn_dim and vocab_size are the checkpoint's (a file that sets one of them
	// as well is refused); max_len must not exceed the checkpoint's. A relative path in a
	// configuration file is relative to that file's folder. Default "" (from scratch, and left
	// out of a written configuration).
	Init string `toml:"init,omitempty"`

	// TrainPath is the RTE-format training TSV (index, sentence1, sentence2, label); a relative
	// path in a configuration file is relative to that file's folder. Default ""
	// selects the data set bundled with the repository. TrainPath and DevPath are set both or
	// neither.
	TrainPath string `toml:"train_path"`
	// DevPath is the RTE-format dev TSV. Default "" selects the bundled dev set.
	DevPath string `toml:"dev_path"`
	// MaxTrain, when positive, keeps only the first MaxTrain training examples. Default 0 (all).
	MaxTrain int `toml:"max_train"`
	// MaxDev, when positive, keeps only the first MaxDev dev examples. Default 0 (all).
	MaxDev int `toml:"max_dev"`

	// BatchSize is the number of examples per optimiser step. Default 16.
	BatchSize int `toml:"batch_size"`
	// Epochs is the number of passes over the training set, in [1, 2³¹−1]. Default 3.
	Epochs int `toml:"epochs"`
	// LearningRate is the peak AdamW learning rate. Default 5e-4 (training from scratch).
	LearningRate float64 `toml:"learning_rate"`
	// WarmupSteps is the number of steps of linear warm-up from 0 before the constant phase,
	// in [0, 2³¹−1]. Default 0 (the paper has none).
	WarmupSteps int `toml:"warmup_steps"`
	// ConstantSteps is the number of steps at the peak learning rate, after which it decays
	// linearly to 0 at the last step; in [0, 2³¹−1]. Default 500.
	ConstantSteps int `toml:"constant_steps"`
	// Beta1 is AdamW's first-moment decay. Default 0.9.
	Beta1 float64 `toml:"beta1"`
	// Beta2 is AdamW's second-moment decay. Default 0.999.
	Beta2 float64 `toml:"beta2"`
	// Epsilon is AdamW's denominator term. Default 1e-8.
	Epsilon float64 `toml:"epsilon"`
	// WeightDecay is AdamW's decoupled weight decay. Default 0.
	WeightDecay float64 `toml:"weight_decay"`
	// ClipNorm, when positive, rescales the gradient to this global norm. Default 1.0.
	ClipNorm float64 `toml:"clip_norm"`
	// Seed fixes initialisation, shuffling and every sampling draw. Default 1. A TOML file can
	// give at most 2⁶³−1 (TOML integers are signed 64-bit); a negative seed is an error.
	Seed uint64 `toml:"seed"`
	// Precision is "float32" (default, faster) or "float64".
	Precision string `toml:"precision"`
	// OptimizerPrecision is the precision of AdamW's two moments: "float64" ([OptimizerFloat64],
	// 16 bytes per trainable parameter whatever Precision is) or "model" ([OptimizerModel], the
	// model's precision: 8 bytes per trainable parameter for float32). The update itself is
	// computed in float64 either way. Default "" (the same as "float64", the numbers of every
	// committed run, and left out of a written configuration).
	OptimizerPrecision string `toml:"optimizer_precision,omitempty" json:",omitempty"`

	// Layers chooses exact or WTA-CRS backward per layer kind: keys q, k, v, o, ffn_in,
	// ffn_out. A kind that is absent is exact. Default: every kind exact.
	Layers map[model.Kind]KindConfig `toml:"layers"`
	// LoRA, when set (a [train.lora] table), fine-tunes with low-rank adapters, every base
	// weight frozen; see [LoRAConfig]. Default nil (full fine-tuning, and left out of a written
	// configuration).
	LoRA *LoRAConfig `toml:"lora,omitempty"`
	// Attention, when set (a [train.attention] table), samples the backward of the attention
	// products; see [AttentionConfig]. Default nil (exact, and left out of a written
	// configuration).
	Attention *AttentionConfig `toml:"attention,omitempty"`
}

// DefaultConfig returns the default configuration: a 2-block, d = 128, 4-head encoder on the
// bundled RTE-format data, 3 epochs of batch 16, every layer exact.
func DefaultConfig() Config {
	return Config{
		Dim: 128, Heads: 4, Blocks: 2, FFNDim: 512, MaxLen: 128, VocabSize: 8000, TrimPadding: true, Recompute: true,
		BatchSize: 16, Epochs: 3, LearningRate: 5e-4, ConstantSteps: 500,
		Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-8, ClipNorm: 1, Seed: 1, Precision: "float32",
		Layers: map[model.Kind]KindConfig{},
	}
}

// WithAll returns a copy of c in which every layer kind uses method with the given ratio (under
// LoRA: every adapted kind, the frozen ones exact). See [Config.WithMethod].
func (c Config) WithAll(method string, ratio float64) Config { return c.WithMethod(method, ratio, nil) }

// WithMethod returns a copy of c in which the layer kinds given (nil: all six) use method with
// the given ratio and the others are exact; under LoRA a kind that is not adapted stays exact
// (it has no weight gradient). With an attention table, "wtacrs" samples the attention products
// at ratio too (the table's products and |C| rule kept) and "exact" makes them exact: the method
// names everything the run samples.
func (c Config) WithMethod(method string, ratio float64, kinds []model.Kind) Config {
	if kinds == nil {
		kinds = model.Kinds()
	}
	c.Layers = map[model.Kind]KindConfig{}
	for _, k := range model.Kinds() {
		kc := KindConfig{Method: MethodExact}
		if slices.Contains(kinds, k) && (c.LoRA == nil || c.LoRA.Model().Has(k)) {
			kc = KindConfig{Method: method, Ratio: ratio}
		}
		c.Layers[k] = kc
	}
	if c.Attention != nil {
		a := *c.Attention
		a.Method, a.Ratio = method, ratio
		if method == MethodExact {
			a.Ratio = 0
		}
		c.Attention = &a
	}
	return c
}

// Kind returns the configuration of one layer kind (exact when absent).
func (c Config) Kind(k model.Kind) KindConfig {
	kc, ok := c.Layers[k]
	if !ok || kc.Method == "" {
		return KindConfig{Method: MethodExact}
	}
	return kc
}

// Bounds of the step counts, so that the schedule's step arithmetic cannot overflow.
const maxCount = math.MaxInt32

// MaxEpochs bounds epochs: far above any fine-tuning or pretraining schedule, it turns a typo
// (2^31 epochs of a small set would train for years) into an error.
const MaxEpochs = 100_000

// Validate returns nil or a *tomlconf.FieldError wrapping ErrConfig for the first invalid field,
// its model.Key relative to the configuration's own table ("layers.q.ratio") and without a line
// ([ParseConfig] adds the file and line). A check that involves two keys (heads and dim,
// train_path and dev_path) lists the other in Related.
func (c Config) Validate() error {
	bad := func(key string, v any, want string, related ...string) error {
		return &tomlconf.FieldError{Key: key, Value: tomlconf.Format(v), Want: want, Related: related, Err: ErrConfig}
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	count := func(v int) bool { return v >= 0 && v <= maxCount }
	// With init, a size of 0 is the checkpoint's ([Config.WithInit] fills it in).
	unset := func(v int) bool { return c.Init != "" && v == 0 }
	switch {
	case c.Dim < 1 && !unset(c.Dim):
		return bad("dim", c.Dim, "≥ 1")
	case c.Heads < 1 && !unset(c.Heads) || c.Heads > 0 && c.Dim > 0 && c.Dim%c.Heads != 0:
		return bad("heads", c.Heads, fmt.Sprintf("a divisor of dim = %d", c.Dim), "dim")
	case c.Blocks < 1 && !unset(c.Blocks):
		return bad("blocks", c.Blocks, "≥ 1")
	case c.FFNDim < 1 && !unset(c.FFNDim):
		return bad("ffn_dim", c.FFNDim, "≥ 1")
	case c.MaxLen < MinMaxLen:
		return bad("max_len", c.MaxLen, fmt.Sprintf("≥ %d ([CLS] and the two [SEP] of a sentence pair)", MinMaxLen))
	case c.VocabSize < 8 && !unset(c.VocabSize):
		return bad("vocab_size", c.VocabSize, "≥ 8")
	case c.TrainPath != "" && c.DevPath == "":
		return &tomlconf.FieldError{Key: "dev_path", Problem: "missing key", Want: "it set together with train_path, or neither for the bundled set",
			Related: []string{"train_path"}, Err: ErrConfig}
	case c.TrainPath == "" && c.DevPath != "":
		return &tomlconf.FieldError{Key: "train_path", Problem: "missing key", Want: "it set together with dev_path, or neither for the bundled set",
			Related: []string{"dev_path"}, Err: ErrConfig}
	case c.MaxTrain < 0:
		return bad("max_train", c.MaxTrain, "≥ 0")
	case c.MaxDev < 0:
		return bad("max_dev", c.MaxDev, "≥ 0")
	case c.BatchSize < 1:
		return bad("batch_size", c.BatchSize, "≥ 1")
	case c.Epochs < 1 || c.Epochs > MaxEpochs:
		return bad("epochs", c.Epochs, fmt.Sprintf("in [1, %d]", MaxEpochs))
	case !finite(c.LearningRate) || c.LearningRate <= 0:
		return bad("learning_rate", c.LearningRate, "a finite value > 0")
	case !count(c.WarmupSteps):
		return bad("warmup_steps", c.WarmupSteps, fmt.Sprintf("in [0, %d]", maxCount))
	case !count(c.ConstantSteps):
		return bad("constant_steps", c.ConstantSteps, fmt.Sprintf("in [0, %d]", maxCount))
	case !finite(c.Beta1) || c.Beta1 < 0 || c.Beta1 >= 1:
		return bad("beta1", c.Beta1, "in [0, 1)")
	case !finite(c.Beta2) || c.Beta2 < 0 || c.Beta2 >= 1:
		return bad("beta2", c.Beta2, "in [0, 1)")
	case !finite(c.Epsilon) || c.Epsilon <= 0:
		return bad("epsilon", c.Epsilon, "a finite value > 0")
	case !finite(c.WeightDecay) || c.WeightDecay < 0:
		return bad("weight_decay", c.WeightDecay, "a finite value ≥ 0")
	case !finite(c.ClipNorm) || c.ClipNorm < 0:
		return bad("clip_norm", c.ClipNorm, "a finite value ≥ 0 (0 disables clipping)")
	case c.Precision != "float32" && c.Precision != "float64":
		return bad("precision", c.Precision, `"float32" or "float64"`)
	case c.OptimizerPrecision != "" && c.OptimizerPrecision != OptimizerFloat64 && c.OptimizerPrecision != OptimizerModel:
		return bad("optimizer_precision", c.OptimizerPrecision, `"float64" or "model" (default: float64)`)
	case c.Pooling != "" && c.Pooling != "cls" && c.Pooling != "mean":
		return bad("pooling", c.Pooling, `"cls" or "mean" (default: cls)`)
	case c.ChunkTokens < 0 || c.ChunkTokens > maxCount:
		return bad("chunk_tokens", c.ChunkTokens, fmt.Sprintf("in [0, %d] tokens (0: whole)", maxCount))
	case c.CheckpointBlocks && c.Attention != nil && c.Attention.Method == MethodWTACRS:
		return &tomlconf.FieldError{Key: "checkpoint_blocks", Value: "true", Problem: "not supported with sampled attention products",
			Want: `false, or [train.attention] method = "exact"`, Related: []string{"attention.method"}, Err: ErrConfig}
	}
	names := slices.Sorted(maps.Keys(c.Layers))
	for _, name := range names {
		kc := c.Layers[name]
		key := tomlconf.Join("layers", string(name))
		if !name.Valid() {
			return &tomlconf.FieldError{Key: key, Problem: "unknown layer kind", Want: model.KindNames(), Err: ErrConfig}
		}
		switch kc.Method {
		case MethodExact, "":
			// The ratio is ignored; 0 (unset) or a fraction, so that the value reads back.
			if !finite(kc.Ratio) || kc.Ratio < 0 || kc.Ratio > 1 {
				return bad(key+".ratio", kc.Ratio, "in [0, 1] (ignored for exact)")
			}
		case MethodWTACRS:
			if !finite(kc.Ratio) || kc.Ratio <= 0 || kc.Ratio > 1 {
				return bad(key+".ratio", kc.Ratio, "in (0, 1]")
			}
		default:
			return bad(key+".method", kc.Method, `"exact" or "wtacrs"`)
		}
	}
	return c.validateExtensions()
}

// LoadConfig reads a TOML configuration file (at most 1 MiB) over [DefaultConfig] and
// validates it; see [ParseConfig] for the errors. An unreadable file is an error wrapping
// ErrConfig and the os error.
func LoadConfig(path string) (Config, error) {
	text, err := tomlconf.ReadFile(path, ErrConfig)
	if err != nil {
		return Config{}, err
	}
	c, err := ParseConfig(text, path)
	if err != nil {
		return Config{}, err
	}
	return c.ResolvePaths(filepath.Dir(path)), nil
}

// ResolvePaths returns c with relative data paths (train_path, dev_path) made absolute
// against dir, the folder of the configuration file that names them: the same file then names
// the same data from any working directory, and the configuration a run writes back names it
// from anywhere.
func (c Config) ResolvePaths(dir string) Config {
	resolvePaths(dir, &c.TrainPath, &c.DevPath, &c.Init)
	return c
}

// resolvePaths makes each relative, non-empty path absolute against dir.
func resolvePaths(dir string, paths ...*string) {
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) {
			if abs, err := filepath.Abs(filepath.Join(dir, *p)); err == nil {
				*p = abs
			}
		}
	}
}

// relativePaths makes each absolute path relative to dir where it can be.
func relativePaths(dir string, paths ...*string) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return
	}
	for _, p := range paths {
		if *p != "" && filepath.IsAbs(*p) {
			if rel, err := filepath.Rel(absDir, *p); err == nil {
				*p = rel
			}
		}
	}
}

// ParseConfig parses TOML text (name is used in messages) over [DefaultConfig] and validates it.
// A "wtacrs" layer without a ratio gets [DefaultRatio]. Every error is a *tomlconf.FieldError
// (or a tomlconf.Errors list of them) wrapping ErrConfig that names the file, the key and its
// line: malformed TOML, unknown keys (names are matched exactly), values of the wrong type, a
// negative seed, and every invalid value [Config.Validate] reports.
func ParseConfig(text, name string) (Config, error) {
	c := DefaultConfig()
	m, err := tomlconf.Decode(text, name, &c, ErrConfig)
	if err != nil {
		return Config{}, err
	}
	c = c.ClearInitSizes(m.Given)
	if err := c.Validate(); err != nil {
		return Config{}, m.Locate(err)
	}
	return c, nil
}

// InitKeys are the model sizes a checkpoint fixes: with init, a configuration leaves them out
// (they are then the checkpoint's) or gives the checkpoint's values.
var InitKeys = []string{"dim", "heads", "blocks", "ffn_dim", "vocab_size"}

// ClearInitSizes returns c with the sizes of [InitKeys] that the file did not set zeroed when c
// starts from a checkpoint (init), so that [Config.WithInit] takes them from the checkpoint;
// given reports whether the file set a key (relative to the configuration's table). Without
// init it returns c.
func (c Config) ClearInitSizes(given func(key string) bool) Config {
	if c.Init == "" {
		return c
	}
	for i, p := range c.sizes() {
		if !given(InitKeys[i]) {
			*p = 0
		}
	}
	return c
}

// sizes returns the fields of [InitKeys], in that order.
func (c *Config) sizes() []*int { return []*int{&c.Dim, &c.Heads, &c.Blocks, &c.FFNDim, &c.VocabSize} }

// RelativeTo returns c with its paths (train_path, dev_path, init) relative to dir where they
// can be, for a configuration written into dir: the file then names the same inputs from any
// machine on which the folders keep their relative places.
func (c Config) RelativeTo(dir string) Config {
	relativePaths(dir, &c.TrainPath, &c.DevPath, &c.Init)
	return c
}
