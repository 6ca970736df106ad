package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/wtacrs/wtacrs/checkpoint"
	"github.com/wtacrs/wtacrs/data"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
)

// ErrState reports a training state that cannot be resumed: missing, written by another
// configuration, or inconsistent.
var ErrState = errors.New("train: unusable training state")

// PretrainOptions are the optional settings of [Pretrain].
type PretrainOptions struct {
	// Progress, when not nil, is called after every optimiser step; Epoch counts passes over
	// the corpus, EpochDone marks an evaluation (DevAccuracy is then the MLM dev accuracy).
	Progress func(Progress)
	// MemLimit is as [Options.MemLimit].
	MemLimit uint64
	// State, when not empty, is the path (without extension) of the resumable training state,
	// written atomically every CheckpointEvery steps: the weights, AdamW's moments, the
	// gradient-norm cache of the WTA-CRS layers and the history of losses.
	State string
	// Resume continues from State, which must have been written by the same configuration.
	Resume bool
	// Model, when not empty, is the path (without extension) where the pretrained model is
	// saved as a checkpoint ([checkpoint.Save]) at the end, with Provenance in its meta.
	Model string
	// Provenance is recorded in the checkpoint's meta (config hash, commit, ...); Pretrain adds
	// steps, tokens and data.
	Provenance checkpoint.Provenance
	// Corpus, when not nil, replaces the corpus the configuration names (tests).
	Corpus *Corpus
}

// Corpus is the text a pretraining run reads: the training and held-out documents.
type Corpus struct {
	// Train and Dev are the two splits.
	Train, Dev *data.Corpus
	// Name describes the corpus in the checkpoint's provenance.
	Name string
}

// EvalPoint is one evaluation of the MLM objective on the dev sequences.
type EvalPoint struct {
	// Step is the optimiser step after which the model was evaluated.
	Step int
	// Loss is the mean cross-entropy over the predicted dev tokens, in nats.
	Loss float64
	// Accuracy is the fraction of predicted dev tokens whose argmax is the original token.
	Accuracy float64
}

// PretrainResult summarises a pretraining run.
type PretrainResult struct {
	// Config is the configuration the run was given.
	Config PretrainConfig
	// Steps is the number of optimiser steps, ResumedAt the step a resumed run started from
	// (0 for a fresh run).
	Steps, ResumedAt int
	// StepLoss is the MLM training loss of each step (index 0 is step 1), resumed steps
	// included.
	StepLoss []float64
	// Evals are the dev evaluations in step order.
	Evals []EvalPoint
	// Baseline is the unigram-frequency predictor on the same dev tokens: the loss of
	// predicting the training corpus's token frequencies (add-one smoothed) and the accuracy
	// of always predicting its most frequent token.
	Baseline EvalPoint
	// DevPredicted is the number of dev tokens predicted at each evaluation.
	DevPredicted int
	// TrainSequences and DevSequences count the packed sequences, Vocab the vocabulary size.
	TrainSequences, DevSequences, Vocab int
	// Params is the number of scalar parameters of the model.
	Params int
	// Tokens is the number of pooled tokens processed in the steps this process ran.
	Tokens int64
	// TokensPerSecond is Tokens over TrainTime.
	TokensPerSecond float64
	// TrainTime is the time spent in training steps by this process, Elapsed the whole call.
	TrainTime, Elapsed time.Duration
}

// pretrainData is the corpus encoded for a run.
type pretrainData struct {
	tok        *data.Tokenizer
	train, dev *data.Encoded
	unigram    []float64 // add-one smoothed token frequencies of the training sequences
	name       string
}

// Pretrain runs masked-language-model pretraining (see [PretrainConfig]) and returns its
// result. It validates cfg first and stops cleanly between steps when ctx is cancelled,
// returning ctx.Err() (a state written earlier stays). The same configuration gives the same
// weights bit for bit, resumed or not.
func Pretrain(ctx context.Context, cfg PretrainConfig, opt PretrainOptions) (*PretrainResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opt.Resume && opt.State == "" {
		return nil, fmt.Errorf("%w: resuming needs the path of a state", ErrState)
	}
	corpus := opt.Corpus
	if corpus == nil {
		var err error
		if corpus, err = LoadCorpus(cfg); err != nil {
			return nil, err
		}
	}
	pd, err := encodeCorpus(cfg, corpus)
	if err != nil {
		return nil, err
	}
	tc := cfg.trainConfig()
	shape := DataShape{TrainExamples: pd.train.N, DevExamples: pd.dev.N, Vocab: pd.tok.VocabSize()}
	if err := CheckMemory(tc, shape, opt.MemLimit); err != nil {
		return nil, err
	}
	if cfg.Precision == "float64" {
		return pretrain[float64](ctx, cfg, opt, pd)
	}
	return pretrain[float32](ctx, cfg, opt, pd)
}

