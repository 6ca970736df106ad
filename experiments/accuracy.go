package experiments

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/wtacrs/wtacrs/analysis"
	"github.com/wtacrs/wtacrs/internal/outdir"
	"github.com/wtacrs/wtacrs/internal/tomlconf"
	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/train"
)

// Accuracy is the [accuracy] table: the dev accuracy of the [train] configuration with every
// layer exact and with every layer kind on WTA-CRS at each ratio, once per seed. When Seeds is
// not empty the run is an accuracy run: it trains those configurations instead of the observed
// run with its analyses and comparison variants (which must then be left out), and writes
// accuracy.csv. Default: empty (no accuracy run).
type Accuracy struct {
	// Seeds are the training seeds (train.seed is replaced), at least 2 for a confidence
	// interval, each once. Default [].
	Seeds []uint64 `toml:"seeds,omitempty"`
	// Ratios are the WTA-CRS ratios k/n in (0, 1], each once; at least one. Default [].
	Ratios []float64 `toml:"ratios,omitempty"`
	// Kinds are the layer kinds the ratios put on WTA-CRS, each once; the others stay exact
	// (see train.Config.WithMethod; with [train.attention] the attention products are sampled
	// at the ratio too). Under [train.lora] they must be adapted kinds. Default [] (all six, or
	// under LoRA the adapted ones).
	Kinds []model.Kind `toml:"kinds,omitempty"`
	// SkipExact leaves out the exact row (every layer exact, attention exact), to spare its
	// trainings when another run already measured it. Default false.
	SkipExact bool `toml:"skip_exact,omitempty"`
}

// accuracyJobs is the number of trainings of an accuracy run trained concurrently: one per
// CPU (they share the memory limit). The numbers do not depend on it.
var accuracyJobs = runtime.GOMAXPROCS(0)

// AccuracyFile holds one row per method and seed of an accuracy run.
const AccuracyFile = "accuracy.csv"

var accuracyHeader = []string{"layer", "method", "ratio", "seed", "dev_accuracy", "majority_accuracy", "saved_mib", "exact_mib", "memory_ratio",
	"lora_rank", "attention", "attention_mib", "tape_mib", "trainable_params"}

// Enabled reports whether the configuration asks for an accuracy run.
func (a Accuracy) Enabled() bool { return len(a.Seeds) > 0 }

// validate checks the [accuracy] table (c.Accuracy enabled).
func (c Config) validateAccuracy() error {
	bad := func(key string, v any, want string) error {
		return &tomlconf.FieldError{Key: key, Value: tomlconf.Format(v), Want: want, Err: ErrConfig}
	}
	a := c.Accuracy
	for i, s := range a.Seeds {
		if j := slices.Index(a.Seeds, s); j < i {
			return bad(tomlconf.Elem("accuracy.seeds", i), s, fmt.Sprintf("each seed once (accuracy.seeds[%d] is %d too)", j, s))
		}
	}
	if len(a.Ratios) == 0 {
		return bad("accuracy.ratios", a.Ratios, "at least one WTA-CRS ratio in (0, 1] with accuracy.seeds")
	}
	for i, r := range a.Ratios {
		if math.IsNaN(r) || r <= 0 || r > 1 {
			return bad(tomlconf.Elem("accuracy.ratios", i), r, "in (0, 1]")
		}
		if j := slices.Index(a.Ratios, r); j < i {
			return bad(tomlconf.Elem("accuracy.ratios", i), r, fmt.Sprintf("each ratio once (accuracy.ratios[%d] is %v too)", j, r))
		}
	}
	for i, k := range a.Kinds {
		switch {
		case !k.Valid():
			return bad(tomlconf.Elem("accuracy.kinds", i), string(k), model.KindNames())
		case slices.Index(a.Kinds, k) < i:
			return bad(tomlconf.Elem("accuracy.kinds", i), string(k), "each kind once")
		case c.Train.LoRA != nil && !c.Train.LoRA.Model().Has(k):
			return bad(tomlconf.Elem("accuracy.kinds", i), string(k), "a kind of train.lora.kinds (the others are frozen)")
		}
	}
	if c.Analysis.Enabled {
		return bad("analysis.enabled", true, "false in an accuracy run (accuracy.seeds set)")
	}
	if c.Experiment.Seeds != nil {
		return bad("experiment.seeds", c.Experiment.Seeds, "left out in an accuracy run (its seeds are accuracy.seeds)")
	}
	if len(c.Compare.Variants) > 0 {
		return bad("compare.variant", len(c.Compare.Variants), "no variants in an accuracy run (accuracy.seeds set)")
	}
	return nil
}

