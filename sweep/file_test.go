package sweep

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/train"
)

// base is a small valid base for the parsing tests.
const base = `
[analysis]
enabled = false

[train]
epochs = 1
`

func TestParseErrorsNameKeyAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"unknown axis", "[axes]\nseeds = [1]\nseed = [2]\n", "s.toml line 3: unknown key axes.seed, want one of seeds, methods, kinds, set"},
		{"unknown top table", "[sweeps]\nname = \"x\"\n", "s.toml line 1: unknown key sweeps, want one of sweep, axes, experiment, analysis, compare, train, accuracy"},
		{"unknown slurm key", "[sweep.slurm]\ncpu = 2\n", "s.toml line 2: unknown key sweep.slurm.cpu"},
		{"bad slurm time", "[sweep.slurm]\ntime = \"2h\"\n", `s.toml line 2: sweep.slurm.time = "2h", want minutes`},
		{"bad slurm option", "[sweep.slurm]\noptions = [\"--a=1\", \"-x\"]\n", `s.toml line 2: sweep.slurm.options[1] = "-x", want an sbatch option`},
		{"unknown set key", "[[axes.set]]\nkey = \"train.learnin_rate\"\nvalues = [1e-3]\n", "s.toml line 2: unknown key train.learnin_rate"},
		{"bad set value", "[[axes.set]]\nkey = \"train.epochs\"\nvalues = [\n  2,\n  0,\n]\n", "s.toml line 5: train.epochs = 0, want in [1, 100000]"},
		{"set value of the wrong type", "[[axes.set]]\nkey = \"train.epochs\"\nvalues = [\"two\"]\n", `s.toml line 3: train.epochs = "two", want an integer`},
		{"unknown key in a table value", "[[axes.set]]\nkey = \"train.lora\"\nvalues = [{rank = 4}, {rnk = 8}]\n", "s.toml line 3: unknown key train.lora.rnk"},
		{"set key inside a value", "[[axes.set]]\nkey = \"train.epochs.x\"\nvalues = [1]\n[train]\nepochs = 1\n", "s.toml line 2: axes.set[0].key = \"train.epochs.x\", want a key inside a table (train.epochs is not a table)"},
		{"set key below a default", "[[axes.set]]\nkey = \"train.epochs.x\"\nvalues = [1]\n", "s.toml line 3: train.epochs = {…}, want an integer"},
		{"set key outside the experiment", "[[axes.set]]\nkey = \"sweep.name\"\nvalues = [\"a\"]\n", "s.toml line 2: axes.set[0].key = \"sweep.name\", want a key of the [experiment], [analysis] or [train] table"},
		{"set without values", "[[axes.set]]\nkey = \"train.epochs\"\n", "s.toml line 1: missing key axes.set[0].values"},
		{"repeated value", "[[axes.set]]\nkey = \"train.epochs\"\nvalues = [1, 2, 1]\n", "axes.set[0].values[2] = 1, want each value once (values[0] is 1 too)"},
		{"labels of another length", "[[axes.set]]\nkey = \"train.epochs\"\nvalues = [1, 2]\nlabels = [\"one\"]\n", "s.toml line 4: axes.set[0].labels = [one], want one label per value (2)"},
		{"overlapping keys", "[[axes.set]]\nkey = \"train.lora\"\nvalues = [{}]\n[[axes.set]]\nkey = \"train.lora.rank\"\nvalues = [4]\n", "s.toml line 5: axes.set[1].key = \"train.lora.rank\", want a key apart from train.lora"},
		{"layers with methods", "[axes]\nmethods = [\"exact\"]\n[[axes.set]]\nkey = \"train.layers.q\"\nvalues = [{method = \"exact\"}]\n", "want a key axes.methods does not set"},
		{"seed twice", "[axes]\nseeds = [1]\n[[axes.set]]\nkey = \"train.seed\"\nvalues = [2]\n", "want a key other than train.seed"},
		{"bad method", "[axes]\nmethods = [\"exact\", \"wtacrs:1.5\"]\n", `s.toml line 2: axes.methods[1] = "wtacrs:1.5", want "exact" or "wtacrs:RATIO"`},
		{"repeated seed", "[axes]\nseeds = [1, 2, 1]\n", "s.toml line 2: axes.seeds[2] = 1, want each seed once"},
		{"kinds without methods", "[axes]\nkinds = [\"q\"]\n", "s.toml line 2: missing key axes.methods"},
		{"bad kind", "[axes]\nmethods = [\"wtacrs:0.3\"]\nkinds = [\"qq\"]\n", `s.toml line 3: axes.kinds[0] = "qq", want q, k, v, o, ffn_in or ffn_out`},
		{"kind not adapted", "[axes]\nmethods = [\"wtacrs:0.3\"]\nkinds = [\"o\"]\n[train.lora]\nrank = 4\n", `s.toml line 3: axes.kinds[0] = "o", want a kind of train.lora.kinds`},
		{"base error", "[train]\nheads = 3\n", "s.toml line 2: train.heads = 3, want a divisor of dim = 128"},
		{"base unknown key", "[train]\nepoch = 3\n", "s.toml line 2: unknown key train.epoch"},
		{"accuracy table", "[accuracy]\nseeds = [1, 2]\nratios = [0.3]\n", "s.toml line 1: a sweep job is one training; no table accuracy, want axes.seeds"},
		{"experiment seeds", "[experiment]\nseeds = [1, 2]\n", "s.toml line 2: a sweep job is one training; no key experiment.seeds, want axes.seeds"},
		{"compare variants", "[[compare.variant]]\nname = \"a\"\n", "s.toml line 1: a sweep job is one training; no table compare"},
		{"bad name", "[sweep]\nname = \"a/b\"\n", `s.toml line 2: sweep.name = "a/b"`},
		{"same configuration twice", "[axes]\nmethods = [\"exact\"]\n[[axes.set]]\nkey = \"train.layers\"\nvalues = [{}]\n", "want a key axes.methods does not set"},
		{"two values, one configuration", "[[axes.set]]\nkey = \"train.epochs\"\nvalues = [3, 2]\n[[axes.set]]\nkey = \"train.precision\"\nvalues = [\"float32\", \"float64\"]\n[[axes.set]]\nkey = \"experiment.description\"\nvalues = [\"a\", \"b\"]\n", ""},
		{"malformed TOML", "[axes]\nseeds = [1,\n", "s.toml line 2: unexpected EOF"},
		{"absent alone", "[[axes.set]]\nkey = \"train.lora\"\nabsent = true\n", "s.toml line 3: axes.set[0].absent = true, want values besides it (an axis whose only value is absent"},
		{"absent with no values", "[[axes.set]]\nkey = \"train.lora\"\nabsent = true\nvalues = []\n", "s.toml line 3: axes.set[0].absent = true, want values besides it"},
		{"absent not a bool", "[[axes.set]]\nkey = \"train.lora\"\nabsent = \"yes\"\nvalues = [{}]\n", `s.toml line 3: axes.set[0].absent = "yes", want true or false`},
		{"absent false alone", "[[axes.set]]\nkey = \"train.lora\"\nabsent = false\n", "s.toml line 1: missing key axes.set[0].values"},
		{"absent with a label per value", "[[axes.set]]\nkey = \"train.lora\"\nabsent = true\nvalues = [{}]\nlabels = [\"LoRA\"]\n", "s.toml line 5: axes.set[0].labels = [LoRA], want one label per value, the absent one first (2)"},
		{"absent with a label twice", "[[axes.set]]\nkey = \"train.lora\"\nabsent = true\nvalues = [{}]\nlabels = [\"a\", \"a\"]\n", `s.toml line 5: axes.set[0].labels[1] = "a", want a unique non-empty label`},
		{"absent, a required key", "[[axes.set]]\nkey = \"train.dev_path\"\nabsent = true\nvalues = [\"dev.tsv\"]\n[train]\ntrain_path = \"train.tsv\"\ndev_path = \"dev.tsv\"\n",
			"s.toml line 3: missing key train.dev_path, want it set together with train_path"},
		{"absent, the default", "[[axes.set]]\nkey = \"train.epochs\"\nabsent = true\nvalues = [3]\n", `s.toml line 1: the jobs "no epochs" and "epochs=3" have the same configuration`},
		{"absent inside a value", "[[axes.set]]\nkey = \"train.epochs.x\"\nabsent = true\nvalues = [1]\n[train]\nepochs = 1\n", "s.toml line 2: axes.set[0].key = \"train.epochs.x\", want a key inside a table (train.epochs is not a table)"},
		{"absent, an unknown key", "[[axes.set]]\nkey = \"train.lor\"\nabsent = true\nvalues = [{}]\n", "s.toml line 2: unknown key train.lor"},
		{"absent, overlapping keys", "[[axes.set]]\nkey = \"train.lora\"\nabsent = true\nvalues = [{}]\n[[axes.set]]\nkey = \"train.lora.rank\"\nabsent = true\nvalues = [4]\n",
			"s.toml line 6: axes.set[1].key = \"train.lora.rank\", want a key apart from train.lora"},
		{"absent layers with methods", "[axes]\nmethods = [\"exact\"]\n[[axes.set]]\nkey = \"train.layers.q\"\nabsent = true\nvalues = [{method = \"exact\"}]\n", "want a key axes.methods does not set"},
		{"absent seed with seeds", "[axes]\nseeds = [1]\n[[axes.set]]\nkey = \"train.seed\"\nabsent = true\nvalues = [2]\n", "want a key other than train.seed"},
		{"absent LoRA, a kind not adapted", "[axes]\nmethods = [\"wtacrs:0.3\"]\nkinds = [\"o\"]\n[[axes.set]]\nkey = \"train.lora\"\nabsent = true\nvalues = [{rank = 4}]\n",
			`s.toml line 3: axes.kinds[0] = "o", want a kind of train.lora.kinds`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.text), "s.toml", "s", t.TempDir())
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrConfig)
			assert.ErrorIs(t, err, experiments.ErrConfig)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseRefusesJobsOfTheSameConfiguration(t *testing.T) {
	// 0.3 and 0.30 are one ratio: the two methods train the same configuration.
	_, err := Parse([]byte("[axes]\nmethods = [\"wtacrs:0.3\", \"wtacrs:0.30\"]\n"+base), "s.toml", "s", t.TempDir())
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), `s.toml line 1: the jobs "WTA-CRS@0.3" and "WTA-CRS@0.3" have the same configuration`)
}