// LoadCorpus reads the corpus cfg names: the bundled one when both paths are empty. Errors
// wrap ErrData.
func LoadCorpus(cfg PretrainConfig) (*Corpus, error) {
	var c Corpus
	var err error
	if cfg.CorpusTrain == "" {
		if c.Train, err = data.BundledCorpus("train"); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrData, err)
		}
		if c.Dev, err = data.BundledCorpus("dev"); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrData, err)
		}
		c.Name = "the bundled corpus (" + data.BundledCorpusDir + ")"
		return &c, nil
	}
	if c.Train, err = data.LoadCorpus(cfg.CorpusTrain); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrData, err)
	}
	if c.Dev, err = data.LoadCorpus(cfg.CorpusDev); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrData, err)
	}
	c.Name = cfg.CorpusTrain + " and " + cfg.CorpusDev
	return &c, nil
}

// encodeCorpus builds the vocabulary (with [MASK]) from the training text and packs both
// splits into sequences.
func encodeCorpus(cfg PretrainConfig, c *Corpus) (*pretrainData, error) {
	if c == nil || c.Train == nil || c.Dev == nil {
		return nil, fmt.Errorf("%w: no corpus", ErrData)
	}
	tok, err := data.TrainTokenizer(c.Train.Texts(), data.TokenizerConfig{VocabSize: cfg.VocabSize, MinFreq: 1, Mask: true})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrData, err)
	}
	tr, err := data.EncodeCorpus(c.Train, tok, cfg.MaxLen)
	if err != nil {
		return nil, fmt.Errorf("%w: training corpus: %w", ErrData, err)
	}
	dev, err := data.EncodeCorpus(c.Dev, tok, cfg.MaxLen)
	if err != nil {
		return nil, fmt.Errorf("%w: dev corpus: %w", ErrData, err)
	}
	if cfg.MaxDevSequences > 0 && dev.N > cfg.MaxDevSequences {
		dev = headRows(dev, cfg.MaxDevSequences)
	}
	if tr.N == 0 || dev.N == 0 {
		return nil, fmt.Errorf("%w: the training or dev corpus holds no sequence", ErrData)
	}
	counts := make([]float64, tok.VocabSize())
	for i, id := range tr.IDs {
		if tr.Mask[i] {
			counts[id]++
		}
	}
	var total float64
	for i := range counts {
		counts[i]++
		total += counts[i]
	}
	for i := range counts {
		counts[i] /= total
	}
	return &pretrainData{tok: tok, train: tr, dev: dev, unigram: counts, name: c.Name}, nil
}

// headRows returns the first n rows of e (0 < n ≤ e.N), sharing its storage.
func headRows(e *data.Encoded, n int) *data.Encoded {
	h := *e
	s := e.SeqLen
	h.N = n
	h.IDs, h.Mask, h.Segments = e.IDs[:n*s], e.Mask[:n*s], e.Segments[:n*s]
	h.Labels, h.Index = e.Labels[:n], e.Index[:n]
	return &h
}

// maskConfig returns the masking of cfg.
func (c PretrainConfig) maskConfig() data.MaskConfig {
	return data.MaskConfig{Prob: c.MaskProb, MaskFrac: c.MaskTokenFrac, RandomFrac: c.RandomTokenFrac}
}

