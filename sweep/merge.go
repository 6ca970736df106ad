package sweep

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/internal/outdir"
	"github.com/wtacrs/wtacrs/plots"
)

// The files of DIR/merged besides one <metric>.csv and <metric>.md per metric of [MetricNames]
// and one folder per variant.
const (
	// MergedJobsFile holds one row per merged job: its axis values and every metric.
	MergedJobsFile = "jobs.csv"
	// MergedFindingsFile holds the analyses' findings per variant (when the jobs analyse).
	MergedFindingsFile = "findings.csv"
	// MergedSummaryFile is every table in Markdown.
	MergedSummaryFile = "summary.md"
	// MergedManifestFile lists the jobs merged and every entry of DIR/merged.
	MergedManifestFile = "manifest.json"
)

// metric is one number of a job the merged tables summarise over seeds.
type metric struct {
	name, title, unit string
	scale             float64 // applied in Markdown and figures only
	digits            int
	get               func(Metrics) float64
}

var metrics = []metric{
	{"dev_accuracy", "dev accuracy", "%", 100, 1, func(m Metrics) float64 { return m.DevAccuracy }},
	{"final_loss", "training loss of the last epoch", "nats", 1, 4, func(m Metrics) float64 { return m.FinalLoss }},
	{"linear_kept_mib", "linear-layer activations kept for backward", "MiB per step", 1, 2, func(m Metrics) float64 { return m.LinearKeptMiB }},
	{"memory_ratio", "linear-layer activations kept, relative to exact", "ratio", 1, 3, func(m Metrics) float64 { return m.MemoryRatio }},
	{"attention_kept_mib", "attention products kept for backward", "MiB per step", 1, 2, func(m Metrics) float64 { return m.AttentionKeptMiB }},
	{"tape_mib", "whole tape kept for backward", "MiB per step", 1, 2, func(m Metrics) float64 { return m.TapeMiB }},
	{"trainable_params", "trained parameters", "count", 1, 0, func(m Metrics) float64 { return float64(m.TrainableParams) }},
}

// meanNote explains the merged tables' numbers.
const meanNote = "Mean over the seeds ± the half-width of the two-sided 95% Student t interval (n − 1 degrees of freedom); per-seed values in seed order.\n"

// MetricNames returns the metrics of the merged tables, in order: each has DIR/merged/<name>.csv
// and <name>.md.
func MetricNames() []string {
	names := make([]string, len(metrics))
	for i, m := range metrics {
		names[i] = m.name
	}
	return names
}

// MergeOptions are the settings of [Merge].
type MergeOptions struct {
	// Partial merges the jobs that are done when others are not (their tables say so);
	// without it such a merge is refused.
	Partial bool
	// NoFigures writes the tables and the variant folders' CSV files without drawing figures
	// (much faster for a sweep of many variants).
	NoFigures bool
}

// mergedManifest is DIR/merged/manifest.json.
type mergedManifest struct {
	Sweep string `json:"sweep"`
	// Jobs are the hashes of the jobs merged, in the index's order.
	Jobs []string `json:"jobs"`
	// Missing are the jobs of the sweep that were not done (a partial merge).
	Missing []string `json:"missing,omitempty"`
	// Backends are the GEMM backends the jobs ran with.
	Backends []string `json:"gemm_backends"`
	// Files lists every entry of DIR/merged, folders with a trailing "/", sorted.
	Files []string `json:"files"`
}

