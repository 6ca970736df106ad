package experiments

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

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
	Experiment Experiment   `toml:"experiment"`
	Analysis   Analysis     `toml:"analysis"`
	Compare    Compare      `toml:"compare"`
	Train      train.Config `toml:"train"`
}

// Experiment names the experiment.
type Experiment struct {
	// Name is the output subdirectory <out>/<name>/: letters, digits, '-', '_' and '.'.
	// Default: the configuration file's base name without extension.
	Name string `toml:"name"`
	// Description is copied to summary.md. Default "".
	Description string `toml:"description"`
}

// Analysis chooses what the observed training run records and analyses.
type Analysis struct {
	// Enabled turns the norm analyses on. Default true.
	Enabled bool `toml:"enabled"`
	// Every records step 1 and every step that is a multiple of Every (≥ 1). Default 10.
	Every int `toml:"every"`
	// Budgets are the fractions k/|D| analysed, each in (0, 1]; k = max(1, ⌊fraction·|D|⌋).
	// Default [0.1, 0.5] (Figures 10 and 11).
	Budgets []float64 `toml:"budgets"`
	// Kinds are the layer kinds analysed (q, k, v, o, ffn_in, ffn_out). Default ["q", "k", "v"].
	Kinds []string `toml:"kinds"`
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
	Variants []Variant `toml:"variant"`
}

// Variant is one training configuration of the comparison: the [train] table with every layer
// kind in Kinds switched to Method.
type Variant struct {
	// Name labels the variant in compare.csv (required, unique).
	Name string `toml:"name"`
	// Method is "exact" or "wtacrs". Default "exact".
	Method string `toml:"method"`
	// Ratio is k/n for "wtacrs", in (0, 1]; 0 or absent means the default 0.3.
	Ratio float64 `toml:"ratio"`
	// Kinds are the layer kinds switched; empty means all six. Default [].
	Kinds []string `toml:"kinds"`
	// Epochs, when positive, overrides train.epochs for this variant. Default 0.
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
			Kinds: []string{"q", "k", "v"}, Sources: []string{SourceExact, SourceCached},
		},
		Train: train.DefaultConfig(),
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// Validate returns an error wrapping ErrConfig naming the first invalid key.
func (c Config) Validate() error {
	bad := func(key string, v any, want string) error {
		return fmt.Errorf("%w: %s = %v, want %s", ErrConfig, key, v, want)
	}
	if !nameRE.MatchString(c.Experiment.Name) || c.Experiment.Name == "." || c.Experiment.Name == ".." {
		return bad("experiment.name", fmt.Sprintf("%q", c.Experiment.Name), "letters, digits, '-', '_' or '.'")
	}
	a := c.Analysis
	if a.Every < 1 {
		return bad("analysis.every", a.Every, "≥ 1")
	}
	if a.Enabled && len(a.Budgets) == 0 {
		return bad("analysis.budgets", "[]", "at least one fraction when analysis.enabled")
	}
	for i, b := range a.Budgets {
		if math.IsNaN(b) || b <= 0 || b > 1 {
			return bad(fmt.Sprintf("analysis.budgets[%d]", i), b, "in (0, 1]")
		}
	}
	if err := checkKinds("analysis.kinds", a.Kinds); err != nil {
		return err
	}
	if a.Enabled && len(a.Kinds) == 0 {
		return bad("analysis.kinds", "[]", "at least one kind when analysis.enabled")
	}
	for i, b := range a.Blocks {
		if b < 0 || b >= c.Train.Blocks {
			return bad(fmt.Sprintf("analysis.blocks[%d]", i), b, fmt.Sprintf("in [0, %d) (train.blocks)", c.Train.Blocks))
		}
	}
	if a.Enabled && len(a.Sources) == 0 {
		return bad("analysis.sources", "[]", `"exact" and/or "cached"`)
	}
	for i, s := range a.Sources {
		if s != SourceExact && s != SourceCached {
			return bad(fmt.Sprintf("analysis.sources[%d]", i), fmt.Sprintf("%q", s), `"exact" or "cached"`)
		}
	}
	seen := map[string]bool{}
	for i, v := range c.Compare.Variants {
		key := fmt.Sprintf("compare.variant[%d]", i)
		if !nameRE.MatchString(v.Name) || seen[v.Name] {
			return bad(key+".name", fmt.Sprintf("%q", v.Name), "a unique non-empty name of letters, digits, '-', '_' or '.'")
		}
		seen[v.Name] = true
		if v.Method != train.MethodExact && v.Method != train.MethodWTACRS {
			return bad(key+".method", fmt.Sprintf("%q", v.Method), `"exact" or "wtacrs"`)
		}
		if math.IsNaN(v.Ratio) || v.Ratio <= 0 || v.Ratio > 1 {
			return bad(key+".ratio", v.Ratio, "in (0, 1]")
		}
		if v.Epochs < 0 {
			return bad(key+".epochs", v.Epochs, "≥ 0")
		}
		if err := checkKinds(key+".kinds", v.Kinds); err != nil {
			return err
		}
	}
	if err := c.Train.Validate(); err != nil {
		return fmt.Errorf("%w: [train]: %w", ErrConfig, err)
	}
	return nil
}

