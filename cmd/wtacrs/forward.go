package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wtacrs/wtacrs/checkpoint"
	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/internal/atomicfile"
	"github.com/wtacrs/wtacrs/internal/memlimit"
	"github.com/wtacrs/wtacrs/internal/npyfile"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
)

func init() {
	register(command{name: "forward", summary: "run a checkpoint on a batch of .npy token ids; write logits, loss, gradients, traces", run: runForward})
}

// The files of a forward batch directory and of its output directory (see the usage text).
const (
	fwdTokens     = "tokens.npy"
	fwdMask       = "mask.npy"
	fwdSegments   = "segments.npy"
	fwdLabels     = "labels.npy"
	fwdMLMTargets = "mlm_targets.npy"
	fwdLogits     = "logits.npy"
	fwdResult     = "result.json"
	fwdGrads      = "grads.safetensors"
	fwdModel      = "model"
	fwdTrace      = "trace"
)

// forwardResult is result.json.
type forwardResult struct {
	Checkpoint   string  `json:"checkpoint"`
	Precision    string  `json:"precision"`
	Batch        [2]int  `json:"batch"`
	Classes      int     `json:"classes"`
	Pooling      string  `json:"pooling"`
	MLMHead      string  `json:"mlm_head"`
	Loss         float64 `json:"loss"`
	MLMLoss      float64 `json:"mlm_loss"`
	MLMPredicted int     `json:"mlm_predicted"`
	MLMCorrect   int     `json:"mlm_correct"`
	Backward     bool    `json:"backward"`
	ModelSaved   bool    `json:"model_saved"`
}

