package experiments

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/wtacrs/wtacrs/internal/tomlconf"
	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/train"
)

// Errors of this package, wrapped with context.
var (
	// ErrConfig reports a malformed or invalid configuration.
	ErrConfig = errors.New("experiments: invalid configuration")
	// ErrTrace reports a trace directory or .npy file that cannot be used.
	ErrTrace = errors.New("experiments: invalid trace")
	// ErrResults reports a results directory whose CSV files cannot be read back.
	ErrResults = errors.New("experiments: invalid results")
)

// Config is one experiment. Zero-valued tables take the defaults of [DefaultConfig].
type Config struct {
	// Experiment is the [experiment] table: the name and description.
	Experiment Experiment `toml:"experiment"`
	// Analysis is the [analysis] table: what the observed run records and analyses.
	Analysis Analysis `toml:"analysis"`
	// Compare is the [compare] table: the training variants run after the observed run.
	Compare Compare `toml:"compare"`
	// Train is the [train] table: the observed run's training configuration, over
	// train.DefaultConfig().
	Train train.Config `toml:"train"`
	// Accuracy is the [accuracy] table: when its seeds are set, the run measures the dev
	// accuracy of exact and WTA-CRS training over those seeds instead.
	Accuracy Accuracy `toml:"accuracy,omitempty"`
}

// Experiment names the experiment.
type Experiment struct {
	// Name is the output subdirectory <out>/<name>/: letters, digits, '-', '_' and '.'.
	// Default: the configuration file's base name without extension.
	Name string `toml:"name"`
	// Description is copied to summary.md. Default "".
	Description string `toml:"description"`
	// Seeds are the training seeds of the observed run: it is trained once per seed, with
	// train.seed replaced, and the analyses are reported per seed and across seeds (figures:
	// mean and min–max band; findings: mean and 95% t interval). Each at most 2⁶³−1, each once.
	// Default: none, which means [train.seed] alone. The [compare] variants use train.seed.
	Seeds []uint64 `toml:"seeds,omitempty"`
}

// Analysis chooses what the observed training run records and analyses.
type Analysis struct {
	// Enabled turns the norm analyses on. Default true.
	Enabled bool `toml:"enabled"`
	// Every records step 1 and every step that is a multiple of Every (≥ 1). Default 10.
	Every int `toml:"every"`
	// ExactEvery chooses the recorded steps at which the exact closed-form variance ratio
	// Var[WTA-CRS]/Var[CRS] is computed from the layers' H and ∇Z, which are then held in
	// float64 for the analysed layers during the step (see train.MatrixObserver; the memory is
	// counted in the run's estimate): 0 at every recorded step, N > 0 at step 1 and the
	// recorded steps that are multiples of N, −1 never. Default 0.
	ExactEvery int `toml:"exact_every,omitzero"`
	// Budgets are the fractions k/|D| analysed, each in (0, 1]; k = estimator.Budget(fraction, |D|), ⌈fraction·|D|⌉ in [1, |D|].
	// Default [0.1, 0.5] (Figures 10 and 11).
	Budgets []float64 `toml:"budgets"`
	// Kinds are the layer kinds analysed (q, k, v, o, ffn_in, ffn_out). Default ["q", "k", "v"].
	Kinds []model.Kind `toml:"kinds"`
	// Blocks are the 0-based encoder blocks analysed; empty means every block. Default [].
	Blocks []int `toml:"blocks"`
	// Sources are the gradient norms the weights use: "exact" (‖∇Z_t‖ of the step) and/or
	// "cached" (the cached norms Algorithm 1 samples with; only WTA-CRS layers have them, and
	// steps at which the cache is entirely cold, all zeros, are skipped).
	// Default ["exact", "cached"].
	Sources []string `toml:"sources"`
	// IncludePadding analyses every pooled token; by default (false) D is the valid tokens only
	// (padding tokens have ‖H_t‖·‖∇Z_t‖ = 0 and would only stretch the x axis).
	IncludePadding bool `toml:"include_padding"`
	// AllCurves writes the curve P_C against |C|/k of every recorded step to curves.csv; by
	// default (false) only the first, middle and last recorded steps, the ones plotted, are
	// written (layers.csv always has every step).
	AllCurves bool `toml:"all_curves"`
}

