package experiments

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wtacrs/wtacrs/checkpoint"
	"github.com/wtacrs/wtacrs/internal/memlimit"
	"github.com/wtacrs/wtacrs/internal/outdir"
	"github.com/wtacrs/wtacrs/internal/parallel"
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
	// name of the run ("main" for the observed run, "main seed <s>" for each seed when there are
	// several, else the variant name). Calls never overlap, but runs of different seeds trained
	// at once interleave theirs.
	Progress func(run string, p train.Progress)
	// Now returns the current time (manifest timestamps). Default time.Now.
	Now func() time.Time
	// Inputs are the files the run reads besides the configuration's own data paths (the
	// configuration file, for example): Run refuses to replace an output directory holding one.
	Inputs []string
	// MemLimit is the most memory, in bytes, a training run may be estimated to need (see
	// [train.EstimateMemory]), and the runs of different seeds trained at once together; 0
	// means the memory available when Run starts (memlimit.Default).
	MemLimit uint64
	// Jobs is the most runs of the observed configuration (one per seed) trained at once; 0
	// means as many as there are seeds. Fewer run at once where GOMAXPROCS is smaller or their
	// estimated memory together would exceed MemLimit; the outputs are the same bytes whatever
	// the number.
	Jobs int
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
	// Seeds are the seeds of the observed run ([Config.RunSeeds]; empty for trace input).
	Seeds []uint64 `json:"seeds,omitempty"`
	// Jobs is the number of observed runs trained at once ([Options.Jobs]; 0 for trace input).
	Jobs int `json:"jobs,omitempty"`
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
	// GEMMBackend is the matrix-multiply backend the program used (matrix.Backend), such as
	// "OpenBLAS (libopenblas.so.0, runtime, 2 threads)" or "gonum (pure Go)": the backends
	// round differently, and OpenBLAS's bytes depend on its thread count too. It is empty, and
	// left out, in the manifests written before it was recorded; manifests written before the
	// thread count was recorded name OpenBLAS without it.
	GEMMBackend string `json:"gemm_backend,omitempty"`
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
	// Seed is the run's training seed.
	Seed uint64 `json:"seed"`
	// TrainSeconds is the time spent in training steps, in seconds (train.Result.TrainTime).
	TrainSeconds float64 `json:"train_seconds"`
	// StepSeconds is the mean training time per optimiser step, in seconds (set by accuracy
	// runs; 0 and left out otherwise).
	StepSeconds float64 `json:"step_seconds,omitempty"`
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
	// Main is the result of the observed training run of the first seed, Mains[0].
	Main *train.Result
	// Mains are the results of the observed run, one per seed of [Config.RunSeeds], in that
	// order.
	Mains []*train.Result
	// Variants are the results of the [compare] variants, in the configuration's order.
	Variants []*train.Result
	// Records are the analyses of the observed runs of every seed, sorted as
	// [Collector.Records] sorts them; empty when the analysis is disabled.
	Records []Record
}

// RunVariantName is the run name of the observed training run.
const RunVariantName = "main"

