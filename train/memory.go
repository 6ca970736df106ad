package train

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"runtime"

	"github.com/wtacrs/wtacrs/data"
	"github.com/wtacrs/wtacrs/internal/inputfile"
	"github.com/wtacrs/wtacrs/internal/memlimit"
	"github.com/wtacrs/wtacrs/model"
)

// evalBatch is the number of dev examples of one evaluation forward pass.
const evalBatch = 64

// DataShape is what the memory of a run depends on besides its configuration: the number of
// training and dev examples and the vocabulary size (special tokens included).
type DataShape struct {
	// TrainExamples and DevExamples are the numbers of examples of the two splits, and Vocab
	// the vocabulary size, special tokens included.
	TrainExamples, DevExamples, Vocab int
	// TextBytes is the size of the data files as read (0 for splits already loaded).
	TextBytes int
}

// Memory is the estimated memory of one training run, in bytes, by what holds it. Each term is
// an upper bound of the buffers allocated for it (a trimmed batch is shorter; a smaller
// vocabulary makes smaller embeddings); Go's own overheads are not counted.
type Memory struct {
	// Parameters, Gradients and Optimizer are the weights, their gradient accumulators and
	// AdamW's two moments (float64, or the model's precision; see [Config.OptimizerPrecision]).
	Parameters, Gradients, Optimizer uint64
	// Activations is the forward tape and the backward buffers of one step at full length.
	Activations uint64
	// Attention is the per-worker scratch of the attention scores (seq_len² per worker, twice)
	// and, with sampled attention products, what their backward keeps and forms.
	Attention uint64
	// Cache is the gradient-norm cache of the WTA-CRS layers and sampled attention products.
	Cache uint64
	// Data is the encoded train and dev sets, the text they were parsed from, and the
	// vocabulary.
	Data uint64
}

// Total returns the sum of every term (saturating at memlimit.Unlimited).
func (m Memory) Total() uint64 {
	return memlimit.Sum(m.Parameters, m.Gradients, m.Optimizer, m.Activations, m.Attention, m.Cache, m.Data)
}

// String lists the terms.
func (m Memory) String() string {
	f := memlimit.Format
	return fmt.Sprintf("parameters %s, gradients %s, optimizer %s, activations %s, attention %s, norm cache %s, data %s",
		f(m.Parameters), f(m.Gradients), f(m.Optimizer), f(m.Activations), f(m.Attention), f(m.Cache), f(m.Data))
}

// EstimateMemory returns the memory a run of cfg needs on data of the given shape, computed
// from the sizes alone (nothing is allocated; no term overflows).
func EstimateMemory(cfg Config, shape DataShape) Memory {
	mul, sum := memlimit.Mul, memlimit.Sum
	elem := 4
	if cfg.Precision == "float64" {
		elem = 8
	}
	moments := 16 // two float64 moments per parameter
	if cfg.OptimizerPrecision == OptimizerModel {
		moments = 2 * elem
	}
	d, f, s, b, l := cfg.Dim, cfg.FFNDim, cfg.MaxLen, cfg.BatchSize, cfg.Blocks
	vocab := max(shape.Vocab, 1)
	// Parameters: embeddings (tokens, positions, 2 segments), per block 4 d×d and 2 d×f
	// weights with their biases and two LayerNorms, the final LayerNorm and the head.
	perBlock := sum(mul(4, d, d), mul(2, d, f), mul(9, d), uint64(max(f, 0)))
	params := sum(mul(vocab, d), mul(s, d), mul(2, d), satMul(perBlock, l), mul(4, d), mul(d, data.NumLabels), data.NumLabels)
	var m Memory
	m.Parameters = satMul(params, elem)
	m.Gradients = m.Parameters
	m.Optimizer = satMul(params, moments)
	// One step at full length n = batch × max_len: per block the saved LayerNorm outputs and
	// inverse deviations, the inputs of the six linear layers, q, k, v and the feed-forward
	// pre-activation (kept, or transient when recomputed), the residual stream; backward holds
	// about as much again in gradients of the same shapes.
	// A training batch holds at most the training set; the dev set is evaluated in forward
	// passes of evalBatch examples, which can be larger: the larger of the two sizes the
	// activations.
	if shape.TrainExamples > 0 {
		b = min(b, shape.TrainExamples)
	}
	if ev := min(evalBatch, max(shape.DevExamples, 0)); ev > b {
		b = ev
	}
	n := mul(b, s)
	tokens := int(min(n, uint64(1<<62)))
	perBlockAct := sum(mul(12, tokens, d), mul(3, tokens, f), mul(2, tokens))
	m.Activations = satMul(sum(satMul(perBlockAct, l), mul(4, tokens, d), mul(2, tokens, max(d, f))), elem)
	m.Attention = satMul(mul(2, runtime.GOMAXPROCS(0), s, s), elem)
	if a := cfg.Attention; a != nil && a.Method == MethodWTACRS && cfg.Heads > 0 {
		// Sampled products: P kept and ∇S formed for every sequence-head (b·heads·s² each), the
		// kept pairs (at most Q, K and V), the norms (float64, 4 per pair) and the sketches.
		perBlock := sum(mul(2, b, cfg.Heads, s, s), mul(3, tokens, d))
		m.Attention = sum(m.Attention, satMul(perBlock, elem*max(l, 0)), satMul(sum(mul(4, tokens, cfg.Heads), mul(2, tokens, d)), 24*max(l, 0)))
		for _, p := range model.Products() {
			if a.Samples(p) {
				size := s
				if p == model.ProductP {
					size = d / cfg.Heads
				}
				m.Cache = sum(m.Cache, satMul(sum(mul(shape.TrainExamples, cfg.Heads, size, 4), uint64(max(shape.TrainExamples, 0))), max(l, 0)))
			}
		}
	}
	if lo := cfg.LoRA; lo != nil {
		// The adapters' parameters, gradients and moments, and per adapted layer the n×r input
		// of B (the A input is a layer input, counted above).
		var adapters uint64
		for _, k := range lo.Kinds {
			in, out := k.Shape(d, f)
			adapters = sum(adapters, mul(lo.Rank, in), mul(lo.Rank, out))
		}
		adapters = satMul(adapters, max(l, 0))
		m.Parameters = sum(m.Parameters, satMul(adapters, elem))
		m.Gradients = sum(m.Gradients, satMul(adapters, elem))
		m.Optimizer = sum(m.Optimizer, satMul(adapters, moments))
		m.Activations = sum(m.Activations, satMul(mul(len(lo.Kinds), tokens, lo.Rank), 2*elem*max(l, 0)))
	}
	wtacrs := 0
	for _, k := range model.Kinds() {
		if cfg.Kind(k).Method == MethodWTACRS {
			wtacrs++
		}
	}
	m.Cache = sum(m.Cache, satMul(sum(mul(shape.TrainExamples, s, 4), uint64(max(shape.TrainExamples, 0))), wtacrs*max(l, 0)))
	// Encoded sets: token ids, segment ids (int each) and the mask, per example and position;
	// parsed text about three times its size; the vocabulary about 64 bytes a word.
	examples := shape.TrainExamples + shape.DevExamples
	m.Data = sum(mul(examples, s, 17), mul(3, shape.TextBytes), mul(vocab, 64))
	return m
}