func TestJobHashIsTheConfigurationsAndNotItsPlace(t *testing.T) {
	grid := func(seeds, methods, lrs string) map[string]string {
		text := "[axes]\nseeds = " + seeds + "\nmethods = " + methods + "\n[[axes.set]]\nkey = \"train.learning_rate\"\nvalues = " + lrs + "\n" + base
		s, err := Parse([]byte(text), "s.toml", "s", ".")
		require.NoError(t, err)
		jobs, err := s.Jobs("sweeps/s")
		require.NoError(t, err)
		out := map[string]string{}
		for i, j := range jobs {
			sum := sha256.Sum256(j.Text)
			assert.Equal(t, hex.EncodeToString(sum[:])[:HashLen], j.Hash, "the hash is that of config.toml")
			assert.Equal(t, i, j.Index)
			assert.True(t, i == 0 || jobs[i-1].Hash < j.Hash, "sorted by hash")
			again, err := experiments.ParseConfig(j.Text, "config.toml", "x")
			require.NoError(t, err, "config.toml is a valid experiment configuration")
			assert.Equal(t, j.Config, again)
			out[j.Variant+" seed "+utoa(j.Seed)] = j.Hash
		}
		return out
	}
	a := grid("[1, 2]", `["exact", "wtacrs:0.3"]`, "[5e-4, 1e-3]")
	require.Len(t, a, 8)
	b := grid("[2, 1]", `["wtacrs:0.3", "exact"]`, "[1e-3, 5e-4]")
	assert.Equal(t, a, b, "the same jobs whatever the order of the axes' values")
	c := grid("[1, 2, 3]", `["exact", "wtacrs:0.3"]`, "[5e-4, 1e-3]")
	for k, h := range a {
		assert.Equal(t, h, c[k], "adding a seed keeps the other jobs")
	}
	hashes := map[string]bool{}
	for _, h := range c {
		hashes[h] = true
	}
	assert.Len(t, hashes, len(c), "distinct configurations, distinct hashes")
}

