package train

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/internal/tomlconf"
	"github.com/wtacrs/wtacrs/model"
)

// Every configuration error names the file, the key and its line, and wraps ErrConfig.
func TestParseConfigErrorsNameKeyAndLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text, want string
	}{
		{"malformed", "dim = 128\nheads = = 4\n", "t.toml line 2: expected value but found '=' instead (at key heads)"},
		{"unknown key", "dim = 64\ndimm = 3\n", "t.toml line 2: unknown key dimm, want one of dim, heads,"},
		{"key in another case", "Dim = 64\n", "t.toml line 1: unknown key Dim,"},
		{"unknown layer key", "[layers.q]\nmethod = \"wtacrs\"\nration = 0.3\n", "t.toml line 3: unknown key layers.q.ration, want one of method, ratio"},
		{"unknown key in inline table", "[layers]\n\nq = {method = \"wtacrs\", ratoi = 0.3}\n", "t.toml line 3: unknown key layers.q.ratoi,"},
		{"wrong type", "\nepochs = \"three\"\n", `t.toml line 2: epochs = "three", want an integer`},
		{"float for integer", "epochs = 1.5\n", "t.toml line 1: epochs = 1.5, want an integer"},
		{"negative seed", "dim = 64\nseed = -1\n", "t.toml line 2: seed = -1, want an integer ≥ 0"},
		{"seed beyond TOML integers", "seed = 18446744073709551615\n", "t.toml line 1: 18446744073709551615 is out of range for int64 (at key seed)"},
		{"heads do not divide", "heads = 3\n", "t.toml line 1: heads = 3, want a divisor of dim = 128"},
		{"heads default, dim set", "blocks = 1\ndim = 6\n", "t.toml line 2: heads = 4, want a divisor of dim = 6"},
		{"max_len 2", "max_len = 2\n", "t.toml line 1: max_len = 2, want ≥ 3"},
		{"only train_path", "epochs = 1\ntrain_path = \"train.tsv\"\n", "t.toml line 2: missing key dev_path, want it set together with train_path"},
		{"only dev_path", "dev_path = \"dev.tsv\"\n", "t.toml line 1: missing key train_path, want it set together with dev_path"},
		{"epochs 0", "epochs = 0\n", "t.toml line 1: epochs = 0, want in [1, 100000]"},
		{"epochs overflow", "epochs = 9223372036854775807\n", "t.toml line 1: epochs = 9223372036854775807, want in [1, 100000]"},
		{"constant_steps overflow", "constant_steps = 9223372036854775807\n", "t.toml line 1: constant_steps = 9223372036854775807"},
		{"warmup_steps negative", "warmup_steps = -1\n", "t.toml line 1: warmup_steps = -1, want in [0, 2147483647]"},
		{"negative lr", "learning_rate = -1.0\n", "t.toml line 1: learning_rate = -1, want a finite value > 0"},
		{"NaN lr", "learning_rate = nan\n", "t.toml line 1: learning_rate = nan, want a finite value > 0"},
		{"precision", "precision = \"float16\"\n", `t.toml line 1: precision = "float16", want "float32" or "float64"`},
		{"optimizer_precision", "optimizer_precision = \"float32\"\n", `t.toml line 1: optimizer_precision = "float32", want "float64" or "model" (default: float64)`},
		{"ratio in table", "[layers.q]\nmethod = \"wtacrs\"\nratio = 1.5\n", "t.toml line 3: layers.q.ratio = 1.5, want in (0, 1]"},
		{"ratio in inline table", "[layers]\nq = { method = \"wtacrs\", ratio = 1.5 }\n", "t.toml line 2: layers.q.ratio = 1.5, want in (0, 1]"},
		{"given ratio 0", "[layers.k]\nmethod = \"wtacrs\"\nratio = 0.0\n", "t.toml line 3: layers.k.ratio = 0, want in (0, 1]"},
		{"NaN ratio of an exact layer", "[layers.k]\nratio = nan\n", "t.toml line 2: layers.k.ratio = nan, want in [0, 1] (ignored for exact)"},
		{"bad method", "[layers]\nv = { method = \"topk\" }\n", `t.toml line 2: layers.v.method = "topk", want "exact" or "wtacrs"`},
		{"unknown kind, inline table", "epochs = 1\n[layers]\nz = { method = \"exact\" }\n", "t.toml line 3: unknown layer kind layers.z, want q, k, v, o, ffn_in or ffn_out"},
		{"unknown kind, table", "[layers.q]\nmethod = \"exact\"\n\n[layers.zz]\nmethod = \"exact\"\n", "t.toml line 4: unknown layer kind layers.zz,"},
		{"unknown kind, dotted key", "[layers]\nq.method = \"exact\"\n\"my kind\".method = \"exact\"\n", `t.toml line 3: unknown layer kind layers."my kind",`},
		{"layers not a table", "layers = 3\n", "t.toml line 1: layers = 3, want a table"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseConfig(tc.text, "t.toml")
			require.ErrorIs(t, err, ErrConfig)
			assert.ErrorContains(t, err, tc.want)
			var fe *tomlconf.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Positive(t, fe.Line)
		})
	}
}

