package experiments_test

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/wtacrs/wtacrs/analysis"
	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/train"
)

// observation returns a padded observation of block0.q with H and ∇Z (random directions, heavy
// row norms) and cached norms.
func observation(step int) train.Observation {
	const n = 24
	act, grad, cached := make([]float64, n), make([]float64, n), make([]float64, n)
	valid := make([]bool, n)
	for t := range n {
		valid[t] = t < n-4
		act[t] = 1 + float64(t%5)
		if valid[t] {
			grad[t] = math.Pow(float64(t+1), 1.3)
			cached[t] = grad[t] * (0.6 + 0.05*float64(t%7))
		}
	}
	h := fakeRows(act, fakeDIn, 7, uint64(step))
	g := fakeRows(grad, fakeDOut, 7, uint64(step)+99)
	return train.Observation{Step: step, Layer: model.LayerID{Block: 0, Kind: model.Query}, Valid: valid,
		ActNorms: estimator.RowNorms(h), GradNorms: estimator.RowNorms(g), CachedGradNorms: cached, H: h, GradZ: g}
}

func toMat(d matrix.Dense[float64]) *mat.Dense {
	return mat.NewDense(d.Rows, d.Cols, slices.Clone(d.Data))
}

// The exact ratio the collector computes in-process from an observation's H and ∇Z is the one
// AnalyzeTraces computes from the same matrices saved as .npy files, for both norm sources, and
// the closed form of analysis.ExactVarianceRatio on the valid rows.
func TestExactRatioInProcessMatchesTraces(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := experiments.DefaultConfig().Analysis
	a.Every = 1
	col := experiments.NewCollector(a)
	for _, step := range []int{1, 2} {
		o := observation(step)
		require.True(t, col.WantsMatrices(step, o.Layer))
		col.Observe(o)
		sd := filepath.Join(dir, "block0.q", "step"+strconv.Itoa(step))
		writeNpy(t, filepath.Join(sd, "H.npy"), toMat(o.H))
		writeNpy(t, filepath.Join(sd, "dZ.npy"), toMat(o.GradZ))
		writeNpy(t, filepath.Join(sd, "valid.npy"), o.Valid)
		writeNpy(t, filepath.Join(sd, "cached_grad_norms.npy"), o.CachedGradNorms)
	}
	require.NoError(t, col.Err())
	inProcess := col.Records()
	require.Len(t, inProcess, 2*2*2, "2 steps × 2 sources × 2 budgets")
	tr, err := experiments.AnalyzeTraces(context.Background(), dir, experiments.TraceOptions{Out: t.TempDir(), Name: "tr",
		Analysis: experiments.Analysis{Budgets: a.Budgets, Sources: a.Sources, Kinds: []model.Kind{model.Query}}})
	require.NoError(t, err)
	require.Len(t, tr.Records, len(inProcess))
	for i, r := range inProcess {
		require.False(t, math.IsNaN(r.ExactRatio), "record %d", i)
		assert.Equal(t, r.ExactRatio, tr.Records[i].ExactRatio, "record %d (%s, step %d, k = %v|D|)", i, r.Source, r.Step, r.Budget)
		// The closed form on the valid rows, with the record's weights.
		o := observation(r.Step)
		var hs, gs []float64
		for t2, ok := range o.Valid {
			if ok {
				hs, gs = append(hs, o.H.Row(t2)...), append(gs, o.GradZ.Row(t2)...)
			}
		}
		grad := o.GradNorms
		if r.Source == experiments.SourceCached {
			grad = o.CachedGradNorms
		}
		w, err := analysis.Select(o.ActNorms, grad, o.Valid)
		require.NoError(t, err)
		h := matrix.Dense[float64]{Rows: len(w), Cols: fakeDIn, Data: hs}
		g := matrix.Dense[float64]{Rows: len(w), Cols: fakeDOut, Data: gs}
		want, c, err := analysis.ExactVarianceRatio(h, g, w, r.Stats.K)
		require.NoError(t, err)
		assert.Equal(t, want, r.ExactRatio, "record %d", i)
		assert.Equal(t, r.Stats.ChosenC, c, "the exact ratio is at the record's |C|")
		assert.LessOrEqual(t, r.ExactRatio, r.Stats.BoundFactor*(1+1e-12), "by construction")
	}
	// The two sources give different ratios at k = 0.5|D| (records 1 and 3): the cached weights
	// make other plans. (At k = 0.1|D|, k = 2, both keep nothing: a ratio of 1.)
	require.Equal(t, [2]string{experiments.SourceExact, experiments.SourceCached}, [2]string{inProcess[1].Source, inProcess[3].Source})
	assert.NotEqual(t, inProcess[1].ExactRatio, inProcess[3].ExactRatio)
	assert.Less(t, inProcess[1].ExactRatio, 1.0)
}

