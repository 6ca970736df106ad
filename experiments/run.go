package experiments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"runtime/debug"

	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/wtacrs/wtacrs/checkpoint"
	"github.com/wtacrs/wtacrs/internal/outdir"
	"github.com/wtacrs/wtacrs/internal/tomlconf"
	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/train"
)

// TrainFunc trains one configuration; [train.Run] is the default.
type TrainFunc func(ctx context.Context, cfg train.Config, opt train.Options) (*train.Result, error)

// Options are the optional settings of [Run].
type Options struct {
	// Out is the parent output directory. Default "results".
	Out string
	// Train trains a configuration. Default train.Run.
	Train TrainFunc
	// Progress, when not nil, receives every optimiser step of every training run, with the
	// name of the run ("main" for the observed run, else the variant name).
	Progress func(run string, p train.Progress)
	// Now returns the current time (manifest timestamps). Default time.Now.
	Now func() time.Time
	// Inputs are the files the run reads besides the configuration's own data paths (the
	// configuration file, for example): Run refuses to replace an output directory holding one.
	Inputs []string
	// MemLimit is the most memory, in bytes, a training run may be estimated to need (see
	// [train.EstimateMemory]); 0 means the memory available now (memlimit.Default).
	MemLimit uint64
}

// Manifest describes a run; it is written as manifest.json.
type Manifest struct {
	// Experiment is the experiment's name, [Experiment.Name]: the results directory's base
	// name, which [CheckResultsDir] compares.
	Experiment string `json:"experiment"`
	// ConfigSHA256 is the SHA-256 of config.toml as written.
	ConfigSHA256 string `json:"config_sha256"`
	// Seed is the training seed, train.seed of the configuration.
	Seed uint64 `json:"seed"`
	// GitCommit is the commit the program was built from (the build's VCS stamp; for a
	// program run with `go run`, `git rev-parse HEAD` of the working directory), or "unknown".
	GitCommit string `json:"git_commit"`
	// GitDirty reports that the program was built from (or run in) a working tree with changes
	// not committed: GitCommit then does not describe the code exactly.
	GitDirty bool `json:"git_dirty"`
	// GoVersion is the Go release the program was built with (runtime.Version).
	GoVersion string `json:"go_version"`
	// GOOS is the operating system the program ran on (runtime.GOOS).
	GOOS string `json:"goos"`
	// GOARCH is the architecture the program ran on (runtime.GOARCH).
	GOARCH string `json:"goarch"`
	// CPUs is the number of logical CPUs of the machine (runtime.NumCPU).
	CPUs int `json:"cpus"`
	// Start is when the run began, in UTC from [Options.Now]: after the memory check, before
	// the output directory is locked.
	Start time.Time `json:"start"`
	// End is when the run's outputs were complete, in UTC from [Options.Now]: before the
	// manifest is written and the staging directory swapped into place.
	End time.Time `json:"end"`
	// WallSeconds is End − Start.
	WallSeconds float64 `json:"wall_seconds"`
	// Timings are the non-reproducible figures of each training run (kept out of the CSVs).
	Timings []Timing `json:"timings"`
	// Files lists the files written, sorted.
	Files []string `json:"files"`
}

// Timing is the speed of one training run.
type Timing struct {
	// Run is the run's name: [RunVariantName] for the observed run, else the variant's name.
	Run string `json:"run"`
	// TrainSeconds is the time spent in training steps, in seconds (train.Result.TrainTime).
	TrainSeconds float64 `json:"train_seconds"`
	// TokensPerSecond is the training throughput in pooled tokens per second
	// (train.Result.TokensPerSecond).
	TokensPerSecond float64 `json:"tokens_per_second"`
}

// Outcome is what [Run] returns.
type Outcome struct {
	// Dir is the output directory <out>/<name>.
	Dir string
	// Manifest is the manifest written as manifest.json.
	Manifest Manifest
	// Main is the result of the observed training run.
	Main *train.Result
	// Variants are the results of the [compare] variants, in the configuration's order.
	Variants []*train.Result
	// Records are the analyses of the observed run, sorted as [Collector.Records] sorts them;
	// empty when the analysis is disabled.
	Records []Record
}

// RunVariantName is the run name of the observed training run.
const RunVariantName = "main"