// Merge writes DIR/merged from the done jobs of the sweep folder dir and returns its entries:
// per metric ([MetricNames]) one CSV and one Markdown table of each variant's mean with its
// two-sided 95% Student t interval over the seeds (experiments.MeanCI) and the per-seed
// values; jobs.csv with every job; per variant a folder with the jobs' CSV files concatenated
// in seed order (the files a multi-seed wtacrs run writes) and their figures, each line the
// mean over the seeds with a band from their minimum to their maximum (experiments.Replot);
// findings.csv with the analyses' findings per variant; accuracy and memory figures per variant
// with the interval as a band; summary.md. The tables depend on the jobs' results only, not
// on where or in which order the jobs ran, so a local and a Slurm run of a sweep merge to the
// same bytes (for one GEMM backend and thread count; the manifest lists the backends).
//
// The folder is built in a temporary folder and swapped into place atomically, replacing only
// an earlier merge (its manifest lists every entry). Jobs not done are an error wrapping
// ErrIncomplete unless opt.Partial.
func Merge(dir string, opt MergeOptions) ([]string, error) {
	idx, err := ReadIndex(dir)
	if err != nil {
		return nil, err
	}
	status := Status(dir, idx)
	var done []JobStatus
	var missing []string
	for _, st := range status {
		if st.Status == Done {
			done = append(done, st)
		} else {
			missing = append(missing, fmt.Sprintf("%s (%s seed %d: %s)", st.Hash, st.Variant, st.Seed, st.Status))
		}
	}
	if len(missing) > 0 && !opt.Partial {
		shown := missing
		if len(shown) > 5 {
			shown = append(slices.Clone(shown[:5]), fmt.Sprintf("and %d more", len(missing)-5))
		}
		return nil, fmt.Errorf("%w: %d of %d jobs of %s are not done: %s (run them, or merge with -partial)", ErrIncomplete,
			len(missing), len(status), dir, strings.Join(shown, ", "))
	}
	if len(done) == 0 {
		return nil, fmt.Errorf("%w: no job of %s is done", ErrIncomplete, dir)
	}
	target, err := outdir.Open(dir, MergedDir, outdir.Options{Owned: ownedMerge})
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	defer target.Close()
	tmp, err := target.Stage()
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	m := &merger{dir: dir, idx: idx, out: tmp, files: map[string][]byte{}, noFigures: opt.NoFigures}
	for _, st := range done {
		m.byVariant(st.Variant)
		m.groups[st.Variant] = append(m.groups[st.Variant], st)
	}
	if err := m.merge(); err != nil {
		return nil, err
	}
	man := mergedManifest{Sweep: idx.Sweep}
	for _, st := range done {
		man.Jobs = append(man.Jobs, st.Hash)
		if b := st.Record.GEMMBackend; !slices.Contains(man.Backends, b) {
			man.Backends = append(man.Backends, b)
		}
	}
	for _, st := range status {
		if st.Status != Done {
			man.Missing = append(man.Missing, st.Hash)
		}
	}
	slices.Sort(man.Backends)
	m.summary(man, len(status))
	for name, b := range m.files {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return nil, fmt.Errorf("sweep: %w", err)
		}
		man.Files = append(man.Files, name)
	}
	man.Files = append(man.Files, m.extra...)
	man.Files = append(man.Files, MergedManifestFile)
	slices.Sort(man.Files)
	js, _ := json.MarshalIndent(man, "", "  ") // plain data
	if err := os.WriteFile(filepath.Join(tmp, MergedManifestFile), append(js, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	if err := target.Commit(tmp); err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	return man.Files, nil
}

// ownedMerge accepts a merged folder whose manifest lists every entry.
func ownedMerge(dir string) error {
	js, err := os.ReadFile(filepath.Join(dir, MergedManifestFile))
	if err != nil {
		return fmt.Errorf("no %s", MergedManifestFile)
	}
	var m mergedManifest
	if json.Unmarshal(js, &m) != nil || m.Sweep == "" {
		return fmt.Errorf("%s is not the manifest of a merge", MergedManifestFile)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			name += "/"
		} else if !e.Type().IsRegular() {
			return fmt.Errorf("it holds %s, not a plain file", e.Name())
		}
		if !slices.Contains(m.Files, name) {
			return fmt.Errorf("it holds %s, which its manifest does not list", name)
		}
	}
	return nil
}

// merger builds the files of one merge.
type merger struct {
	dir       string
	idx       *Index
	out       string
	variants  []string               // those with done jobs, in the index's order
	groups    map[string][]JobStatus // by variant, in the index's order (sorted by seed in merge)
	files     map[string][]byte      // top-level files
	extra     []string               // other entries written (figures, variant folders)
	findings  [][]string             // rows of findings.csv
	folders   map[string]string      // variant → its folder's name
	noFigures bool
}

func (m *merger) byVariant(v string) {
	if m.groups == nil {
		m.groups = map[string][]JobStatus{}
	}
	if _, ok := m.groups[v]; !ok {
		m.groups[v] = nil
	}
}