// pretrainModelConfig returns the model of cfg for a vocabulary of the given size.
func pretrainModelConfig(cfg PretrainConfig, vocab int) (model.Config, error) {
	head, err := model.ParseMLMHead(cfg.MLMHead)
	if err != nil {
		return model.Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return model.Config{Vocab: vocab, Dim: cfg.Dim, Heads: cfg.Heads, Blocks: cfg.Blocks, FFN: cfg.FFNDim,
		MaxLen: cfg.MaxLen, Classes: 0, Segments: 2, Recompute: cfg.Recompute, MLM: head}, nil
}

// devMaskStream is the masking stream of the dev evaluation: the same tokens are predicted at
// every evaluation, so that the losses compare.
const devMaskStream = 1 << 40

func pretrain[T matrix.Float](ctx context.Context, cfg PretrainConfig, opt PretrainOptions, pd *pretrainData) (*PretrainResult, error) {
	start := time.Now()
	tc := cfg.trainConfig()
	mcfg, err := pretrainModelConfig(cfg, pd.tok.VocabSize())
	if err != nil {
		return nil, err
	}
	m, err := model.New[T](mcfg, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	loader, err := data.NewLoader(pd.train, data.LoaderConfig{BatchSize: cfg.BatchSize, Shuffle: true, Seed: cfg.Seed})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrData, err)
	}
	perEpoch := loader.NumBatches()
	opti := newAdamW(m, tc)
	samp := newSampler[T](tc, m, pd.train.N, pd.train.SeqLen)
	res := &PretrainResult{Config: cfg, TrainSequences: pd.train.N, DevSequences: pd.dev.N, Vocab: pd.tok.VocabSize(), Params: m.NumParams()}
	masker, err := data.NewMasker(cfg.maskConfig(), pd.tok, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	devBatches, err := maskedDev(pd, cfg, masker)
	if err != nil {
		return nil, err
	}
	res.Baseline, res.DevPredicted = unigramBaseline(devBatches, pd.unigram, pd.tok.FirstWordID())
	st := &pretrainState[T]{m: m, opt: opti, samp: samp}
	if opt.Resume {
		if err := st.load(opt.State, cfg); err != nil {
			return nil, err
		}
		res.ResumedAt = st.step
	}
	var trainTime time.Duration
	var batches []data.Minibatch
	batchEpoch := -1
	for st.step < cfg.Steps {
		if err := ctx.Err(); err != nil {
			// Interrupted between steps: the state of the last finished step is kept so that
			// -resume loses nothing.
			if opt.State != "" && cfg.CheckpointEvery > 0 && st.step > res.ResumedAt {
				if serr := st.save(opt.State, cfg); serr != nil {
					return nil, errors.Join(err, serr)
				}
			}
			return nil, err
		}
		step := st.step + 1
		epoch, bi := (step-1)/perEpoch, (step-1)%perEpoch
		if epoch != batchEpoch {
			if batches, err = loader.Epoch(epoch); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrData, err)
			}
			batchEpoch = epoch
		}
		t0 := time.Now()
		db := batches[bi]
		b, err := toModelBatch(db, cfg.TrimPadding, false)
		if err != nil {
			return nil, err
		}
		mk, err := masker.Mask(b.Tokens, b.Mask, uint64(step))
		if err != nil {
			return nil, fmt.Errorf("%w: step %d: %w", ErrData, step, err)
		}
		b.Tokens, b.MLMTargets = mk.Inputs, mk.Targets
		samp.begin(step, epoch, db.Indices, b, nil)
		m.ZeroGrad()
		tape, err := m.Forward(b, samp)
		if err != nil {
			return nil, stepError(step, err)
		}
		if math.IsNaN(tape.MLMLoss) || math.IsInf(tape.MLMLoss, 0) {
			return nil, fmt.Errorf("%w: MLM loss %v at step %d", ErrDiverged, tape.MLMLoss, step)
		}
		if err := m.Backward(tape, samp); err != nil {
			return nil, stepError(step, err)
		}
		if err := opti.step(cfg.LearningRateAt(step - 1)); err != nil {
			return nil, fmt.Errorf("step %d: %w", step, err)
		}
		samp.finish()
		trainTime += time.Since(t0)
		res.Tokens += int64(b.B * b.S)
		st.tokens += int64(b.B * b.S)
		st.step = step
		st.losses = append(st.losses, tape.MLMLoss)
		p := Progress{Step: step, TotalSteps: cfg.Steps, Epoch: epoch, Loss: tape.MLMLoss, Elapsed: time.Since(start)}
		if step%cfg.EvalEvery == 0 || step == cfg.Steps {
			ev, err := evaluateMLM(ctx, m, devBatches)
			if err != nil {
				return nil, err
			}
			ev.Step = step
			st.evals = append(st.evals, ev)
			p.EpochDone, p.DevAccuracy = true, ev.Accuracy
		}
		if opt.State != "" && cfg.CheckpointEvery > 0 && step%cfg.CheckpointEvery == 0 && step < cfg.Steps {
			if err := st.save(opt.State, cfg); err != nil {
				return nil, err
			}
		}
		if opt.Progress != nil {
			opt.Progress(p)
		}
	}
	res.Steps, res.StepLoss, res.Evals = st.step, st.losses, st.evals
	res.TrainTime, res.Elapsed = trainTime, time.Since(start)
	if trainTime > 0 {
		res.TokensPerSecond = float64(res.Tokens) / trainTime.Seconds()
	}
	if opt.Model != "" {
		prov := opt.Provenance
		prov.Steps, prov.Tokens = int64(res.Steps), st.tokens
		prov.Data = pd.name
		meta := checkpoint.Meta{Vocab: pd.tok.Tokens(), KeepCase: pd.tok.KeepCase(), Precision: cfg.Precision, Provenance: prov}
		if err := checkpoint.Save(opt.Model, m, meta); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// maskedDev returns the dev sequences in batches of evalBatch, masked once with the dev
// stream.
func maskedDev(pd *pretrainData, cfg PretrainConfig, masker *data.Masker) ([]model.Batch, error) {
	loader, err := data.NewLoader(pd.dev, data.LoaderConfig{BatchSize: evalBatch})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrData, err)
	}
	dbs, err := loader.Epoch(0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrData, err)
	}
	var out []model.Batch
	for i, db := range dbs {
		b, err := toModelBatch(db, cfg.TrimPadding, false)
		if err != nil {
			return nil, err
		}
		mk, err := masker.Mask(b.Tokens, b.Mask, devMaskStream+uint64(i))
		if err != nil {
			return nil, fmt.Errorf("%w: dev batch %d: %w", ErrData, i, err)
		}
		b.Tokens, b.MLMTargets = mk.Inputs, mk.Targets
		out = append(out, b)
	}
	return out, nil
}