func TestSetAxisValues(t *testing.T) {
	text := `
[[axes.set]]
key = "train.lora"
values = [{rank = 4}, {rank = 8, alpha = 8.0, kinds = ["q", "v"]}]

[[axes.set]]
key = "analysis.budgets"
values = [[0.1], [0.1, 0.5]]

[[axes.set]]
key = "train.init"
values = ["", "../../results/pretrain/model"]
labels = ["scratch", "pretrained"]

[analysis]
kinds = ["q"]

[train]
epochs = 1
`
	dir, err := filepath.Abs("../experiments/sweeps")
	require.NoError(t, err)
	s, err := Parse([]byte(text), "s.toml", "s", dir)
	require.NoError(t, err)
	sweepDir := filepath.Join(t.TempDir(), "s")
	jobs, err := s.Jobs(sweepDir)
	require.NoError(t, err)
	require.Len(t, jobs, 8)
	assert.Equal(t, []string{"train.lora", "analysis.budgets", "train.init", "seed"}, s.Axes())
	assert.Equal(t, "lora={rank = 4}, budgets=[0.1], scratch", s.Variants()[0])
	for _, j := range jobs {
		c := j.Config
		switch j.Values[0] {
		case "lora={rank = 4}":
			assert.Equal(t, train.LoRAConfig{Rank: 4, Alpha: train.DefaultLoRAAlpha, Kinds: train.DefaultLoRAKinds}, *c.Train.LoRA)
		default:
			assert.Equal(t, 8, c.Train.LoRA.Rank)
			assert.Equal(t, 8.0, c.Train.LoRA.Alpha)
			assert.Len(t, c.Train.LoRA.Kinds, 2)
		}
		if j.Values[2] == "pretrained" {
			want, err := filepath.Abs("../results/pretrain/model")
			require.NoError(t, err)
			assert.Equal(t, want, c.Train.Init, "a relative path is relative to the sweep file")
			assert.Equal(t, 128, c.Train.Dim, "the checkpoint's sizes")
			written, err := experiments.ParseConfig(j.Text, "config.toml", "x")
			require.NoError(t, err)
			assert.False(t, filepath.IsAbs(written.Train.Init))
			assert.Equal(t, want, filepath.Join(JobDir(sweepDir, j.Hash), written.Train.Init), "config.toml names it relative to the job folder")
		} else {
			assert.Empty(t, c.Train.Init)
		}
		assert.True(t, slices.Contains([]int{1, 2}, len(c.Analysis.Budgets)))
	}
	assert.Equal(t, `lora={alpha = 8, kinds = ["q", "v"], rank = 8}, budgets=[0.1, 0.5], pretrained`, s.Variants()[len(s.Variants())-1])
}

