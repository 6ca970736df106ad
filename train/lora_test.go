package train

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/data"
	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/model"
)

func TestParseLoRAAndAttention(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig("[lora]\n[attention]\nmethod = \"wtacrs\"\n[layers.q]\nmethod = \"wtacrs\"\n", "t.toml")
	require.NoError(t, err)
	require.NotNil(t, c.LoRA)
	assert.Equal(t, LoRAConfig{Rank: DefaultLoRARank, Alpha: DefaultLoRAAlpha, Kinds: DefaultLoRAKinds}, *c.LoRA)
	require.NotNil(t, c.Attention)
	assert.Equal(t, AttentionConfig{Method: MethodWTACRS, Ratio: DefaultRatio, Products: []string{ProductsScores, ProductsContext}, CRule: CRuleOwn}, *c.Attention)
	for _, p := range model.Products() {
		assert.True(t, c.Attention.Samples(p))
	}
	c, err = ParseConfig("[attention]\nmethod = \"wtacrs\"\nratio = 0.1\nproducts = [\"context\"]\nc_rule = \"shared\"\n", "t.toml")
	require.NoError(t, err)
	assert.False(t, c.Attention.Samples(model.ProductQ))
	assert.True(t, c.Attention.Samples(model.ProductV))
	c, err = ParseConfig("", "t.toml")
	require.NoError(t, err)
	assert.Nil(t, c.LoRA)
	assert.Nil(t, c.Attention)
	assert.False(t, c.Attention.Samples(model.ProductQ))

	for _, tc := range []struct{ text, want string }{
		{"[lora]\n[layers.o]\nmethod = \"wtacrs\"\n", "layers.o.method"},
		{"[lora]\nrank = 0\n", "lora.rank"},
		{"[lora]\nrank = 200\n", "lora.rank"},
		{"[lora]\nalpha = -1.0\n", "lora.alpha"},
		{"[lora]\nkinds = []\n", "lora.kinds"},
		{"[lora]\nkinds = [\"q\", \"x\"]\n", "lora.kinds[1]"},
		{"[lora]\nkinds = [\"q\", \"q\"]\n", "lora.kinds[1]"},
		{"[lora]\nrnak = 3\n", "lora.rnak"},
		{"[attention]\nmethod = \"topk\"\n", "attention.method"},
		{"[attention]\nmethod = \"wtacrs\"\nratio = 1.5\n", "attention.ratio"},
		{"[attention]\nproducts = [\"scores\", \"qk\"]\n", "attention.products[1]"},
		{"[attention]\nc_rule = \"mean\"\n", "attention.c_rule"},
	} {
		_, err := ParseConfig(tc.text, "t.toml")
		require.ErrorIs(t, err, ErrConfig, tc.text)
		assert.Contains(t, err.Error(), tc.want, tc.text)
	}
}

// TestWithMethodUnderLoRA checks that a method applies to the adapted kinds only and names the
// attention products' method too.
func TestWithMethodUnderLoRA(t *testing.T) {
	t.Parallel()
	c := tinyConfig()
	c.LoRA = &LoRAConfig{Rank: 4, Alpha: 8, Kinds: []model.Kind{model.Query, model.Value}}
	c.Attention = &AttentionConfig{Method: MethodExact, Products: []string{ProductsScores}, CRule: CRuleShared}
	w := c.WithAll(MethodWTACRS, 0.1)
	require.NoError(t, w.Validate())
	for _, k := range model.Kinds() {
		want := MethodExact
		if k == model.Query || k == model.Value {
			want = MethodWTACRS
		}
		assert.Equal(t, want, w.Kind(k).Method, "%s", k)
	}
	assert.Equal(t, AttentionConfig{Method: MethodWTACRS, Ratio: 0.1, Products: []string{ProductsScores}, CRule: CRuleShared}, *w.Attention)
	assert.Equal(t, MethodExact, c.Attention.Method, "the original is unchanged")
	assert.Equal(t, MethodExact, w.WithMethod(MethodExact, 0, nil).Attention.Method)
	p := tinyConfig().WithMethod(MethodWTACRS, 0.3, []model.Kind{model.Output})
	assert.Equal(t, MethodWTACRS, p.Kind(model.Output).Method)
	assert.Equal(t, MethodExact, p.Kind(model.Query).Method)
}