// unigramBaseline scores the unigram-frequency predictor on the dev targets.
func unigramBaseline(batches []model.Batch, p []float64, tok0 int) (EvalPoint, int) {
	best := tok0
	for i, v := range p {
		if i >= tok0 && v > p[best] {
			best = i
		}
	}
	var loss float64
	n, hit := 0, 0
	for _, b := range batches {
		for _, t := range b.MLMTargets {
			if t < 0 {
				continue
			}
			loss -= math.Log(p[t])
			n++
			if t == best {
				hit++
			}
		}
	}
	if n == 0 {
		return EvalPoint{}, 0
	}
	return EvalPoint{Loss: loss / float64(n), Accuracy: float64(hit) / float64(n)}, n
}

// evaluateMLM returns the MLM loss and accuracy over the dev batches, every layer exact.
func evaluateMLM[T matrix.Float](ctx context.Context, m *model.Model[T], batches []model.Batch) (EvalPoint, error) {
	var loss float64
	n, hit := 0, 0
	for _, b := range batches {
		if err := ctx.Err(); err != nil {
			return EvalPoint{}, err
		}
		tape, err := m.Forward(b, nil)
		if err != nil {
			return EvalPoint{}, fmt.Errorf("evaluate: %w", err)
		}
		loss += tape.MLMLoss * float64(tape.MLMPredicted)
		n += tape.MLMPredicted
		hit += tape.MLMCorrect
	}
	if n == 0 {
		return EvalPoint{}, nil
	}
	return EvalPoint{Loss: loss / float64(n), Accuracy: float64(hit) / float64(n)}, nil
}

// pretrainState is what a resumed run needs to continue bit for bit.
type pretrainState[T matrix.Float] struct {
	m      *model.Model[T]
	opt    *adamW[T]
	samp   *sampler[T]
	step   int
	tokens int64 // pooled tokens of every step, resumed ones included
	losses []float64
	evals  []EvalPoint
}

// stateFormat names the layout of a training state file.
const stateFormat = "wtacrs-pretrain-state/1"

// IsPretrainState reports whether path (without extension) is a training state written by
// [Pretrain]: a tensor file whose metadata names the state format.
func IsPretrainState(path string) bool {
	_, meta, err := checkpoint.ReadTensorsHeader(path)
	return err == nil && meta["format"] == stateFormat
}

