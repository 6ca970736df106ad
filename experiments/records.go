package experiments

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/wtacrs/wtacrs/model"
)

type recordKey struct {
	layer, source string
	seed          uint64
	step          int
	budget        float64
}

// LoadRecords reads the records of a results directory back from layers.csv and curves.csv,
// sorted as [Collector.Records] sorts them. Both files are optional (nil, nil when layers.csv
// is absent); a curve without its layers.csv row is an error. Files written before a column was
// added are read too: without a seed column every record has the seed of manifest.json (0
// without one), without the curve points at 0.1k and 0.5k those are NaN. Errors wrap ErrResults
// and name the file and line.
func LoadRecords(dir string) ([]Record, error) {
	lt, err := readTable(dir, LayersFile, layersRequired, true)
	if err != nil {
		return nil, err
	}
	if lt == nil {
		if _, err := os.Stat(filepath.Join(dir, CurvesFile)); err == nil {
			return nil, fmt.Errorf("%w: %s holds %s but not %s, whose rows its curves belong to", ErrResults, dir, CurvesFile, LayersFile)
		}
		return nil, nil
	}
	ratioCol := orthogonalRatioColumn
	if !lt.has(ratioCol) {
		if !lt.has(oldRatioColumn) {
			return nil, fmt.Errorf("%w: %s lacks column(s) %s", ErrResults, LayersFile, orthogonalRatioColumn)
		}
		ratioCol = oldRatioColumn
	}
	fileSeed := manifestSeed(dir)
	recs := make([]Record, len(lt.rows))
	index := map[recordKey]int{}
	for i := range lt.rows {
		r := &recs[i]
		if r.Seed, err = lt.seed(i); err != nil {
			return nil, err
		}
		if !lt.has("seed") {
			r.Seed = fileSeed
		}
		kind := model.Kind(lt.str(i, "kind"))
		r.Source = lt.str(i, "source")
		if r.Source != SourceExact && r.Source != SourceCached {
			return nil, fmt.Errorf("%w: %s line %d: source %q", ErrResults, lt.name, i+2, r.Source)
		}
		var block int
		ints := []struct {
			col string
			dst *int
		}{{"block", &block}, {"step", &r.Step}, {"epoch", &r.Epoch}, {"m", &r.Stats.M}, {"k", &r.Stats.K}, {"chosen_c", &r.Stats.ChosenC}}
		for _, f := range ints {
			if *f.dst, err = lt.int(i, f.col); err != nil {
				return nil, err
			}
		}
		r.Layer = model.LayerID{Block: block, Kind: kind}
		floats := []struct {
			col      string
			dst      *float64
			optional bool
		}{{"budget", &r.Budget, false}, {"mass_at_c", &r.Stats.MassAtC, false}, {"above_diagonal", &r.Stats.AboveDiagonal, false},
			{"top10_mass", &r.Stats.Top10Mass, false}, {"bound_factor", &r.Stats.BoundFactor, false},
			{ratioCol, &r.Stats.VarianceRatio, false}, {"exact_variance_ratio", &r.ExactRatio, true},
			{"mass_at_0.1k", &r.Stats.MassTenthK, true}, {"mass_at_0.5k", &r.Stats.MassHalfK, true}}
		for _, f := range floats {
			if *f.dst, err = lt.optFloat(i, f.col); err != nil {
				return nil, err
			}
			if !f.optional && math.IsNaN(*f.dst) {
				return nil, fmt.Errorf("%w: %s line %d: empty %s", ErrResults, lt.name, i+2, f.col)
			}
		}
		for col, dst := range map[string]*bool{"theorem2": &r.Stats.Theorem2, "all_zero": &r.Stats.AllZero, "cold": &r.Cold} {
			if *dst, err = strconv.ParseBool(lt.str(i, col)); err != nil {
				return nil, fmt.Errorf("%w: %s line %d column %s: %q is not true or false", ErrResults, lt.name, i+2, col, lt.str(i, col))
			}
		}
		key := recordKey{r.Layer.String(), r.Source, r.Seed, r.Step, r.Budget}
		if _, dup := index[key]; dup {
			return nil, fmt.Errorf("%w: %s line %d: a second row for %s, %s norms, seed %d, step %d, budget %v", ErrResults, lt.name, i+2,
				key.layer, key.source, key.seed, key.step, key.budget)
		}
		index[key] = i
	}
	ct, err := readTable(dir, CurvesFile, curvesRequired, true)
	if err != nil {
		return nil, err
	}
	if ct != nil {
		for i := range ct.rows {
			step, err := ct.int(i, "step")
			if err != nil {
				return nil, err
			}
			budget, err := ct.float(i, "budget")
			if err != nil {
				return nil, err
			}
			c, err := ct.int(i, "c")
			if err != nil {
				return nil, err
			}
			mass, err := ct.float(i, "mass")
			if err != nil {
				return nil, err
			}
			seed, err := ct.seed(i)
			if err != nil {
				return nil, err
			}
			if !ct.has("seed") {
				seed = fileSeed
			}
			j, ok := index[recordKey{ct.str(i, "layer"), ct.str(i, "source"), seed, step, budget}]
			if !ok {
				return nil, fmt.Errorf("%w: %s line %d: no row of %s for this curve", ErrResults, ct.name, i+2, LayersFile)
			}
			s := &recs[j].Stats
			if c != len(s.Mass) || math.IsNaN(mass) {
				return nil, fmt.Errorf("%w: %s line %d: curve point c = %d out of order or without mass", ErrResults, ct.name, i+2, c)
			}
			if !(mass >= 0 && mass <= 1) {
				return nil, fmt.Errorf("%w: %s line %d: mass %v, want a probability mass in [0, 1]", ErrResults, ct.name, i+2, mass)
			}
			s.Mass = append(s.Mass, mass)
			s.Fraction = append(s.Fraction, float64(c)/float64(s.K))
		}
	}
	sortRecords(recs)
	return recs, nil
}

// manifestSeed returns the training seed manifest.json of dir records, 0 when it has none.
func manifestSeed(dir string) uint64 {
	js, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return 0
	}
	var m Manifest
	if json.Unmarshal(js, &m) != nil {
		return 0
	}
	return m.Seed
}