// TestLoRARun trains the tiny model with LoRA, exactly and with WTA-CRS on the A products:
// every frozen parameter keeps its initial value, the adapters and the head move, only adapted
// layers keep activations, and the sampled run keeps fewer.
func TestLoRARun(t *testing.T) {
	t.Parallel()
	opt := tinyData(t)
	c := tinyConfig()
	c.Epochs = 1
	c.LoRA = &LoRAConfig{Rank: 4, Alpha: 8, Kinds: slices.Clone(DefaultLoRAKinds)}
	var saved []float64
	for _, cfg := range []Config{c, c.WithAll(MethodWTACRS, 0.3)} {
		res, err := Run(context.Background(), cfg, *opt)
		require.NoError(t, err)
		// Adapters of 3 kinds (32×4 + 4×32) and the head (32×2 + 2).
		assert.Equal(t, 3*(32*4+4*32)+32*2+2, res.TrainableParams)
		for _, lm := range res.Memory {
			switch lm.Layer.Kind {
			case model.Query, model.Key, model.Value:
				assert.True(t, lm.LoRA)
				assert.Positive(t, lm.SavedBytes)
			default:
				assert.Equal(t, "frozen", lm.Method)
				assert.Zero(t, lm.SavedBytes, "%v", lm.Layer)
				assert.Zero(t, lm.KeptFraction)
			}
		}
		saved = append(saved, res.SavedBytes)
	}
	assert.Less(t, saved[1], saved[0])

	// The frozen weights do not move in training.
	m, err := newModel[float32](c, opt.Data.Tokenizer.VocabSize(), max(opt.Data.TrainEnc.SeqLen, opt.Data.DevEnc.SeqLen), nil)
	require.NoError(t, err)
	before := map[string][]float32{}
	for _, p := range m.Params {
		before[p.Name] = slices.Clone(p.W.Data)
	}
	opti := newAdamW(m, c)
	samp := newSampler[float32](c, m, opt.Data.TrainEnc.N, opt.Data.TrainEnc.SeqLen)
	loader := mustLoader(t, opt, c)
	for step, db := range loader[:5] {
		b, err := toModelBatch(db, true, true)
		require.NoError(t, err)
		samp.begin(step+1, 0, db.Indices, b, nil)
		m.ZeroGrad()
		tape, err := m.Forward(b, samp)
		require.NoError(t, err)
		require.NoError(t, m.Backward(tape, samp))
		require.NoError(t, opti.step(1e-2))
	}
	for _, p := range m.Params {
		moved := !slices.Equal(before[p.Name], p.W.Data)
		trainable := strings.Contains(p.Name, ".lora_") || strings.HasPrefix(p.Name, "head.") // A moves once B has
		assert.Equal(t, trainable, moved, "%s", p.Name)
		assert.Equal(t, !trainable, p.Frozen, "%s", p.Name)
	}
}

// sampleMeans runs trials forward and backward passes of m on b through the hooks made by mk
// (each a fresh sampler, so a cold cache) and returns the mean and the standard error of the
// mean of the gradients of the named parameters.
func sampleMeans(t *testing.T, m *model.Model[float64], b model.Batch, trials int, names []string, mk func(r int) model.Hook[float64]) (mean, se map[string][]float64) {
	t.Helper()
	// Sums of the deviations from the first trial's value (shift), so that a constant
	// gradient has a standard error of exactly zero.
	sum, sq, shift := map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
	for _, n := range names {
		sum[n] = make([]float64, len(m.Param(n).G))
		sq[n] = make([]float64, len(m.Param(n).G))
	}
	for r := 0; r < trials; r++ {
		h := mk(r)
		tp, err := m.Forward(b, h)
		require.NoError(t, err)
		m.ZeroGrad()
		require.NoError(t, m.Backward(tp, h))
		for _, n := range names {
			if r == 0 {
				shift[n] = slices.Clone(m.Param(n).G)
			}
			for j, g := range m.Param(n).G {
				d := g - shift[n][j]
				sum[n][j] += d
				sq[n][j] += d * d
			}
		}
	}
	mean, se = map[string][]float64{}, map[string][]float64{}
	for _, n := range names {
		mean[n], se[n] = make([]float64, len(sum[n])), make([]float64, len(sum[n]))
		for j := range sum[n] {
			mu := sum[n][j] / float64(trials)
			v := (sq[n][j] - float64(trials)*mu*mu) / float64(trials-1)
			mean[n][j], se[n][j] = shift[n][j]+mu, math.Sqrt(max(v, 0)/float64(trials))
		}
	}
	return mean, se
}

