package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/checkpoint"
	"github.com/wtacrs/wtacrs/data"
	"github.com/wtacrs/wtacrs/model"
)

// tinyCorpus returns a small corpus of documents of a few lines of words w00..w39.
func tinyCorpus(t testing.TB, docs int, seed int) *data.Corpus {
	t.Helper()
	var b strings.Builder
	for d := 0; d < docs; d++ {
		for l := 0; l < 3; l++ {
			for w := 0; w < 5+(d+l)%7; w++ {
				fmt.Fprintf(&b, "w%02d ", (d*7+l*3+w*w+seed)%40)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	c, err := data.ParseCorpus(strings.NewReader(b.String()), fmt.Sprintf("tiny%d", seed))
	require.NoError(t, err)
	return c
}

func tinyPretrainConfig() PretrainConfig {
	c := DefaultPretrainConfig()
	c.Dim, c.Heads, c.Blocks, c.FFNDim, c.MaxLen, c.VocabSize = 16, 2, 2, 32, 24, 64
	c.BatchSize, c.Steps, c.WarmupSteps, c.EvalEvery, c.CheckpointEvery = 4, 12, 2, 4, 3
	return c
}

func tinyCorpusPair(t testing.TB) *Corpus {
	return &Corpus{Train: tinyCorpus(t, 30, 0), Dev: tinyCorpus(t, 6, 5), Name: "tiny"}
}

// modelBytes returns the checkpoint's tensor file.
func modelBytes(t *testing.T, path string) []byte {
	t.Helper()
	tf, _ := checkpoint.Files(path)
	b, err := os.ReadFile(tf)
	require.NoError(t, err)
	return b
}

// TestPretrainResumeBitForBit checks that a run interrupted after a saved state and resumed
// ends with the weights, losses and evaluations of the run that was never interrupted, with
// WTA-CRS layers (whose gradient-norm cache is part of the state) and exact ones.
func TestPretrainResumeBitForBit(t *testing.T) {
	for _, c := range []struct{ method, moments string }{{MethodExact, ""}, {MethodWTACRS, ""}, {MethodExact, OptimizerModel}} {
		method := c.method
		t.Run(method+"/"+c.moments, func(t *testing.T) {
			cfg := tinyPretrainConfig()
			cfg.OptimizerPrecision = c.moments
			if method == MethodWTACRS {
				cfg = PretrainConfig(cfg)
				cfg.Layers = map[model.Kind]KindConfig{}
				for _, k := range model.Kinds() {
					cfg.Layers[k] = KindConfig{Method: MethodWTACRS, Ratio: 0.3}
				}
			}
			// Two and a half epochs, interrupted in the second: the steps after the resumption
			// read cached norms written before it.
			cfg.Steps, cfg.EvalEvery, cfg.CheckpointEvery = 30, 10, 5
			dir := t.TempDir()
			corpus := tinyCorpusPair(t)
			full, err := Pretrain(context.Background(), cfg, PretrainOptions{Corpus: corpus, Model: filepath.Join(dir, "full")})
			require.NoError(t, err)
			assert.Equal(t, cfg.Steps, full.Steps)
			require.Greater(t, full.TrainSequences, 4*8, "the corpus must span more than the interrupted steps")
			require.Less(t, full.TrainSequences, 4*17, "the resumed steps must revisit sequences")

			// Interrupt after step 17: the state of step 17 is saved on the way out.
			ctx, cancel := context.WithCancel(context.Background())
			state := filepath.Join(dir, "state")
			opt := PretrainOptions{Corpus: corpus, State: state, Model: filepath.Join(dir, "resumed"),
				Progress: func(p Progress) {
					if p.Step == 17 {
						cancel()
					}
				}}
			_, err = Pretrain(ctx, cfg, opt)
			require.ErrorIs(t, err, context.Canceled)
			require.True(t, IsPretrainState(state))
			opt.Progress, opt.Resume = nil, true
			res, err := Pretrain(context.Background(), cfg, opt)
			require.NoError(t, err)
			assert.Equal(t, 17, res.ResumedAt)
			assert.Equal(t, full.StepLoss, res.StepLoss)
			assert.Equal(t, full.Evals, res.Evals)
			assert.True(t, bytes.Equal(modelBytes(t, filepath.Join(dir, "full")), modelBytes(t, filepath.Join(dir, "resumed"))),
				"resumed weights differ from the uninterrupted run's")

			// Negative control: a state resumed by another configuration is refused.
			other := cfg
			other.LearningRate *= 2
			_, err = Pretrain(context.Background(), other, opt)
			require.ErrorIs(t, err, ErrState)
		})
	}
}

// TestPretrainLearns checks that the MLM dev loss falls below the unigram baseline's on a
// corpus with strong word order, and that the result is the same for the same seed.
func TestPretrainLearns(t *testing.T) {
	cfg := tinyPretrainConfig()
	cfg.Steps, cfg.EvalEvery, cfg.LearningRate = 60, 60, 3e-3
	a, err := Pretrain(context.Background(), cfg, PretrainOptions{Corpus: tinyCorpusPair(t)})
	require.NoError(t, err)
	last := a.Evals[len(a.Evals)-1]
	assert.Less(t, last.Loss, a.Baseline.Loss, "MLM dev loss does not beat the unigram baseline")
	assert.Greater(t, a.DevPredicted, 0)
	b, err := Pretrain(context.Background(), cfg, PretrainOptions{Corpus: tinyCorpusPair(t)})
	require.NoError(t, err)
	assert.Equal(t, a.StepLoss, b.StepLoss)
}

// TestUnigramBaseline checks the baseline on a hand case: frequencies 1/2, 1/4, 1/4 over
// three words; targets w1, w1, w2 give loss (2·ln 2 + ln 4)/3 and accuracy 2/3.
func TestUnigramBaseline(t *testing.T) {
	p := []float64{0, 0, 0, 0, 0, 0.5, 0.25, 0.25}
	b := []model.Batch{{MLMTargets: []int{-1, 5, 5, -1}}, {MLMTargets: []int{6}}}
	ev, n := unigramBaseline(b, p, 5)
	assert.Equal(t, 3, n)
	assert.InDelta(t, (2*math.Log(2)+math.Log(4))/3, ev.Loss, 1e-12)
	assert.InDelta(t, 2.0/3, ev.Accuracy, 1e-12)
}

// TestFineTuneFromCheckpoint checks that a fine-tuning from a pretraining checkpoint starts
// from its encoder weights and vocabulary, and reproduces bit for bit.
func TestFineTuneFromCheckpoint(t *testing.T) {
	dir := t.TempDir()
	pcfg := tinyPretrainConfig()
	pcfg.MaxLen = 48
	ckpt := filepath.Join(dir, "pre")
	_, err := Pretrain(context.Background(), pcfg, PretrainOptions{Corpus: tinyCorpusPair(t), Model: ckpt})
	require.NoError(t, err)
	meta, err := checkpoint.ReadMeta(ckpt)
	require.NoError(t, err)

	cfg := DefaultConfig()
	cfg.Init, cfg.Pooling, cfg.MaxLen, cfg.Epochs, cfg.BatchSize = ckpt, "mean", 48, 1, 8
	cfg = cfg.ClearInitSizes(func(string) bool { return false })
	cfg, err = cfg.WithInit()
	require.NoError(t, err)
	assert.Equal(t, []int{16, 2, 2, 32, meta.Architecture.Vocab}, []int{cfg.Dim, cfg.Heads, cfg.Blocks, cfg.FFNDim, cfg.VocabSize})
	tok, err := meta.Tokenizer()
	require.NoError(t, err)
	splits, err := SyntheticSplits(40, 16, 3, 48)
	require.NoError(t, err)
	// Re-encode the synthetic pairs with the checkpoint's vocabulary.
	src, err := readInit(ckpt)
	require.NoError(t, err)
	splits.Tokenizer = tok
	splits.TrainEnc, err = data.Encode(splits.Train, tok, 48)
	require.NoError(t, err)
	splits.DevEnc, err = data.Encode(splits.Dev, tok, 48)
	require.NoError(t, err)

	// The model built for the fine-tuning holds the checkpoint's encoder.
	m, err := newModel[float32](cfg, tok.VocabSize(), 48, src)
	require.NoError(t, err)
	pre, _, err := checkpoint.Load[float32](ckpt)
	require.NoError(t, err)
	for _, p := range m.Params {
		q := pre.Param(p.Name)
		if fineTuneHead(p.Name) {
			assert.Nil(t, q, p.Name)
			continue
		}
		require.NotNil(t, q, p.Name)
		assert.Equal(t, q.W.Data, p.W.Data, p.Name)
	}
	a, err := Run(context.Background(), cfg, Options{Data: splits})
	require.NoError(t, err)
	b, err := Run(context.Background(), cfg, Options{Data: splits})
	require.NoError(t, err)
	assert.Equal(t, a.EpochLoss, b.EpochLoss)
	assert.Equal(t, a.DevAccuracy, b.DevAccuracy)
}

// TestInitErrors checks the refusals of a configuration with init.
func TestInitErrors(t *testing.T) {
	dir := t.TempDir()
	pcfg := tinyPretrainConfig()
	ckpt := filepath.Join(dir, "pre")
	_, err := Pretrain(context.Background(), pcfg, PretrainOptions{Corpus: tinyCorpusPair(t), Model: ckpt})
	require.NoError(t, err)

	// A size given that differs from the checkpoint's is refused; one left out or equal is
	// the checkpoint's.
	c, err := ParseConfig(fmt.Sprintf("init = %q\nmax_len = 24\ndim = 64\n", ckpt), "c.toml")
	require.NoError(t, err)
	_, err = c.WithInit()
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), "dim")
	assert.Contains(t, err.Error(), "16")
	c, err = ParseConfig(fmt.Sprintf("init = %q\nmax_len = 24\ndim = 16\n", ckpt), "c.toml")
	require.NoError(t, err)
	c, err = c.WithInit()
	require.NoError(t, err)
	assert.Equal(t, []int{16, 2, 2, 32}, []int{c.Dim, c.Heads, c.Blocks, c.FFNDim})

	cfg := DefaultConfig()
	cfg.Init = ckpt // max_len 128 exceeds the checkpoint's 24 positions
	cfg = cfg.ClearInitSizes(func(string) bool { return false })
	_, err = cfg.WithInit()
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), "positions")

	cfg.MaxLen, cfg.Precision = 24, "float64"
	_, err = cfg.WithInit()
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), "precision")

	cfg.Precision, cfg.Init = "float32", filepath.Join(dir, "absent")
	_, err = cfg.WithInit()
	require.ErrorIs(t, err, ErrConfig)

	_, err = ParseConfig("pooling = \"max\"\n", "c.toml")
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), "pooling")
}

// TestPretrainConfigErrors checks that invalid pretraining keys are named with their line.
func TestPretrainConfigErrors(t *testing.T) {
	for _, tc := range []struct{ text, key string }{
		{"steps = 0\n", "steps"},
		{"mask_prob = 0\n", "mask_prob"},
		{"mask_token_frac = 0.9\nrandom_token_frac = 0.2\n", "random_token_frac"},
		{"mlm_head = \"shared\"\n", "mlm_head"},
		{"corpus_train = \"a.txt\"\n", "corpus_dev"},
		{"eval_every = 0\n", "eval_every"},
		{"checkpoint_every = -1\n", "checkpoint_every"},
		{"heads = 5\n", "heads"},
		{"epochs = 3\n", "epochs"},
	} {
		_, err := ParsePretrainConfig(tc.text, "p.toml")
		require.Error(t, err, tc.text)
		assert.True(t, errors.Is(err, ErrConfig), tc.text)
		assert.Contains(t, err.Error(), tc.key, tc.text)
	}
	c, err := ParsePretrainConfig("steps = 5\n[layers.q]\nmethod = \"wtacrs\"\n", "p.toml")
	require.NoError(t, err)
	assert.Equal(t, DefaultRatio, c.Kind(model.Query).Ratio)
}