// Run runs the experiment cfg (validated first): the observed training run with the analyses,
// once per seed of [Config.RunSeeds] (up to opt.Jobs at once), then the comparison variants;
// then it writes every output into <opt.Out>/<name>/ atomically.
//
// Before training it checks that the output can be written: <opt.Out>/<name> must be absent or
// a results directory of this experiment ([CheckResultsDir]) that holds none of the inputs,
// and no other run may be writing it (a lock held for the whole run); each training run's
// estimated memory (for the observed run with the buffers of the exact variance ratios) must fit
// under opt.MemLimit. Otherwise it returns an error and nothing is trained or touched. When ctx
// is cancelled it stops between training steps, removes its temporary directory and returns an
// error wrapping ctx.Err(); an earlier <out>/<name>/ is left as it was. At every instant
// <out>/<name> holds either the earlier or the new results. When the training of one seed fails,
// the others are stopped and the first failure is returned.
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
	limit := opt.MemLimit
	if limit == 0 {
		limit = memlimit.Default() // once: runs trained at once would each see the others' memory
	}
	perRun, err := checkMemory(cfg, limit)
	if err != nil {
		return nil, err
	}
	seeds := cfg.RunSeeds()
	jobs := seedJobs(len(seeds), opt.Jobs, perRun, limit)
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
	var progressMu sync.Mutex
	report := func(run string, p train.Progress) {
		if opt.Progress != nil {
			progressMu.Lock()
			defer progressMu.Unlock()
			opt.Progress(run, p)
		}
	}
	lossRow := func(variant string, seed uint64, p train.Progress) []string {
		return []string{"all", variant, itoa(p.Step), itoa(p.Epoch), ftoa(p.Loss), utoa(seed)}
	}
	mains, err := runSeeds(ctx, cfg, opt.Train, seeds, jobs, limit, report)
	if err != nil {
		return nil, err
	}
	var training, compare [][]string
	var timings []Timing
	for _, i := range seedOrder(seeds) {
		m := mains[i]
		out.Records = append(out.Records, m.records...)
		for _, p := range m.progress {
			training = append(training, lossRow(RunVariantName, seeds[i], p))
		}
		timings = append(timings, Timing{Run: RunVariantName, Seed: seeds[i], TrainSeconds: m.res.TrainTime.Seconds(), TokensPerSecond: m.res.TokensPerSecond})
		if len(cfg.Compare.Variants) > 0 {
			compare = append(compare, compareRow(RunVariantName, seeds[i], mainMethod(cfg.Train), 0, "as [train]", m.res))
		}
	}
	sortRecords(out.Records)
	for _, m := range mains {
		out.Mains = append(out.Mains, m.res)
	}
	out.Main = out.Mains[0]
	for _, v := range cfg.Compare.Variants {
		vc := VariantConfig(cfg.Train, v)
		vr, err := opt.Train(ctx, vc, train.Options{Progress: func(p train.Progress) {
			training = append(training, lossRow(v.Name, vc.Seed, p))
			report(v.Name, p)
		}, MemLimit: limit})
		if err != nil {
			return nil, fmt.Errorf("experiments: training variant %q: %w", v.Name, err)
		}
		out.Variants = append(out.Variants, vr)
		timings = append(timings, Timing{Run: v.Name, Seed: vc.Seed, TrainSeconds: vr.TrainTime.Seconds(), TokensPerSecond: vr.TokensPerSecond})
		kinds := joinKinds(v.Kinds, " ")
		if kinds == "" {
			kinds = "all"
		}
		compare = append(compare, compareRow(v.Name, vc.Seed, v.Method, v.Ratio, kinds, vr))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

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
		TrainingFile: EncodeCSV(trainingHeader, training),
	}
	if cfg.Analysis.Enabled {
		files[LayersFile] = EncodeCSV(layersHeader, layersRows(out.Records))
		curves := out.Records
		if !cfg.Analysis.AllCurves {
			curves = plottedCurves(curves)
		}
		files[CurvesFile] = EncodeCSV(curvesHeader, curvesRows(curves))
		files[FindingsFile] = EncodeCSV(findingsHeader, findingsRows(Findings(out.Records)))
	}
	if compare != nil {
		files[CompareFile] = EncodeCSV(compareHeader, compare)
	}
	m, err := writeResultsTo(ctx, target, cfg, files, start, opt.Now, runInfo{mains: out.Mains, seeds: seeds, jobs: jobs, timings: timings})
	if err != nil {
		return nil, err
	}
	out.Manifest = m
	return out, nil
}

// seedRun is the outcome of the observed run of one seed.
type seedRun struct {
	res      *train.Result
	records  []Record
	progress []train.Progress
}

// runSeeds trains the observed configuration once per seed, up to jobs at once, each with its
// own collector, and returns the outcomes in the order of seeds. The first failure stops the
// other runs and is returned.
func runSeeds(ctx context.Context, cfg Config, trainFn TrainFunc, seeds []uint64, jobs int, limit uint64,
	report func(string, train.Progress)) ([]seedRun, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runs := make([]seedRun, len(seeds))
	var errMu sync.Mutex
	var first error
	fail := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		if first == nil {
			first = err
			cancel()
		}
	}
	parallel.ForLimit(len(seeds), jobs, func(i int) {
		c := cfg.Train
		c.Seed = seeds[i]
		name := RunVariantName
		if len(seeds) > 1 {
			name = fmt.Sprintf("%s seed %d", RunVariantName, seeds[i])
		}
		col := NewCollector(cfg.Analysis)
		r := &runs[i]
		topt := train.Options{MemLimit: limit, Progress: func(p train.Progress) {
			r.progress = append(r.progress, p)
			report(name, p)
		}}
		if cfg.Analysis.Enabled {
			topt.Observer = col
		}
		res, err := trainFn(ctx, c, topt)
		if err != nil {
			fail(fmt.Errorf("experiments: training run %q: %w", name, err))
			return
		}
		if err := col.Err(); err != nil {
			fail(err)
			return
		}
		r.res, r.records = res, col.Records()
		for j := range r.records {
			r.records[j].Seed = seeds[i]
		}
	})
	if first != nil {
		return nil, first
	}
	return runs, nil
}

// seedOrder returns the indices of seeds in increasing order of the seed: the order of the
// rows of every CSV file.
func seedOrder(seeds []uint64) []int {
	idx := make([]int, len(seeds))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(seeds[a], seeds[b]) })
	return idx
}

// seedJobs returns how many observed runs to train at once: at most want (0: every seed), the
// seeds and GOMAXPROCS, and no more than the limit holds at perRun bytes each; at least 1.
func seedJobs(seeds, want int, perRun, limit uint64) int {
	jobs := seeds
	if want > 0 {
		jobs = min(jobs, want)
	}
	jobs = min(jobs, runtime.GOMAXPROCS(0))
	for jobs > 1 && limit != memlimit.Unlimited && perRun > limit/uint64(jobs) {
		jobs--
	}
	return max(jobs, 1)
}

