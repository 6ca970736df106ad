package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"time"

	"github.com/wtacrs/wtacrs/data"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
)

// Run trains the model of cfg on the data it names (the bundled set by default, or
// opt.Data) and returns its result. It validates cfg first. It stops cleanly between steps when
// ctx is cancelled and then returns ctx.Err(). The same cfg and data give byte-identical
// numbers (timings aside).
func Run(ctx context.Context, cfg Config, opt Options) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, src, err := cfg.withInit()
	if err != nil {
		return nil, err
	}
	splits := opt.Data
	if splits == nil {
		shape, err := BoundDataShape(cfg)
		if err != nil {
			return nil, err
		}
		if err := CheckMemory(cfg, shape, opt.MemLimit); err != nil {
			return nil, err
		}
		if splits, err = loadData(cfg, src); err != nil {
			return nil, err
		}
	}
	if splits.TrainEnc == nil || splits.DevEnc == nil || splits.TrainEnc.N == 0 || splits.DevEnc.N == 0 || splits.Tokenizer == nil {
		return nil, fmt.Errorf("%w: empty train or dev set", ErrData)
	}
	if src != nil && splits.Tokenizer.VocabSize() != src.tok.VocabSize() {
		return nil, fmt.Errorf("%w: data encoded with %d tokens for a checkpoint of %d", ErrData, splits.Tokenizer.VocabSize(), src.tok.VocabSize())
	}
	shape := DataShape{TrainExamples: splits.TrainEnc.N, DevExamples: splits.DevEnc.N, Vocab: splits.Tokenizer.VocabSize()}
	if err := CheckMemory(cfg, shape, opt.MemLimit); err != nil {
		return nil, err
	}
	if cfg.Precision == "float64" {
		return run[float64](ctx, cfg, opt, splits, src)
	}
	return run[float32](ctx, cfg, opt, splits, src)
}

// LoadData reads and tokenizes the train and dev sets cfg names (the bundled set when both
// paths are empty). Errors wrap ErrData.
// With cfg.Init, the vocabulary is the checkpoint's.
func LoadData(cfg Config) (*data.Splits, error) {
	var src *initSource
	if cfg.Init != "" {
		var err error
		if src, err = readInit(cfg.Init); err != nil {
			return nil, err
		}
	}
	return loadData(cfg, src)
}

func loadData(cfg Config, src *initSource) (*data.Splits, error) {
	dc := data.Config{Train: cfg.TrainPath, Dev: cfg.DevPath, MaxLen: cfg.MaxLen,
		Tokenizer: data.TokenizerConfig{VocabSize: cfg.VocabSize, MinFreq: 1}, MaxTrain: cfg.MaxTrain, MaxDev: cfg.MaxDev}
	if src != nil {
		dc.Given = src.tok
	}
	s, err := data.Load(dc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrData, err)
	}
	return s, nil
}