func checkKinds(key string, kinds []string) error {
	for i, k := range kinds {
		if !slices.Contains(train.Kinds(), train.LayerKind(k)) {
			return fmt.Errorf("%w: %s[%d] = %q, want q, k, v, o, ffn_in or ffn_out", ErrConfig, key, i, k)
		}
	}
	return nil
}

// VariantConfig returns the training configuration of variant v: base with v's method on v's
// kinds and v's epochs.
func VariantConfig(base train.Config, v Variant) train.Config {
	c := base
	c.Layers = map[string]train.KindConfig{}
	for k, kc := range base.Layers {
		c.Layers[k] = kc
	}
	kinds := v.Kinds
	if len(kinds) == 0 {
		for _, k := range train.Kinds() {
			kinds = append(kinds, string(k))
		}
	}
	for _, k := range kinds {
		c.Layers[k] = train.KindConfig{Method: v.Method, Ratio: v.Ratio}
	}
	if v.Epochs > 0 {
		c.Epochs = v.Epochs
	}
	return c
}

// LoadConfig reads and parses a configuration file (see [ParseConfig]); the experiment name
// defaults to the file's base name without extension.
func LoadConfig(path string) (Config, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return ParseConfig(text, path, base)
}

// ParseConfig decodes TOML text over [DefaultConfig] and validates it. name is the file name
// used in messages and defaultName the experiment name used when [experiment] name is absent.
// Errors wrap ErrConfig and name the key and line: unknown keys, values of the wrong type,
// malformed TOML and invalid values.
func ParseConfig(text []byte, name, defaultName string) (Config, error) {
	c := DefaultConfig()
	md, err := toml.NewDecoder(bytes.NewReader(text)).Decode(&c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			key := ""
			if pe.LastKey != "" {
				key = fmt.Sprintf(" (key %s)", pe.LastKey)
			}
			return Config{}, fmt.Errorf("%w: %s line %d%s: %s", ErrConfig, name, pe.Position.Line, key, pe.Message)
		}
		// Type mismatches read "toml: line N (last key "a.b"): incompatible types: …".
		return Config{}, fmt.Errorf("%w: %s: %s", ErrConfig, name, strings.TrimPrefix(err.Error(), "toml: "))
	}
	if und := md.Undecoded(); len(und) > 0 {
		msgs := make([]string, len(und))
		for i, k := range und {
			msgs[i] = fmt.Sprintf("unknown key %s", k.String())
			if line := keyLine(text, k); line > 0 {
				msgs[i] = fmt.Sprintf("line %d: unknown key %s", line, k.String())
			}
		}
		return Config{}, fmt.Errorf("%w: %s: %s", ErrConfig, name, strings.Join(msgs, "; "))
	}
	if c.Experiment.Name == "" {
		c.Experiment.Name = defaultName
	}
	for i := range c.Compare.Variants {
		v := &c.Compare.Variants[i]
		if v.Method == "" {
			v.Method = train.MethodExact
		}
		if v.Ratio == 0 {
			v.Ratio = 0.3
		}
	}
	if c.Train.Layers == nil {
		c.Train.Layers = map[string]train.KindConfig{}
	}
	if err := c.Validate(); err != nil {
		line := 0
		if key := errorKey(err); key != nil {
			line = keyLine(text, key)
		}
		if line > 0 {
			return Config{}, fmt.Errorf("%s line %d: %w", name, line, err)
		}
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

var errKeyRE = regexp.MustCompile(`: ([a-z_]+(?:\[\d+\])?(?:\.[a-z_0-9]+(?:\[\d+\])?)*) = `)

// errorKey extracts the dotted key from a validation message ("…: analysis.every = 0, want …"),
// dropping array indices; train's messages name keys relative to [train].
func errorKey(err error) toml.Key {
	m := errKeyRE.FindStringSubmatch(err.Error())
	if m == nil {
		return nil
	}
	key := regexp.MustCompile(`\[\d+\]`).ReplaceAllString(m[1], "")
	parts := strings.Split(key, ".")
	switch parts[0] {
	case "experiment", "analysis", "compare":
		return parts
	}
	return append(toml.Key{"train"}, parts...)
}

// keyLine returns the 1-based line on which the dotted key is set, or 0 when it cannot be found
// (for example a key inside an inline table). It follows [table] and [[array]] headers and
// dotted keys; array indices are not tracked.
func keyLine(text []byte, key toml.Key) int {
	want := strings.Join(key, ".")
	var table []string
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if strings.HasPrefix(line, "[") {
			h := strings.Trim(strings.SplitN(line, "#", 2)[0], " \t[]")
			table = splitKey(h)
			if strings.Join(table, ".") == want {
				return n
			}
			continue
		}
		eq := strings.Index(line, "=")
		if eq < 0 {
			continue
		}
		full := append(slices.Clone(table), splitKey(line[:eq])...)
		if strings.Join(full, ".") == want {
			return n
		}
	}
	return 0
}

func splitKey(s string) []string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return parts
}

// Encode returns the configuration as TOML (the "config as run").
func (c Config) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.Indent = ""
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("experiments: encoding the configuration: %w", err)
	}
	return buf.Bytes(), nil
}
