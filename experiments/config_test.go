package experiments_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/internal/tomlconf"
	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/train"
)

func TestParseConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := experiments.ParseConfig([]byte("[train]\nepochs = 1\n"), "x.toml", "x")
	require.NoError(t, err)
	d := experiments.DefaultConfig()
	assert.Equal(t, "x", c.Experiment.Name)
	assert.Equal(t, d.Analysis, c.Analysis)
	assert.Equal(t, 1, c.Train.Epochs)
	assert.Equal(t, d.Train.Dim, c.Train.Dim)
}

func TestParseConfigErrorsNameKeyAndLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"unknown key", "[analysis]\nevery = 5\nbudgetz = [0.1]\n", []string{"line 3", "analysis.budgetz"}},
		{"unknown table", "[experiment]\nname = \"a\"\n\n[plots]\nx = 1\n", []string{"line 5", "plots.x"}},
		{"unknown train key", "[train]\ndim = 64\nheadz = 4\n", []string{"line 3", "train.headz"}},
		{"unknown variant key", "[[compare.variant]]\nname = \"a\"\nratoi = 0.3\n", []string{"line 3", "compare.variant[0].ratoi"}},
		{"wrong type", "[analysis]\n\nevery = \"ten\"\n", []string{"line 3", "analysis.every"}},
		{"wrong element type", "[analysis]\nbudgets = [0.1, \"half\"]\n", []string{"line 2", "analysis.budgets"}},
		{"wrong train type", "[train]\nepochs = 1.5\n", []string{"line 2", "train.epochs"}},
		{"malformed", "[analysis]\nevery = \n", []string{"line 2"}},
		{"duplicate", "[analysis]\nevery = 1\nevery = 2\n", []string{"line 3", "analysis.every"}},
		{"bad value", "[analysis]\nevery = 0\n", []string{"line 2", "analysis.every"}},
		{"bad budget", "[analysis]\n\nbudgets = [0.1, 1.5]\n", []string{"line 3", "analysis.budgets[1]"}},
		{"bad source", "[analysis]\nsources = [\"cache\"]\n", []string{"line 2", "analysis.sources[0]"}},
		{"bad kind", "[analysis]\nkinds = [\"q\", \"x\"]\n", []string{"line 2", "analysis.kinds[1]"}},
		{"bad block", "[analysis]\nblocks = [5]\n", []string{"line 2", "analysis.blocks[0]"}},
		{"bad train value", "[train]\nbatch_size = 0\n", []string{"line 2", "batch_size"}},
		{"bad train layer", "[train.layers.q]\nmethod = \"wtacrs\"\nratio = 2.0\n", []string{"line 3", "layers.q.ratio"}},
		{"bad variant", "[[compare.variant]]\nname = \"a\"\nmethod = \"fast\"\n", []string{"line 3", "compare.variant[0].method"}},
		{"duplicate variant", "[[compare.variant]]\nname = \"a\"\n[[compare.variant]]\nname = \"a\"\n", []string{"compare.variant[1].name"}},
		{"bad name", "[experiment]\nname = \"../x\"\n", []string{"line 2", "experiment.name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := experiments.ParseConfig([]byte(tc.text), "c.toml", "c")
			require.ErrorIs(t, err, experiments.ErrConfig)
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
			assert.ErrorContains(t, err, "c.toml")
		})
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	_, err := experiments.LoadConfig(filepath.Join(t.TempDir(), "missing.toml"))
	assert.ErrorIs(t, err, experiments.ErrConfig)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// Every shipped configuration parses, and its name is its file name.
func TestShippedConfigs(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("configs/*.toml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		c, err := experiments.LoadConfig(f)
		require.NoError(t, err, f)
		if filepath.Base(f) != "reference.toml" {
			assert.Equal(t, filepath.Base(f), c.Experiment.Name+".toml")
		}
	}
}

func TestEncodeRoundTrips(t *testing.T) {
	t.Parallel()
	c, err := experiments.ParseConfig([]byte(smallConfig), "s.toml", "s")
	require.NoError(t, err)
	text, err := c.Encode()
	require.NoError(t, err)
	back, err := experiments.ParseConfig(text, "as-run.toml", "other")
	require.NoError(t, err)
	assert.Equal(t, c, back)
}