func runForward(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("forward", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, stderr, "wtacrs forward [flags] CHECKPOINT BATCH_DIR OUT_DIR",
		`Runs the model of a checkpoint (NAME.safetensors with NAME.json beside it) on one batch and
writes what it computed, so that another implementation (the PyTorch reference encoder of
python/wtacrs_trace) can be compared with it. BATCH_DIR holds .npy files (any integer, real or
boolean dtype, C order):
  tokens.npy       B x S token ids (required)
  mask.npy         B x S, non-zero for a real token, zero for padding (default: all real)
  segments.npy     B x S segment ids (default: all 0)
  labels.npy       B class labels (optional; then backward runs)
  mlm_targets.npy  B x S token ids to predict, -1 elsewhere (optional; then backward runs)
OUT_DIR must be absent or empty; it is written in a hidden folder beside it and renamed into
place when complete. It receives
  result.json      precision, batch, head, loss and MLM loss (mean cross-entropies)
  logits.npy       B x classes, the classification logits (models with a head)
  grads.safetensors  the gradient of every parameter under its name (after backward)
  model.safetensors, model.json  the model that ran, when -classes, -pooling or -precision
                   changed it (a new head is drawn from -seed as fine-tuning draws it)
  trace/block<B>.<kind>/step1/H.npy, dZ.npy, valid.npy  with -trace: every linear layer's
                   input and output gradient in the layout wtacrs analyze reads
A float32 checkpoint runs in float64 with -precision float64 (its values widened exactly).`,
		"wtacrs forward results/pretrain/model batch/ out/",
		"wtacrs forward -classes 2 -pooling mean -precision float64 -trace results/pretrain/model batch/ out/")
	precision := fs.String("precision", "", "run in `PRECISION` float32 or float64 (default: the checkpoint's)")
	classes := fs.Int("classes", 0, "replace the classification head by a new one of `N` classes (and drop an MLM head), as fine-tuning does")
	pooling := fs.String("pooling", "", "run with `POOLING` cls or mean (default: the checkpoint's)")
	seed := fs.Uint64("seed", 1, "`SEED` of the new head drawn with -classes")
	trace := fs.Bool("trace", false, "write every linear layer's H, dZ and valid mask under OUT_DIR/trace/")
	memLimit := memLimitFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 3 {
		fs.Usage()
		return errUsage(fmt.Sprintf("forward needs CHECKPOINT, BATCH_DIR and OUT_DIR, got %d argument(s)", len(pos)))
	}
	ckpt, batchDir, outDir := pos[0], pos[1], pos[2]
	if *classes < 0 || *classes == 1 {
		return errUsage(fmt.Sprintf("-classes %d: want 0 (keep the checkpoint's head) or at least 2", *classes))
	}
	meta, err := checkpoint.ReadMeta(ckpt)
	if err != nil {
		return inputErr(err)
	}
	prec := meta.Precision
	if *precision != "" {
		prec = *precision
	}
	if prec != checkpoint.PrecisionFloat32 && prec != checkpoint.PrecisionFloat64 {
		return errUsage(fmt.Sprintf("-precision %q: want float32 or float64", prec))
	}
	if prec == checkpoint.PrecisionFloat32 && meta.Precision == checkpoint.PrecisionFloat64 {
		return errUsage(fmt.Sprintf("-precision float32: %s is a float64 checkpoint, and narrowing is not exact", ckpt))
	}
	if err := checkTensorNames(ckpt, meta.Architecture); err != nil {
		return err
	}
	cfg := meta.Architecture
	if *classes > 0 {
		cfg.Classes, cfg.MLM = *classes, model.MLMNone
	}
	if *pooling != "" {
		p, err := model.ParsePooling(*pooling)
		if err != nil {
			return errUsage(fmt.Sprintf("-pooling: %v", err))
		}
		cfg.Pooling = p
	}
	if err := cfg.Validate(); err != nil {
		return inputErr(err)
	}
	changed := cfg != meta.Architecture || prec != meta.Precision
	b, err := readForwardBatch(batchDir, cfg)
	if err != nil {
		return err
	}
	if err := checkOutDir(outDir); err != nil {
		return err
	}
	if err := memlimit.Check("wtacrs forward", forwardBytes(cfg, b, prec, *trace), memLimit()); err != nil {
		return errUsage(err.Error())
	}
	job := forwardJob{ckpt: ckpt, meta: meta, cfg: cfg, seed: *seed, batch: b, trace: *trace, changed: changed}
	stage, err := os.MkdirTemp(filepath.Dir(filepath.Clean(outDir)), "."+filepath.Base(filepath.Clean(outDir))+".tmp-")
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(stage) // our own staging folder, never the user's OUT_DIR
		}
	}()
	var res forwardResult
	if prec == checkpoint.PrecisionFloat64 {
		res, err = forwardRun[float64](job, stage)
	} else {
		res, err = forwardRun[float32](job, stage)
	}
	if err != nil {
		return err
	}
	if err := os.Rename(stage, outDir); err != nil { // onto an absent or empty directory
		return fmt.Errorf("forward: %w", err)
	}
	committed = true
	atomicfile.SyncDir(filepath.Dir(filepath.Clean(outDir)))
	fmt.Fprintf(stdout, "ran %s (%s) on a %dx%d batch: loss %v, MLM loss %v; wrote %s\n",
		ckpt, res.Precision, b.B, b.S, res.Loss, res.MLMLoss, outDir)
	return nil
}

// checkTensorNames refuses a tensor file holding a tensor that is no parameter of the
// checkpoint's architecture (the model is then built with checkpoint.LoadInto, which would
// leave it unread).
func checkTensorNames(ckpt string, arch model.Config) error {
	// A model with the architecture's options and blocks at the smallest sizes has the same
	// parameter names.
	m, err := model.New[float32](model.Config{Vocab: 1, Dim: arch.Heads, Heads: arch.Heads, Blocks: arch.Blocks, FFN: 1, MaxLen: 1,
		Classes: arch.Classes, Segments: arch.Segments, Pooling: arch.Pooling, MLM: arch.MLM}, 0)
	if err != nil {
		return inputErr(err)
	}
	tpath, _ := checkpoint.Files(ckpt)
	infos, _, err := checkpoint.ReadTensorsHeader(tpath)
	if err != nil {
		return inputErr(err)
	}
	for _, t := range infos {
		if m.Param(t.Name) == nil {
			return errUsage(fmt.Sprintf("%s: tensor %q %v is no parameter of the model that the architecture of %s describes", tpath, t.Name, t.Shape, ckpt))
		}
	}
	return nil
}