func satMul(a uint64, f int) uint64 {
	if a == memlimit.Unlimited {
		if f <= 0 {
			return 0
		}
		return memlimit.Unlimited
	}
	return memlimit.Mul(int(min(a, uint64(1<<62))), f)
}

// BoundDataShape returns an upper bound of the data shape cfg names, without tokenizing: the
// example counts are the line counts of the files (capped by max_train and max_dev), the
// vocabulary is at most vocab_size and at most one word per two bytes of training text. For the bundled set the files are
// the embedded ones. Errors are those of reading the files, wrapping ErrData.
func BoundDataShape(cfg Config) (DataShape, error) {
	var sh DataShape
	count := func(path string, bundled string) (int, int, error) {
		var r io.Reader
		if path == "" {
			b, err := data.BundledFile(bundled)
			if err != nil {
				return 0, 0, err
			}
			r = bytes.NewReader(b)
		} else {
			f, _, err := inputfile.Open(path)
			if err != nil {
				return 0, 0, err
			}
			defer f.Close()
			r = f
		}
		return countLines(r)
	}
	var err error
	var tb, db int
	if sh.TrainExamples, tb, err = count(cfg.TrainPath, "train"); err != nil {
		return sh, fmt.Errorf("%w: train_path %q: %w", ErrData, cfg.TrainPath, err)
	}
	if sh.DevExamples, db, err = count(cfg.DevPath, "dev"); err != nil {
		return sh, fmt.Errorf("%w: dev_path %q: %w", ErrData, cfg.DevPath, err)
	}
	if cfg.MaxTrain > 0 {
		sh.TrainExamples = min(sh.TrainExamples, cfg.MaxTrain)
	}
	if cfg.MaxDev > 0 {
		sh.DevExamples = min(sh.DevExamples, cfg.MaxDev)
	}
	sh.TextBytes = tb + db
	sh.Vocab = min(cfg.VocabSize, tb/2+data.NumSpecial)
	return sh, nil
}

// countLines returns the number of lines (an upper bound of the examples) and bytes of r.
func countLines(r io.Reader) (lines, size int, err error) {
	br := bufio.NewReaderSize(r, 1<<16)
	buf := make([]byte, 1<<16)
	for {
		k, err := br.Read(buf)
		lines += bytes.Count(buf[:k], []byte{'\n'})
		size += k
		if err == io.EOF {
			return lines + 1, size, nil
		}
		if err != nil {
			return 0, 0, err
		}
	}
}

// CheckMemory returns an error wrapping memlimit.ErrTooLarge, with the estimate by term, when
// a run of cfg on data of the given shape is estimated to need more than limit bytes (0:
// memlimit.Default()).
func CheckMemory(cfg Config, shape DataShape, limit uint64) error {
	if limit == 0 {
		limit = memlimit.Default()
	}
	m := EstimateMemory(cfg, shape)
	if err := memlimit.Check("training run", m.Total(), limit); err != nil {
		return fmt.Errorf("train: %w (%s)", err, m)
	}
	return nil
}