// The hand case of analysis (h = (4, 1, 1, 1), g = (1, 1, −1, 1), k = 2 of 4): through the
// collector the exact ratio is 2/3, the orthogonal approximation 0.4.
func TestExactRatioHandCaseThroughCollector(t *testing.T) {
	t.Parallel()
	h := matrix.Dense[float64]{Rows: 4, Cols: 1, Data: []float64{4, 1, 1, 1}}
	g := matrix.Dense[float64]{Rows: 4, Cols: 1, Data: []float64{1, 1, -1, 1}}
	a := experiments.DefaultConfig().Analysis
	a.Budgets, a.Sources = []float64{0.5}, []string{experiments.SourceExact}
	col := experiments.NewCollector(a)
	col.Observe(train.Observation{Step: 1, Layer: model.LayerID{Block: 0, Kind: model.Key}, ActNorms: []float64{4, 1, 1, 1},
		GradNorms: []float64{1, 1, 1, 1}, H: h, GradZ: g})
	require.NoError(t, col.Err())
	recs := col.Records()
	require.Len(t, recs, 1)
	assert.Equal(t, 1, recs[0].Stats.ChosenC)
	assert.InDelta(t, 2.0/3, recs[0].ExactRatio, 1e-14)
	assert.InDelta(t, 0.4, recs[0].Stats.VarianceRatio, 1e-14)

	// Matrices that do not match the norms' tokens are an error, not a silent ratio.
	col = experiments.NewCollector(a)
	col.Observe(train.Observation{Step: 1, Layer: model.LayerID{Block: 0, Kind: model.Key}, ActNorms: []float64{4, 1, 1},
		GradNorms: []float64{1, 1, 1}, H: h, GradZ: g})
	assert.ErrorContains(t, col.Err(), "H has 4 rows")
}

// analysis.exact_every chooses the steps that get matrices (and exact ratios); −1 none.
func TestExactEveryChoosesSteps(t *testing.T) {
	t.Parallel()
	id := model.LayerID{Block: 0, Kind: model.Query}
	for _, tc := range []struct {
		every int
		want  []int
	}{{0, []int{1, 5, 10, 15, 20}}, {10, []int{1, 10, 20}}, {-1, nil}} {
		a := experiments.DefaultConfig().Analysis
		a.Every, a.ExactEvery = 5, tc.every
		col := experiments.NewCollector(a)
		var got []int
		for step := 1; step <= 20; step++ {
			if col.WantsMatrices(step, id) {
				got = append(got, step)
			}
			assert.False(t, col.WantsMatrices(step, model.LayerID{Block: 0, Kind: model.FFNIn}), "a kind not analysed")
		}
		assert.Equal(t, tc.want, got, "exact_every = %d", tc.every)
	}
	o, err := smallRun(t, t.TempDir(), 0, "exact_every = 20")
	require.NoError(t, err)
	for _, r := range o.Records {
		assert.Equal(t, r.Step == 1 || r.Step%20 == 0, !math.IsNaN(r.ExactRatio), "step %d", r.Step)
	}
}