func (m *merger) merge() error {
	for _, v := range m.idx.Variants {
		if g, ok := m.groups[v]; ok {
			slices.SortFunc(g, func(a, b JobStatus) int {
				switch {
				case a.Seed < b.Seed:
					return -1
				case a.Seed > b.Seed:
					return 1
				}
				return 0
			})
			m.variants = append(m.variants, v)
		}
	}
	axes := m.idx.Axes[:len(m.idx.Axes)-1]
	// jobs.csv
	head := append([]string{"index", "hash", "variant"}, axes...)
	head = append(head, "seed")
	head = append(head, MetricNames()...)
	head = append(head, "majority_accuracy", "steps", "linear_exact_mib")
	var rows [][]string
	for _, v := range m.variants {
		for _, st := range m.groups[v] {
			r := append([]string{strconv.Itoa(st.Index), st.Hash, st.Variant}, st.Values[:len(st.Values)-1]...)
			r = append(r, utoa(st.Seed))
			for _, mt := range metrics {
				r = append(r, ftoa(mt.get(st.Record.Metrics)))
			}
			mm := st.Record.Metrics
			r = append(r, ftoa(mm.MajorityAccuracy), strconv.Itoa(mm.Steps), ftoa(mm.LinearExactMiB))
			rows = append(rows, r)
		}
	}
	m.files[MergedJobsFile] = experiments.EncodeCSV(head, rows)
	// One table per metric.
	for _, mt := range metrics {
		m.files[mt.name+".csv"], m.files[mt.name+".md"] = m.metricTable(mt, axes)
	}
	if err := m.variantFolders(); err != nil {
		return err
	}
	if len(m.findings) > 0 {
		m.files[MergedFindingsFile] = experiments.EncodeCSV([]string{"variant", "source", "budget", "layer", "quantity", "seeds", "records", "mean", "ci_low", "ci_high"}, m.findings)
	}
	return m.figures()
}

// seedValues returns a variant's values of a metric, one per seed in seed order.
func (m *merger) seedValues(v string, get func(Metrics) float64) []float64 {
	var out []float64
	for _, st := range m.groups[v] {
		out = append(out, get(st.Record.Metrics))
	}
	return out
}

// metricTable returns the CSV and Markdown files of one metric.
func (m *merger) metricTable(mt metric, axes []string) (csvText, md []byte) {
	table := m.markdownTable(mt)
	csvText = m.csvTable(mt, axes)
	return csvText, []byte(fmt.Sprintf("# %s: %s (%s)\n\n%s\n%s", m.idx.Sweep, mt.title, mt.unit, meanNote, table))
}

// csvTable is a metric's CSV table: per variant its axis values, seeds, mean, interval and
// the value of each seed.
func (m *merger) csvTable(mt metric, axes []string) []byte {
	head := append([]string{"variant"}, axes...)
	head = append(head, "seeds", "mean", "ci_low", "ci_high", "ci_half_width")
	for _, s := range m.idx.Seeds {
		head = append(head, "seed_"+utoa(s))
	}
	var rows [][]string
	for _, v := range m.variants {
		mean, half := experiments.MeanCI(m.seedValues(v, mt.get))
		g := m.groups[v]
		row := append([]string{v}, g[0].Values[:len(axes)]...)
		row = append(row, strings.Join(m.seedsOf(v), " "), ftoa(mean), ftoa(mean-half), ftoa(mean+half), ftoa(half))
		for _, s := range m.idx.Seeds {
			cell := ""
			for _, st := range g {
				if st.Seed == s {
					cell = ftoa(mt.get(st.Record.Metrics))
				}
			}
			row = append(row, cell)
		}
		rows = append(rows, row)
	}
	return experiments.EncodeCSV(head, rows)
}

// markdownTable is a metric's Markdown table: per variant the mean ± the interval's
// half-width, the seeds and their values, in the metric's unit.
func (m *merger) markdownTable(mt metric) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| variant | %s (%s), mean ± 95%% CI | seeds | per seed |\n|---|---|---|---|\n", mt.title, mt.unit)
	f := func(x float64) string { return strconv.FormatFloat(mt.scale*x, 'f', mt.digits, 64) }
	for _, v := range m.variants {
		vals := m.seedValues(v, mt.get)
		mean, half := experiments.MeanCI(vals)
		ci := f(mean) + " ± " + f(half)
		if math.IsNaN(half) {
			ci = f(mean) + " (n = 1, no CI)"
		}
		per := make([]string, len(vals))
		for i, x := range vals {
			per[i] = f(x)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", v, ci, strings.Join(m.seedsOf(v), ", "), strings.Join(per, ", "))
	}
	return b.String()
}