// Every configuration error names the file, the key from the top of the file and its line;
// errors of [train] wrap train.ErrConfig too.
func TestParseConfigFieldErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text, want string
		trainErr         bool
	}{
		{"negative seed", "[train]\nepochs = 1\nseed = -1\n", "c.toml line 3: train.seed = -1, want an integer ≥ 0", false},
		{"wtacrs layer ratio 0 given", "[train.layers.q]\nmethod = \"wtacrs\"\nratio = 0.0\n", "c.toml line 3: train.layers.q.ratio = 0, want in (0, 1]", true},
		{"inline layer ratio", "[train]\nlayers = {q = {method = \"wtacrs\", ratio = 2.0}}\n", "c.toml line 2: train.layers.q.ratio = 2, want in (0, 1]", true},
		{"inline layer unknown key", "[train.layers]\nq = {method = \"wtacrs\", ratoi = 0.3}\n", "c.toml line 2: unknown key train.layers.q.ratoi,", false},
		{"unknown layer kind, table", "[train]\nepochs = 1\n\n[train.layers.x]\nmethod = \"exact\"\n", "c.toml line 4: unknown layer kind train.layers.x, want q, k, v, o, ffn_in or ffn_out", true},
		{"unknown layer kind, inline table", "[train.layers]\nq = {method = \"exact\"}\nqq = {method = \"exact\"}\n", "c.toml line 3: unknown layer kind train.layers.qq,", true},
		{"max_len 2", "[train]\nmax_len = 2\n", "c.toml line 2: train.max_len = 2, want ≥ 3", true},
		{"only train_path", "[train]\nepochs = 1\ntrain_path = \"t.tsv\"\n", "c.toml line 3: missing key train.dev_path, want it set together with train_path", true},
		{"only dev_path", "[train]\n\ndev_path = \"d.tsv\"\n", "c.toml line 3: missing key train.train_path, want it set together with dev_path", true},
		{"heads default, dim set", "[train]\nblocks = 1\ndim = 6\n", "c.toml line 3: train.heads = 4, want a divisor of dim = 6", true},
		{"second variant", "[[compare.variant]]\nname = \"a\"\nratio = 0.5\n\n[[compare.variant]]\nname = \"b\"\nratio = 2.0\n", "c.toml line 7: compare.variant[1].ratio = 2, want in (0, 1]", false},
		{"second variant method", "[[compare.variant]]\nname = \"a\"\nmethod = \"exact\"\n[[compare.variant]]\nname = \"b\"\nmethod = \"fast\"\n", `c.toml line 6: compare.variant[1].method = "fast", want "exact" or "wtacrs"`, false},
		{"second variant wrong type", "[[compare.variant]]\nname = \"a\"\n[[compare.variant]]\nname = \"b\"\nepochs = \"2\"\n", `c.toml line 5: compare.variant[1].epochs = "2", want an integer`, false},
		{"nameless variant", "[[compare.variant]]\nname = \"a\"\n\n[[compare.variant]]\nmethod = \"wtacrs\"\n", `c.toml line 4: compare.variant[1].name = "", want a unique non-empty name`, false},
		{"variant ratio 0 given", "[[compare.variant]]\nname = \"a\"\nmethod = \"wtacrs\"\nratio = 0.0\n", "c.toml line 4: compare.variant[0].ratio = 0, want in (0, 1]", false},
		{"variant explicit empty method", "[[compare.variant]]\nname = \"a\"\nmethod = \"\"\n", `c.toml line 3: compare.variant[0].method = "", want "exact" or "wtacrs"`, false},
		{"variant epochs overflow", "[[compare.variant]]\nname = \"a\"\nepochs = 9223372036854775807\n", "c.toml line 3: compare.variant[0].epochs = 9223372036854775807, want in [0, 100000]", false},
		{"inline variants", "[compare]\nvariant = [{name = \"a\"},\n  {name = \"b\", kinds = [\"q\", \"x\"]}]\n", `c.toml line 3: compare.variant[1].kinds[1] = "x", want q, k, v, o, ffn_in or ffn_out`, false},
		{"explicit empty name", "[experiment]\nname = \"\"\n", `c.toml line 2: experiment.name = "", want letters, digits`, false},
		{"budgets empty", "[analysis]\nenabled = true\nbudgets = []\n", "c.toml line 3: analysis.budgets = [], want at least one fraction", false},
		{"block beyond train.blocks", "[analysis]\nblocks = [0, 1]\n[train]\nblocks = 1\n", "c.toml line 2: analysis.blocks[1] = 1, want in [0, 1) (train.blocks)", false},
		{"multi-line budgets", "[analysis]\nbudgets = [\n  0.1,\n  1.5,\n]\n", "c.toml line 4: analysis.budgets[1] = 1.5, want in (0, 1]", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := experiments.ParseConfig([]byte(tc.text), "c.toml", "c")
			require.ErrorIs(t, err, experiments.ErrConfig)
			assert.ErrorContains(t, err, tc.want)
			assert.Equal(t, tc.trainErr, errors.Is(err, train.ErrConfig))
			var fe *tomlconf.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Positive(t, fe.Line)
		})
	}
}