// Run runs the experiment cfg (validated first): the observed training run with the analyses,
// then the comparison variants; then it writes every output into <opt.Out>/<name>/ atomically.
//
// Before training it checks that the output can be written: <opt.Out>/<name> must be absent or
// a results directory of this experiment ([CheckResultsDir]) that holds none of the inputs,
// and no other run may be writing it (a lock held for the whole run); each training run's
// estimated memory must fit under opt.MemLimit. Otherwise it returns an error and nothing is
// trained or touched. When ctx is cancelled it stops between training steps, removes its
// temporary directory and returns an error wrapping ctx.Err(); an earlier <out>/<name>/ is left
// as it was. At every instant <out>/<name> holds either the earlier or the new results.
func Run(ctx context.Context, cfg Config, opt Options) (*Outcome, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The model sizes an init checkpoint fixes, so that the configuration as run names them.
	var err error
	if cfg.Train, err = cfg.Train.WithInit(); err != nil {
		return nil, tomlconf.Prefix(err, "train", ErrConfig)
	}
	if opt.Out == "" {
		opt.Out = "results"
	}
	if opt.Train == nil {
		opt.Train = train.Run
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if err := checkMemory(cfg, opt.MemLimit); err != nil {
		return nil, err
	}
	start := opt.Now()
	inputs := append(slices.Clone(opt.Inputs), cfg.Train.TrainPath, cfg.Train.DevPath)
	if cfg.Train.Init != "" {
		tf, mf := checkpoint.Files(cfg.Train.Init)
		inputs = append(inputs, tf, mf)
	}
	target, err := openTarget(opt.Out, cfg.Experiment.Name, cfg.Experiment.Name, inputs)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if cfg.Accuracy.Enabled() {
		return runAccuracy(ctx, cfg, opt, start, target)
	}
	out := &Outcome{Dir: target.Dir()}
	col := NewCollector(cfg.Analysis)
	var training [][]string
	progress := func(run string) func(train.Progress) {
		return func(p train.Progress) {
			training = append(training, []string{"all", run, itoa(p.Step), itoa(p.Epoch), ftoa(p.Loss)})
			if opt.Progress != nil {
				opt.Progress(run, p)
			}
		}
	}
	var timings []Timing
	topt := train.Options{Progress: progress(RunVariantName), MemLimit: opt.MemLimit}
	if cfg.Analysis.Enabled {
		topt.Observer = col
	}
	res, err := opt.Train(ctx, cfg.Train, topt)
	if err != nil {
		return nil, fmt.Errorf("experiments: training run %q: %w", RunVariantName, err)
	}
	if err := col.Err(); err != nil {
		return nil, err
	}
	out.Main = res
	timings = append(timings, Timing{RunVariantName, res.TrainTime.Seconds(), res.TokensPerSecond})
	var compare [][]string
	if len(cfg.Compare.Variants) > 0 {
		compare = append(compare, compareRow(RunVariantName, mainMethod(cfg.Train), 0, "as [train]", res))
	}
	for _, v := range cfg.Compare.Variants {
		vr, err := opt.Train(ctx, VariantConfig(cfg.Train, v), train.Options{Progress: progress(v.Name), MemLimit: opt.MemLimit})
		if err != nil {
			return nil, fmt.Errorf("experiments: training variant %q: %w", v.Name, err)
		}
		out.Variants = append(out.Variants, vr)
		timings = append(timings, Timing{v.Name, vr.TrainTime.Seconds(), vr.TokensPerSecond})
		kinds := joinKinds(v.Kinds, " ")
		if kinds == "" {
			kinds = "all"
		}
		compare = append(compare, compareRow(v.Name, v.Method, v.Ratio, kinds, vr))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out.Records = col.Records()

	// The configuration as run names its inputs relative to the results directory, so that
	// the committed file reads the same on every machine.
	written := cfg
	written.Train = cfg.Train.RelativeTo(target.Dir())
	conf, err := written.Encode()
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		ConfigFile:   conf,
		TrainingFile: encodeCSV(trainingHeader, training),
	}
	if cfg.Analysis.Enabled {
		files[LayersFile] = encodeCSV(layersHeader, layersRows(out.Records))
		curves := out.Records
		if !cfg.Analysis.AllCurves {
			curves = plottedCurves(curves)
		}
		files[CurvesFile] = encodeCSV(curvesHeader, curvesRows(curves))
	}
	if compare != nil {
		files[CompareFile] = encodeCSV(compareHeader, compare)
	}
	m, err := writeResultsTo(ctx, target, cfg, files, start, opt.Now, res, timings)
	if err != nil {
		return nil, err
	}
	out.Manifest = m
	return out, nil
}

// checkMemory refuses, before anything is allocated, a run whose estimated memory (the largest
// of the observed run and the variants, which train one after the other) exceeds limit
// (0: memlimit.Default()). The data shapes are bounded from the data files without tokenizing.
func checkMemory(cfg Config, limit uint64) error {
	check := func(what string, c train.Config) error {
		shape, err := train.BoundDataShape(c)
		if err != nil {
			return fmt.Errorf("experiments: %s: %w", what, err)
		}
		if err := train.CheckMemory(c, shape, limit); err != nil {
			return fmt.Errorf("experiments: %s: %w", what, err)
		}
		return nil
	}
	if err := check("training run "+RunVariantName, cfg.Train); err != nil {
		return err
	}
	for _, v := range cfg.Compare.Variants {
		if err := check("training variant "+v.Name, VariantConfig(cfg.Train, v)); err != nil {
			return err
		}
	}
	return nil
}

// writeResultsTo writes files, the figures, summary.md and manifest.json into a staging
// directory of target and swaps it into place (replacing an earlier one).
func writeResultsTo(ctx context.Context, target *outdir.Target, cfg Config, files map[string][]byte, start time.Time, now func() time.Time,
	res *train.Result, timings []Timing) (Manifest, error) {
	tmp, err := target.Stage()
	if err != nil {
		return Manifest{}, fmt.Errorf("experiments: %w", err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			return Manifest{}, fmt.Errorf("experiments: %w", err)
		}
	}
	figs, err := Replot(tmp)
	if err != nil {
		return Manifest{}, err
	}
	sum, err := Summarize(tmp, cfg, res, timings)
	if err != nil {
		return Manifest{}, err
	}
	if err := os.WriteFile(filepath.Join(tmp, SummaryFile), sum, 0o644); err != nil {
		return Manifest{}, fmt.Errorf("experiments: %w", err)
	}
	hash := sha256.Sum256(files[ConfigFile])
	commit, dirty := gitCommit()
	end := now()
	m := Manifest{Experiment: cfg.Experiment.Name, ConfigSHA256: hex.EncodeToString(hash[:]), Seed: cfg.Train.Seed,
		GitCommit: commit, GitDirty: dirty, GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		CPUs: runtime.NumCPU(), Start: start.UTC(), End: end.UTC(), WallSeconds: end.Sub(start).Seconds(),
		Timings: timings}
	for name := range files {
		m.Files = append(m.Files, name)
	}
	m.Files = append(m.Files, figs...)
	m.Files = append(m.Files, SummaryFile, ManifestFile)
	sortStrings(m.Files)
	js, _ := json.MarshalIndent(m, "", "  ") // plain data, cannot fail
	if err := os.WriteFile(filepath.Join(tmp, ManifestFile), append(js, '\n'), 0o644); err != nil {
		return Manifest{}, fmt.Errorf("experiments: %w", err)
	}
	// The last safe point: interrupted now, the earlier results stay.
	if err := ctx.Err(); err != nil {
		return Manifest{}, err
	}
	if err := target.Commit(tmp); err != nil {
		return Manifest{}, fmt.Errorf("experiments: %w", err)
	}
	return m, nil
}

// mainMethod names the backward of the observed run for compare.csv: "exact" or "wtacrs" when
// every layer kind uses it, else "mixed".
func mainMethod(c train.Config) string {
	m := ""
	for _, k := range model.Kinds() {
		switch km := c.Kind(k).Method; {
		case m == "":
			m = km
		case m != km:
			return "mixed"
		}
	}
	return m
}

// plottedCurves returns the records of the first, middle and last recorded steps of each norm
// source (the steps the curve figures draw).
func plottedCurves(recs []Record) []Record {
	steps := map[string][]int{}
	for _, r := range recs {
		if s := steps[r.Source]; len(s) == 0 || s[len(s)-1] != r.Step {
			steps[r.Source] = append(s, r.Step) // records are sorted by step
		}
	}
	keep := map[string]map[int]bool{}
	for src, s := range steps {
		keep[src] = map[int]bool{}
		for _, st := range pickSteps(s) {
			keep[src][st] = true
		}
	}
	var out []Record
	for _, r := range recs {
		if keep[r.Source][r.Step] {
			out = append(out, r)
		}
	}
	return out
}

func compareRow(name, method string, ratio float64, kinds string, r *train.Result) []string {
	final := 0.0
	if len(r.EpochLoss) > 0 {
		final = r.EpochLoss[len(r.EpochLoss)-1]
	}
	const mib = 1 << 20
	memRatio := 1.0
	if r.ExactBytes > 0 {
		memRatio = r.SavedBytes / r.ExactBytes
	}
	return []string{"all", name, method, ftoa(ratio), kinds, itoa(r.Config.Epochs), itoa(r.Steps), ftoa(r.DevAccuracy),
		ftoa(r.MajorityAccuracy), ftoa(final), ftoa(r.SavedBytes / mib), ftoa(r.ExactBytes / mib), ftoa(memRatio)}
}

// gitCommit returns the commit of the code and whether its tree had uncommitted changes: the
// VCS stamp of the binary when it has one (go build), otherwise `git rev-parse HEAD` and
// `git status --porcelain` of the working directory (go run), or "unknown".
func gitCommit() (commit string, dirty bool) {
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			return rev, modified == "true"
		}
	}
	outb, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown", false
	}
	commit = strings.TrimSpace(string(outb))
	if commit == "" {
		return "unknown", false
	}
	status, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output()
	return commit, err != nil || len(strings.TrimSpace(string(status))) > 0
}

// joinKinds spells kinds joined by sep.
func joinKinds(kinds []model.Kind, sep string) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return strings.Join(names, sep)
}