// seedsOf returns a variant's seeds in order.
func (m *merger) seedsOf(v string) []string {
	var seeds []string
	for _, st := range m.groups[v] {
		seeds = append(seeds, utoa(st.Seed))
	}
	return seeds
}

// The CSV files of a job's results directory that a variant's folder concatenates.
var concatenated = []string{experiments.LayersFile, experiments.CurvesFile, experiments.TrainingFile}

var slugRE = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// variantFolders writes one folder per variant: the jobs' CSV files concatenated in seed order,
// the figures drawn from them, and the findings.
func (m *merger) variantFolders() error {
	m.folders = map[string]string{}
	for i, v := range m.variants {
		slug := strings.Trim(slugRE.ReplaceAllString(v, "_"), "_")
		name := fmt.Sprintf("%02d-%s", i+1, slug)
		m.folders[v] = name
		vd := filepath.Join(m.out, name)
		if err := os.Mkdir(vd, 0o755); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		for _, f := range concatenated {
			var out []byte
			var header []byte
			for _, st := range m.groups[v] {
				b, err := os.ReadFile(filepath.Join(JobDir(m.dir, st.Hash), st.Record.Results, f))
				if errors.Is(err, os.ErrNotExist) {
					continue
				}
				if err != nil {
					return fmt.Errorf("sweep: %w", err)
				}
				h, rest, _ := bytes.Cut(b, []byte("\n"))
				if header == nil {
					header = h
					out = append(append(out, h...), '\n')
				} else if !bytes.Equal(h, header) {
					return fmt.Errorf("%w: %s of job %s has another header than the other jobs' (written by another version?)", ErrFolder, f, st.Hash)
				}
				out = append(out, rest...)
			}
			if header != nil {
				if err := os.WriteFile(filepath.Join(vd, f), out, 0o644); err != nil {
					return fmt.Errorf("sweep: %w", err)
				}
			}
		}
		if !m.noFigures {
			if _, err := experiments.Replot(vd); err != nil {
				return fmt.Errorf("sweep: variant %s: %w", v, err)
			}
		}
		recs, err := experiments.LoadRecords(vd)
		if err != nil {
			return fmt.Errorf("sweep: variant %s: %w", v, err)
		}
		for _, f := range experiments.Findings(recs) {
			m.findings = append(m.findings, []string{v, f.Source, ftoa(f.Budget), f.Layer.String(), f.Quantity, strconv.Itoa(f.N),
				strconv.Itoa(f.Records), ftoa(f.Mean), ftoa(f.Lo), ftoa(f.Hi)})
		}
		m.extra = append(m.extra, name+"/")
	}
	return nil
}

// figures draws the accuracy and memory of every variant: a short line at the mean with the
// 95% interval as a band, and the seeds as rings.
func (m *merger) figures() error {
	if m.noFigures {
		return nil
	}
	panel := func(mt metric) plots.Panel {
		p := plots.Panel{Title: mt.title, XLabel: "variant (see the legend)", YLabel: mt.unit, LegendBelow: true}
		for i, v := range m.variants {
			vals := m.seedValues(v, mt.get)
			mean, half := experiments.MeanCI(vals)
			x := float64(i + 1)
			s := plots.Series{Label: v, X: []float64{x - 0.3, x + 0.3}, Y: []float64{mt.scale * mean, mt.scale * mean}, Color: i, Width: 2.4}
			if !math.IsNaN(half) {
				lo, hi := mt.scale*(mean-half), mt.scale*(mean+half)
				s.Lo, s.Hi = []float64{lo, lo}, []float64{hi, hi}
			}
			p.Series = append(p.Series, s)
			pts := plots.Series{Points: true, Hollow: true, Color: i}
			for _, y := range vals {
				pts.X, pts.Y = append(pts.X, x), append(pts.Y, mt.scale*y)
			}
			p.Series = append(p.Series, pts)
		}
		return p
	}
	get := func(name string) metric {
		for _, mt := range metrics {
			if mt.name == name {
				return mt
			}
		}
		panic("sweep: no metric " + name)
	}
	title := fmt.Sprintf("%s: mean over the seeds, 95%% t interval (band), seeds (rings)", m.idx.Sweep)
	figs := []struct {
		name string
		fig  plots.Figure
	}{
		{"accuracy", plots.Figure{Title: title, Panels: []plots.Panel{panel(get("dev_accuracy"))}, PanelWidth: 14, PanelHeight: 9}},
		{"memory", plots.Figure{Title: title, Panels: []plots.Panel{panel(get("linear_kept_mib")), panel(get("tape_mib"))}, PanelWidth: 12, PanelHeight: 9}},
	}
	for _, f := range figs {
		if err := plots.Save(f.fig, filepath.Join(m.out, f.name)); err != nil {
			return fmt.Errorf("sweep: figure %s: %w", f.name, err)
		}
		m.extra = append(m.extra, f.name+".png", f.name+".svg")
	}
	return nil
}

