package experiments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wtacrs/wtacrs/checkpoint"
	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/plots"
	"github.com/wtacrs/wtacrs/train"
)

// The files of a pretraining results directory, besides config.toml, manifest.json and
// summary.md.
const (
	// PretrainLossFile holds the MLM training loss of every step.
	PretrainLossFile = "pretrain_loss.csv"
	// PretrainEvalFile holds the MLM dev loss and accuracy of every evaluation, with the
	// unigram-frequency baseline.
	PretrainEvalFile = "pretrain_eval.csv"
	// ModelName is the base name of the pretrained checkpoint: model.safetensors and
	// model.json.
	ModelName = "model"
	// PretrainFigure is the base name of the loss figure (PNG and SVG).
	PretrainFigure = "pretrain_loss"
)

var (
	pretrainLossHeader = []string{"step", "epoch", "learning_rate", "loss"}
	pretrainEvalHeader = []string{"step", "dev_loss", "dev_accuracy", "baseline_loss", "baseline_accuracy", "predicted"}
)

// PretrainOptions are the optional settings of [Pretrain].
type PretrainOptions struct {
	// Out is the parent output directory. Default "results".
	Out string
	// Progress receives every optimiser step.
	Progress func(p train.Progress)
	// Resume continues an interrupted run from its state file.
	Resume bool
	// Inputs are files the run reads besides the corpus (the configuration file).
	Inputs []string
	// MemLimit is as [Options.MemLimit].
	MemLimit uint64
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Corpus replaces the configuration's corpus (tests).
	Corpus *train.Corpus
}

// PretrainOutcome is what [Pretrain] returns.
type PretrainOutcome struct {
	// Dir is the results directory and Checkpoint the path of the checkpoint in it (without
	// extension).
	Dir, Checkpoint string
	// Manifest is the manifest written.
	Manifest Manifest
	// Result is the pretraining result.
	Result *train.PretrainResult
}

// StatePath returns the path (without extension) of the resumable state of the pretraining
// run writing <out>/<name>: <out>/<name>.state, beside the results directory so that it
// survives an interrupted run.
func StatePath(out, name string) string { return filepath.Join(out, name+".state") }

// Pretrain runs the pretraining cfg and writes <opt.Out>/<name>/ atomically (as [Run] does): the
// configuration, the checkpoint model.safetensors with model.json, the loss and evaluation
// CSVs, the loss figure, summary.md and manifest.json. While it runs it saves its state every
// checkpoint_every steps to [StatePath]; with opt.Resume it continues from there (the state
// must come from the same configuration) to the same final weights, bit for bit. The state is
// removed once the results are in place.
func Pretrain(ctx context.Context, cfg train.PretrainConfig, name string, opt PretrainOptions) (*PretrainOutcome, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !nameRE.MatchString(name) || name == "." || name == ".." {
		return nil, fmt.Errorf("%w: pretraining name %q: want letters, digits, '-', '_' or '.'", ErrConfig, name)
	}
	if opt.Out == "" {
		opt.Out = "results"
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	start := opt.Now()
	state := StatePath(opt.Out, name)
	if err := checkStateFile(state, opt.Resume); err != nil {
		return nil, err
	}
	inputs := append(slices.Clone(opt.Inputs), cfg.CorpusTrain, cfg.CorpusDev)
	target, err := openTarget(opt.Out, name, name, inputs)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	conf, err := encodeTOML(cfg.RelativeTo(target.Dir()))
	if err != nil {
		return nil, err
	}
	hash := sha256.Sum256(conf)
	commit, dirty := gitCommit()
	tmp, err := target.Stage()
	if err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	ckpt := filepath.Join(tmp, ModelName)
	res, err := train.Pretrain(ctx, cfg, train.PretrainOptions{
		Progress: opt.Progress, MemLimit: opt.MemLimit, State: state, Resume: opt.Resume, Model: ckpt, Corpus: opt.Corpus,
		Provenance: checkpoint.Provenance{ConfigSHA256: hex.EncodeToString(hash[:]), GitCommit: commit, Created: start.UTC(),
			Extra: map[string]string{"git_dirty": fmt.Sprint(dirty)}},
	})
	if err != nil {
		return nil, fmt.Errorf("experiments: pretraining %q: %w", name, err)
	}
	files := map[string][]byte{ConfigFile: conf, PretrainLossFile: pretrainLossCSV(cfg, res), PretrainEvalFile: pretrainEvalCSV(res)}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(tmp, n), b, 0o644); err != nil {
			return nil, fmt.Errorf("experiments: %w", err)
		}
	}
	figs, err := pretrainFigure(tmp, res)
	if err != nil {
		return nil, err
	}
	m := newManifest(name, conf, start, opt.Now())
	m.Seed, m.Timings = cfg.Seed, []Timing{{Run: "pretrain", TrainSeconds: res.TrainTime.Seconds(), TokensPerSecond: res.TokensPerSecond}}
	if err := os.WriteFile(filepath.Join(tmp, SummaryFile), pretrainSummary(name, cfg, res, m), 0o644); err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	for n := range files {
		m.Files = append(m.Files, n)
	}
	m.Files = append(m.Files, figs...)
	tf, mf := checkpoint.Files(ModelName)
	m.Files = append(m.Files, tf, mf, SummaryFile, ManifestFile)
	if m, err = commitResults(ctx, target, tmp, m); err != nil {
		return nil, err
	}
	removeState(state)
	return &PretrainOutcome{Dir: target.Dir(), Checkpoint: filepath.Join(target.Dir(), ModelName), Manifest: m, Result: res}, nil
}

