package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/model"
)

func TestDefaultConfigFile(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig("testdata/default.toml")
	require.NoError(t, err)
	assert.Equal(t, DefaultConfig(), c)
	w, err := LoadConfig("testdata/wtacrs03.toml")
	require.NoError(t, err)
	assert.Equal(t, DefaultConfig().WithAll(MethodWTACRS, 0.3), w)
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text, want string
	}{
		{"malformed", "dim = 128\nheads = = 4\n", "line 2"},
		{"unknown key", "dimm = 3\n", "dimm"},
		{"heads do not divide", "heads = 3\n", "heads"},
		{"bad ratio", "[layers]\nq = { method = \"wtacrs\", ratio = 1.5 }\n", "layers.q.ratio"},
		{"bad method", "[layers]\nv = { method = \"topk\" }\n", "layers.v.method"},
		{"bad kind", "[layers]\nz = { method = \"exact\" }\n", "layers.z"},
		{"negative lr", "learning_rate = -1.0\n", "learning_rate"},
		{"NaN lr", "learning_rate = nan\n", "learning_rate"},
		{"precision", "precision = \"float16\"\n", "precision"},
		{"wrong type", "epochs = \"three\"\n", "epochs"},
	}
	for _, tc := range tests {
		_, err := ParseConfig(tc.text, "test.toml")
		require.Error(t, err, tc.name)
		assert.ErrorIs(t, err, ErrConfig, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
	}
	_, err := LoadConfig(filepath.Join(t.TempDir(), "missing.toml"))
	assert.ErrorIs(t, err, ErrConfig)
}

func TestLearningRateSchedule(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	c.LearningRate, c.ConstantSteps = 1, 500
	assert.Equal(t, 1.0, LearningRate(c, 0, 1000))
	assert.Equal(t, 1.0, LearningRate(c, 499, 1000))
	assert.InDelta(t, 0.5, LearningRate(c, 750, 1000), 1e-12)
	assert.InDelta(t, 0.002, LearningRate(c, 999, 1000), 1e-12)
	assert.Equal(t, 1.0, LearningRate(c, 300, 400)) // fewer steps than the constant phase
	c.WarmupSteps = 10
	assert.InDelta(t, 0.1, LearningRate(c, 0, 1000), 1e-12)
}

func tinyConfig() Config {
	c := DefaultConfig()
	c.Dim, c.Heads, c.Blocks, c.FFNDim, c.MaxLen = 32, 2, 1, 64, 32
	c.BatchSize, c.Epochs, c.LearningRate, c.ConstantSteps = 16, 3, 2e-3, 40
	return c
}

func tinyData(t *testing.T) *Options {
	t.Helper()
	s, err := SyntheticSplits(320, 200, 5, 32)
	require.NoError(t, err)
	return &Options{Data: s}
}

// TestRunLearns trains the tiny model exactly and with WTA-CRS@0.3 on every kind. The synthetic
// task is deterministic given the seed, so these are fixed-outcome checks, not statistical ones.
func TestRunLearns(t *testing.T) {
	t.Parallel()
	opt := tinyData(t)
	for _, c := range []Config{tinyConfig(), tinyConfig().WithAll(MethodWTACRS, 0.3)} {
		res, err := Run(context.Background(), c, *opt)
		require.NoError(t, err)
		t.Logf("%v: dev accuracy per epoch %v, majority %.3f, %.0f tokens/s", c.Kind(model.Query).Method, res.EpochDevAccuracy, res.MajorityAccuracy, res.TokensPerSecond)
		assert.Greater(t, res.DevAccuracy, res.MajorityAccuracy+0.2)
		assert.Len(t, res.EpochDevAccuracy, 3)
		assert.Equal(t, TotalSteps(c, 320), res.Steps)
		require.Len(t, res.Memory, 6)
		for _, m := range res.Memory {
			if m.Method == MethodExact {
				assert.Equal(t, m.ExactBytes, m.SavedBytes)
				continue
			}
			// Kept activations at most k/n + 5% of exact (k = ⌈0.3·n⌉, indices included).
			assert.LessOrEqual(t, m.SavedBytes, (0.3+0.05)*m.ExactBytes, m.Layer.String())
			assert.Greater(t, m.SavedBytes, 0.0)
		}
	}
}

func TestRunDeterministicAndCancellable(t *testing.T) {
	t.Parallel()
	opt := tinyData(t)
	c := tinyConfig().WithAll(MethodWTACRS, 0.1)
	c.Epochs = 1
	var losses [2][]float64
	for r := range losses {
		o := *opt
		o.Progress = func(p Progress) { losses[r] = append(losses[r], p.Loss) }
		_, err := Run(context.Background(), c, o)
		require.NoError(t, err)
	}
	assert.Equal(t, losses[0], losses[1])
	c.Seed = 2
	o := *opt
	var other []float64
	o.Progress = func(p Progress) { other = append(other, p.Loss) }
	_, err := Run(context.Background(), c, o)
	require.NoError(t, err)
	assert.NotEqual(t, losses[0], other)

	ctx, cancel := context.WithCancel(context.Background())
	steps := 0
	o.Progress = func(p Progress) {
		steps = p.Step
		if p.Step == 3 {
			cancel()
		}
	}
	_, err = Run(ctx, c, o)
	assert.True(t, errors.Is(err, context.Canceled))
	assert.Equal(t, 3, steps)
}

