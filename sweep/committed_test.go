package sweep

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/train"
)

// trainings returns the training configurations an experiment configuration trains, by seed
// and method, as experiments.Run trains them: an accuracy run's rows (train.TableOf: the exact
// row when not skipped, then one per ratio, each [train.Config.WithMethod]) over its seeds, or
// the observed run once per seed. The checkpoint's sizes are filled in (Run does it first).
func trainings(t *testing.T, cfg experiments.Config) []train.Config {
	t.Helper()
	base, err := cfg.Train.WithInit()
	require.NoError(t, err)
	var out []train.Config
	if a := cfg.Accuracy; a.Enabled() {
		var rows []train.Config
		if !a.SkipExact {
			rows = append(rows, base.WithMethod(train.MethodExact, 0, nil))
		}
		kinds := a.Kinds
		if len(kinds) == 0 {
			kinds = nil
		}
		for _, r := range a.Ratios {
			rows = append(rows, base.WithMethod(train.MethodWTACRS, r, kinds))
		}
		for _, row := range rows {
			for _, s := range a.Seeds {
				row.Seed = s
				out = append(out, row)
			}
		}
		return out
	}
	for _, s := range cfg.RunSeeds() {
		c := base
		c.Seed = s
		out = append(out, c)
	}
	return out
}

// TestCommittedSweepsTrainTheirConfigsTrainings checks, without training, that every committed
// sweep experiments/sweeps/X.toml with a configuration experiments/configs/X.toml expands into
// exactly the trainings that configuration trains, with its analyses: the multi-seed accuracy
// and figure results of those configurations come from the sweep too.
func TestCommittedSweepsTrainTheirConfigsTrainings(t *testing.T) {
	paths, err := filepath.Glob("../experiments/sweeps/*.toml")
	require.NoError(t, err)
	checked := 0
	for _, path := range paths {
		s, err := Load(path)
		require.NoError(t, err, path)
		jobs, err := s.Jobs(filepath.Join(t.TempDir(), s.Name))
		require.NoError(t, err, path)
		cfgPath := filepath.Join("../experiments/configs", filepath.Base(path))
		if _, err := os.Stat(cfgPath); err != nil {
			continue
		}
		checked++
		t.Run(s.Name, func(t *testing.T) {
			cfg, err := experiments.LoadConfig(cfgPath)
			require.NoError(t, err)
			want := trainings(t, cfg)
			var got []train.Config
			for _, j := range jobs {
				got = append(got, j.Config.Train)
				assert.Equal(t, cfg.Analysis, j.Config.Analysis, "the job analyses as the configuration does")
				assert.False(t, j.Config.Accuracy.Enabled())
				assert.Empty(t, j.Config.Compare.Variants)
				assert.Equal(t, cfg.Experiment.Name, j.Config.Experiment.Name)
			}
			assertSameTrainings(t, want, got)
		})
	}
	assert.GreaterOrEqual(t, checked, 10, "the committed sweeps of the accuracy and figure configurations")
}

// assertSameTrainings checks that got and want hold the same training configurations, in any
// order.
func assertSameTrainings(t *testing.T, want, got []train.Config) {
	t.Helper()
	key := func(c train.Config) string {
		js, err := json.Marshal(c) // pointers (the LoRA table) by value, not by address
		require.NoError(t, err)
		return string(js)
	}
	want, got = slices.Clone(want), slices.Clone(got)
	slices.SortFunc(want, func(a, b train.Config) int { return strings.Compare(key(a), key(b)) })
	slices.SortFunc(got, func(a, b train.Config) int { return strings.Compare(key(a), key(b)) })
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, want[i], got[i])
	}
}

// The sweep full-vs-lora switches [train.lora] off with absent = true: its jobs are exactly the
// trainings of accuracy-pretrained (the "full" variants) and of accuracy-lora ("LoRA r=8").
func TestFullVsLoRASweepTrainsTheAccuracyRuns(t *testing.T) {
	s, err := Load("../experiments/sweeps/full-vs-lora.toml")
	require.NoError(t, err)
	jobs, err := s.Jobs(filepath.Join(t.TempDir(), s.Name))
	require.NoError(t, err)
	for _, part := range []struct{ label, config string }{{"full", "accuracy-pretrained"}, {"LoRA r=8", "accuracy-lora"}} {
		cfg, err := experiments.LoadConfig(filepath.Join("../experiments/configs", part.config+".toml"))
		require.NoError(t, err)
		var got []train.Config
		for _, j := range jobs {
			if j.Values[1] == part.label {
				got = append(got, j.Config.Train)
				assert.Equal(t, part.label == "full", j.Config.Train.LoRA == nil, "job %s", j.Hash)
			}
		}
		assertSameTrainings(t, trainings(t, cfg), got)
	}
	assert.Equal(t, []string{"method", "train.lora", "seed"}, s.Axes())
}