// checkStateFile refuses, before any work, a state path holding something that is not a
// pretraining state (it would be overwritten), and, when resuming, a missing state.
func checkStateFile(state string, resume bool) error {
	path, _ := checkpoint.Files(state)
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if resume {
			return fmt.Errorf("%w: no state %s to resume from", train.ErrState, path)
		}
		return nil
	case err != nil:
		return fmt.Errorf("%w: %w", train.ErrState, err)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%w: %s is not a regular file", train.ErrState, path)
	}
	if !train.IsPretrainState(state) {
		return fmt.Errorf("%w: %s exists and is not a pretraining state; move it away", train.ErrState, path)
	}
	if !resume {
		return fmt.Errorf("%w: %s holds an interrupted run: pass -resume to continue it, or remove it", train.ErrState, path)
	}
	return nil
}

// removeState removes the state file of a finished run when it is one.
func removeState(state string) {
	if train.IsPretrainState(state) {
		path, _ := checkpoint.Files(state)
		os.Remove(path)
	}
}

func pretrainLossCSV(cfg train.PretrainConfig, res *train.PretrainResult) []byte {
	perEpoch := max(1, (res.TrainSequences+cfg.BatchSize-1)/cfg.BatchSize)
	rows := make([][]string, len(res.StepLoss))
	for i, l := range res.StepLoss {
		rows[i] = []string{itoa(i + 1), itoa(i / perEpoch), ftoa(cfg.LearningRateAt(i)), ftoa(l)}
	}
	return EncodeCSV(pretrainLossHeader, rows)
}

func pretrainEvalCSV(res *train.PretrainResult) []byte {
	rows := make([][]string, len(res.Evals))
	for i, e := range res.Evals {
		rows[i] = []string{itoa(e.Step), ftoa(e.Loss), ftoa(e.Accuracy), ftoa(res.Baseline.Loss), ftoa(res.Baseline.Accuracy), itoa(res.DevPredicted)}
	}
	return EncodeCSV(pretrainEvalHeader, rows)
}