// modelConfig returns the model sizes of cfg for a vocabulary of the given size.
func modelConfig(cfg Config, vocab, seqLen int) (model.Config, error) {
	pooling := cfg.Pooling
	if pooling == "" {
		pooling = model.PoolCLS.String()
	}
	pool, err := model.ParsePooling(pooling)
	if err != nil {
		return model.Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return model.Config{Vocab: vocab, Dim: cfg.Dim, Heads: cfg.Heads, Blocks: cfg.Blocks, FFN: cfg.FFNDim,
		MaxLen: seqLen, Classes: data.NumLabels, Segments: 2, Recompute: cfg.Recompute, ReuseLayerNorm: cfg.ReuseLayerNorm, Checkpoint: cfg.CheckpointBlocks, ChunkTokens: cfg.ChunkTokens, Pooling: pool}, nil
}

// TotalSteps returns the number of optimiser steps of a run over nTrain examples.
func TotalSteps(cfg Config, nTrain int) int {
	return cfg.Epochs * ((nTrain + cfg.BatchSize - 1) / cfg.BatchSize)
}

// LearningRate returns the learning rate of 0-based step s of total: linear warm-up over
// WarmupSteps, the peak for ConstantSteps, then a linear decay that reaches 0 after the last
// step.
func LearningRate(cfg Config, s, total int) float64 {
	w, c := cfg.WarmupSteps, cfg.ConstantSteps
	switch {
	case s < w:
		return cfg.LearningRate * float64(s+1) / float64(w)
	case s < w+c || total <= w+c:
		return cfg.LearningRate
	}
	return cfg.LearningRate * float64(total-s) / float64(total-w-c)
}

func run[T matrix.Float](ctx context.Context, cfg Config, opt Options, splits *data.Splits, src *initSource) (*Result, error) {
	start := time.Now()
	tr, dev := splits.TrainEnc, splits.DevEnc
	m, err := newModel[T](cfg, splits.Tokenizer.VocabSize(), max(tr.SeqLen, dev.SeqLen), src)
	if err != nil {
		return nil, err
	}
	loader, err := data.NewLoader(tr, data.LoaderConfig{BatchSize: cfg.BatchSize, Shuffle: true, Seed: cfg.Seed})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrData, err)
	}
	total := TotalSteps(cfg, tr.N)
	opti := newAdamW(m, cfg)
	samp := newSampler[T](cfg, m, tr.N, tr.SeqLen)
	res := &Result{Config: cfg, TrainExamples: tr.N, DevExamples: dev.N}
	res.MajorityAccuracy = majority(tr, dev)
	memSaved, memExact := make([]float64, samp.layers), make([]float64, samp.layers)
	memKept := make([]float64, samp.layers)
	step := 0
	var trainTime time.Duration
	for epoch := 0; epoch < cfg.Epochs; epoch++ {
		batches, err := loader.Epoch(epoch)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrData, err)
		}
		var lossSum float64
		var last Progress
		for bi, db := range batches {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			t0 := time.Now()
			b, err := toModelBatch(db, cfg.TrimPadding, true)
			if err != nil {
				return nil, err
			}
			step++
			samp.begin(step, epoch, db.Indices, b, opt.Observer)
			m.ZeroGrad()
			tape, err := m.Forward(b, samp)
			if err != nil {
				return nil, stepError(step, err)
			}
			if math.IsNaN(tape.Loss) || math.IsInf(tape.Loss, 0) {
				return nil, fmt.Errorf("%w: loss %v at step %d", ErrDiverged, tape.Loss, step)
			}
			n := b.B * b.S
			for i := 0; i < samp.layers; i++ {
				kept, _ := tape.SampledRows(i)
				el := float64(matrix.ElemSize[T]())
				memSaved[i] += float64(tape.LayerBytes(i))
				memExact[i] += float64(n*samp.dIn[i]) * el
				memKept[i] += float64(kept) / float64(n)
			}
			for l := 0; l < cfg.Blocks; l++ {
				res.AttentionBytes += float64(tape.AttentionBytes(l))
			}
			res.TapeBytes += float64(tape.SavedBytes())
			if err := m.Backward(tape, samp); err != nil {
				return nil, stepError(step, err)
			}
			if err := opti.step(LearningRate(cfg, step-1, total)); err != nil {
				return nil, fmt.Errorf("step %d: %w", step, err)
			}
			samp.finish()
			trainTime += time.Since(t0)
			res.Tokens += int64(n)
			lossSum += tape.Loss
			last = Progress{Step: step, TotalSteps: total, Epoch: epoch, Loss: tape.Loss, Elapsed: time.Since(start)}
			if opt.Progress != nil && bi < len(batches)-1 {
				opt.Progress(last)
			}
		}
		res.EpochLoss = append(res.EpochLoss, lossSum/float64(len(batches)))
		acc, err := evaluate(ctx, m, dev, cfg)
		if err != nil {
			return nil, err
		}
		res.EpochDevAccuracy = append(res.EpochDevAccuracy, acc)
		if opt.Progress != nil {
			last.EpochDone, last.DevAccuracy, last.Elapsed = true, acc, time.Since(start)
			opt.Progress(last)
		}
	}
	res.Steps = step
	res.DevAccuracy = res.EpochDevAccuracy[len(res.EpochDevAccuracy)-1]
	res.TrainTime, res.Elapsed = trainTime, time.Since(start)
	if trainTime > 0 {
		res.TokensPerSecond = float64(res.Tokens) / trainTime.Seconds()
	}
	res.AttentionBytes /= float64(step)
	res.TapeBytes /= float64(step)
	for _, p := range m.Trainable() {
		res.TrainableParams += len(p.W.Data)
	}
	for i := 0; i < samp.layers; i++ {
		method := samp.kinds[i].Method
		w, _ := m.Linear(i)
		if w.Frozen && !m.Adapted(i) {
			method = "frozen"
		}
		lm := LayerMemory{Layer: samp.ids[i], Method: method, LoRA: m.Adapted(i),
			ExactBytes: memExact[i] / float64(step), SavedBytes: memSaved[i] / float64(step),
			KeptFraction: memKept[i] / float64(step)}
		res.Memory = append(res.Memory, lm)
		res.SavedBytes += lm.SavedBytes
		res.ExactBytes += lm.ExactBytes
	}
	return res, nil
}