// tensors returns the state's tensors, sharing the buffers of the run, with the buffers that
// need a conversion (the cache's warm flags as 0/1, the evaluations as rows of step, loss,
// accuracy) and the function that converts them back after a load.
func (s *pretrainState[T]) tensors(nEvals int) ([]checkpoint.Tensor, func()) {
	var ts []checkpoint.Tensor
	for k, p := range s.m.Params {
		ts = append(ts, checkpoint.NewTensor("param/"+p.Name, []int{p.W.Rows, p.W.Cols}, p.W.Data))
		if s.opt.m32 != nil {
			ts = append(ts, checkpoint.NewTensor("adam.m/"+p.Name, []int{len(s.opt.m32[k])}, s.opt.m32[k]),
				checkpoint.NewTensor("adam.v/"+p.Name, []int{len(s.opt.v32[k])}, s.opt.v32[k]))
		} else {
			ts = append(ts, checkpoint.NewTensor("adam.m/"+p.Name, []int{len(s.opt.m64[k])}, s.opt.m64[k]),
				checkpoint.NewTensor("adam.v/"+p.Name, []int{len(s.opt.v64[k])}, s.opt.v64[k]))
		}
	}
	warm := make([][]float32, len(s.samp.cache))
	for i, c := range s.samp.cache {
		if c == nil {
			continue
		}
		warm[i] = make([]float32, len(s.samp.warm[i]))
		for j, w := range s.samp.warm[i] {
			if w {
				warm[i][j] = 1
			}
		}
		ts = append(ts, checkpoint.NewTensor("cache/"+strconv.Itoa(i), []int{len(c)}, c),
			checkpoint.NewTensor("warm/"+strconv.Itoa(i), []int{len(warm[i])}, warm[i]))
	}
	if len(s.losses) < s.step {
		s.losses = append(s.losses, make([]float64, s.step-len(s.losses))...)
	}
	ev := make([]float64, 3*nEvals)
	for i, e := range s.evals {
		ev[3*i], ev[3*i+1], ev[3*i+2] = float64(e.Step), e.Loss, e.Accuracy
	}
	ts = append(ts, checkpoint.NewTensor("history/loss", []int{s.step}, s.losses[:s.step]),
		checkpoint.NewTensor("history/eval", []int{nEvals, 3}, ev))
	back := func() {
		for i, w := range warm {
			for j, v := range w {
				s.samp.warm[i][j] = v != 0
			}
		}
		s.evals = make([]EvalPoint, nEvals)
		for i := range s.evals {
			s.evals[i] = EvalPoint{Step: int(ev[3*i]), Loss: ev[3*i+1], Accuracy: ev[3*i+2]}
		}
	}
	return ts, back
}

// save writes the state atomically to path.safetensors.
func (s *pretrainState[T]) save(path string, cfg PretrainConfig) error {
	fp, err := cfg.fingerprint()
	if err != nil {
		return err
	}
	ts, _ := s.tensors(len(s.evals))
	meta := map[string]string{"format": stateFormat, "config": fp, "step": strconv.Itoa(s.step), "adam_t": strconv.Itoa(s.opt.t),
		"tokens": strconv.FormatInt(s.tokens, 10)}
	if err := checkpoint.SaveTensors(path, ts, meta); err != nil {
		return fmt.Errorf("train: saving the state at step %d: %w", s.step, err)
	}
	return nil
}

// load reads a state written by save for the same configuration into the run's buffers.
func (s *pretrainState[T]) load(path string, cfg PretrainConfig) error {
	fp, err := cfg.fingerprint()
	if err != nil {
		return err
	}
	infos, meta, err := checkpoint.ReadTensorsHeader(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: no state at %s to resume from", ErrState, path)
		}
		return fmt.Errorf("%w: %w", ErrState, err)
	}
	if meta["format"] != stateFormat {
		return fmt.Errorf("%w: %s is not a pretraining state (format %q)", ErrState, path, meta["format"])
	}
	if meta["config"] != fp {
		return fmt.Errorf("%w: %s was written by another configuration", ErrState, path)
	}
	step, err1 := strconv.Atoi(meta["step"])
	t, err2 := strconv.Atoi(meta["adam_t"])
	tokens, err3 := strconv.ParseInt(meta["tokens"], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || step < 1 || step > cfg.Steps || t != step || tokens < 0 {
		return fmt.Errorf("%w: %s: bad step %q or optimiser count %q", ErrState, path, meta["step"], meta["adam_t"])
	}
	nEvals := -1
	for _, in := range infos {
		if in.Name == "history/eval" && len(in.Shape) == 2 && in.Shape[1] == 3 && in.Shape[0] <= step {
			nEvals = in.Shape[0]
		}
	}
	if nEvals < 0 {
		return fmt.Errorf("%w: %s has no evaluation history of at most %d rows", ErrState, path, step)
	}
	s.step = step
	ts, back := s.tensors(nEvals)
	if _, err := checkpoint.LoadTensorsInto(path, ts); err != nil {
		return fmt.Errorf("%w: %w", ErrState, err)
	}
	back()
	s.losses = s.losses[:step]
	s.opt.t, s.tokens = t, tokens
	return nil
}