// pretrainFigure draws the training and dev losses against the step, with the unigram
// baseline, and the dev accuracy.
func pretrainFigure(dir string, res *train.PretrainResult) ([]string, error) {
	x := make([]float64, len(res.StepLoss))
	for i := range x {
		x[i] = float64(i + 1)
	}
	var ex, ey, ea []float64
	for _, e := range res.Evals {
		ex, ey, ea = append(ex, float64(e.Step)), append(ey, e.Loss), append(ea, e.Accuracy)
	}
	span := []float64{1, float64(max(1, len(res.StepLoss)))}
	loss := plots.Panel{Title: "MLM loss", XLabel: "iteration (optimiser step)", YLabel: "cross-entropy (nats)", Series: []plots.Series{
		{Label: "training batch (moving mean)", X: x, Y: smooth(res.StepLoss, max(1, len(x)/50)), Color: 0},
		{Label: "dev", X: ex, Y: ey, Points: true, Color: 1},
		{Label: "unigram baseline (dev)", X: span, Y: []float64{res.Baseline.Loss, res.Baseline.Loss}, Dashed: true, Color: 2},
	}}
	acc := plots.Panel{Title: "MLM dev accuracy", XLabel: "iteration (optimiser step)", YLabel: "accuracy", YMin: 0, YMax: 1, LegendLeft: true, Series: []plots.Series{
		{Label: "dev", X: ex, Y: ea, Points: true, Color: 1},
		{Label: "unigram baseline (most frequent token)", X: span, Y: []float64{res.Baseline.Accuracy, res.Baseline.Accuracy}, Dashed: true, Color: 2},
	}}
	fig := plots.Figure{Title: "Masked-language-model pretraining", Panels: []plots.Panel{loss, acc}, PanelWidth: 12, PanelHeight: 9}
	if err := plots.Save(fig, filepath.Join(dir, PretrainFigure)); err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	return []string{PretrainFigure + ".png", PretrainFigure + ".svg"}, nil
}

// pretrainSummary is the summary.md of a pretraining run.
func pretrainSummary(name string, cfg train.PretrainConfig, res *train.PretrainResult, m Manifest) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Pretraining %s\n\n", name)
	fmt.Fprintf(&b, "Masked-language-model pretraining (%.0f%% of valid tokens predicted; of those %.0f%% [MASK], %.0f%% random, the rest kept) ",
		100*cfg.MaskProb, 100*cfg.MaskTokenFrac, 100*cfg.RandomTokenFrac)
	fmt.Fprintf(&b, "of a %d-block encoder (d = %d, %d heads, feed-forward %d, %s MLM head, %d parameters) ", cfg.Blocks, cfg.Dim, cfg.Heads, cfg.FFNDim, cfg.MLMHead, res.Params)
	fmt.Fprintf(&b, "on %d packed training sequences of at most %d tokens (vocabulary %d), %d steps of %d sequences", res.TrainSequences, cfg.MaxLen, res.Vocab, res.Steps, cfg.BatchSize)
	if res.ResumedAt > 0 {
		fmt.Fprintf(&b, " (resumed at step %d)", res.ResumedAt)
	}
	fmt.Fprintf(&b, ".\n\nBackward per layer kind: %s.\n\n", layersText(cfg))
	b.WriteString("| step | dev MLM loss | dev MLM accuracy |\n|---:|---:|---:|\n")
	for _, e := range res.Evals {
		fmt.Fprintf(&b, "| %d | %.4f | %.4f |\n", e.Step, e.Loss, e.Accuracy)
	}
	fmt.Fprintf(&b, "| unigram baseline | %.4f | %.4f |\n\n", res.Baseline.Loss, res.Baseline.Accuracy)
	fmt.Fprintf(&b, "Dev tokens predicted at each evaluation: %d (%d dev sequences, the same masked positions every time).\n\n", res.DevPredicted, res.DevSequences)
	if !math.IsNaN(res.TokensPerSecond) {
		fmt.Fprintf(&b, "Timing (not reproducible): %.0f tokens/s over %.0f s of training steps in this process; wall time %.0f s on %d CPUs (%s/%s, %s, GEMM %s, commit %s).\n",
			res.TokensPerSecond, res.TrainTime.Seconds(), m.WallSeconds, m.CPUs, m.GOOS, m.GOARCH, m.GoVersion, m.GEMMBackend, m.GitCommit)
	}
	return []byte(b.String())
}

// layersText lists the backward of every layer kind.
func layersText(cfg train.PretrainConfig) string {
	var parts []string
	for _, k := range model.Kinds() {
		kc := cfg.Kind(k)
		switch kc.Method {
		case train.MethodWTACRS:
			parts = append(parts, fmt.Sprintf("%s WTA-CRS@%v", k, kc.Ratio))
		default:
			parts = append(parts, fmt.Sprintf("%s exact", k))
		}
	}
	return strings.Join(parts, ", ")
}