func TestSetAxisAbsentValue(t *testing.T) {
	lora := func(rank int, alpha float64) *train.LoRAConfig {
		return &train.LoRAConfig{Rank: rank, Alpha: alpha, Kinds: train.DefaultLoRAKinds}
	}
	for _, tc := range []struct {
		name       string
		axes, text string // keys of [axes] besides seeds = [1, 2]; the [[axes.set]] tables and the base's own tables
		variants   []string
		// lora is the LoRA of each variant's jobs; nil: full fine-tuning.
		lora map[string]*train.LoRAConfig
	}{
		{"a table switched off", "", "[[axes.set]]\nkey = \"train.lora\"\nabsent = true\nvalues = [{rank = 4}]\n",
			[]string{"no lora", "lora={rank = 4}"},
			map[string]*train.LoRAConfig{"no lora": nil, "lora={rank = 4}": lora(4, train.DefaultLoRAAlpha)}},
		{"a table of the base removed", "", "[[axes.set]]\nkey = \"train.lora\"\nabsent = true\nvalues = [{rank = 4}]\n[train.lora]\nrank = 2\n",
			[]string{"no lora", "lora={rank = 4}"},
			map[string]*train.LoRAConfig{"no lora": nil, "lora={rank = 4}": lora(4, train.DefaultLoRAAlpha)}},
		{"labels, the absent one first", "", "[[axes.set]]\nkey = \"train.lora\"\nabsent = true\nvalues = [{rank = 4}, {rank = 8}]\nlabels = [\"full\", \"LoRA r=4\", \"LoRA r=8\"]\n",
			[]string{"full", "LoRA r=4", "LoRA r=8"},
			map[string]*train.LoRAConfig{"full": nil, "LoRA r=4": lora(4, train.DefaultLoRAAlpha), "LoRA r=8": lora(8, train.DefaultLoRAAlpha)}},
		{"nothing created on the way", "", "[[axes.set]]\nkey = \"train.lora.rank\"\nabsent = true\nvalues = [4]\n",
			[]string{"no rank", "rank=4"},
			map[string]*train.LoRAConfig{"no rank": nil, "rank=4": lora(4, train.DefaultLoRAAlpha)}},
		{"an emptied table stays", "", "[[axes.set]]\nkey = \"train.lora.rank\"\nabsent = true\nvalues = [4]\n[train.lora]\nrank = 2\nalpha = 8.0\n",
			[]string{"no rank", "rank=4"},
			map[string]*train.LoRAConfig{"no rank": lora(train.DefaultLoRARank, 8), "rank=4": lora(4, 8)}},
		{"with the methods axis", "methods = [\"exact\", \"wtacrs:0.3\"]\n", "[[axes.set]]\nkey = \"train.lora\"\nabsent = true\nvalues = [{rank = 4}]\n",
			[]string{"exact, no lora", "exact, lora={rank = 4}", "WTA-CRS@0.3, no lora", "WTA-CRS@0.3, lora={rank = 4}"},
			map[string]*train.LoRAConfig{"exact, no lora": nil, "exact, lora={rank = 4}": lora(4, train.DefaultLoRAAlpha),
				"WTA-CRS@0.3, no lora": nil, "WTA-CRS@0.3, lora={rank = 4}": lora(4, train.DefaultLoRAAlpha)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := "[axes]\nseeds = [1, 2]\n" + tc.axes + tc.text + base
			s, err := Parse([]byte(text), "s.toml", "s", t.TempDir())
			require.NoError(t, err)
			assert.Equal(t, tc.variants, s.Variants())
			jobs, err := s.Jobs(filepath.Join(t.TempDir(), "s"))
			require.NoError(t, err)
			require.Len(t, jobs, 2*len(tc.variants))
			for _, j := range jobs {
				want, ok := tc.lora[j.Variant]
				require.True(t, ok, j.Variant)
				assert.Equal(t, want, j.Config.Train.LoRA, j.Variant)
				assert.Equal(t, want != nil, strings.Contains(string(j.Text), "[train.lora]"), "config.toml holds [train.lora] only with LoRA")
				again, err := experiments.ParseConfig(j.Text, "config.toml", "x")
				require.NoError(t, err)
				assert.Equal(t, j.Config, again, "config.toml is the job's configuration")
			}
		})
	}
}