// Regression: a variant's ratio given as 0 was silently replaced by 0.3, and a "wtacrs" layer
// of [train] without a ratio failed; now absent means the documented 0.3, in both places.
func TestParseConfigRatioDefaults(t *testing.T) {
	t.Parallel()
	c, err := experiments.ParseConfig([]byte(`
[[compare.variant]]
name = "a"
[[compare.variant]]
name = "b"
method = "wtacrs"
kinds = ["q"]
[train.layers.q]
method = "wtacrs"
[train.layers]
k = {method = "wtacrs"}
v = {method = "exact"}
`), "c.toml", "c")
	require.NoError(t, err)
	assert.Equal(t, []experiments.Variant{
		{Name: "a", Method: train.MethodExact, Ratio: train.DefaultRatio},
		{Name: "b", Method: train.MethodWTACRS, Ratio: train.DefaultRatio, Kinds: []model.Kind{"q"}},
	}, c.Compare.Variants)
	assert.Equal(t, map[model.Kind]train.KindConfig{
		"q": {Method: train.MethodWTACRS, Ratio: train.DefaultRatio},
		"k": {Method: train.MethodWTACRS, Ratio: train.DefaultRatio},
		"v": {Method: train.MethodExact},
	}, c.Train.Layers)
}

// Regression: seed = -1 was accepted as 2^64−1, and the config.toml written for the run could
// not be read back. Now it is an error, and the largest seed a TOML file can hold round-trips.
func TestParseConfigSeedRoundTrips(t *testing.T) {
	t.Parallel()
	_, err := experiments.ParseConfig([]byte("[train]\nseed = -1\n"), "c.toml", "c")
	require.ErrorContains(t, err, "c.toml line 2: train.seed = -1, want an integer ≥ 0")
	c, err := experiments.ParseConfig([]byte("[train]\nseed = 9223372036854775807\n"), "c.toml", "c")
	require.NoError(t, err)
	assert.Equal(t, uint64(math.MaxInt64), c.Train.Seed)
	checkRoundTrip(t, c)

	c.Train.Seed = math.MaxInt64 + 1 // only a caller can set this; Validate refuses it
	assert.ErrorContains(t, c.Validate(), "train.seed = 9223372036854775808, want ≤ 9223372036854775807")
}

// What Encode could not write readably is invalid: strings that are not UTF-8 (no TOML text
// holds them).
func TestValidateRefusesStringsEncodeCannotWrite(t *testing.T) {
	t.Parallel()
	c := experiments.DefaultConfig()
	c.Experiment.Name = "x"
	c.Experiment.Description = "café"
	require.NoError(t, c.Validate())
	c.Experiment.Description = "caf\xe9"
	assert.ErrorContains(t, c.Validate(), "experiment.description = ")
	c.Experiment.Description = ""
	c.Train.TrainPath, c.Train.DevPath = "a", "\xff"
	assert.ErrorContains(t, c.Validate(), "train.dev_path = ")
}

// checkRoundTrip asserts that c, written by Encode, reads back to c and that the written text
// is a fixed point of Encode∘ParseConfig.
func checkRoundTrip(t interface {
	require.TestingT
	Helper()
}, c experiments.Config) []byte {
	t.Helper()
	text, err := c.Encode()
	require.NoError(t, err)
	back, err := experiments.ParseConfig(text, "config.toml", "other")
	require.NoError(t, err, "%s", text)
	require.True(t, reflect.DeepEqual(c, back), "read back differently:\n%s\n%#v\n%#v", text, c, back)
	again, err := back.Encode()
	require.NoError(t, err)
	require.Equal(t, string(text), string(again))
	return text
}

