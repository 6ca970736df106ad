package train

import (
	"context"
	"math"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/internal/memlimit"
)

func TestEstimateMemorySaturates(t *testing.T) {
	t.Parallel()
	shape := DataShape{TrainExamples: 5000, DevExamples: 500, Vocab: 8000}
	for _, c := range []struct {
		name string
		mod  func(*Config)
	}{
		{"dim", func(c *Config) { c.Dim, c.Heads = 1<<40, 1 }},
		{"ffn_dim", func(c *Config) { c.FFNDim = 1 << 50 }},
		{"max_len", func(c *Config) { c.MaxLen = 1 << 40 }},
		{"blocks", func(c *Config) { c.Blocks = 1 << 60 }},
	} {
		cfg := DefaultConfig().WithAll(MethodWTACRS, 0.3)
		c.mod(&cfg)
		m := EstimateMemory(cfg, shape)
		assert.Greater(t, m.Total(), uint64(1)<<50, c.name) // far above any machine, never wrapped
	}
	// A batch holds at most the training set (then one batch is the whole set).
	cfg := DefaultConfig()
	cfg.BatchSize = 1 << 62
	whole := DefaultConfig()
	whole.BatchSize = shape.TrainExamples
	assert.Equal(t, EstimateMemory(whole, shape), EstimateMemory(cfg, shape))
}

func TestEstimateMemoryGrowsWithEverySize(t *testing.T) {
	t.Parallel()
	shape := DataShape{TrainExamples: 500, DevExamples: 5, Vocab: 1000} // the evaluation batch (5) below the training batch
	base := EstimateMemory(DefaultConfig(), shape).Total()
	for name, mod := range map[string]func(*Config){
		"dim":     func(c *Config) { c.Dim *= 2 },
		"ffn_dim": func(c *Config) { c.FFNDim *= 2 },
		"max_len": func(c *Config) { c.MaxLen *= 2 },
		"blocks":  func(c *Config) { c.Blocks *= 2 },
		"batch":   func(c *Config) { c.BatchSize *= 2 },
		"float64": func(c *Config) { c.Precision = "float64" },
		"wtacrs":  func(c *Config) { *c = c.WithAll(MethodWTACRS, 0.3) },
		"lora":    func(c *Config) { c.LoRA = &LoRAConfig{Rank: 8, Alpha: 16, Kinds: DefaultLoRAKinds} },
		"attention": func(c *Config) {
			c.Attention = &AttentionConfig{Method: MethodWTACRS, Ratio: 0.3, Products: []string{ProductsScores, ProductsContext}, CRule: CRuleOwn}
		},
	} {
		cfg := DefaultConfig()
		mod(&cfg)
		assert.Greater(t, EstimateMemory(cfg, shape).Total(), base, name)
	}
	small := DefaultConfig()
	small.OptimizerPrecision = OptimizerModel
	assert.Less(t, EstimateMemory(small, shape).Optimizer, EstimateMemory(DefaultConfig(), shape).Optimizer, "float32 moments")
	bigger := shape
	bigger.TrainExamples *= 10
	bigger.Vocab *= 10
	assert.Greater(t, EstimateMemory(DefaultConfig(), bigger).Total(), base)
}

func TestBoundDataShapeBoundsTheBundledSet(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	bound, err := BoundDataShape(cfg)
	require.NoError(t, err)
	s, err := LoadData(cfg)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, bound.TrainExamples, s.TrainEnc.N)
	assert.GreaterOrEqual(t, bound.DevExamples, s.DevEnc.N)
	assert.GreaterOrEqual(t, bound.Vocab, s.Tokenizer.VocabSize())
	assert.LessOrEqual(t, bound.TrainExamples, s.TrainEnc.N+2, "a line count, not a guess")

	cfg.MaxTrain, cfg.MaxDev = 10, 5
	bound, err = BoundDataShape(cfg)
	require.NoError(t, err)
	assert.Equal(t, 10, bound.TrainExamples)
	assert.Equal(t, 5, bound.DevExamples)

	cfg.TrainPath, cfg.DevPath = "testdata/none.tsv", "testdata/none.tsv"
	_, err = BoundDataShape(cfg)
	assert.ErrorIs(t, err, ErrData)
}

// Regression: absurd sizes ran until a fatal out-of-memory error; now Run refuses them before
// reading the data.
func TestRunRefusesWhatDoesNotFit(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Dim, cfg.Heads = 1<<30, 1
	_, err := Run(context.Background(), cfg, Options{})
	require.ErrorIs(t, err, memlimit.ErrTooLarge)
	assert.ErrorContains(t, err, "parameters")

	cfg = DefaultConfig()
	_, err = Run(context.Background(), cfg, Options{MemLimit: 1 << 20})
	require.ErrorIs(t, err, memlimit.ErrTooLarge)
	assert.ErrorContains(t, err, "above the limit of 1.0 MiB")
}

// The estimate bounds the live heap of a real run, measured by garbage collections forced
// back to back while it trains. Objects allocated while a collection marks count as live until
// the next one, so a loaded machine can only inflate the measurement: the smallest peak over up
// to three runs is compared.
func TestEstimateMemoryBoundsTheLiveHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small model")
	}
	for _, variant := range []string{"stored", "recompute", "lora+attention"} {
		cfg := DefaultConfig()
		recompute := variant != "stored"
		if variant == "lora+attention" {
			cfg.LoRA = &LoRAConfig{Rank: 8, Alpha: 16, Kinds: DefaultLoRAKinds}
			cfg.Attention = &AttentionConfig{Method: MethodWTACRS, Ratio: 0.3, Products: []string{ProductsScores, ProductsContext}, CRule: CRuleShared}
		}
		cfg = cfg.WithAll(MethodWTACRS, 0.3)
		cfg.MaxTrain, cfg.MaxDev, cfg.Epochs, cfg.TrimPadding, cfg.Recompute = 64, 16, 1, false, recompute
		cfg.Dim, cfg.FFNDim, cfg.BatchSize = 64, 256, 32
		s, err := LoadData(cfg)
		require.NoError(t, err)
		est := EstimateMemory(cfg, DataShape{TrainExamples: s.TrainEnc.N, DevExamples: s.DevEnc.N, Vocab: s.Tokenizer.VocabSize()}).Total()
		live := uint64(math.MaxUint64)
		for attempt := 0; attempt < 3 && live > est; attempt++ {
			live = min(live, peakLiveHeap(t, func() error {
				_, err := Run(context.Background(), cfg, Options{Data: s})
				return err
			}))
		}
		t.Logf("%s: live heap above the loaded data %s, estimate %s", variant, memlimit.Format(live), memlimit.Format(est))
		assert.LessOrEqual(t, live, est)
	}
}

// peakLiveHeap runs f while forcing garbage collections back to back and returns the largest
// live heap they saw above the live heap before f.
func peakLiveHeap(t *testing.T, f func() error) uint64 {
	t.Helper()
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	before := sample[0].Value.Uint64()
	var peak uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			select {
			case <-done:
				return
			default:
			}
			runtime.GC()
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
		}
	}()
	err := f()
	close(done)
	<-sampled
	require.NoError(t, err)
	return peak - min(peak, before)
}