// runAccuracy is [Run] for an accuracy run: cfg is valid and target locked.
func runAccuracy(ctx context.Context, cfg Config, opt Options, start time.Time, target *outdir.Target) (*Outcome, error) {
	a := cfg.Accuracy
	done := 0
	total := len(a.Seeds) * len(a.Ratios)
	if !a.SkipExact {
		total += len(a.Seeds)
	}
	ms := train.TableMethods{Ratios: a.Ratios, Kinds: a.Kinds, Exact: !a.SkipExact}
	if len(a.Kinds) == 0 {
		ms.Kinds = nil
	}
	rows, err := train.TableOf(ctx, cfg.Train, ms, a.Seeds, max(1, accuracyJobs), train.Options{MemLimit: opt.MemLimit},
		func(name string, seed uint64, r *train.Result) {
			done++
			if opt.Progress != nil {
				opt.Progress(fmt.Sprintf("%s seed %d", name, seed), train.Progress{Step: done, TotalSteps: total, Loss: r.EpochLoss[len(r.EpochLoss)-1], Elapsed: r.Elapsed})
			}
		})
	if err != nil {
		return nil, fmt.Errorf("experiments: accuracy run: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var csvRows [][]string
	layer := "all"
	if len(a.Kinds) > 0 {
		var ks []string
		for _, k := range a.Kinds {
			ks = append(ks, string(k))
		}
		layer = strings.Join(ks, "+")
	}
	rank := "0"
	if l := cfg.Train.LoRA; l != nil {
		rank = fmt.Sprint(l.Rank)
	}
	for _, r := range rows {
		method, ratio, lay, attn := train.MethodWTACRS, ftoa(r.Ratio), layer, attentionLabel(cfg.Train.Attention)
		if r.Name == train.MethodExact {
			method, ratio, lay, attn = train.MethodExact, "", "all", "exact"
		}
		for i, s := range a.Seeds {
			res := r.Results[i]
			csvRows = append(csvRows, []string{lay, method, ratio, fmt.Sprint(s), ftoa(res.DevAccuracy), ftoa(res.MajorityAccuracy),
				ftoa(res.SavedBytes / (1 << 20)), ftoa(res.ExactBytes / (1 << 20)), ftoa(res.SavedBytes / res.ExactBytes),
				rank, attn, ftoa(res.AttentionBytes / (1 << 20)), ftoa(res.TapeBytes / (1 << 20)), fmt.Sprint(res.TrainableParams)})
		}
	}
	written := cfg
	written.Train = cfg.Train.RelativeTo(target.Dir())
	conf, err := written.Encode()
	if err != nil {
		return nil, err
	}
	tmp, err := target.Stage()
	if err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	files := map[string][]byte{ConfigFile: conf, AccuracyFile: EncodeCSV(accuracyHeader, csvRows)}
	var timings []Timing
	for _, r := range rows {
		for i, s := range a.Seeds {
			res := r.Results[i]
			timings = append(timings, Timing{Run: fmt.Sprintf("%s seed %d", rowLabel(cfg, r), s), TrainSeconds: res.TrainTime.Seconds(),
				StepSeconds: res.TrainTime.Seconds() / float64(res.Steps), TokensPerSecond: res.TokensPerSecond})
		}
	}
	files[SummaryFile] = accuracySummary(cfg, rows, timings)
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(tmp, n), b, 0o644); err != nil {
			return nil, fmt.Errorf("experiments: %w", err)
		}
	}
	m := newManifest(cfg.Experiment.Name, conf, start, opt.Now())
	m.Seed, m.Timings = cfg.Train.Seed, timings
	for n := range files {
		m.Files = append(m.Files, n)
	}
	m.Files = append(m.Files, ManifestFile)
	if m, err = commitResults(ctx, target, tmp, m); err != nil {
		return nil, err
	}
	return &Outcome{Dir: target.Dir(), Manifest: m}, nil
}

// attentionLabel names what a WTA-CRS row of an accuracy run samples of the attention
// products: "exact" without [train.attention], else its products joined by "+" and its |C| rule
// ("scores+context/own"); the row's method and ratio replace the table's (train.Config.WithMethod).
func attentionLabel(a *train.AttentionConfig) string {
	if a == nil {
		return "exact"
	}
	return strings.Join(a.Products, "+") + "/" + a.CRule
}

// MeanCI returns the mean of v and the half-width of its two-sided 95% confidence interval
// ([analysis.TInterval]: Student's t with len(v)−1 degrees of freedom times the standard error;
// NaN for a single value or a value that is not finite).
func MeanCI(v []float64) (mean, half float64) {
	iv, err := analysis.TInterval(v, 0.95)
	if err != nil {
		return math.NaN(), math.NaN()
	}
	return iv.Mean, (iv.Hi - iv.Lo) / 2
}