func TestJobHashOfAnAbsentKeyIsThatOfTheConfigurationWithoutIt(t *testing.T) {
	hashes := func(text string) map[string]string {
		s, err := Parse([]byte("[axes]\nseeds = [1, 2]\n"+text), "s.toml", "s", ".")
		require.NoError(t, err)
		jobs, err := s.Jobs("sweeps/s")
		require.NoError(t, err)
		out := map[string]string{}
		for _, j := range jobs {
			out[j.Variant+" seed "+utoa(j.Seed)] = j.Hash
		}
		return out
	}
	without := hashes(base)
	require.Len(t, without, 2)
	axis := "[[axes.set]]\nkey = \"train.lora\"\nabsent = true\nvalues = [{rank = 4}]\n"
	for name, text := range map[string]string{
		"the base without the key": axis + base,
		"the base with the key":    axis + base + "\n[train.lora]\nrank = 2\n",
	} {
		with := hashes(text)
		require.Len(t, with, 4, name)
		for _, seed := range []string{"1", "2"} {
			assert.Equal(t, without["base seed "+seed], with["no lora seed "+seed], "%s: the job without LoRA is the base's without [train.lora]", name)
			assert.NotEqual(t, with["no lora seed "+seed], with["lora={rank = 4} seed "+seed], name)
		}
	}
}

func TestArraySpec(t *testing.T) {
	for _, tc := range []struct {
		in       []int
		throttle int
		want     string
	}{
		{[]int{0}, 0, "0"},
		{[]int{0, 1, 2, 3}, 0, "0-3"},
		{[]int{0, 1, 2, 3}, 2, "0-3%2"},
		{[]int{0, 2, 3, 4, 7, 9, 10}, 0, "0,2-4,7,9-10"},
	} {
		assert.Equal(t, tc.want, ArraySpec(tc.in, tc.throttle))
	}
}
