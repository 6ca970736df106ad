package train

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/wtacrs/wtacrs/model"
)

// stepMethod is one training configuration of BenchmarkStepMethods.
type stepMethod struct {
	name string
	cfg  Config
}

// stepMethods returns the methods of the LoRA and attention comparison at the default model
// sizes: exact, WTA-CRS on every linear layer, with the attention products, the published
// default, LoRA, LoRA+WTA-CRS and the published LoRA configuration.
func stepMethods() []stepMethod {
	base := DefaultConfig()
	attn := func(c Config, ratio float64, rule string) Config {
		c.Attention = &AttentionConfig{Method: MethodWTACRS, Ratio: ratio, Products: []string{ProductsScores, ProductsContext}, CRule: rule}
		return c
	}
	lora := func(rank int, alpha float64, biases bool) Config {
		c := base
		c.LoRA = &LoRAConfig{Rank: rank, Alpha: alpha, Kinds: DefaultLoRAKinds, Biases: biases}
		return c
	}
	return []stepMethod{
		{"exact", base},
		{"wtacrs0.3", base.WithAll(MethodWTACRS, 0.3)},
		{"wtacrs0.1", base.WithAll(MethodWTACRS, 0.1)},
		{"wtacrs0.3+attention", attn(base.WithAll(MethodWTACRS, 0.3), 0.3, CRuleOwn)},
		{"published", attn(base.WithMethod(MethodWTACRS, 0.3, []model.Kind{model.Output, model.FFNIn, model.FFNOut}), 0.3, CRuleShared)},
		{"lora8", lora(8, 16, false)},
		{"lora8+wtacrs0.3", lora(8, 16, false).WithAll(MethodWTACRS, 0.3)},
		{"lora8+wtacrs0.1", lora(8, 16, false).WithAll(MethodWTACRS, 0.1)},
		{"published-lora", attn(lora(32, 32, true).WithAll(MethodWTACRS, 0.1), 0.1, CRuleShared)},
	}
}

// BenchmarkStepMethods times a training step (forward, backward, AdamW) of each method of
// stepMethods on a batch of 16 sequences of 128 tokens of which the last quarter is padding
// (the default model sizes, float32), the methods taking turns within each iteration so that
// one run's ratios share the machine's state. It reports, per method, ms per step, tokens (all
// positions) per second and the exact step's time over the method's (x-vs-exact).
func BenchmarkStepMethods(b *testing.B) {
	benchmarkStepMethods(b, stepMethods(), 16, 128)
}

// BenchmarkStepThroughput times training steps of the train configuration named by the
// environment variable WTACRS_BENCH_CONFIG (a TOML file of [train] keys; train.DefaultConfig
// when unset) as written, and with every linear layer exact, on WTA-CRS@0.3 and on WTA-CRS@0.1,
// on a batch of batch_size random sequences of max_len tokens whose last quarter is padding,
// as BenchmarkStepMethods does (python/wtacrs_trace/bench_step.py times the same step in
// PyTorch). It reports ms per step, tokens (all positions) per second and the ratios to exact.
func BenchmarkStepThroughput(b *testing.B) {
	cfg := DefaultConfig()
	if path := os.Getenv("WTACRS_BENCH_CONFIG"); path != "" {
		var err error
		if cfg, err = LoadConfig(path); err != nil {
			b.Fatal(err)
		}
	}
	methods := []stepMethod{
		{"exact", cfg.WithAll(MethodExact, 1)},
		{"config", cfg},
		{"wtacrs0.3", cfg.WithAll(MethodWTACRS, 0.3)},
		{"wtacrs0.1", cfg.WithAll(MethodWTACRS, 0.1)},
	}
	benchmarkStepMethods(b, methods, cfg.BatchSize, cfg.MaxLen)
}

// benchmarkStepMethods times training steps of methods (the first is the reference of the
// ratios) on batch random sequences of seq tokens, the last quarter of each padding.
func benchmarkStepMethods(b *testing.B, methods []stepMethod, batch, seq int) {
	vocab := methods[0].cfg.VocabSize
	rng := rand.New(rand.NewPCG(1, 2))
	mb := model.Batch{B: batch, S: seq, Tokens: make([]int, batch*seq), Mask: make([]bool, batch*seq), Labels: make([]int, batch)}
	for i := range mb.Tokens {
		mb.Tokens[i], mb.Mask[i] = rng.IntN(vocab), i%seq < seq*3/4
	}
	for i := range mb.Labels {
		mb.Labels[i] = i % 2
	}
	indices := make([]int, batch)
	for i := range indices {
		indices[i] = i
	}
	type runner struct {
		name string
		step func(st int) error
		took time.Duration
	}
	var rs []*runner
	for _, sm := range methods {
		cfg := sm.cfg
		m, err := newModel[float32](cfg, vocab, seq, nil)
		if err != nil {
			b.Fatal(err)
		}
		opti := newAdamW(m, cfg)
		s := newSampler[float32](cfg, m, batch, seq)
		rs = append(rs, &runner{name: sm.name, step: func(st int) error {
			s.begin(st, 0, indices, mb, nil)
			m.ZeroGrad()
			tape, err := m.Forward(mb, s)
			if err != nil {
				return err
			}
			if err := m.Backward(tape, s); err != nil {
				return err
			}
			return opti.step(1e-4)
		}})
	}
	for _, r := range rs { // one warm-up step each (the cache becomes warm)
		if err := r.step(1); err != nil {
			b.Fatal(r.name, err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, r := range rs {
			t0 := time.Now()
			if err := r.step(i + 2); err != nil {
				b.Fatal(r.name, err)
			}
			r.took += time.Since(t0)
		}
	}
	b.StopTimer()
	exact := rs[0].took
	for _, r := range rs {
		b.ReportMetric(float64(r.took.Microseconds())/1000/float64(b.N), r.name+"-ms/step")
		b.ReportMetric(float64(batch*seq*b.N)/r.took.Seconds(), r.name+"-tokens/s")
		if r != rs[0] {
			b.ReportMetric(float64(exact)/float64(r.took), r.name+"-x-vs-exact")
		}
	}
}