// Every committed configuration round-trips through the written config.toml.
func TestCommittedConfigsRoundTrip(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("configs/*.toml")
	require.NoError(t, err)
	results, err := filepath.Glob("../results/*/config.toml")
	require.NoError(t, err)
	require.NotEmpty(t, results)
	for _, f := range append(files, results...) {
		if filepath.Base(filepath.Dir(f)) == "pretrain" {
			continue // a pretraining configuration, not an experiment's
		}
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			c, err := experiments.LoadConfig(f)
			require.NoError(t, err)
			checkRoundTrip(t, c)
		})
	}
}

// The committed results' config.toml are what Encode writes for them, byte for byte: redoing
// those runs rewrites identical files.
func TestResultsConfigsAreEncodedBytes(t *testing.T) {
	t.Parallel()
	results, err := filepath.Glob("../results/*/config.toml")
	require.NoError(t, err)
	require.NotEmpty(t, results)
	for _, f := range results {
		want, err := os.ReadFile(f)
		require.NoError(t, err)
		if filepath.Base(filepath.Dir(f)) == "pretrain" {
			// A pretraining configuration, not an experiment's.
			_, err := train.LoadPretrainConfig(f)
			require.NoError(t, err, f)
			continue
		}
		c, err := experiments.LoadConfig(f)
		require.NoError(t, err, f)
		// As a run writes it: paths relative to the results directory.
		c.Train = c.Train.RelativeTo(filepath.Dir(f))
		got, err := c.Encode()
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), f)
	}
	// The shipped configurations encode to the committed results of the same name, as a run
	// writes them (the sizes of an init checkpoint filled in, paths relative to the results).
	shipped, err := filepath.Glob("configs/*.toml")
	require.NoError(t, err)
	compared := 0
	for _, f := range shipped {
		name := strings.TrimSuffix(filepath.Base(f), ".toml")
		dir := filepath.Join("..", "results", name)
		want, err := os.ReadFile(filepath.Join(dir, "config.toml"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		require.NoError(t, err)
		c, err := experiments.LoadConfig(f)
		require.NoError(t, err)
		c.Train, err = c.Train.WithInit()
		require.NoError(t, err, name)
		c.Train = c.Train.RelativeTo(dir)
		got, err := c.Encode()
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), name)
		compared++
	}
	assert.GreaterOrEqual(t, compared, 5, "the shipped configurations with committed results")
}

// Floats are written in the shortest form that reads back to the same bits.
func TestEncodeFloatsExactly(t *testing.T) {
	t.Parallel()
	for _, f := range []float64{1e-8, 5e-4, 0.1, 0.3, 1.0 / 3, math.Nextafter(0.3, 1), 5e-324, math.SmallestNonzeroFloat64 * 3, 1e-300, 0.999999999999} {
		c := experiments.DefaultConfig()
		c.Experiment.Name = "f"
		c.Train.Epsilon, c.Train.WeightDecay, c.Analysis.Budgets = f, f, []float64{f}
		c.Train.Layers = map[model.Kind]train.KindConfig{"q": {Method: train.MethodWTACRS, Ratio: f}}
		c.Compare.Variants = []experiments.Variant{{Name: "v", Method: train.MethodExact, Ratio: f}}
		require.NoError(t, c.Validate(), f)
		checkRoundTrip(t, c)
	}
}

