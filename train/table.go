package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wtacrs/wtacrs/internal/atomicfile"
	"github.com/wtacrs/wtacrs/internal/memlimit"
	"github.com/wtacrs/wtacrs/internal/parallel"
	"github.com/wtacrs/wtacrs/model"
)

// TableRow is one method of a Table-1-like comparison: dev accuracy over seeds.
type TableRow struct {
	// Name is "exact" or "WTA-CRS@<ratio>".
	Name string
	// Ratio is the kept fraction of every layer kind (1 for exact).
	Ratio float64
	// Accuracies are the final dev accuracies, one per seed.
	Accuracies []float64
	// Mean and Std are their mean and sample standard deviation (0 for one seed).
	Mean, Std float64
	// SavedBytes and ExactBytes are the mean activation bytes per step of the linear layers.
	SavedBytes, ExactBytes float64
	// AttentionBytes and TapeBytes are the mean bytes per step kept for the attention
	// products' backward and by the whole tape ([Result.AttentionBytes], [Result.TapeBytes]).
	AttentionBytes, TapeBytes float64
	// StepSeconds is the mean training time per optimiser step.
	StepSeconds float64
	// TokensPerSecond is the mean training throughput.
	TokensPerSecond float64
	// Results are the runs' results, one per seed.
	Results []*Result `json:"-"`
}

// Table trains cfg with every layer exact and with every layer kind on WTA-CRS at each ratio,
// for each seed (cfg.Seed is replaced), and returns one row per method, exact first. ratios must
// lie in (0, 1] and seeds must not be empty. Up to jobs runs (at least 1) train concurrently;
// each run is deterministic, so the numbers do not depend on jobs. The runs share
// opt.MemLimit (each gets its share). opt.Progress is not used;
// progress, when not nil, is told of each finished run (from one goroutine at a time).
func Table(ctx context.Context, cfg Config, ratios []float64, seeds []uint64, jobs int, opt Options, progress func(name string, seed uint64, r *Result)) ([]TableRow, error) {
	return TableOf(ctx, cfg, TableMethods{Ratios: ratios, Exact: true}, seeds, jobs, opt, progress)
}

// TableMethods are the methods of a [TableOf] comparison.
type TableMethods struct {
	// Ratios are the WTA-CRS ratios, each in (0, 1]: one row per ratio, [Config.WithMethod]
	// ("wtacrs", ratio, Kinds).
	Ratios []float64
	// Kinds are the layer kinds the ratios apply to; nil for all six (the others exact).
	Kinds []model.Kind
	// Exact adds the row "exact" first: [Config.WithMethod]("exact", 0, nil).
	Exact bool
}

// TableOf is [Table] over the methods ms: the exact row when ms.Exact, then one row per ratio
// with the kinds ms.Kinds on WTA-CRS (and the attention products, when cfg samples them).
func TableOf(ctx context.Context, cfg Config, ms TableMethods, seeds []uint64, jobs int, opt Options, progress func(name string, seed uint64, r *Result)) ([]TableRow, error) {
	if len(seeds) == 0 {
		return nil, fmt.Errorf("%w: no seeds", ErrConfig)
	}
	type method struct {
		name  string
		ratio float64
	}
	var methods []method
	if ms.Exact {
		methods = append(methods, method{"exact", 1})
	}
	if len(ms.Ratios) == 0 && !ms.Exact {
		return nil, fmt.Errorf("%w: no method (no ratio and no exact row)", ErrConfig)
	}
	ratios := ms.Ratios
	for _, r := range ratios {
		if !(r > 0 && r <= 1) {
			return nil, fmt.Errorf("%w: ratio %v, want (0, 1]", ErrConfig, r)
		}
		methods = append(methods, method{fmt.Sprintf("WTA-CRS@%g", r), r})
	}
	opt.Progress = nil
	// Concurrent runs share the memory limit.
	if opt.MemLimit == 0 {
		opt.MemLimit = memlimit.Default()
	}
	if opt.MemLimit != memlimit.Unlimited {
		opt.MemLimit = max(1, opt.MemLimit/uint64(min(max(1, jobs), len(methods)*len(seeds))))
	}
	results := make([][]*Result, len(methods))
	errs := make([][]error, len(methods))
	var mu sync.Mutex
	var wg sync.WaitGroup
	var workerPanic atomic.Pointer[parallel.Panic] // raised on this goroutine after the wait
	sem := make(chan struct{}, max(1, jobs))
	for mi, m := range methods {
		results[mi] = make([]*Result, len(seeds))
		errs[mi] = make([]error, len(seeds))
		c := cfg.WithMethod(MethodExact, 0, nil)
		if m.name != "exact" {
			c = cfg.WithMethod(MethodWTACRS, m.ratio, ms.Kinds)
		}
		for si, s := range seeds {
			c.Seed = s
			wg.Add(1)
			sem <- struct{}{}
			go func(c Config) {
				defer wg.Done()
				defer func() { <-sem }()
				defer func() {
					if v := recover(); v != nil {
						workerPanic.CompareAndSwap(nil, &parallel.Panic{Value: v, Stack: debug.Stack()})
					}
				}()
				res, err := Run(ctx, c, opt)
				results[mi][si], errs[mi][si] = res, err
				if err == nil && progress != nil {
					mu.Lock()
					progress(m.name, c.Seed, res)
					mu.Unlock()
				}
			}(c)
		}
	}
	wg.Wait()
	if p := workerPanic.Load(); p != nil {
		panic(p)
	}
	var rows []TableRow
	for mi, m := range methods {
		row := TableRow{Name: m.name, Ratio: m.ratio}
		for si, s := range seeds {
			if err := errs[mi][si]; err != nil {
				return nil, fmt.Errorf("%s seed %d: %w", m.name, s, err)
			}
			res := results[mi][si]
			row.Accuracies = append(row.Accuracies, res.DevAccuracy)
			row.Results = append(row.Results, res)
			row.SavedBytes += res.SavedBytes / float64(len(seeds))
			row.ExactBytes += res.ExactBytes / float64(len(seeds))
			row.TokensPerSecond += res.TokensPerSecond / float64(len(seeds))
			row.AttentionBytes += res.AttentionBytes / float64(len(seeds))
			row.TapeBytes += res.TapeBytes / float64(len(seeds))
			row.StepSeconds += res.TrainTime.Seconds() / float64(res.Steps) / float64(len(seeds))
		}
		row.Mean, row.Std = meanStd(row.Accuracies)
		rows = append(rows, row)
	}
	return rows, nil
}

func meanStd(v []float64) (mean, std float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	for _, x := range v {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)-1))
}

// WriteTable writes rows as a Markdown table: dev accuracy (%) mean ± std, the activation memory
// of the linear layers relative to exact, and tokens per second.
func WriteTable(w io.Writer, rows []TableRow) error {
	var b strings.Builder
	b.WriteString("| method | dev accuracy (%) | seeds | linear activations vs exact | tokens/s |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		rel := 1.0
		if r.ExactBytes > 0 {
			rel = r.SavedBytes / r.ExactBytes
		}
		fmt.Fprintf(&b, "| %s | %.1f ± %.1f | %d | %.3f | %.0f |\n", r.Name, 100*r.Mean, 100*r.Std, len(r.Accuracies), rel, r.TokensPerSecond)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes v as indented JSON to path atomically (a temporary file in the same folder,
// then a rename).
func WriteJSON(path string, v any) error {
	buf, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("train: encode %s: %w", path, err)
	}
	buf = append(buf, '\n')
	if err := atomicfile.WriteFile(path, buf); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}