// accuracySummary is the summary.md of an accuracy run.
func accuracySummary(cfg Config, rows []train.TableRow, timings []Timing) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", cfg.Experiment.Name)
	if d := strings.TrimSpace(cfg.Experiment.Description); d != "" {
		fmt.Fprintf(&b, "%s\n\n", d)
	}
	t := cfg.Train
	start := "trained from scratch"
	if t.Init != "" {
		start = "fine-tuned from the checkpoint " + filepath.Base(t.Init)
	}
	pool := t.Pooling
	if pool == "" {
		pool = "cls"
	}
	fmt.Fprintf(&b, "Encoder %s; %s pooling; batch %d, %d epochs, learning rate %s, %s. Seeds: %s.\n\n",
		start, pool, t.BatchSize, t.Epochs, ftoa(t.LearningRate), t.Precision, joinSeeds(cfg.Accuracy.Seeds))
	if l := t.LoRA; l != nil {
		fmt.Fprintf(&b, "LoRA: rank %d, alpha %s on %s, base weights frozen", l.Rank, ftoa(l.Alpha), kindList(l.Kinds))
		if l.Biases {
			b.WriteString(", linear biases trained (BitFit)")
		}
		b.WriteString(".\n\n")
	}
	b.WriteString("| method | dev accuracy (%), mean ± 95% CI | per seed (%) | majority class (%) | linear activations vs exact | linear kept (MiB) | attention kept (MiB) | whole tape (MiB) | trained parameters |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		mean, half := MeanCI(r.Accuracies)
		ci := fmt.Sprintf("%.1f ± %.1f", 100*mean, 100*half)
		if math.IsNaN(half) {
			ci = fmt.Sprintf("%.1f (n = 1, no CI)", 100*mean)
		}
		var per []string
		for _, a := range r.Accuracies {
			per = append(per, fmt.Sprintf("%.1f", 100*a))
		}
		rel := 1.0
		if r.ExactBytes > 0 {
			rel = r.SavedBytes / r.ExactBytes
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.1f | %.3f | %.2f | %.2f | %.2f | %d |\n", rowLabel(cfg, r), ci, strings.Join(per, ", "), 100*r.Results[0].MajorityAccuracy, rel,
			r.SavedBytes/(1<<20), r.AttentionBytes/(1<<20), r.TapeBytes/(1<<20), r.Results[0].TrainableParams)
	}
	b.WriteString("\nMemory is the mean per training step of the bytes kept for backward: by the linear layers (each layer's input counted for it, so an input q, k and v share counts three times), by the attention products of all blocks, and by the whole tape (every tensor once).\n")
	b.WriteString("The interval is Student's t with n − 1 degrees of freedom over the seeds (the seed draws the initialisation of what is not loaded, the order of the examples and every sample).\n\n## Timing (not reproducible)\n\n| run | training seconds | ms per step | tokens/s |\n|---|---|---|---|\n")
	for _, tm := range timings {
		fmt.Fprintf(&b, "| %s | %.1f | %.1f | %.0f |\n", tm.Run, tm.TrainSeconds, 1000*tm.StepSeconds, tm.TokensPerSecond)
	}
	fmt.Fprintf(&b, "\nFiles: config.toml (the configuration as run), manifest.json, %s (one row per method and seed).\n", AccuracyFile)
	return []byte(b.String())
}

// rowLabel names a row of an accuracy run by everything it samples: "exact" (or "LoRA"), or
// "WTA-CRS@0.3" with the kinds when not all, "LoRA + " before it under LoRA and the attention
// products after it.
func rowLabel(cfg Config, r train.TableRow) string {
	t := cfg.Train
	if r.Name == train.MethodExact {
		if t.LoRA != nil {
			return fmt.Sprintf("LoRA r=%d", t.LoRA.Rank)
		}
		return r.Name
	}
	label := r.Name
	if k := cfg.Accuracy.Kinds; len(k) > 0 {
		label += " on " + kindList(k)
	}
	if t.LoRA != nil {
		label = fmt.Sprintf("LoRA r=%d + %s", t.LoRA.Rank, label)
	}
	if t.Attention != nil {
		label += fmt.Sprintf(" + attention %s@%s", attentionLabel(t.Attention), ftoa(r.Ratio))
	}
	return label
}

func kindList(ks []model.Kind) string {
	var p []string
	for _, k := range ks {
		p = append(p, string(k))
	}
	return strings.Join(p, ", ")
}

func joinSeeds(s []uint64) string {
	var p []string
	for _, x := range s {
		p = append(p, fmt.Sprint(x))
	}
	return strings.Join(p, ", ")
}
