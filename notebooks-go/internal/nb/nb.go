// Package nb holds what the notebook programs under notebooks-go/ share: flags, loading (or
// producing) an experiment's records, saving figures and writing the Markdown report
// atomically under results/notebooks/<notebook>/.
package nb

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/internal/atomicfile"
	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/plots"
	"github.com/wtacrs/wtacrs/train"
)

// Settings are the common flags of the notebooks.
type Settings struct {
	// Results is the parent directory of the experiments' outputs (default "results").
	Results string
	// Out is the notebook's output directory (default results/notebooks/<name>).
	Out string
	// Rerun runs the experiment's configuration before reading its results.
	Rerun bool
	// Configs is the directory of the shipped configurations (default experiments/configs).
	Configs string
}

// Parse parses the common flags for the notebook called name; run it from the repository root.
func Parse(name string) Settings {
	var s Settings
	flag.StringVar(&s.Results, "results", "results", "parent directory of the experiments' outputs")
	flag.StringVar(&s.Out, "out", filepath.Join("results", "notebooks", name), "where the notebook writes its figures and report")
	flag.BoolVar(&s.Rerun, "rerun", false, "rerun the experiment (wtacrs run CONFIG) even when its results exist")
	flag.StringVar(&s.Configs, "configs", filepath.Join("experiments", "configs"), "directory of the experiment configurations")
	flag.Parse()
	return s
}

// Main runs f and exits with status 2 and the error on stderr when it fails.
func Main(f func() error) {
	if err := f(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(2)
	}
}

// Records returns the records of experiment name under s.Results, running its configuration
// first when s.Rerun is set or when no results exist yet.
func Records(s Settings, name string) ([]experiments.Record, error) {
	dir := filepath.Join(s.Results, name)
	if _, err := os.Stat(filepath.Join(dir, experiments.LayersFile)); s.Rerun || errors.Is(err, os.ErrNotExist) {
		cfg, err := experiments.LoadConfig(filepath.Join(s.Configs, name+".toml"))
		if err != nil {
			return nil, err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		fmt.Fprintf(os.Stderr, "running %s (results in %s)\n", name, dir)
		_, err = experiments.Run(ctx, cfg, experiments.Options{Out: s.Results, Progress: func(run string, p train.Progress) {
			if p.Step%max(1, p.TotalSteps/10) == 0 {
				fmt.Fprintf(os.Stderr, "  %s step %d/%d loss %.4f\n", run, p.Step, p.TotalSteps, p.Loss)
			}
		}})
		if err != nil {
			return nil, err
		}
	}
	recs, err := experiments.LoadRecords(dir)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s holds no analyses (layers.csv is empty)", dir)
	}
	return recs, nil
}

// SaveFigures saves the figures of recs whose names are listed into s.Out and returns the
// PNG file names, in the order given.
func SaveFigures(s Settings, recs []experiments.Record, names ...string) ([]string, error) {
	if err := os.MkdirAll(s.Out, 0o755); err != nil {
		return nil, err
	}
	var out []string
	for _, f := range experiments.Figures(recs) {
		if slices.Contains(names, f.Name) {
			if err := plots.Save(f.Figure, filepath.Join(s.Out, f.Name)); err != nil {
				return nil, err
			}
		}
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(s.Out, n+".png")); err == nil {
			out = append(out, n+".png")
		}
	}
	return out, nil
}

// WriteReport writes text to s.Out/report.md atomically.
func WriteReport(s Settings, text string) error {
	if err := os.MkdirAll(s.Out, 0o755); err != nil {
		return err
	}
	path := filepath.Join(s.Out, "report.md")
	if err := atomicfile.WriteFile(path, []byte(text)); err != nil {
		return err
	}
	fmt.Println("wrote", path)
	return nil
}

// Steps returns the sorted distinct steps of the records, and the first, middle and last.
func Steps(recs []experiments.Record) (all, picked []int) {
	seen := map[int]bool{}
	for _, r := range recs {
		if !seen[r.Step] {
			seen[r.Step] = true
			all = append(all, r.Step)
		}
	}
	slices.Sort(all)
	picked = all
	if len(all) > 3 {
		picked = []int{all[0], all[(len(all)-1)/2], all[len(all)-1]}
	}
	return all, picked
}

// Filter returns the records that pass keep.
func Filter(recs []experiments.Record, keep func(experiments.Record) bool) []experiments.Record {
	var out []experiments.Record
	for _, r := range recs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// Mean returns the mean of f over recs (NaN for none).
func Mean(recs []experiments.Record, f func(experiments.Record) float64) float64 {
	if len(recs) == 0 {
		return math.NaN()
	}
	var s float64
	for _, r := range recs {
		s += f(r)
	}
	return s / float64(len(recs))
}

// MassAt returns P_C at |C| = round(frac·k) of a record's curve.
// It returns NaN when the record has no curve (curves.csv keeps only the plotted steps).
func MassAt(r experiments.Record, frac float64) float64 {
	if len(r.Stats.Mass) == 0 {
		return math.NaN()
	}
	c := min(int(math.Round(frac*float64(r.Stats.K))), len(r.Stats.Mass)-1)
	return r.Stats.Mass[c]
}

// KindName spells a layer kind.
func KindName(k model.Kind) string {
	switch k {
	case model.Query:
		return "query"
	case model.Key:
		return "key"
	case model.Value:
		return "value"
	}
	return string(k)
}

// Kinds returns the kinds present in recs, in the order q, k, v, o, ffn_in, ffn_out.
func Kinds(recs []experiments.Record) []model.Kind {
	var out []model.Kind
	for _, k := range model.Kinds() {
		for _, r := range recs {
			if r.Layer.Kind == k {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// SourceName spells a norm source.
func SourceName(s string) string {
	if s == experiments.SourceCached {
		return "cached gradient norms (what Algorithm 1 samples with)"
	}
	return "exact gradient norms of the step"
}

// Header returns the report's opening: title, how it was produced and the experiment's summary.
func Header(title, notebook string, s Settings, experiment string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", title)
	fmt.Fprintf(&b, "Produced by `go run ./notebooks-go/%s` from the results of `go run ./cmd/wtacrs run experiments/configs/%s.toml` "+
		"(in `%s/%s/`; pass `-rerun` to train again). Figures are PNG and SVG beside this report.\n\n",
		notebook, experiment, filepath.ToSlash(s.Results), experiment)
	return b.String()
}

// g formats a float in the shortest form that reads back exactly.
func g(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