// paddedBatch is a batch of three sequences of lengths 8, 5 and 3 padded to 8.
func paddedBatch(vocab int) model.Batch {
	const batch, seq = 3, 8
	b := model.Batch{B: batch, S: seq, Tokens: make([]int, batch*seq), Mask: make([]bool, batch*seq), Labels: []int{0, 1, 1}}
	lens := []int{8, 5, 3}
	for r := 0; r < batch; r++ {
		for p := 0; p < seq; p++ {
			b.Tokens[r*seq+p] = (r*7 + p*3) % vocab
			b.Mask[r*seq+p] = p < lens[r]
		}
	}
	return b
}

// worstZ returns the largest |mean − exact|/se over the entries with se > 0, and how many had
// se > 0.
func worstZ(mean, se, exact []float64) (float64, int) {
	worst, n := 0.0, 0
	for j := range mean {
		if se[j] > 1e-12*math.Abs(exact[j])+1e-300 {
			worst = max(worst, math.Abs(mean[j]-exact[j])/se[j])
			n++
		}
	}
	return worst, n
}

// TestLoRAGradientUnbiased checks in the model that LoRA+WTA-CRS estimates the A gradients
// without bias from a cold cache, and that the B gradients are exact at every draw.
func TestLoRAGradientUnbiased(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig()
	cfg.Dim, cfg.FFNDim, cfg.Blocks = 8, 16, 2
	cfg.LoRA = &LoRAConfig{Rank: 2, Alpha: 4, Kinds: []model.Kind{model.Query, model.Value}}
	cfg = cfg.WithAll(MethodWTACRS, 0.3)
	const vocab, trials = 20, 2000
	b := paddedBatch(vocab)
	m, err := model.New[float64](mustModelConfig(cfg, vocab, b.S), 3)
	require.NoError(t, err)
	require.NoError(t, m.AddLoRA(cfg.LoRA.Model(), 4))
	for _, p := range m.Params {
		if strings.HasSuffix(p.Name, "lora_b") {
			for i := range p.W.Data {
				p.W.Data[i] = 0.3 * math.Sin(float64(3*i+len(p.Name)))
			}
		}
	}
	tape, err := m.Forward(b, nil)
	require.NoError(t, err)
	m.ZeroGrad()
	require.NoError(t, m.Backward(tape, nil))
	names := []string{"block0.q.lora_a", "block0.v.lora_a", "block1.q.lora_a", "block0.q.lora_b", "block1.v.lora_b"}
	exact := map[string][]float64{}
	for _, n := range names {
		exact[n] = slices.Clone(m.Param(n).G)
	}
	mean, se := sampleMeans(t, m, b, trials, names, func(r int) model.Hook[float64] {
		s := newSampler[float64](cfg, m, b.B, b.S)
		s.begin(r+1, 0, []int{0, 1, 2}, b, nil)
		return s
	})
	// Under unbiasedness each z is a standardised mean of 2000 i.i.d. bounded draws with its
	// sample standard error, close to N(0,1): P(|z| > 6) ≈ 2e-9 per entry, 3·16 entries:
	// false-failure < 1e-7.
	for _, n := range names[:3] {
		z, cnt := worstZ(mean[n], se[n], exact[n])
		t.Logf("%s: largest |z| = %.2f over %d sampled entries", n, z, cnt)
		assert.Positive(t, cnt, n)
		assert.Less(t, z, 6.0, n)
	}
	for _, n := range names[3:] {
		assert.InDeltaSlice(t, exact[n], mean[n], 1e-12, n)
		assert.Equal(t, make([]float64, len(se[n])), se[n], "%s varies between draws", n)
	}
}