// stepError reports a failure of a training step: a NaN or ±Inf that arose in the model (the
// inputs are checked when read, so it can only come from training) wraps ErrDiverged.
func stepError(step int, err error) error {
	if errors.Is(err, matrix.ErrNonFinite) && !errors.Is(err, ErrDiverged) {
		return fmt.Errorf("%w: step %d: %w", ErrDiverged, step, err)
	}
	return fmt.Errorf("step %d: %w", step, err)
}

// toModelBatch converts a loader batch, trimmed to its longest sequence when trim is set.
func toModelBatch(db data.Minibatch, trim, labels bool) (model.Batch, error) {
	s := db.SeqLen
	keep := s
	if trim {
		keep = 1
		for r := 0; r < db.Size; r++ {
			for t := s - 1; t >= keep; t-- {
				if db.Mask[r*s+t] {
					keep = t + 1
					break
				}
			}
		}
	}
	b := model.Batch{B: db.Size, S: keep, Tokens: make([]int, db.Size*keep), Mask: make([]bool, db.Size*keep),
		Segments: make([]int, db.Size*keep)}
	for r := 0; r < db.Size; r++ {
		copy(b.Tokens[r*keep:(r+1)*keep], db.IDs[r*s:])
		copy(b.Mask[r*keep:(r+1)*keep], db.Mask[r*s:])
		copy(b.Segments[r*keep:(r+1)*keep], db.Segments[r*s:])
	}
	if labels {
		b.Labels = make([]int, db.Size)
		for r, l := range db.Labels {
			if l < 0 || int(l) >= data.NumLabels {
				return model.Batch{}, fmt.Errorf("%w: sample %d has no label", ErrData, db.Indices[r])
			}
			b.Labels[r] = int(l)
		}
	}
	return b, nil
}

// majority returns the dev accuracy of predicting the training set's most frequent label.
func majority(tr, dev *data.Encoded) float64 {
	var counts [data.NumLabels]int
	for _, l := range tr.Labels {
		if l >= 0 {
			counts[l]++
		}
	}
	best := 0
	for l, c := range counts {
		if c > counts[best] {
			best = l
		}
	}
	hit := 0
	for _, l := range dev.Labels {
		if int(l) == best {
			hit++
		}
	}
	return float64(hit) / float64(dev.N)
}

// evaluate returns the accuracy of m on set, every layer exact.
func evaluate[T matrix.Float](ctx context.Context, m *model.Model[T], set *data.Encoded, cfg Config) (float64, error) {
	loader, err := data.NewLoader(set, data.LoaderConfig{BatchSize: evalBatch})
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrData, err)
	}
	batches, err := loader.Epoch(0)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrData, err)
	}
	hit := 0
	for _, db := range batches {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		b, err := toModelBatch(db, cfg.TrimPadding, false)
		if err != nil {
			return 0, err
		}
		tape, err := m.Forward(b, nil)
		if err != nil {
			return 0, fmt.Errorf("evaluate: %w", err)
		}
		for r, p := range tape.Predict() {
			if p == int(db.Labels[r]) {
				hit++
			}
		}
	}
	runtime.KeepAlive(batches)
	return float64(hit) / float64(set.N), nil
}
