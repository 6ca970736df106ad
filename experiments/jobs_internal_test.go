package experiments

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/internal/memlimit"
	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/train"
)

// seedJobs trains as many seeds at once as asked, the cores allow and the limit holds.
func TestSeedJobs(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	for _, tc := range []struct {
		seeds, want  int
		perRun, lim  uint64
		jobs         int
		needsProcsOf int // the case holds only with at least this many cores
	}{
		{1, 0, 100, memlimit.Unlimited, 1, 1},
		{3, 1, 100, memlimit.Unlimited, 1, 1},
		{3, 0, 100, memlimit.Unlimited, min(3, procs), 1},
		{3, 2, 100, 1000, 2, 2},
		{3, 0, 100, 250, 2, 2},
		{3, 0, 100, 199, 1, 1},
		{3, 0, 100, 50, 1, 1}, // even one does not fit: checkMemory refuses it before
	} {
		if procs < tc.needsProcsOf {
			continue
		}
		assert.Equal(t, tc.jobs, seedJobs(tc.seeds, tc.want, tc.perRun, tc.lim), "%+v", tc)
	}
}

// The memory of the exact ratios: H and ∇Z of every analysed layer of a step plus the closed
// forms' buffers of the largest, none with exact_every = −1 or the analysis off; checkMemory
// counts it in the observed run's estimate.
func TestExactRatioMemory(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Train.Blocks, cfg.Train.Dim, cfg.Train.FFNDim, cfg.Train.MaxLen, cfg.Train.BatchSize = 2, 8, 32, 10, 4
	shape := train.DataShape{TrainExamples: 100, DevExamples: 10, Vocab: 50}
	n := 4 * 10
	// q, k and v of 2 blocks, each n × (8 + 8) float64, and the closed form of one.
	want := uint64(3*2*n*16*8 + 5*n*16*8 + 6*8*8*8)
	assert.Equal(t, want, exactRatioMemory(cfg, shape))
	cfg.Analysis.Kinds = []model.Kind{model.FFNIn}
	assert.Equal(t, uint64(2*n*40*8+5*n*40*8+6*8*32*8), exactRatioMemory(cfg, shape))
	cfg.Analysis.Blocks = []int{1}
	assert.Equal(t, uint64(n*40*8+5*n*40*8+6*8*32*8), exactRatioMemory(cfg, shape))
	shape.TrainExamples = 2 // a batch holds at most the training set
	assert.Equal(t, uint64(20*40*8+5*20*40*8+6*8*32*8), exactRatioMemory(cfg, shape))
	cfg.Analysis.ExactEvery = -1
	assert.Zero(t, exactRatioMemory(cfg, shape))
	cfg.Analysis.ExactEvery, cfg.Analysis.Enabled = 0, false
	assert.Zero(t, exactRatioMemory(cfg, shape))

	c := DefaultConfig()
	with, err := checkMemory(c, memlimit.Unlimited)
	require.NoError(t, err)
	c.Analysis.ExactEvery = -1
	without, err := checkMemory(c, memlimit.Unlimited)
	require.NoError(t, err)
	shape, err = train.BoundDataShape(c.Train)
	require.NoError(t, err)
	c.Analysis.ExactEvery = 0
	assert.Equal(t, exactRatioMemory(c, shape), with-without)
	assert.Positive(t, with-without)
}
