package nb

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/model"
)

func rec(step int, kind model.Kind, mass []float64, k int) experiments.Record {
	r := experiments.Record{Step: step, Layer: model.LayerID{Kind: kind}}
	r.Stats.Mass, r.Stats.K = mass, k
	return r
}

func TestHelpers(t *testing.T) {
	recs := []experiments.Record{
		rec(10, model.Value, []float64{0, 0.5, 0.7, 0.8, 0.9}, 4),
		rec(1, model.Query, []float64{0, 0.5, 0.7, 0.8, 0.9}, 4),
		rec(5, model.Query, nil, 4), rec(20, model.Key, nil, 4), rec(30, model.Key, nil, 4),
	}
	all, picked := Steps(recs)
	assert.Equal(t, []int{1, 5, 10, 20, 30}, all)
	assert.Equal(t, []int{1, 10, 30}, picked)
	assert.Equal(t, []model.Kind{model.Query, model.Key, model.Value}, Kinds(recs))
	assert.Equal(t, 0.7, MassAt(recs[0], 0.5))
	assert.Equal(t, 0.9, MassAt(recs[0], 1))
	assert.Equal(t, 0.5, MassAt(recs[0], 0.2), "round(0.8) = 1")
	q := Filter(recs, func(r experiments.Record) bool { return r.Layer.Kind == model.Query })
	assert.Len(t, q, 2)
	assert.Equal(t, 3.0, Mean(q, func(r experiments.Record) float64 { return float64(r.Step) }))
	assert.True(t, math.IsNaN(Mean(nil, func(experiments.Record) float64 { return 1 })))
}

func TestWriteReportIsAtomic(t *testing.T) {
	s := Settings{Out: filepath.Join(t.TempDir(), "nb")}
	require.NoError(t, WriteReport(s, "# one\n"))
	require.NoError(t, WriteReport(s, "# two\n"))
	got, err := os.ReadFile(filepath.Join(s.Out, "report.md"))
	require.NoError(t, err)
	assert.Equal(t, "# two\n", string(got))
	entries, err := os.ReadDir(s.Out)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

func TestRecordsMissingConfig(t *testing.T) {
	s := Settings{Results: t.TempDir(), Configs: t.TempDir()}
	_, err := Records(s, "nothing")
	assert.ErrorIs(t, err, experiments.ErrConfig)
}