// Compare lists training variants run one after the other after the observed run, for the
// accuracy and memory comparison. Default: none.
type Compare struct {
	// Variants are the [[compare.variant]] tables, run in this order.
	Variants []Variant `toml:"variant"`
}

// Variant is one training configuration of the comparison: the [train] table with every layer
// kind in Kinds switched to Method.
type Variant struct {
	// Name labels the variant in compare.csv (required, unique).
	Name string `toml:"name"`
	// Method is "exact" or "wtacrs". Default "exact".
	Method string `toml:"method"`
	// Ratio is k/n for "wtacrs", in (0, 1]; absent means [train.DefaultRatio] (0.3); 0 is an
	// error.
	Ratio float64 `toml:"ratio"`
	// Kinds are the layer kinds switched; empty means all six. Default [].
	Kinds []model.Kind `toml:"kinds"`
	// Epochs, when positive, overrides train.epochs for this variant; at most 2³¹−1.
	// Default 0.
	Epochs int `toml:"epochs"`
}

// Source names of [Analysis.Sources].
const (
	SourceExact  = "exact"
	SourceCached = "cached"
)

// DefaultConfig returns the defaults documented on the fields, with train.DefaultConfig().
func DefaultConfig() Config {
	return Config{
		Analysis: Analysis{
			Enabled: true, Every: 10, Budgets: []float64{0.1, 0.5},
			Kinds: []model.Kind{model.Query, model.Key, model.Value}, Sources: []string{SourceExact, SourceCached},
		},
		Train: train.DefaultConfig(),
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// FillDefaults gives a variant whose table has no method the method "exact" and one without a
// ratio [train.DefaultRatio]; it is called by the configuration decoder after decoding a
// [[compare.variant]] table (given reports whether that table has a key).
func (v *Variant) FillDefaults(given func(name string) bool) {
	if !given("method") {
		v.Method = train.MethodExact
	}
	if !given("ratio") {
		v.Ratio = train.DefaultRatio
	}
}

// maxVariantEpochs bounds Variant.Epochs as train bounds its epochs.
const maxVariantEpochs = train.MaxEpochs

// Validate returns nil or a *tomlconf.FieldError wrapping ErrConfig for the first invalid key,
// named from the top of the file ("compare.variant[1].ratio", "train.max_len"; errors of the
// [train] table wrap train.ErrConfig too), without a line ([ParseConfig] adds the file and
// line).
func (c Config) Validate() error {
	bad := func(key string, v any, want string, related ...string) error {
		return &tomlconf.FieldError{Key: key, Value: tomlconf.Format(v), Want: want, Related: related, Err: ErrConfig}
	}
	if !nameRE.MatchString(c.Experiment.Name) || c.Experiment.Name == "." || c.Experiment.Name == ".." {
		return bad("experiment.name", c.Experiment.Name, "letters, digits, '-', '_' or '.' (default: the file's base name)")
	}
	for i, seed := range c.Experiment.Seeds {
		if seed > math.MaxInt64 {
			// Encode would write a seed that no TOML reader accepts.
			return bad(tomlconf.Elem("experiment.seeds", i), seed, fmt.Sprintf("≤ %d (TOML integers are signed 64-bit)", int64(math.MaxInt64)))
		}
		if j := slices.Index(c.Experiment.Seeds, seed); j < i {
			return bad(tomlconf.Elem("experiment.seeds", i), seed, fmt.Sprintf("each seed once (experiment.seeds[%d] is %d too)", j, seed))
		}
	}
	if c.Experiment.Seeds != nil && len(c.Experiment.Seeds) == 0 {
		return bad("experiment.seeds", c.Experiment.Seeds, "at least one seed (leave the key out for train.seed alone)")
	}
	a := c.Analysis
	if a.Every < 1 {
		return bad("analysis.every", a.Every, "≥ 1")
	}
	if a.ExactEvery < -1 {
		return bad("analysis.exact_every", a.ExactEvery, "0 (every recorded step), N > 0 (step 1 and multiples of N) or −1 (never)")
	}
	if a.Enabled && len(a.Budgets) == 0 {
		return bad("analysis.budgets", a.Budgets, "at least one fraction when analysis.enabled", "analysis.enabled")
	}
	for i, b := range a.Budgets {
		if math.IsNaN(b) || b <= 0 || b > 1 {
			return bad(tomlconf.Elem("analysis.budgets", i), b, "in (0, 1]")
		}
		if j := slices.Index(a.Budgets, b); j < i {
			return bad(tomlconf.Elem("analysis.budgets", i), b, fmt.Sprintf("each budget once (analysis.budgets[%d] is %v too)", j, b))
		}
	}
	if err := checkKinds("analysis.kinds", a.Kinds); err != nil {
		return err
	}
	for i, k := range a.Kinds {
		if j := slices.Index(a.Kinds, k); j < i {
			return bad(tomlconf.Elem("analysis.kinds", i), string(k), fmt.Sprintf("each kind once (analysis.kinds[%d] is %q too)", j, k))
		}
	}
	if a.Enabled && len(a.Kinds) == 0 {
		return bad("analysis.kinds", a.Kinds, "at least one kind when analysis.enabled", "analysis.enabled")
	}
	for i, b := range a.Blocks {
		if b < 0 || b >= c.Train.Blocks {
			return bad(tomlconf.Elem("analysis.blocks", i), b, fmt.Sprintf("in [0, %d) (train.blocks)", c.Train.Blocks), "train.blocks")
		}
	}
	if a.Enabled && len(a.Sources) == 0 {
		return bad("analysis.sources", a.Sources, `"exact" and/or "cached"`, "analysis.enabled")
	}
	for i, s := range a.Sources {
		if s != SourceExact && s != SourceCached {
			return bad(tomlconf.Elem("analysis.sources", i), s, `"exact" or "cached"`)
		}
		if j := slices.Index(a.Sources, s); j < i {
			return bad(tomlconf.Elem("analysis.sources", i), s, fmt.Sprintf("each source once (analysis.sources[%d] is %q too)", j, s))
		}
	}
	seen := map[string]bool{}
	for i, v := range c.Compare.Variants {
		key := tomlconf.Elem("compare.variant", i)
		if !nameRE.MatchString(v.Name) || seen[v.Name] {
			return bad(key+".name", v.Name, "a unique non-empty name of letters, digits, '-', '_' or '.'")
		}
		seen[v.Name] = true
		if v.Method != train.MethodExact && v.Method != train.MethodWTACRS {
			return bad(key+".method", v.Method, `"exact" or "wtacrs"`)
		}
		if math.IsNaN(v.Ratio) || v.Ratio <= 0 || v.Ratio > 1 {
			return bad(key+".ratio", v.Ratio, "in (0, 1]")
		}
		if v.Epochs < 0 || v.Epochs > maxVariantEpochs {
			return bad(key+".epochs", v.Epochs, fmt.Sprintf("in [0, %d] (0: train.epochs)", maxVariantEpochs))
		}
		if err := checkKinds(key+".kinds", v.Kinds); err != nil {
			return err
		}
	}
	if err := c.Train.Validate(); err != nil {
		return tomlconf.Prefix(err, "train", ErrConfig)
	}
	if c.Accuracy.Enabled() {
		if err := c.validateAccuracy(); err != nil {
			return err
		}
	} else if len(c.Accuracy.Ratios) > 0 {
		return &tomlconf.FieldError{Key: "accuracy.seeds", Problem: "missing key", Want: "the seeds of the accuracy run", Err: ErrConfig}
	}
	for _, s := range []struct{ key, v string }{{"experiment.description", c.Experiment.Description},
		{"train.train_path", c.Train.TrainPath}, {"train.dev_path", c.Train.DevPath}, {"train.init", c.Train.Init}} {
		if !utf8.ValidString(s.v) {
			// Encode would write a file that no TOML reader accepts.
			return bad(s.key, s.v, "valid UTF-8")
		}
	}
	if c.Train.Seed > math.MaxInt64 {
		// Encode would write a seed that no TOML reader accepts.
		return bad("train.seed", c.Train.Seed, fmt.Sprintf("≤ %d (TOML integers are signed 64-bit)", int64(math.MaxInt64)))
	}
	return nil
}

// RunSeeds returns the seeds of the observed run: Experiment.Seeds, or train.seed alone when
// none are given. The slice is a copy.
func (c Config) RunSeeds() []uint64 {
	if len(c.Experiment.Seeds) > 0 {
		return slices.Clone(c.Experiment.Seeds)
	}
	return []uint64{c.Train.Seed}
}

func checkKinds(key string, kinds []model.Kind) error {
	for i, k := range kinds {
		if !k.Valid() {
			return &tomlconf.FieldError{Key: tomlconf.Elem(key, i), Value: strconv.Quote(string(k)), Want: model.KindNames(), Err: ErrConfig}
		}
	}
	return nil
}

// VariantConfig returns the training configuration of variant v: base with v's method on v's
// kinds and v's epochs.
func VariantConfig(base train.Config, v Variant) train.Config {
	c := base
	c.Layers = maps.Clone(base.Layers)
	if c.Layers == nil {
		c.Layers = map[model.Kind]train.KindConfig{}
	}
	kinds := v.Kinds
	if len(kinds) == 0 {
		kinds = model.Kinds()
	}
	for _, k := range kinds {
		c.Layers[k] = train.KindConfig{Method: v.Method, Ratio: v.Ratio}
	}
	if v.Epochs > 0 {
		c.Epochs = v.Epochs
	}
	return c
}

// LoadConfig reads and parses a configuration file of at most 1 MiB (see [ParseConfig]); the
// experiment name defaults to the file's base name without extension.
func LoadConfig(path string) (Config, error) {
	text, err := tomlconf.ReadFile(path, ErrConfig)
	if err != nil {
		return Config{}, err
	}
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	c, err := ParseConfig([]byte(text), path, base)
	if err != nil {
		return Config{}, err
	}
	c.Train = c.Train.ResolvePaths(filepath.Dir(path))
	return c, nil
}

// ParseConfig decodes TOML text over [DefaultConfig] and validates it. name is the file name
// used in messages and defaultName the experiment name used when [experiment] has no name key.
// A variant without a method is "exact" and one without a ratio gets [train.DefaultRatio], as
// does a "wtacrs" layer of [train] without one; nothing else is filled in.
//
// Every error is a *tomlconf.FieldError (or a tomlconf.Errors list of them) wrapping ErrConfig
// that names the file, the key from the top of the file (compare.variant[1].ratio) and its
// line: malformed TOML, unknown keys (names are matched exactly), values of the wrong type, a
// negative value for an unsigned key, and every invalid value [Config.Validate] reports. A key
// that the file does not set (a variant's missing name) is given the line of its table.
func ParseConfig(text []byte, name, defaultName string) (Config, error) {
	c := DefaultConfig()
	m, err := tomlconf.Decode(string(text), name, &c, ErrConfig)
	if err != nil {
		return Config{}, err
	}
	if !m.Given("experiment.name") {
		c.Experiment.Name = defaultName
	}
	c.Train = c.Train.ClearInitSizes(func(k string) bool { return m.Given(tomlconf.Join("train", k)) })
	if m.Given("experiment.seeds") && c.Experiment.Seeds == nil {
		c.Experiment.Seeds = []uint64{} // seeds = []: Validate refuses it
	}
	if err := c.Validate(); err != nil {
		return Config{}, m.Locate(err)
	}
	return c, nil
}

// Encode returns the configuration as TOML (the "config as run").
func (c Config) Encode() ([]byte, error) { return encodeTOML(c) }

// encodeTOML writes a configuration as TOML, tables unindented.
func encodeTOML(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.Indent = ""
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("experiments: encoding the configuration: %w", err)
	}
	return buf.Bytes(), nil
}
