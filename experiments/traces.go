package experiments

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/internal/memlimit"
	"github.com/wtacrs/wtacrs/internal/npyfile"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/train"
)

// TraceOptions are the settings of [AnalyzeTraces].
type TraceOptions struct {
	// Out is the parent output directory (default "results") and Name the experiment name
	// (default "traces"); outputs go to <Out>/<Name>/.
	Out, Name string
	// Analysis chooses budgets, sources, kinds and padding handling; Every and Blocks are
	// ignored (every step and block found is analysed). Zero value: the defaults of [Config],
	// with every kind.
	Analysis Analysis
	// MemLimit is the most memory, in bytes, one step's traces may need once read (as float64,
	// with the closed forms' buffers), checked from the .npy headers before a step is read; 0
	// means the memory available now (memlimit.Default), memlimit.Unlimited none.
	MemLimit uint64
}

// maxTraceIndex bounds the block and step numbers of trace directories.
const maxTraceIndex = 1 << 30

// traceIndex parses the number of a block<B> or step<N> directory: decimal digits without a
// leading zero (block00.q would otherwise be the same layer as block0.q), at most maxTraceIndex.
func traceIndex(digits, dir, what string) (int, error) {
	if len(digits) > 1 && digits[0] == '0' {
		return 0, fmt.Errorf("%w: %s: the %s number %s has a leading zero (write %s without it, so that no two directories name the same %s)",
			ErrTrace, dir, what, digits, cmp.Or(strings.TrimLeft(digits, "0"), "0"), what)
	}
	v, err := strconv.Atoi(digits)
	if err != nil || v > maxTraceIndex {
		return 0, fmt.Errorf("%w: %s: the %s number %s is above %d", ErrTrace, dir, what, digits, maxTraceIndex)
	}
	return v, nil
}

var (
	layerDirRE = regexp.MustCompile(`^block(\d+)\.(q|k|v|o|ffn_in|ffn_out)$`)
	stepDirRE  = regexp.MustCompile(`^step(\d+)$`)
)

// The names of the .npy files of one layer and step of a trace directory (layout in the
// package documentation).
const (
	// TraceHFile holds the layer input H, tokens × d_in.
	TraceHFile = "H.npy"
	// TraceDZFile holds the output gradient ∇Z, tokens × d_out.
	TraceDZFile = "dZ.npy"
	// TraceValidFile holds the optional padding mask, one value per token, non-zero for a real
	// token.
	TraceValidFile = "valid.npy"
	// TraceActNormsFile holds the row norms ‖H_t‖, one per token; read only where TraceHFile
	// is absent.
	TraceActNormsFile = "act_norms.npy"
	// TraceGradNormsFile holds the row norms ‖∇Z_t‖, one per token; read only where
	// TraceDZFile is absent.
	TraceGradNormsFile = "grad_norms.npy"
	// TraceCachedGradNormsFile holds the cached gradient norms ‖∇Z_t‖ of Algorithm 1, one per
	// token.
	TraceCachedGradNormsFile = "cached_grad_norms.npy"
)

