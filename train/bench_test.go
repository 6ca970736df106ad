package train

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
)

// liveHeap returns the live heap bytes after a full collection.
func liveHeap() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc)
}

// peakHook wraps the sampler and records the live heap at every linear layer of backward.
type peakHook[T matrix.Float] struct {
	*sampler[T]
	peak float64
}

func (p *peakHook[T]) Gradient(i int, gz matrix.Dense[T]) error {
	p.peak = max(p.peak, liveHeap())
	return p.sampler.Gradient(i, gz)
}

var sinkLoss float64

// stepRig is one model with its optimiser and sampler on a full batch of 16 sequences of 128
// valid tokens, for timing training steps.
type stepRig struct {
	m       *model.Model[float32]
	opti    *adamW[float32]
	s       *sampler[float32]
	mb      model.Batch
	indices []int
}

// newStepRig builds the rig of cfg (the vocabulary 8000) with model seed 1 and batch seed (1, 2).
func newStepRig(b *testing.B, cfg Config) *stepRig {
	const batch, seq, vocab = 16, 128, 8000
	m, err := model.New[float32](mustModelConfig(cfg, vocab, seq), 1)
	if err != nil {
		b.Fatal(err)
	}
	r := &stepRig{m: m, opti: newAdamW(m, cfg), s: newSampler[float32](cfg, m, batch, seq)}
	rng := rand.New(rand.NewPCG(1, 2))
	r.mb = model.Batch{B: batch, S: seq, Tokens: make([]int, batch*seq), Mask: make([]bool, batch*seq), Labels: make([]int, batch)}
	for i := range r.mb.Tokens {
		r.mb.Tokens[i], r.mb.Mask[i] = rng.IntN(vocab), true
	}
	for i := range r.mb.Labels {
		r.mb.Labels[i] = i % 2
	}
	r.indices = make([]int, batch)
	for i := range r.indices {
		r.indices[i] = i
	}
	return r
}

// forward starts step st and runs its forward pass with hook h.
func (r *stepRig) forward(h model.Hook[float32], st int) (*model.Tape[float32], error) {
	r.s.begin(st, 0, r.indices, r.mb, nil)
	r.m.ZeroGrad()
	return r.m.Forward(r.mb, h)
}

// step runs training step st: forward, backward and AdamW.
func (r *stepRig) step(b *testing.B, st int) {
	tape, err := r.forward(r.s, st)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.m.Backward(tape, r.s); err != nil {
		b.Fatal(err)
	}
	if err := r.opti.step(1e-4); err != nil {
		b.Fatal(err)
	}
	sinkLoss = tape.Loss
}

