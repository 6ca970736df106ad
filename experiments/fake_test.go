package experiments_test

import (
	"context"
	"math"
	"time"

	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/philox"
	"github.com/wtacrs/wtacrs/train"
)

// fakeTrain is a deterministic stand-in for train.Run: it reports steps and heavy-tailed
// per-token norms (Pareto with tail index alpha, growing more concentrated over training), with
// a padded batch and a cache that is cold during the first epoch. For an observer that wants
// the matrices it sends H and ∇Z too (fakeDIn and fakeDOut columns), rows of random direction
// whose norms are the reported ones.
func fakeTrain(steps int, cancelAt int) func(ctx context.Context, cfg train.Config, opt train.Options) (*train.Result, error) {
	return func(ctx context.Context, cfg train.Config, opt train.Options) (*train.Result, error) {
		const batch, seq = 4, 25
		n := batch * seq
		perEpoch := max(steps/cfg.Epochs, 1)
		for step := 1; step <= steps; step++ {
			if step == cancelAt {
				return nil, context.Canceled
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			epoch := min((step-1)/perEpoch, cfg.Epochs-1)
			for b := 0; b < cfg.Blocks; b++ {
				for ki, kind := range []model.Kind{model.Query, model.Key, model.Value, model.Output} {
					id := model.LayerID{Block: b, Kind: kind}
					if opt.Observer == nil || !opt.Observer.Wants(step, id) {
						continue
					}
					alpha := 3.0 - 1.5*float64(step)/float64(steps) // heavier tail later
					o := train.Observation{Step: step, Epoch: epoch, Layer: id, Valid: make([]bool, n),
						ActNorms: make([]float64, n), GradNorms: make([]float64, n), CachedGradNorms: make([]float64, n),
						CacheCold: epoch == 0, K: n / 3}
					stream := uint64(step*100 + b*10 + ki)
					for t := range n {
						if t%seq >= seq-5-t/seq { // padding at the end of each sample
							continue
						}
						o.Valid[t] = true
						u := philox.Uniform(cfg.Seed, stream, uint64(3*t))
						v := philox.Uniform(cfg.Seed, stream, uint64(3*t+1))
						o.ActNorms[t] = 1 + v
						o.GradNorms[t] = math.Pow(1-u, -1/alpha)
						if epoch > 0 {
							o.CachedGradNorms[t] = o.GradNorms[t] * (0.5 + philox.Uniform(cfg.Seed, stream, uint64(3*t+2)))
						}
					}
					if mo, ok := opt.Observer.(train.MatrixObserver); ok && mo.WantsMatrices(step, id) {
						o.H = fakeRows(o.ActNorms, fakeDIn, cfg.Seed, stream)
						o.GradZ = fakeRows(o.GradNorms, fakeDOut, cfg.Seed, stream+1<<32)
					}
					opt.Observer.Observe(o)
				}
			}
			if opt.Progress != nil {
				opt.Progress(train.Progress{Step: step, TotalSteps: steps, Epoch: epoch, Loss: 0.7 - 0.2*float64(step)/float64(steps), Elapsed: time.Duration(step) * time.Millisecond})
			}
		}
		return &train.Result{Config: cfg, Steps: steps, EpochDevAccuracy: []float64{0.5, 0.6}, EpochLoss: []float64{0.69, 0.6},
			DevAccuracy: 0.6, MajorityAccuracy: 0.5, TrainExamples: 100, DevExamples: 20, Tokens: int64(steps * n),
			TokensPerSecond: 1000, TrainTime: time.Second, SavedBytes: 3 << 20, ExactBytes: 10 << 20}, nil
	}
}

// The widths of the fake layers' H and ∇Z.
const fakeDIn, fakeDOut = 6, 5

// fakeRows returns a len(norms) × cols matrix whose row t has norm norms[t] and a direction drawn
// from the stream (a zero norm gives a zero row).
func fakeRows(norms []float64, cols int, seed, stream uint64) matrix.Dense[float64] {
	d := matrix.Dense[float64]{Rows: len(norms), Cols: cols, Data: make([]float64, len(norms)*cols)}
	for t, n := range norms {
		row := d.Row(t)
		var ss float64
		for j := range row {
			row[j] = philox.Uniform(seed, stream|1<<40, uint64(t*cols+j)) - 0.5
			ss += row[j] * row[j]
		}
		for j := range row {
			row[j] *= n / math.Sqrt(ss)
		}
	}
	return d
}