// inputErr marks a checkpoint or batch that cannot be used (exit status 2), keeping its message.
func inputErr(err error) error { return errUsage(err.Error()) }

// checkOutDir refuses an OUT_DIR that exists and is not an empty directory.
func checkOutDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return errUsage(fmt.Sprintf("OUT_DIR %s: %v", dir, err))
	case len(entries) > 0:
		return errUsage(fmt.Sprintf("OUT_DIR %s is not empty: give an absent or empty directory (nothing of yours is replaced)", dir))
	}
	return nil
}

// forwardBytes estimates the memory of a forward job: the parameters with their gradients
// (twice, for a widened checkpoint), the activations of every block with the attention
// scores, and the traces.
func forwardBytes(cfg model.Config, b model.Batch, prec string, trace bool) uint64 {
	size := 4
	if prec == checkpoint.PrecisionFloat64 {
		size = 8
	}
	d, f, n := cfg.Dim, cfg.FFN, b.B*b.S
	params := memlimit.Sum(memlimit.Mul(cfg.Vocab+cfg.MaxLen+cfg.Segments+cfg.Classes+4, d),
		memlimit.Mul(cfg.Blocks, 4*d*d+2*d*f+10*d+f))
	if cfg.MLM == model.MLMUntied {
		params = memlimit.Sum(params, memlimit.Mul(d, cfg.Vocab))
	}
	// Per block: the LayerNorm outputs, q, k, v, the context, the residual stream and their
	// gradients (about 12 n x d), the feed-forward activations (3 n x f), the scores (2 S x S
	// per sequence and head, one sequence and head at a time per worker: bounded by all).
	acts := memlimit.Sum(memlimit.Mul(cfg.Blocks, n, 12*d+3*f), memlimit.Mul(b.B, cfg.Heads, b.S, b.S, 2), memlimit.Mul(n, cfg.Vocab))
	total := memlimit.Sum(mulBytes(params, 4*size), mulBytes(acts, size))
	if trace {
		total = memlimit.Sum(total, memlimit.Mul(cfg.Blocks, n, 10*d+4*f, size))
	}
	return total
}

// mulBytes returns c·k without wrapping (memlimit.Unlimited on overflow).
func mulBytes(c uint64, k int) uint64 {
	if c > memlimit.Unlimited/uint64(k) {
		return memlimit.Unlimited
	}
	return c * uint64(k)
}

