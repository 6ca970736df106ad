package train

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
)

// StepMemory is the memory of one training step (forward, backward, AdamW update), in bytes,
// measured by [MeasureStep] on a real step.
type StepMemory struct {
	// Batch and SeqLen are the step's shape: n = Batch·SeqLen pooled tokens, all valid.
	Batch, SeqLen int
	// Parameters is the values of every parameter, frozen ones included.
	Parameters int
	// Gradients is the gradient accumulators the model allocates.
	Gradients int
	// Optimizer is AdamW's two moments of every trainable parameter.
	Optimizer int
	// Saved is what the forward pass keeps for backward ([model.Tape.SavedParts]).
	Saved model.SavedParts
	// Workspace is the largest live heap seen during the step above the live heap before it,
	// less Saved: the transient buffers of forward, backward and the update (the gradients
	// of activations, recomputed values, scratch). Zero when the peak is below Saved.
	// See [MeasureStep] for how it is measured.
	Workspace int
	// PeakHeap is the largest live heap of the whole process seen during the step (the
	// measuring harness and whatever else the process holds included).
	PeakHeap uint64
	// PeakRSS is the process's peak resident set during the step (Linux's VmHWM, restarted
	// before the step), in bytes: the Go heap as the operating system holds it (freed memory
	// not yet returned included), the runtime, the binary and the GEMM library's own buffers.
	// 0 where it cannot be measured (another system, or /proc/self/clear_refs not writable).
	PeakRSS uint64
	// Samples is the number of points of the step at which the live heap was read after a
	// collection (the concurrent collections not counted).
	Samples int
}

// Total returns the memory of the step: Parameters + Gradients + Optimizer + Saved + Workspace.
func (m StepMemory) Total() int {
	return m.Parameters + m.Gradients + m.Optimizer + m.Saved.Total() + m.Workspace
}

// MeasureStep builds the model cfg describes (from its init checkpoint or its seed, with its
// LoRA adapters), runs one training step on a batch of cfg.BatchSize random sequences of
// cfg.MaxLen valid tokens drawn from a vocabulary of cfg.VocabSize, and returns its memory.
// Parameters, Gradients, Optimizer and Saved are counted from the buffers themselves. The
// workspace is measured on the live heap (not the resident set): it is read after a full
// garbage collection before every linear layer of forward, after forward, at every layer of
// backward and after the update, and by a goroutine that collects back to back while the step
// runs. A peak shorter than a collection can be missed, and a collection counts as live what
// was allocated while it marked, so the figure is close to the true peak but not a bound
// either way; it varies a little from run to run on a loaded machine. The collections make it
// slow: use it on one step, outside timings. It returns an error wrapping ErrConfig for an
// invalid cfg and memlimit.ErrTooLarge when the step is estimated to need more than limit
// bytes (0: memlimit.Default()).
func MeasureStep(cfg Config, limit uint64) (StepMemory, error) {
	if err := cfg.Validate(); err != nil {
		return StepMemory{}, err
	}
	cfg, src, err := cfg.withInit()
	if err != nil {
		return StepMemory{}, err
	}
	shape := DataShape{TrainExamples: cfg.BatchSize, Vocab: cfg.VocabSize}
	if err := CheckMemory(cfg, shape, limit); err != nil {
		return StepMemory{}, err
	}
	if cfg.Precision == "float64" {
		return measureStep[float64](cfg, src)
	}
	return measureStep[float32](cfg, src)
}