// summary writes summary.md: every metric table, the findings and where the files are.
func (m *merger) summary(man mergedManifest, total int) {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", m.idx.Sweep)
	if d := strings.TrimSpace(m.idx.Description); d != "" {
		fmt.Fprintf(&b, "%s\n\n", d)
	}
	fmt.Fprintf(&b, "%d of %d jobs merged; axes: %s. GEMM backend: %s.\n", len(man.Jobs), total, strings.Join(m.idx.Axes, ", "), strings.Join(man.Backends, "; "))
	if len(man.Missing) > 0 {
		fmt.Fprintf(&b, "\n**Partial merge**: %d jobs not done (%s).\n", len(man.Missing), strings.Join(man.Missing, ", "))
	}
	if len(man.Backends) > 1 {
		b.WriteString("\n**The jobs ran on different GEMM backends**, whose numbers differ in the last bits.\n")
	}
	b.WriteString("\n")
	b.WriteString(meanNote + "\n")
	for _, mt := range metrics {
		fmt.Fprintf(&b, "## %s (%s)\n\n%s\n", mt.title, mt.unit, m.markdownTable(mt))
	}
	if len(m.findings) > 0 {
		b.WriteString("## Findings of the analyses\n\nMean over the seeds [95% t interval] (findings.csv has every quantity).\n\n")
		b.WriteString("| variant | source | budget | layer | above_diagonal_share | top10_last | exact_variance_ratio |\n|---|---|---|---|---|---|---|\n")
		type key struct{ v, src, budget, layer string }
		cells := map[key]map[string]string{}
		var order []key
		for _, r := range m.findings {
			k := key{r[0], r[1], r[2], r[3]}
			if cells[k] == nil {
				cells[k] = map[string]string{}
				order = append(order, k)
			}
			mean, lo, hi := parseF(r[7]), parseF(r[8]), parseF(r[9])
			cell := fmt.Sprintf("%.2f", mean)
			if !math.IsNaN(lo) {
				cell += fmt.Sprintf(" [%.2f, %.2f]", lo, hi)
			}
			cells[k][r[4]] = cell
		}
		for _, k := range order {
			c := cells[k]
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", k.v, k.src, k.budget, k.layer,
				orDash(c[experiments.QuantityAboveDiagonal]), orDash(c[experiments.QuantityTop10Last]), orDash(c[experiments.QuantityExactRatio]))
		}
		b.WriteString("\n")
	}
	b.WriteString("## Files\n\n")
	fmt.Fprintf(&b, "- `<metric>.csv` and `<metric>.md` for %s; `%s`: every job's numbers.\n", strings.Join(MetricNames(), ", "), MergedJobsFile)
	b.WriteString("- `accuracy.png`, `memory.png`: per variant, the mean with the 95% interval as a band and each seed as a ring.\n")
	b.WriteString("- one folder per variant: its jobs' layers.csv, curves.csv and training.csv in seed order and their figures (mean over the seeds, min–max band):\n")
	for _, v := range m.variants {
		fmt.Fprintf(&b, "  - `%s/`: %s\n", m.folders[v], v)
	}
	m.files[MergedSummaryFile] = []byte(b.String())
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func parseF(s string) float64 {
	if s == "" {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// ftoa formats a float reproducibly, as the results' CSV files do; NaN is an empty field.
func ftoa(x float64) string {
	if math.IsNaN(x) {
		return ""
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

func utoa(u uint64) string { return strconv.FormatUint(u, 10) }