// benchmarkStep times one training step (forward, backward, AdamW) of the default model sizes
// on a full batch of 16 sequences of 128 valid tokens, every layer kind on method at ratio. With
// -benchmem off it reports, per step: activation bytes the tape keeps for backward (saved-B),
// those of the linear layers (linear-B), the peak live heap above the parameters and optimiser
// state (peak-act-B, sampled after forward and at every layer of backward with full
// collections, outside the timer), the whole peak live heap of the step (peak-heap-B: the
// parameters, gradients and AdamW moments included) and tokens per second.
func benchmarkStep(b *testing.B, method string, ratio float64, recompute bool) {
	cfg := DefaultConfig().WithAll(method, ratio)
	cfg.Recompute = recompute
	r := newStepRig(b, cfg)
	// One measured step for the memory figures, outside the timer.
	base := liveHeap()
	ph := &peakHook[float32]{sampler: r.s}
	tape, err := r.forward(ph, 1)
	if err != nil {
		b.Fatal(err)
	}
	ph.peak = liveHeap()
	if err := r.m.Backward(tape, ph); err != nil {
		b.Fatal(err)
	}
	linear := 0
	for i := 0; i < r.s.layers; i++ {
		linear += tape.LinearSaved(i).Bytes()
	}
	saved := tape.SavedBytes()
	peak := ph.peak - base
	total := ph.peak
	tape = nil
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.step(b, i+2)
	}
	b.StopTimer()
	b.ReportMetric(float64(saved), "saved-B")
	b.ReportMetric(float64(linear), "linear-B")
	b.ReportMetric(peak, "peak-act-B")
	b.ReportMetric(total, "peak-heap-B")
	b.ReportMetric(float64(r.mb.B*r.mb.S*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// benchmarkStepSpeedup times training steps of cfg exactly and with WTA-CRS at ratio on every
// layer kind, alternately in one run (two models from the same seed, each with its own
// optimiser, so that both see the same machine state), and reports exact_ms and wtacrs_ms per
// step and their ratio x_faster = exact/WTA-CRS.
func benchmarkStepSpeedup(b *testing.B, cfg Config, ratio float64) {
	exact := newStepRig(b, cfg.WithAll(MethodExact, 1))
	wtacrs := newStepRig(b, cfg.WithAll(MethodWTACRS, ratio))
	exact.step(b, 1) // warm both: first-touch page faults, OpenBLAS's threads
	wtacrs.step(b, 1)
	var te, tw time.Duration
	timed := func(r *stepRig, st int) time.Duration {
		t0 := time.Now()
		r.step(b, st)
		return time.Since(t0)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Alternate the order, so that neither side always runs right after the other.
		if i%2 == 0 {
			te += timed(exact, i+2)
			tw += timed(wtacrs, i+2)
		} else {
			tw += timed(wtacrs, i+2)
			te += timed(exact, i+2)
		}
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 / float64(b.N) }
	b.ReportMetric(float64(te)/float64(tw), "x_faster")
	b.ReportMetric(ms(te), "exact_ms")
	b.ReportMetric(ms(tw), "wtacrs_ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkStepSpeedup compares WTA-CRS@0.3 and @0.1 with exact steps at the default model
// sizes (d = 128, 2 blocks, 4 heads, FFN 512, recomputation on).
func BenchmarkStepSpeedup(b *testing.B) {
	for _, ratio := range []float64{0.3, 0.1} {
		b.Run(fmt.Sprintf("ratio=%.1f", ratio), func(b *testing.B) { benchmarkStepSpeedup(b, DefaultConfig(), ratio) })
	}
}

// BenchmarkStepSpeedupD768 is BenchmarkStepSpeedup at BERT-base widths (d = 768, 12 heads, FFN
// 3072; 2 blocks): about a second per step.
func BenchmarkStepSpeedupD768(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Dim, cfg.Heads, cfg.FFNDim = 768, 12, 3072
	for _, ratio := range []float64{0.3, 0.1} {
		b.Run(fmt.Sprintf("ratio=%.1f", ratio), func(b *testing.B) { benchmarkStepSpeedup(b, cfg, ratio) })
	}
}

func BenchmarkStepExact(b *testing.B)    { benchmarkStep(b, MethodExact, 1, true) }
func BenchmarkStepWTACRS03(b *testing.B) { benchmarkStep(b, MethodWTACRS, 0.3, true) }
func BenchmarkStepWTACRS01(b *testing.B) { benchmarkStep(b, MethodWTACRS, 0.1, true) }

// The same without recomputation: queries, keys, values and feed-forward pre-activations kept.
func BenchmarkStepKeepExact(b *testing.B)    { benchmarkStep(b, MethodExact, 1, false) }
func BenchmarkStepKeepWTACRS03(b *testing.B) { benchmarkStep(b, MethodWTACRS, 0.3, false) }

// lean sets the memory options that change what a step holds, not what it computes: the
// LayerNorm outputs re-formed from x̂ and every block run by groups of 1024 tokens.
func lean(c Config) Config {
	c.ReuseLayerNorm, c.ChunkTokens = true, 1024
	return c
}

// memoryMethods are the configurations benchmarkStepMemory compares: first the two exact
// baselines (the default settings, and the same with the lean memory options) and full
// recomputation, then the methods with the lean options.
var memoryMethods = []struct {
	name string
	mod  func(Config) Config
}{
	{"exact", func(c Config) Config { return c.WithAll(MethodExact, 1) }},
	{"exact-lean", func(c Config) Config { return lean(c.WithAll(MethodExact, 1)) }},
	{"checkpoint", func(c Config) Config {
		c.CheckpointBlocks = true
		return lean(c.WithAll(MethodExact, 1))
	}},
	{"wtacrs0.3", func(c Config) Config { return lean(c.WithAll(MethodWTACRS, 0.3)) }},
	{"wtacrs0.1", func(c Config) Config { return lean(c.WithAll(MethodWTACRS, 0.1)) }},
	{"lora", func(c Config) Config {
		c.LoRA = &LoRAConfig{Rank: 8, Alpha: 16, Kinds: DefaultLoRAKinds}
		return lean(c.WithAll(MethodExact, 1))
	}},
	{"lora+wtacrs0.1", func(c Config) Config {
		c.LoRA = &LoRAConfig{Rank: 8, Alpha: 16, Kinds: DefaultLoRAKinds}
		return lean(c.WithAll(MethodWTACRS, 0.1))
	}},
}

// benchmarkStepMemory measures the memory of one training step ([MeasureStep]: parameters,
// gradients, AdamW moments in the model's precision, saved activations and the measured
// workspace; live heap, not the resident set) of the default encoder (2 blocks, 4 heads, ffn
// 4·d, vocabulary 8000, float32, recomputation on) at width d on batch sequences of seq valid
// tokens, for every method of memoryMethods. It reports per method the step's total (MiB), the
// activations it saves (act-MiB), the ratio of the default exact step's total to it (x-NAME)
// and that of the lean exact step's (xlean-NAME). The measurement forces collections
// throughout and is not timed.
func benchmarkStepMemory(b *testing.B, batch, seq, d int) {
	cfg := DefaultConfig()
	cfg.Dim, cfg.FFNDim, cfg.MaxLen, cfg.BatchSize, cfg.OptimizerPrecision = d, 4*d, seq, batch, OptimizerModel
	totals := make([]float64, len(memoryMethods))
	saved := make([]float64, len(memoryMethods))
	for range b.N {
		for i, m := range memoryMethods {
			r, err := MeasureStep(m.mod(cfg), 0)
			if err != nil {
				b.Fatal(err)
			}
			totals[i], saved[i] = float64(r.Total())/(1<<20), float64(r.Saved.Total())/(1<<20)
		}
	}
	for i, m := range memoryMethods {
		b.ReportMetric(totals[i], m.name+"-MiB")
		b.ReportMetric(saved[i], m.name+"-act-MiB")
		if i > 0 {
			b.ReportMetric(totals[0]/totals[i], "x-"+m.name)
		}
		if i > 1 {
			b.ReportMetric(totals[1]/totals[i], "xlean-"+m.name)
		}
	}
}

func BenchmarkStepMemoryB64D128(b *testing.B)  { benchmarkStepMemory(b, 64, 128, 128) }
func BenchmarkStepMemoryB128D128(b *testing.B) { benchmarkStepMemory(b, 128, 128, 128) }
func BenchmarkStepMemoryB64D256(b *testing.B)  { benchmarkStepMemory(b, 64, 128, 256) }

// BenchmarkStepMemoryOptionsCost is the time side of the memory options at the default model
// sizes, by benchmarkStepMethods (16 sequences of 128 tokens, the last quarter padding, every
// configuration in turn within one run): exact steps with each option against exact at the
// default settings, and WTA-CRS@0.3 with the lean options against WTA-CRS@0.3 without them
// (NAME-x-vs-exact is the first configuration's time over NAME's, below 1 where the option costs
// time). chunk_tokens = 1024 and 256 run each block in 2 and 8 groups.
func BenchmarkStepMemoryOptionsCost(b *testing.B) {
	with := func(c Config, f func(*Config)) Config {
		f(&c)
		return c
	}
	exact := DefaultConfig().WithAll(MethodExact, 1)
	sampled := DefaultConfig().WithAll(MethodWTACRS, 0.3)
	b.Run("exact", func(b *testing.B) {
		benchmarkStepMethods(b, []stepMethod{
			{"default", exact},
			{"reuse", with(exact, func(c *Config) { c.ReuseLayerNorm = true })},
			{"chunk1024", with(exact, func(c *Config) { c.ChunkTokens = 1024 })},
			{"chunk256", with(exact, func(c *Config) { c.ChunkTokens = 256 })},
			{"lean", lean(exact)},
			{"checkpoint", with(lean(exact), func(c *Config) { c.CheckpointBlocks = true })},
		}, 16, 128)
	})
	b.Run("wtacrs0.3", func(b *testing.B) {
		benchmarkStepMethods(b, []stepMethod{
			{"default", sampled},
			{"chunk1024", with(sampled, func(c *Config) { c.ChunkTokens = 1024 })},
			{"lean", lean(sampled)},
		}, 16, 128)
	})
}