// checkMemory refuses, before anything is allocated, a run whose estimated memory (the largest
// of the observed run and the variants, which train one after the other) exceeds limit. The
// observed run's estimate includes the buffers of the exact variance ratios
// ([exactRatioMemory]); it is returned. The data shapes are bounded from the data files without
// tokenizing.
func checkMemory(cfg Config, limit uint64) (uint64, error) {
	shape, err := train.BoundDataShape(cfg.Train)
	if err != nil {
		return 0, fmt.Errorf("experiments: training run %s: %w", RunVariantName, err)
	}
	est := train.EstimateMemory(cfg.Train, shape)
	extra := exactRatioMemory(cfg, shape)
	main := memlimit.Sum(est.Total(), extra)
	if err := memlimit.Check("training run "+RunVariantName, main, limit); err != nil {
		return 0, fmt.Errorf("experiments: %w (%s; exact variance ratios %s: analysis.exact_every = -1 skips them)", err, est, memlimit.Format(extra))
	}
	for _, v := range cfg.Compare.Variants {
		c := VariantConfig(cfg.Train, v)
		shape, err := train.BoundDataShape(c)
		if err != nil {
			return 0, fmt.Errorf("experiments: training variant %s: %w", v.Name, err)
		}
		if err := train.CheckMemory(c, shape, limit); err != nil {
			return 0, fmt.Errorf("experiments: training variant %s: %w", v.Name, err)
		}
	}
	return main, nil
}

// exactRatioMemory bounds the memory the exact variance ratios add to the observed run: H and ∇Z
// in float64 for every analysed layer of a step (held from its forward pass to the end of its
// backward pass), and, for the largest layer, the copies and d_in×d_out buffers of the closed
// forms (computed one layer at a time). The batch is at most the training set, each sequence at
// most max_len tokens. 0 when the analysis is disabled or analysis.exact_every is −1.
func exactRatioMemory(cfg Config, shape train.DataShape) uint64 {
	a, t := cfg.Analysis, cfg.Train
	if !a.Enabled || a.ExactEvery < 0 {
		return 0
	}
	b := t.BatchSize
	if shape.TrainExamples > 0 {
		b = min(b, shape.TrainExamples)
	}
	n := int(min(memlimit.Mul(b, t.MaxLen), 1<<40))
	blocks := len(a.Blocks)
	if blocks == 0 {
		blocks = t.Blocks
	}
	var held, work uint64
	for _, k := range a.Kinds {
		din, dout := t.Dim, t.Dim
		switch k {
		case model.FFNIn:
			dout = t.FFNDim
		case model.FFNOut:
			din = t.FFNDim
		}
		held = memlimit.Sum(held, memlimit.Mul(blocks, n, din+dout, 8))
		// The rows of D (H and ∇Z), Hᵀ, the closed form's float64 copies, and its products.
		work = max(work, memlimit.Sum(memlimit.Mul(5, n, din+dout, 8), memlimit.Mul(6, din, dout, 8)))
	}
	return memlimit.Sum(held, work)
}

// runInfo is what the manifest and summary.md report of the training runs (zero for trace
// input).
type runInfo struct {
	mains   []*train.Result // the observed run, per seed
	seeds   []uint64
	jobs    int
	timings []Timing
}

// writeResultsTo writes files, the figures, summary.md and manifest.json into a staging
// directory of target and swaps it into place (replacing an earlier one).
func writeResultsTo(ctx context.Context, target *outdir.Target, cfg Config, files map[string][]byte, start time.Time, now func() time.Time,
	run runInfo) (Manifest, error) {
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
	sum, err := Summarize(tmp, cfg, run.mains, run.timings)
	if err != nil {
		return Manifest{}, err
	}
	if err := os.WriteFile(filepath.Join(tmp, SummaryFile), sum, 0o644); err != nil {
		return Manifest{}, fmt.Errorf("experiments: %w", err)
	}
	m := newManifest(cfg.Experiment.Name, files[ConfigFile], start, now())
	m.Seed, m.Timings, m.Seeds, m.Jobs = cfg.Train.Seed, run.timings, run.seeds, run.jobs
	for name := range files {
		m.Files = append(m.Files, name)
	}
	m.Files = append(m.Files, figs...)
	m.Files = append(m.Files, SummaryFile, ManifestFile)
	return commitResults(ctx, target, tmp, m)
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
// source, over every seed (the steps the curve figures draw).
func plottedCurves(recs []Record) []Record {
	steps := map[string]map[int]bool{}
	for _, r := range recs {
		if steps[r.Source] == nil {
			steps[r.Source] = map[int]bool{}
		}
		steps[r.Source][r.Step] = true
	}
	keep := map[string]map[int]bool{}
	for src, s := range steps {
		keep[src] = map[int]bool{}
		for _, st := range pickSteps(sortedKeys(s)) {
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

func compareRow(name string, seed uint64, method string, ratio float64, kinds string, r *train.Result) []string {
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
		ftoa(r.MajorityAccuracy), ftoa(final), ftoa(r.SavedBytes / mib), ftoa(r.ExactBytes / mib), ftoa(memRatio), utoa(seed)}
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