type recorder struct {
	want map[int]bool
	obs  []Observation
}

func (r *recorder) Wants(step int, l model.LayerID) bool {
	return r.want[step] && (l == model.LayerID{Block: 0, Kind: model.Query} || l == model.LayerID{Block: 0, Kind: model.FFNOut})
}
func (r *recorder) Observe(o Observation) { r.obs = append(r.obs, o) }

func TestObserver(t *testing.T) {
	t.Parallel()
	opt := tinyData(t)
	c := tinyConfig()
	c.Epochs = 2
	c.Layers = map[model.Kind]KindConfig{"q": {Method: MethodWTACRS, Ratio: 0.2}}
	perEpoch := TotalSteps(c, 320) / 2
	rec := &recorder{want: map[int]bool{1: true, perEpoch + 1: true}}
	opt.Observer = rec
	_, err := Run(context.Background(), c, *opt)
	require.NoError(t, err)
	require.Len(t, rec.obs, 4)
	for _, o := range rec.obs {
		n := len(o.Valid)
		require.Len(t, o.ActNorms, n)
		require.Len(t, o.GradNorms, n)
		valid := 0
		for i, v := range o.Valid {
			if !v {
				assert.Zero(t, o.GradNorms[i], "padding gradient")
				if o.CachedGradNorms != nil {
					assert.Zero(t, o.CachedGradNorms[i], "padding weight")
				}
				continue
			}
			valid++
			if o.CachedGradNorms != nil {
				assert.Greater(t, o.CachedGradNorms[i], 0.0, "valid token weight")
			}
		}
		assert.Less(t, valid, n, "the batch has padding")
		switch o.Layer.Kind {
		case model.Query:
			require.Len(t, o.CachedGradNorms, n)
			k, err := estimator.Budget(0.2, n)
			require.NoError(t, err)
			assert.Equal(t, k, o.K)
			assert.Equal(t, o.Epoch == 0, o.CacheCold)
		case model.FFNOut:
			assert.Nil(t, o.CachedGradNorms)
			assert.Zero(t, o.K)
		}
	}
	assert.Equal(t, 1, rec.obs[0].Step)
	assert.Equal(t, perEpoch+1, rec.obs[3].Step)
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	c := tinyConfig()
	c.Epochs = 0
	_, err := Run(context.Background(), c, Options{})
	assert.ErrorIs(t, err, ErrConfig)
	c = tinyConfig()
	c.TrainPath, c.DevPath = filepath.Join(t.TempDir(), "none.tsv"), "x.tsv"
	_, err = Run(context.Background(), c, Options{})
	assert.ErrorIs(t, err, ErrData)
	bad := filepath.Join(t.TempDir(), "bad.tsv")
	require.NoError(t, os.WriteFile(bad, []byte("index\tsentence1\n0\tonly one column\n"), 0o644))
	c.TrainPath, c.DevPath = bad, bad
	_, err = Run(context.Background(), c, Options{})
	assert.ErrorIs(t, err, ErrData)
}

func TestWriteJSONAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "r.json")
	require.NoError(t, WriteJSON(p, map[string]int{"a": 1}))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.JSONEq(t, `{"a":1}`, string(b))
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 1)
	assert.Error(t, WriteJSON(filepath.Join(dir, "no", "r.json"), 1))
}

func TestTableIndependentOfJobs(t *testing.T) {
	t.Parallel()
	opt := tinyData(t)
	c := tinyConfig()
	c.Epochs = 1
	var rows [2][]TableRow
	for i, jobs := range []int{1, 3} {
		r, err := Table(context.Background(), c, []float64{0.3}, []uint64{1, 2}, jobs, *opt, nil)
		require.NoError(t, err)
		require.Len(t, r, 2)
		for j := range r {
			require.Len(t, r[j].Results, 2)
			for k, res := range r[j].Results {
				assert.Equal(t, r[j].Accuracies[k], res.DevAccuracy)
			}
			r[j].TokensPerSecond, r[j].StepSeconds, r[j].Results = 0, 0, nil
		}
		rows[i] = r
	}
	assert.Equal(t, rows[0], rows[1])
	assert.Equal(t, "WTA-CRS@0.3", rows[0][1].Name)
	assert.Len(t, rows[0][1].Accuracies, 2)
	_, err := Table(context.Background(), c, []float64{0}, []uint64{1}, 1, *opt, nil)
	assert.ErrorIs(t, err, ErrConfig)
}

func TestRunFloat64AndFullPadding(t *testing.T) {
	t.Parallel()
	opt := tinyData(t)
	c := tinyConfig().WithAll(MethodWTACRS, 0.5)
	c.Epochs, c.Precision, c.TrimPadding, c.Recompute = 1, "float64", false, false
	res, err := Run(context.Background(), c, *opt)
	require.NoError(t, err)
	assert.Equal(t, int64(320*32), res.Tokens) // every batch padded to max_len = 32
	for _, m := range res.Memory {
		assert.LessOrEqual(t, m.KeptFraction, 0.5)
		assert.Greater(t, m.KeptFraction, 0.0)
	}
}