// AnalyzeTraces runs the analyses of [Run] on the .npy traces under dir (layout in the package
// documentation) and writes the same outputs (layers.csv, curves.csv, figures, summary.md,
// manifest.json, and config.toml holding the analysis settings) atomically to
// <Out>/<Name>/. Where both H and ∇Z are present, layers.csv also holds the exact closed-form
// variance ratio. Errors wrap ErrTrace and name the file.
func AnalyzeTraces(ctx context.Context, dir string, opt TraceOptions) (*Outcome, error) {
	cfg := DefaultConfig()
	cfg.Experiment = Experiment{Name: opt.Name, Description: "Analyses of the traces in " + filepath.ToSlash(dir) + "."}
	if cfg.Experiment.Name == "" {
		cfg.Experiment.Name = "traces"
	}
	if opt.Analysis.Budgets != nil || opt.Analysis.Sources != nil || opt.Analysis.Kinds != nil || opt.Analysis.IncludePadding {
		cfg.Analysis = opt.Analysis
	} else {
		cfg.Analysis.Kinds = model.Kinds()
	}
	cfg.Analysis.Enabled, cfg.Analysis.Every, cfg.Analysis.Blocks = true, 1, nil
	if len(cfg.Analysis.Kinds) == 0 {
		cfg.Analysis.Kinds = model.Kinds()
	}
	cfg.Train.Blocks = math.MaxInt32 // blocks are whatever the traces hold
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	layers, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTrace, err)
	}
	// The output is checked and locked before the traces are read; it may not hold them.
	target, err := openTarget(outOrDefault(opt.Out), cfg.Experiment.Name, cfg.Experiment.Name, []string{dir})
	if err != nil {
		return nil, err
	}
	defer target.Close()
	col := NewCollector(cfg.Analysis)
	found := 0
	for _, ld := range layers {
		m := layerDirRE.FindStringSubmatch(ld.Name())
		if !ld.IsDir() || m == nil {
			continue
		}
		block, err := traceIndex(m[1], filepath.Join(dir, ld.Name()), "block")
		if err != nil {
			return nil, err
		}
		id := model.LayerID{Block: block, Kind: model.Kind(m[2])}
		if !slices.Contains(cfg.Analysis.Kinds, id.Kind) {
			continue
		}
		steps, err := os.ReadDir(filepath.Join(dir, ld.Name()))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTrace, err)
		}
		for _, sd := range steps {
			sm := stepDirRE.FindStringSubmatch(sd.Name())
			if !sd.IsDir() || sm == nil {
				continue
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			stepDir := filepath.Join(dir, ld.Name(), sd.Name())
			step, err := traceIndex(sm[1], stepDir, "step")
			if err != nil {
				return nil, err
			}
			if step < 1 {
				return nil, fmt.Errorf("%w: %s: the step must be ≥ 1", ErrTrace, stepDir)
			}
			if err := checkStepMemory(stepDir, opt.MemLimit, cfg.Analysis); err != nil {
				return nil, err
			}
			o, h, g, err := readStep(stepDir, id, step)
			if err != nil {
				return nil, err
			}
			if err := col.add(o, h, g); err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrTrace, stepDir, err)
			}
			found++
		}
	}
	if found == 0 {
		return nil, fmt.Errorf("%w: no <layer>/step<N>/ directories with traces under %s (layer names like block0.q)", ErrTrace, dir)
	}
	recs := col.Records()
	conf, err := cfg.Encode()
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		ConfigFile: conf,
		LayersFile: EncodeCSV(layersHeader, layersRows(recs)),
		CurvesFile: EncodeCSV(curvesHeader, curvesRows(recs)),
	}
	out := &Outcome{Dir: target.Dir(), Records: recs}
	files[FindingsFile] = EncodeCSV(findingsHeader, findingsRows(Findings(recs)))
	m, err := writeResultsTo(ctx, target, cfg, files, start, time.Now, runInfo{})
	if err != nil {
		return nil, err
	}
	out.Manifest = m
	return out, nil
}

func outOrDefault(out string) string {
	if out == "" {
		return "results"
	}
	return out
}

// checkStepMemory refuses, from the .npy headers alone, a step whose traces would need more
// than limit bytes (0: memlimit.Default()) once read: every array as float64, and with H
// and ∇Z the closed form's buffers (a few d_in×d_out matrices and copies of H and ∇Z).
func checkStepMemory(dir string, limit uint64, a Analysis) error {
	if limit == 0 {
		limit = memlimit.Default()
	}
	var total uint64
	var shapes = map[string][]int{}
	tokens := 0
	for _, name := range []string{TraceHFile, TraceDZFile, TraceValidFile, TraceActNormsFile, TraceGradNormsFile, TraceCachedGradNormsFile} {
		info, err := npyfile.ReadInfo(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrTrace, err)
		}
		shapes[name] = info.Shape
		total = memlimit.Sum(total, memlimit.Mul(2, info.Elements, 8))
		if len(info.Shape) > 0 {
			tokens = max(tokens, info.Shape[0])
		}
	}
	h, g := shapes[TraceHFile], shapes[TraceDZFile]
	if len(h) == 2 && len(g) == 2 {
		total = memlimit.Sum(total, memlimit.Mul(6, h[1], g[1], 8), memlimit.Mul(2, h[0], h[1], 8), memlimit.Mul(2, g[0], g[1], 8))
	}
	// The curves: k+1 points per budget and norm source, each held as numbers, as a CSV row
	// (its fields and its text) and as a plotted point, about curvePointBytes in all.
	var points uint64
	for _, b := range a.Budgets {
		points = memlimit.Sum(points, uint64(math.Ceil(b*float64(tokens)))+1)
	}
	total = memlimit.Sum(total, memlimit.Mul(int(min(points, 1<<40)), max(1, len(a.Sources)), curvePointBytes))
	if err := memlimit.Check("the traces of "+dir, total, limit); err != nil {
		return fmt.Errorf("experiments: %w", err)
	}
	return nil
}