// readForwardBatch reads the batch files of dir and checks them against cfg.
func readForwardBatch(dir string, cfg model.Config) (model.Batch, error) {
	read := func(name string, optional bool) (npyfile.Array, bool, error) {
		a, err := npyfile.ReadArray(filepath.Join(dir, name))
		if optional && errors.Is(err, fs.ErrNotExist) {
			return a, false, nil
		}
		if err != nil {
			return a, false, errUsage(fmt.Sprintf("batch: %v", err))
		}
		return a, true, nil
	}
	ints := func(name string, a npyfile.Array) ([]int, error) {
		out := make([]int, len(a.Data))
		for i, v := range a.Data {
			if v != math.Trunc(v) || math.Abs(v) > 1<<31 {
				return nil, errUsage(fmt.Sprintf("batch: %s: element %d is %v, not an integer id", filepath.Join(dir, name), i, v))
			}
			out[i] = int(v)
		}
		return out, nil
	}
	tok, _, err := read(fwdTokens, false)
	if err != nil {
		return model.Batch{}, err
	}
	if len(tok.Shape) != 2 || tok.Shape[0] < 1 || tok.Shape[1] < 1 {
		return model.Batch{}, errUsage(fmt.Sprintf("batch: %s has shape %v, want B x S with B, S >= 1", filepath.Join(dir, fwdTokens), tok.Shape))
	}
	b := model.Batch{B: tok.Shape[0], S: tok.Shape[1]}
	if b.Tokens, err = ints(fwdTokens, tok); err != nil {
		return b, err
	}
	b.Mask = make([]bool, b.B*b.S)
	for i := range b.Mask {
		b.Mask[i] = true
	}
	perToken := func(name string) (npyfile.Array, bool, error) {
		a, ok, err := read(name, true)
		if err == nil && ok && (len(a.Shape) != 2 || a.Shape[0] != b.B || a.Shape[1] != b.S) {
			err = errUsage(fmt.Sprintf("batch: %s has shape %v, want [%d %d] as tokens.npy", filepath.Join(dir, name), a.Shape, b.B, b.S))
		}
		return a, ok, err
	}
	if a, ok, err := perToken(fwdMask); err != nil {
		return b, err
	} else if ok {
		for i, v := range a.Data {
			b.Mask[i] = v != 0
		}
	}
	if a, ok, err := perToken(fwdSegments); err != nil {
		return b, err
	} else if ok {
		if b.Segments, err = ints(fwdSegments, a); err != nil {
			return b, err
		}
	}
	if a, ok, err := perToken(fwdMLMTargets); err != nil {
		return b, err
	} else if ok {
		if b.MLMTargets, err = ints(fwdMLMTargets, a); err != nil {
			return b, err
		}
	}
	if a, ok, err := read(fwdLabels, true); err != nil {
		return b, err
	} else if ok {
		if len(a.Shape) != 1 || a.Shape[0] != b.B {
			return b, errUsage(fmt.Sprintf("batch: %s has shape %v, want [%d]", filepath.Join(dir, fwdLabels), a.Shape, b.B))
		}
		if b.Labels, err = ints(fwdLabels, a); err != nil {
			return b, err
		}
	}
	if err := b.Validate(cfg); err != nil {
		return b, errUsage(fmt.Sprintf("batch %s: %v", dir, err))
	}
	return b, nil
}

// forwardJob is what forwardRun runs.
type forwardJob struct {
	ckpt    string
	meta    checkpoint.Meta
	cfg     model.Config
	seed    uint64
	batch   model.Batch
	trace   bool
	changed bool
}

// forwardModel builds the model of the job in precision T: the checkpoint's own parameters,
// widened to float64 when T is wider than the checkpoint, and, with a new head, drawn from the
// seed as fine-tuning draws it with every encoder parameter then taken from the checkpoint.
func forwardModel[T matrix.Float](job forwardJob) (*model.Model[T], error) {
	if checkpoint.PrecisionOf[T]() != job.meta.Precision { // float32 checkpoint, float64 run
		src, err := forwardModel[float32](job)
		if err != nil {
			return nil, err
		}
		m, err := model.New[T](job.cfg, job.seed)
		if err != nil {
			return nil, inputErr(err)
		}
		for i, p := range m.Params {
			for j, v := range src.Params[i].W.Data {
				p.W.Data[j] = T(v)
			}
		}
		return m, nil
	}
	m, err := model.New[T](job.cfg, job.seed)
	if err != nil {
		return nil, inputErr(err)
	}
	skip := func(string) bool { return false }
	if job.cfg.Classes != job.meta.Architecture.Classes || job.cfg.MLM != job.meta.Architecture.MLM {
		skip = func(name string) bool { return strings.HasPrefix(name, "head.") || strings.HasPrefix(name, "mlm.") }
	}
	if _, err := checkpoint.LoadInto(job.ckpt, m, skip); err != nil {
		return nil, inputErr(err)
	}
	return m, nil
}

// traceHook records every linear layer's input H and output gradient ∇Z, leaving every layer
// exact.
type traceHook[T matrix.Float] struct {
	h, g []matrix.Dense[T]
}

func (t *traceHook[T]) Sketch(i int, h matrix.Dense[T]) (*estimator.Sketch, error) {
	t.h[i] = matrix.Dense[T]{Rows: h.Rows, Cols: h.Cols, Data: slices.Clone(h.Data)}
	return nil, nil
}