// Any valid configuration, with floats of any bits, seeds up to the largest a TOML file holds
// and strings of any characters, round-trips through Encode.
func TestEncodeRoundTripsAnyValidConfig(t *testing.T) {
	t.Parallel()
	kinds := model.Kinds()
	fraction := rapid.Custom(func(t *rapid.T) float64 {
		switch rapid.IntRange(0, 3).Draw(t, "fraction kind") {
		case 0:
			return 1
		case 1:
			return math.Float64frombits(rapid.Uint64Range(1, math.Float64bits(1)).Draw(t, "bits"))
		case 2:
			return rapid.SampledFrom([]float64{0.1, 0.3, 1e-8, 5e-4, 5e-324, 1.0 / 3}).Draw(t, "usual")
		}
		return rapid.Float64Range(1e-300, 1).Draw(t, "uniform")
	})
	anyText := rapid.OneOf(rapid.StringOf(rapid.RuneFrom(nil, unicode.PrintRanges...)), rapid.String())
	rapid.Check(t, func(t *rapid.T) {
		c := experiments.DefaultConfig()
		c.Experiment.Name = rapid.StringMatching(`[A-Za-z0-9_-][A-Za-z0-9_.-]{0,10}`).Draw(t, "name")
		c.Experiment.Description = anyText.Draw(t, "description")
		c.Analysis.Enabled = rapid.Bool().Draw(t, "enabled")
		c.Analysis.Every = rapid.IntRange(1, math.MaxInt64).Draw(t, "every")
		c.Analysis.Budgets = rapid.SliceOfN(fraction, 1, 4).Draw(t, "budgets")
		c.Analysis.Kinds = rapid.SliceOfN(rapid.SampledFrom(kinds), 1, 6).Draw(t, "kinds")
		c.Train.Blocks = rapid.IntRange(1, 8).Draw(t, "blocks")
		if rapid.Bool().Draw(t, "blocks given") {
			c.Analysis.Blocks = rapid.SliceOfN(rapid.IntRange(0, c.Train.Blocks-1), 0, 3).Draw(t, "analysis blocks")
		}
		for i := range rapid.IntRange(0, 3).Draw(t, "variants") {
			v := experiments.Variant{Name: fmt.Sprintf("v%d", i), Method: rapid.SampledFrom([]string{train.MethodExact, train.MethodWTACRS}).Draw(t, "method"),
				Ratio: fraction.Draw(t, "ratio"), Epochs: rapid.IntRange(0, math.MaxInt32).Draw(t, "epochs")}
			if rapid.Bool().Draw(t, "kinds given") {
				v.Kinds = rapid.SliceOfN(rapid.SampledFrom(kinds), 0, 3).Draw(t, "variant kinds")
			}
			c.Compare.Variants = append(c.Compare.Variants, v)
		}
		c.Train.Seed = rapid.Uint64Range(0, math.MaxInt64).Draw(t, "seed")
		c.Train.LearningRate = fraction.Draw(t, "learning_rate")
		c.Train.Epsilon = fraction.Draw(t, "epsilon")
		c.Train.WeightDecay = rapid.Float64Range(0, 1e300).Draw(t, "weight_decay")
		c.Train.Beta1 = rapid.Float64Range(0, math.Nextafter(1, 0)).Draw(t, "beta1")
		c.Train.TrainPath = anyText.Draw(t, "train_path")
		if c.Train.TrainPath != "" {
			c.Train.DevPath = anyText.Filter(func(s string) bool { return s != "" }).Draw(t, "dev_path")
		}
		for _, k := range rapid.SliceOfNDistinct(rapid.SampledFrom(kinds), 0, 6, rapid.ID[model.Kind]).Draw(t, "layers") {
			c.Train.Layers[k] = train.KindConfig{Method: train.MethodWTACRS, Ratio: fraction.Draw(t, "layer ratio")}
		}
		if err := c.Validate(); err != nil {
			t.Skip(err) // a draw the generator does not rule out (none expected)
		}
		checkRoundTrip(t, c)
	})
}

// The configurations of the Figure 13 analogue (wtacrs memory) are fine-tuning configurations
// of one shape: the default exact one with the default memory settings, and every other with
// the lean options (full recomputation on top of them for checkpoint.toml).
func TestFig13ConfigsLoad(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("configs/fig13/*.toml")
	require.NoError(t, err)
	require.Len(t, files, 7)
	for _, f := range files {
		c, err := train.LoadConfig(f)
		require.NoError(t, err, f)
		assert.Equal(t, train.OptimizerModel, c.OptimizerPrecision, f)
		assert.Equal(t, 128, c.MaxLen, f)
		lean := filepath.Base(f) != "exact.toml"
		assert.Equal(t, lean, c.ReuseLayerNorm, f)
		assert.Equal(t, map[bool]int{true: 1024}[lean], c.ChunkTokens, f)
		assert.Equal(t, filepath.Base(f) == "checkpoint.toml", c.CheckpointBlocks, f)
	}
}