// curvePointBytes bounds the memory of one point of a cumulative-mass curve from the analysis
// to the written CSV and figure (measured: about 480 bytes).
const curvePointBytes = 600

// readStep reads one step directory into an observation and, when present, H and ∇Z.
func readStep(dir string, id model.LayerID, step int) (train.Observation, matrix.Dense[float64], matrix.Dense[float64], error) {
	o := train.Observation{Step: step, Layer: id}
	var h, g matrix.Dense[float64]
	read := func(name string, dims int) ([]float64, []int, bool, error) {
		path := filepath.Join(dir, name)
		data, shape, err := readNpy(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, false, nil
		}
		if err != nil {
			return nil, nil, false, err
		}
		if len(shape) != dims {
			return nil, nil, false, fmt.Errorf("%w: %s has shape %v, want %d dimension(s)", ErrTrace, path, shape, dims)
		}
		return data, shape, true, nil
	}
	hd, hs, hok, err := read(TraceHFile, 2)
	if err != nil {
		return o, h, g, err
	}
	gd, gs, gok, err := read(TraceDZFile, 2)
	if err != nil {
		return o, h, g, err
	}
	if hok {
		h = matrix.Dense[float64]{Rows: hs[0], Cols: hs[1], Data: hd}
		o.ActNorms = estimator.RowNorms(h)
	}
	if gok {
		g = matrix.Dense[float64]{Rows: gs[0], Cols: gs[1], Data: gd}
		o.GradNorms = estimator.RowNorms(g)
	}
	for _, f := range []struct {
		name string
		dst  *[]float64
	}{{TraceActNormsFile, &o.ActNorms}, {TraceGradNormsFile, &o.GradNorms}, {TraceCachedGradNormsFile, &o.CachedGradNorms}} {
		d, _, ok, err := read(f.name, 1)
		if err != nil {
			return o, h, g, err
		}
		for i, v := range d {
			if v < 0 {
				return o, h, g, fmt.Errorf("%w: %s: element %d is %v, but a norm is ≥ 0", ErrTrace, filepath.Join(dir, f.name), i, v)
			}
		}
		if ok && *f.dst == nil {
			*f.dst = d
		}
	}
	if o.ActNorms == nil || (o.GradNorms == nil && o.CachedGradNorms == nil) {
		return o, h, g, fmt.Errorf("%w: %s needs %s or %s, and %s, %s or %s", ErrTrace, dir,
			TraceHFile, TraceActNormsFile, TraceDZFile, TraceGradNormsFile, TraceCachedGradNormsFile)
	}
	n := len(o.ActNorms)
	for name, v := range map[string][]float64{"gradient norms": o.GradNorms, "cached gradient norms": o.CachedGradNorms} {
		if v != nil && len(v) != n {
			return o, h, g, fmt.Errorf("%w: %s: %d tokens in the input but %d %s", ErrTrace, dir, n, len(v), name)
		}
	}
	if !hok || !gok {
		h, g = matrix.Dense[float64]{}, matrix.Dense[float64]{}
	}
	vd, _, ok, err := read(TraceValidFile, 1)
	if err != nil {
		return o, h, g, err
	}
	if ok {
		if len(vd) != n {
			return o, h, g, fmt.Errorf("%w: %s: %d validity flags for %d tokens", ErrTrace, filepath.Join(dir, TraceValidFile), len(vd), n)
		}
		o.Valid = make([]bool, n)
		for t, v := range vd {
			o.Valid[t] = v != 0
		}
	}
	return o, h, g, nil
}

// readNpy reads a C-order .npy file of any real or boolean type as float64 (see
// internal/npyfile). A missing file returns the error of os.Open as it is; other errors wrap
// ErrTrace and name the file, a NaN or ±Inf element included.
func readNpy(path string) ([]float64, []int, error) {
	a, err := npyfile.ReadArray(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrTrace, err)
	}
	for i, v := range a.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, nil, fmt.Errorf("%w: %s: element %d is %v", ErrTrace, path, i, v)
		}
	}
	return a.Data, a.Shape, nil
}