func (t *traceHook[T]) Gradient(i int, gz matrix.Dense[T]) error {
	t.g[i] = matrix.Dense[T]{Rows: gz.Rows, Cols: gz.Cols, Data: slices.Clone(gz.Data)}
	return nil
}

// forwardRun runs the job in precision T and writes its outputs into dir.
func forwardRun[T matrix.Float](job forwardJob, dir string) (forwardResult, error) {
	m, err := forwardModel[T](job)
	if err != nil {
		return forwardResult{}, err
	}
	b := job.batch
	var hook model.Hook[T]
	var th *traceHook[T]
	if job.trace {
		layers := m.Cfg.Blocks * model.LinearPerBlock
		th = &traceHook[T]{h: make([]matrix.Dense[T], layers), g: make([]matrix.Dense[T], layers)}
		hook = th
	}
	tape, err := m.Forward(b, hook)
	if err != nil {
		return forwardResult{}, inputErr(err)
	}
	res := forwardResult{Checkpoint: filepath.ToSlash(job.ckpt), Precision: checkpoint.PrecisionOf[T](), Batch: [2]int{b.B, b.S},
		Classes: m.Cfg.Classes, Pooling: m.Cfg.Pooling.String(), MLMHead: m.Cfg.MLM.String(),
		Loss: tape.Loss, MLMLoss: tape.MLMLoss, MLMPredicted: tape.MLMPredicted, MLMCorrect: tape.MLMCorrect,
		Backward: b.Labels != nil || b.MLMTargets != nil, ModelSaved: job.changed}
	if res.Backward {
		m.ZeroGrad()
		if err := m.Backward(tape, hook); err != nil {
			return res, inputErr(err)
		}
		tensors := make([]checkpoint.Tensor, 0, len(m.Params))
		for _, p := range m.Params {
			tensors = append(tensors, checkpoint.NewTensor(p.Name, []int{p.W.Rows, p.W.Cols}, p.G))
		}
		if err := checkpoint.SaveTensors(filepath.Join(dir, fwdGrads), tensors, map[string]string{"wtacrs.grads_of": res.Checkpoint}); err != nil {
			return res, err
		}
	}
	if m.Cfg.HasHead() {
		if err := npyfile.Write(filepath.Join(dir, fwdLogits), tape.Logits); err != nil {
			return res, err
		}
	}
	if job.changed {
		meta := checkpoint.Meta{Vocab: job.meta.Vocab, KeepCase: job.meta.KeepCase,
			Provenance: checkpoint.Provenance{From: filepath.ToSlash(job.ckpt), Extra: map[string]string{"made_by": "wtacrs forward"}}}
		if err := checkpoint.Save(filepath.Join(dir, fwdModel), m, meta); err != nil {
			return res, err
		}
	}
	if th != nil {
		if err := writeForwardTrace(filepath.Join(dir, fwdTrace), th, b); err != nil {
			return res, err
		}
	}
	text, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return res, err
	}
	return res, atomicfile.WriteFile(filepath.Join(dir, fwdResult), append(text, '\n'))
}

// writeForwardTrace writes the recorded matrices as step 1 of a trace directory.
func writeForwardTrace[T matrix.Float](dir string, th *traceHook[T], b model.Batch) error {
	valid := npyfile.Array{Shape: []int{len(b.Mask)}, Data: make([]float64, len(b.Mask)), DType: "|b1"}
	for i, v := range b.Mask {
		if v {
			valid.Data[i] = 1
		}
	}
	for i, h := range th.h {
		if h.Data == nil {
			continue
		}
		step := filepath.Join(dir, model.LayerOf(i).String(), "step1")
		if err := os.MkdirAll(step, 0o755); err != nil {
			return err
		}
		if err := npyfile.Write(filepath.Join(step, "H.npy"), h); err != nil {
			return err
		}
		if g := th.g[i]; g.Data != nil {
			if err := npyfile.Write(filepath.Join(step, "dZ.npy"), g); err != nil {
				return err
			}
		}
		if err := npyfile.WriteArray(filepath.Join(step, "valid.npy"), valid); err != nil {
			return err
		}
	}
	return nil
}
