package experiments

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/wtacrs/wtacrs/analysis"
	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/train"
)

// Record is the analysis of one layer, step, norm source and budget: one row of layers.csv and
// the curve rows of curves.csv.
type Record struct {
	// Layer is the linear layer analysed.
	Layer model.LayerID
	// Seed is the training seed of the observed run (0 for trace input).
	Seed uint64
	// Step is the 1-based optimiser step (for trace input, the N of step<N>) and Epoch its
	// 0-based epoch (0 for trace input).
	Step, Epoch int
	// Source is SourceExact or SourceCached.
	Source string
	// Budget is the fraction k/|D|.
	Budget float64
	// Cold reports that the gradient-norm cache had no entry for some sample (cached source).
	Cold bool
	// Stats are the statistics of the weights at Budget: the cumulative-mass curve, the |C| of
	// the rule and Theorem 2's quantities.
	Stats analysis.Stats
	// ExactRatio is the exact closed-form variance ratio Var[WTA-CRS]/Var[CRS] of the weight
	// gradient Hᵀ∇Z over D, both plans built from this record's weights (exact or cached norms)
	// with the |C| of Stats, when the matrices were available (trace input with H.npy and
	// dZ.npy; a training run at the steps analysis.exact_every chooses), NaN otherwise. Stats'
	// VarianceRatio is the norms-only orthogonal approximation of it.
	ExactRatio float64
}

// Collector analyses observations as they arrive; it implements [train.MatrixObserver]. Its zero
// value is not usable: build it with [NewCollector]. It is safe for concurrent use.
type Collector struct {
	cfg     Analysis
	mu      sync.Mutex
	records []Record
	err     error
}

// NewCollector returns a collector for the analysis settings a (assumed valid).
func NewCollector(a Analysis) *Collector { return &Collector{cfg: a} }

// Wants reports whether layer is analysed at step: step 1 and multiples of Every, kinds and
// blocks as configured.
func (c *Collector) Wants(step int, layer model.LayerID) bool {
	if !c.cfg.Enabled || (step != 1 && step%c.cfg.Every != 0) {
		return false
	}
	if !slices.Contains(c.cfg.Kinds, layer.Kind) {
		return false
	}
	return len(c.cfg.Blocks) == 0 || slices.Contains(c.cfg.Blocks, layer.Block)
}

// WantsMatrices reports whether the exact variance ratio is computed for layer at step, which
// needs its H and ∇Z: a layer and step [Collector.Wants], at the steps of analysis.exact_every.
func (c *Collector) WantsMatrices(step int, layer model.LayerID) bool {
	if !c.Wants(step, layer) {
		return false
	}
	switch e := c.cfg.ExactEvery; {
	case e < 0:
		return false
	case e == 0:
		return true
	default:
		return step == 1 || step%e == 0
	}
}

// Observe analyses one observation, with the exact variance ratios when it carries H and ∇Z;
// an invalid observation is remembered and reported by [Collector.Err].
func (c *Collector) Observe(o train.Observation) {
	err := c.add(o, o.H, o.GradZ)
	if err != nil {
		c.mu.Lock()
		c.err = errors.Join(c.err, err)
		c.mu.Unlock()
	}
}

// Err returns the errors of invalid observations, nil when there were none.
func (c *Collector) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// add analyses o; h and g, when not empty, are the layer's H and ∇Z for the exact variance ratio.
func (c *Collector) add(o train.Observation, h, g matrix.Dense[float64]) error {
	where := fmt.Sprintf("%s step %d", o.Layer, o.Step)
	valid := o.Valid
	if c.cfg.IncludePadding {
		valid = nil
	}
	var hs, gs matrix.Dense[float64] // the rows of D, for the exact ratios
	if h.Rows > 0 && g.Rows > 0 {
		if h.Rows != len(o.ActNorms) || g.Rows != h.Rows {
			return fmt.Errorf("experiments: %s: H has %d rows and ∇Z %d for %d tokens", where, h.Rows, g.Rows, len(o.ActNorms))
		}
		if valid != nil && len(valid) != h.Rows {
			return fmt.Errorf("experiments: %s: %d validity flags for %d tokens", where, len(valid), h.Rows)
		}
		hs, gs = selectRows(h, valid), selectRows(g, valid)
	}
	var recs []Record
	for _, src := range c.cfg.Sources {
		grad := o.GradNorms
		if src == SourceCached {
			grad = o.CachedGradNorms
		}
		if grad == nil {
			continue // an exact layer has no cache; norms-only traces may lack a source
		}
		w, err := analysis.Select(o.ActNorms, grad, valid)
		if err != nil {
			return fmt.Errorf("experiments: %s (%s norms): %w", where, src, err)
		}
		if len(w) == 0 {
			continue
		}
		for _, b := range c.cfg.Budgets {
			k, err := estimator.Budget(b, len(w))
			if err != nil {
				return fmt.Errorf("experiments: %s: %w", where, err)
			}
			s, err := analysis.Analyze(w, k)
			if err != nil {
				return fmt.Errorf("experiments: %s (%s norms): %w", where, src, err)
			}
			if s.AllZero && src == SourceCached {
				break // an entirely cold cache: nothing to analyse
			}
			r := Record{Layer: o.Layer, Step: o.Step, Epoch: o.Epoch, Source: src, Budget: b,
				Cold: src == SourceCached && o.CacheCold, Stats: s, ExactRatio: math.NaN()}
			if hs.Rows > 0 {
				ratio, _, err := analysis.ExactVarianceRatio(hs, gs, w, k)
				if err != nil {
					return fmt.Errorf("experiments: %s (%s norms): %w", where, src, err)
				}
				r.ExactRatio = ratio
			}
			recs = append(recs, r)
		}
	}
	c.mu.Lock()
	c.records = append(c.records, recs...)
	c.mu.Unlock()
	return nil
}

func selectRows(d matrix.Dense[float64], valid []bool) matrix.Dense[float64] {
	if valid == nil {
		return d
	}
	out := matrix.Dense[float64]{Cols: d.Cols}
	for t, ok := range valid {
		if ok {
			out.Data = append(out.Data, d.Row(t)...)
			out.Rows++
		}
	}
	return out
}

// Records returns the records sorted by seed, step, block, kind (q, k, v, o, ffn_in, ffn_out), source
// (exact first) and budget.
func (c *Collector) Records() []Record {
	c.mu.Lock()
	out := slices.Clone(c.records)
	c.mu.Unlock()
	sortRecords(out)
	return out
}

func sortRecords(rs []Record) {
	slices.SortStableFunc(rs, func(a, b Record) int {
		return cmp.Or(
			cmp.Compare(a.Seed, b.Seed),
			cmp.Compare(a.Step, b.Step),
			cmp.Compare(a.Layer.Block, b.Layer.Block),
			cmp.Compare(a.Layer.Kind.Position(), b.Layer.Kind.Position()),
			cmp.Compare(a.Layer.Kind, b.Layer.Kind),
			cmp.Compare(sourceOrder(a.Source), sourceOrder(b.Source)),
			cmp.Compare(a.Budget, b.Budget),
		)
	})
}

func sourceOrder(s string) int {
	if s == SourceExact {
		return 0
	}
	return 1
}