// Regression: a "wtacrs" layer without a ratio failed with "ratio = 0" while the documented
// default is 0.3; a ratio given as 0 is still an error (see above).
func TestParseConfigWTACRSLayerWithoutRatioGetsDefault(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig("[layers.q]\nmethod = \"wtacrs\"\n[layers]\nk = {method = \"wtacrs\"}\nv = {method = \"exact\"}\n", "t.toml")
	require.NoError(t, err)
	assert.Equal(t, KindConfig{MethodWTACRS, DefaultRatio}, c.Kind(model.Query))
	assert.Equal(t, KindConfig{MethodWTACRS, DefaultRatio}, c.Kind(model.Key))
	assert.Equal(t, KindConfig{MethodExact, 0}, c.Kind(model.Value))
}

// Nothing that a file gives is changed: every value parsed is the value written.
func TestParseConfigKeepsEveryGivenValue(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig(`dim = 64
heads = 8
blocks = 3
ffn_dim = 100
max_len = 3
vocab_size = 8
trim_padding = false
recompute = false
train_path = "a.tsv"
dev_path = "b.tsv"
max_train = 5
max_dev = 6
batch_size = 7
epochs = 100000
learning_rate = 1e-3
warmup_steps = 9
constant_steps = 0
beta1 = 0.0
beta2 = 0.5
epsilon = 1e-12
weight_decay = 0.01
clip_norm = 0.0
seed = 9223372036854775807
precision = "float64"
[layers]
q = {method = "wtacrs", ratio = 1.0}
k = {method = "exact", ratio = 0.7}
v = {method = "", ratio = 0.0}
`, "t.toml")
	require.NoError(t, err)
	want := Config{Dim: 64, Heads: 8, Blocks: 3, FFNDim: 100, MaxLen: 3, VocabSize: 8, TrainPath: "a.tsv", DevPath: "b.tsv",
		MaxTrain: 5, MaxDev: 6, BatchSize: 7, Epochs: 100000, LearningRate: 1e-3, WarmupSteps: 9, Beta2: 0.5,
		Epsilon: 1e-12, WeightDecay: 0.01, Seed: 1<<63 - 1, Precision: "float64",
		Layers: map[model.Kind]KindConfig{"q": {MethodWTACRS, 1}, "k": {MethodExact, 0.7}, "v": {"", 0}}}
	assert.Equal(t, want, c)
}

func TestValidateReturnsFieldErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		edit    func(*Config)
		key     string
		related []string
	}{
		{"dim", func(c *Config) { c.Dim = 0 }, "dim", nil},
		{"heads", func(c *Config) { c.Heads = 5 }, "heads", []string{"dim"}},
		{"max_len", func(c *Config) { c.MaxLen = MinMaxLen - 1 }, "max_len", nil},
		{"dev_path", func(c *Config) { c.TrainPath = "x" }, "dev_path", []string{"train_path"}},
		{"train_path", func(c *Config) { c.DevPath = "x" }, "train_path", []string{"dev_path"}},
		{"layer kind", func(c *Config) { c.Layers = map[model.Kind]KindConfig{"a.b": {}} }, `layers."a.b"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			var fe *tomlconf.FieldError
			require.ErrorAs(t, err, &fe)
			assert.ErrorIs(t, err, ErrConfig)
			assert.Equal(t, tc.key, fe.Key)
			assert.Equal(t, tc.related, fe.Related)
			assert.Zero(t, fe.Line)
		})
	}
	err := DefaultConfig().WithAll(MethodWTACRS, 0).Validate()
	assert.EqualError(t, err, "layers.ffn_in.ratio = 0, want in (0, 1]")
	assert.NoError(t, DefaultConfig().Validate())
}

func TestLoadConfigFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := LoadConfig(filepath.Join(dir, "missing.toml"))
	assert.ErrorIs(t, err, ErrConfig)
	assert.ErrorIs(t, err, os.ErrNotExist)

	big := filepath.Join(dir, "big.toml")
	require.NoError(t, os.WriteFile(big, []byte(strings.Repeat("# comment\n", tomlconf.MaxSize/10+1)), 0o644))
	_, err = LoadConfig(big)
	assert.ErrorIs(t, err, ErrConfig)
	assert.ErrorContains(t, err, "big.toml: file larger than 1 MiB")

	bad := filepath.Join(dir, "bad.toml")
	require.NoError(t, os.WriteFile(bad, []byte("epochs = 1\n\nmax_len = 2\n"), 0o644))
	_, err = LoadConfig(bad)
	assert.EqualError(t, err, bad+" line 3: max_len = 2, want ≥ 3 ([CLS] and the two [SEP] of a sentence pair)")
	assert.True(t, errors.Is(err, ErrConfig))
}

// Regression: a relative train_path resolved against the working directory, so one config file
// trained on different data depending on where it was run.
func TestLoadConfigResolvesPathsAgainstItsFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "proj", "t.toml")
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte("train_path = \"data/train.tsv\"\ndev_path = \"/abs/dev.tsv\"\n"), 0o644))
	c, err := LoadConfig(p)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "proj", "data", "train.tsv"), c.TrainPath)
	assert.Equal(t, "/abs/dev.tsv", c.DevPath)
	// ParseConfig, which has no file, leaves them as written.
	c, err = ParseConfig("train_path = \"a.tsv\"\ndev_path = \"b.tsv\"\n", "text")
	require.NoError(t, err)
	assert.Equal(t, "a.tsv", c.TrainPath)
}