// publishedAttention wraps the sampler and rescales the drawn pairs of every attention sketch as
// the published code does while its cache is empty: (1 − P_C) of the stratum alone, without
// 1/((k−|C|)·p_j). Biased: the negative control.
type publishedAttention struct{ *sampler[float64] }

func (p publishedAttention) AttentionSketch(l int, pr model.Product, norms []float64, strata, size int) (*estimator.Sketch, error) {
	sk, err := p.sampler.AttentionSketch(l, pr, norms, strata, size)
	if err != nil || sk == nil {
		return sk, err
	}
	b := p.attnCachedNorms(p.attn[l][pr], pr, strata, size)
	w, err := estimator.WeightsFromNorms(norms, b)
	if err != nil {
		return nil, err
	}
	k, _ := estimator.Budget(p.cfg.Attention.Ratio, size)
	plan, err := estimator.NewStratifiedWTACRS(w, strata, k, estimator.COwn)
	if err != nil {
		return nil, err
	}
	for e, idx := range sk.Index {
		g := idx / size
		if !slices.Contains(plan.Plan(g).Kept(), idx%size) {
			sk.Scale[e] = 1 - plan.Plan(g).MassC()
		}
	}
	return sk, nil
}

// TestAttentionGradientUnbiased checks in the model that sampling the backward of both
// attention products (every linear layer exact, a cold cache) leaves the parameters' gradients
// unbiased, for both |C| rules, and that the same check rejects the published cold-cache
// scaling.
func TestAttentionGradientUnbiased(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig()
	cfg.Dim, cfg.Heads, cfg.FFNDim, cfg.Blocks = 8, 2, 16, 2
	const vocab, trials = 20, 2000
	b := paddedBatch(vocab)
	m, err := model.New[float64](mustModelConfig(cfg, vocab, b.S), 3)
	require.NoError(t, err)
	tape, err := m.Forward(b, nil)
	require.NoError(t, err)
	m.ZeroGrad()
	require.NoError(t, m.Backward(tape, nil))
	// Block 0's q, k and v weights get their gradient through both sampled products of block 0
	// and those of block 1.
	names := []string{"block0.q.w", "block0.k.w", "block0.v.w", "tok_emb"}
	exact := map[string][]float64{}
	for _, n := range names {
		exact[n] = slices.Clone(m.Param(n).G)
	}
	run := func(rule string, biased bool) (worst float64) {
		c := cfg
		c.Attention = &AttentionConfig{Method: MethodWTACRS, Ratio: 0.4, Products: []string{ProductsScores, ProductsContext}, CRule: rule}
		mean, se := sampleMeans(t, m, b, trials, names, func(r int) model.Hook[float64] {
			s := newSampler[float64](c, m, b.B, b.S)
			s.begin(r+1, 0, []int{0, 1, 2}, b, nil)
			if biased {
				return publishedAttention{s}
			}
			return s
		})
		for _, n := range names {
			z, cnt := worstZ(mean[n], se[n], exact[n])
			require.Positive(t, cnt, n)
			t.Logf("rule %s biased %v %s: largest |z| = %.2f over %d entries", rule, biased, n, z, cnt)
			worst = max(worst, z)
		}
		return worst
	}
	// Each z is a standardised mean of 2000 i.i.d. bounded draws, close to N(0,1): P(|z| > 6.5)
	// ≈ 8e-11 per entry; 3·64 + 120 entries per rule: false-failure < 1e-7 for both rules.
	for _, rule := range []string{CRuleOwn, CRuleShared} {
		assert.Less(t, run(rule, false), 6.5, rule)
	}
	// Negative control: the published cold-cache scaling is rejected by the same statistic.
	assert.Greater(t, run(CRuleOwn, true), 6.5)
}

// mustLoader returns the first epoch's batches of the training set of opt.
func mustLoader(t *testing.T, opt *Options, c Config) []data.Minibatch {
	t.Helper()
	l, err := data.NewLoader(opt.Data.TrainEnc, data.LoaderConfig{BatchSize: c.BatchSize, Shuffle: true, Seed: c.Seed})
	require.NoError(t, err)
	bs, err := l.Epoch(0)
	require.NoError(t, err)
	return bs
}
