package experiments

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The names of the files a run writes into its output directory, besides the figures. They
// are constants: every writer and reader of a results directory agrees on them.
const (
	// ConfigFile holds the configuration as run, in TOML ([Config.Encode]).
	ConfigFile = "config.toml"
	// ManifestFile holds the [Manifest] in JSON: what was run, where, when, and every file
	// written.
	ManifestFile = "manifest.json"
	// SummaryFile is the Markdown summary of the run ([Summarize]).
	SummaryFile = "summary.md"
	// LayersFile holds one row of analysis statistics per analysed layer and step (only when
	// the analysis is enabled).
	LayersFile = "layers.csv"
	// CurvesFile holds the points of the cumulative-mass curves of the analysed layers (only
	// when the analysis is enabled).
	CurvesFile = "curves.csv"
	// TrainingFile holds the training loss of every variant at every step.
	TrainingFile = "training.csv"
	// CompareFile holds one row per compared training variant (only when variants are
	// configured).
	CompareFile = "compare.csv"
	// FindingsFile holds the findings per norm source, budget and layer: each quantity's mean
	// over the seeds with its 95% t interval ([Findings]; only when the analysis is enabled).
	FindingsFile = "findings.csv"
)

// CSV headers. Every CSV file has a layer column ("block0.q"; "all" in compare.csv and
// training.csv). Columns added later are appended, so that the earlier ones keep their places;
// the readers accept files without them (written before they existed: a seed of 0, values NaN)
// and the norms-only ratio under its earlier name variance_ratio.
var (
	layersHeader = []string{"layer", "block", "kind", "step", "epoch", "source", "budget", "m", "k",
		"chosen_c", "mass_at_c", "fraction_at_c", "theorem2", "above_diagonal", "top10_mass",
		"bound_factor", orthogonalRatioColumn, "exact_variance_ratio", "all_zero", "cold",
		"seed", "mass_at_0.1k", "mass_at_0.5k"}
	curvesHeader   = []string{"layer", "block", "kind", "step", "epoch", "source", "budget", "m", "k", "c", "fraction", "mass", "seed"}
	trainingHeader = []string{"layer", "variant", "step", "epoch", "loss", "seed"}
	compareHeader  = []string{"layer", "variant", "method", "ratio", "kinds", "epochs", "steps", "dev_accuracy",
		"majority_accuracy", "final_loss", "saved_mib", "exact_mib", "memory_ratio", "seed"}
	findingsHeader = []string{"layer", "block", "kind", "source", "budget", "quantity", "seeds", "records", "mean", "sd",
		"ci_low", "ci_high"}
)

// orthogonalRatioColumn names the norms-only (orthogonal) approximation of the variance ratio in
// layers.csv; files written before it had this name call it oldRatioColumn.
const (
	orthogonalRatioColumn = "orthogonal_variance_ratio"
	oldRatioColumn        = "variance_ratio"
)

// required returns header without the columns added later (optional when reading).
func required(header []string, later ...string) []string {
	return slices.DeleteFunc(slices.Clone(header), func(c string) bool { return slices.Contains(later, c) })
}

// The columns a reader requires: the header without the columns added later.
var (
	layersRequired   = required(layersHeader, "seed", "mass_at_0.1k", "mass_at_0.5k", orthogonalRatioColumn)
	curvesRequired   = required(curvesHeader, "seed")
	trainingRequired = required(trainingHeader, "seed")
	compareRequired  = required(compareHeader, "seed")
)

// ftoa formats a float reproducibly; NaN (unavailable) is written as an empty field.
func ftoa(x float64) string {
	if math.IsNaN(x) {
		return ""
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

func itoa(i int) string { return strconv.Itoa(i) }

func utoa(u uint64) string { return strconv.FormatUint(u, 10) }

// encodeCSV renders rows under header.
func EncodeCSV(header []string, rows [][]string) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(header)
	w.WriteAll(rows) // writing to a bytes.Buffer cannot fail
	return buf.Bytes()
}

func layersRows(recs []Record) [][]string {
	rows := make([][]string, 0, len(recs))
	for _, r := range recs {
		s := r.Stats
		frac := 0.0
		if s.K > 0 {
			frac = float64(s.ChosenC) / float64(s.K)
		}
		rows = append(rows, []string{r.Layer.String(), itoa(r.Layer.Block), string(r.Layer.Kind), itoa(r.Step),
			itoa(r.Epoch), r.Source, ftoa(r.Budget), itoa(s.M), itoa(s.K), itoa(s.ChosenC), ftoa(s.MassAtC),
			ftoa(frac), strconv.FormatBool(s.Theorem2), ftoa(s.AboveDiagonal), ftoa(s.Top10Mass),
			ftoa(s.BoundFactor), ftoa(s.VarianceRatio), ftoa(r.ExactRatio), strconv.FormatBool(s.AllZero),
			strconv.FormatBool(r.Cold), utoa(r.Seed), ftoa(s.MassTenthK), ftoa(s.MassHalfK)})
	}
	return rows
}

func curvesRows(recs []Record) [][]string {
	var rows [][]string
	for _, r := range recs {
		for c, m := range r.Stats.Mass {
			rows = append(rows, []string{r.Layer.String(), itoa(r.Layer.Block), string(r.Layer.Kind), itoa(r.Step),
				itoa(r.Epoch), r.Source, ftoa(r.Budget), itoa(r.Stats.M), itoa(r.Stats.K), itoa(c),
				ftoa(r.Stats.Fraction[c]), ftoa(m), utoa(r.Seed)})
		}
	}
	return rows
}

// table is a CSV file read back: rows as maps from column name to field.
type table struct {
	name string
	cols map[string]int
	rows [][]string
}

// readTable reads dir/name and checks that it has the given columns. A missing file returns
// (nil, nil) when optional.
func readTable(dir, name string, want []string, optional bool) (*table, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		if optional && errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %w", ErrResults, err)
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrResults, name, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w: %s is empty", ErrResults, name)
	}
	t := &table{name: name, cols: map[string]int{}, rows: recs[1:]}
	for i, c := range recs[0] {
		t.cols[c] = i
	}
	var missing []string
	for _, c := range want {
		if _, ok := t.cols[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s lacks column(s) %s", ErrResults, name, strings.Join(missing, ", "))
	}
	return t, nil
}

func (t *table) str(row int, col string) string { return t.rows[row][t.cols[col]] }

// has reports whether the file has the column.
func (t *table) has(col string) bool {
	_, ok := t.cols[col]
	return ok
}

// optFloat is float for a column the file may lack (NaN then).
func (t *table) optFloat(row int, col string) (float64, error) {
	if !t.has(col) {
		return math.NaN(), nil
	}
	return t.float(row, col)
}

// seed returns the seed column of a row, 0 when the file has none (written before seeds were
// recorded, by a run of one seed).
func (t *table) seed(row int) (uint64, error) {
	if !t.has("seed") {
		return 0, nil
	}
	s := t.str(row, "seed")
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s line %d column seed: %q is not a seed", ErrResults, t.name, row+2, s)
	}
	return v, nil
}

func (t *table) float(row int, col string) (float64, error) {
	s := t.str(row, col)
	if s == "" {
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s line %d column %s: %q is not a number", ErrResults, t.name, row+2, col, s)
	}
	return v, nil
}

func (t *table) int(row int, col string) (int, error) {
	s := t.str(row, col)
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %s line %d column %s: %q is not an integer", ErrResults, t.name, row+2, col, s)
	}
	return v, nil
}