func measureStep[T matrix.Float](cfg Config, src *initSource) (StepMemory, error) {
	b, s, vocab := cfg.BatchSize, cfg.MaxLen, cfg.VocabSize
	m, err := newModel[T](cfg, vocab, s, src)
	if err != nil {
		return StepMemory{}, err
	}
	opti := newAdamW(m, cfg)
	mb := model.Batch{B: b, S: s, Tokens: make([]int, b*s), Mask: make([]bool, b*s), Labels: make([]int, b)}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6d656d))
	for i := range mb.Tokens {
		mb.Tokens[i], mb.Mask[i] = rng.IntN(vocab), true
	}
	for i := range mb.Labels {
		mb.Labels[i] = i % 2
	}
	indices := make([]int, b)
	for i := range indices {
		indices[i] = i
	}
	samp := newSampler[T](cfg, m, b, s)
	res := StepMemory{Batch: b, SeqLen: s, Optimizer: opti.stateBytes()}
	size := matrix.ElemSize[T]()
	for _, p := range m.Params {
		res.Parameters += len(p.W.Data) * size
		res.Gradients += len(p.G) * size
	}

	h := &heapProbe[T]{sampler: samp}
	h.before = h.sample()
	rss := resetPeakRSS()
	stop, concurrent := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			select {
			case <-stop:
				concurrent <- peak
				return
			default:
			}
			runtime.GC()
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
		}
	}()
	defer func() {
		if stop != nil {
			close(stop)
			<-concurrent
		}
	}()
	samp.begin(1, 0, indices, mb, nil)
	m.ZeroGrad()
	tape, err := m.Forward(mb, h)
	if err != nil {
		return StepMemory{}, err
	}
	h.sample()
	res.Saved = tape.SavedParts()
	if err := m.Backward(tape, h); err != nil {
		return StepMemory{}, err
	}
	h.sample()
	if err := opti.step(LearningRate(cfg, 0, 1)); err != nil {
		return StepMemory{}, err
	}
	h.sample()
	runtime.KeepAlive(tape)
	close(stop)
	h.peak = max(h.peak, <-concurrent)
	stop = nil
	res.PeakHeap, res.Samples = h.peak, h.n-1
	if rss {
		res.PeakRSS = peakRSS()
	}
	if above := int(h.peak - min(h.peak, h.before)); above > res.Saved.Total() {
		res.Workspace = above - res.Saved.Total()
	}
	return res, nil
}

// heapProbe passes every call on to the sampler after reading the live heap.
type heapProbe[T matrix.Float] struct {
	*sampler[T]
	before, peak uint64
	n            int
	metric       [1]metrics.Sample
}

// sample collects garbage, reads the live heap, keeps the peak and returns the reading.
func (h *heapProbe[T]) sample() uint64 {
	runtime.GC()
	h.metric[0].Name = "/gc/heap/live:bytes"
	metrics.Read(h.metric[:])
	v := h.metric[0].Value.Uint64()
	h.peak = max(h.peak, v)
	h.n++
	return v
}

func (h *heapProbe[T]) Sketch(i int, x matrix.Dense[T]) (*estimator.Sketch, error) {
	h.sample()
	return h.sampler.Sketch(i, x)
}

func (h *heapProbe[T]) Gradient(i int, gz matrix.Dense[T]) error {
	h.sample()
	return h.sampler.Gradient(i, gz)
}

func (h *heapProbe[T]) SketchNorms(i int, norms []float64) (*estimator.Sketch, error) {
	h.sample()
	return h.sampler.SketchNorms(i, norms)
}

func (h *heapProbe[T]) GradientNorms(i int, norms []float64) error {
	h.sample()
	return h.sampler.GradientNorms(i, norms)
}

func (h *heapProbe[T]) AttentionGradient(l int, p model.Product, norms []float64) error {
	h.sample()
	return h.sampler.AttentionGradient(l, p, norms)
}

// String lists the terms in MiB.
func (m StepMemory) String() string {
	mib := func(v int) string { return fmt.Sprintf("%.2f MiB", float64(v)/(1<<20)) }
	return fmt.Sprintf("parameters %s, gradients %s, optimizer %s, saved %s, workspace %s, total %s",
		mib(m.Parameters), mib(m.Gradients), mib(m.Optimizer), mib(m.Saved.Total()), mib(m.Workspace), mib(m.Total()))
}
