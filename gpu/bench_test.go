package gpu

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
)

// benchShapes are the (n, d_in, d_out) of the issue: a T5-Base-like layer at batch×sequence 12800,
// its feed-forward shape, and a larger layer.
var benchShapes = []struct{ n, dIn, dOut int }{
	{12800, 768, 768},
	{12800, 768, 3072},
	{51200, 1024, 1024},
}

// benchRatios are the budgets k = ratio·n.
var benchRatios = []float64{0.3, 0.1}

// benchBatch is the number of calls queued between two waits when timing.
const benchBatch = 10

func randomDense(rng *rand.Rand, rows, cols int) matrix.Dense[float32] {
	d := matrix.Dense[float32]{Rows: rows, Cols: cols, Data: make([]float32, rows*cols)}
	for i := 0; i < rows; i++ {
		s := float32(0.5 + rng.Float64()*rng.Float64()*4) // row scales in [0.5, 4.5), skewed
		row := d.Data[i*cols : (i+1)*cols]
		for j := range row {
			row[j] = s * (2*rng.Float32() - 1)
		}
	}
	return d
}

// BenchmarkGradW times, in one run on one card, the exact ∇W = Hᵀ∇Z with cuBLAS and WTA-CRS end
// to end (norms, |C|, cumulative sum, sampling, gather and scale, cuBLAS on k rows) at k = 0.3n and
// 0.1n, float32, and reports the times per call (µs) and the speedups exact/WTA-CRS; the "-w"
// figures are the same without the norms pass (weights given, as in Algorithm 1).
func BenchmarkGradW(b *testing.B) {
	d := openDevice(b)
	rng := rand.New(rand.NewPCG(2023, 11))
	for _, sh := range benchShapes {
		h := randomDense(rng, sh.n, sh.dIn)
		g := randomDense(rng, sh.n, sh.dOut)
		dh, err := d.Upload(h)
		require.NoError(b, err)
		dg, err := d.Upload(g)
		require.NoError(b, err)
		dw, err := d.Alloc(sh.dIn, sh.dOut)
		require.NoError(b, err)
		var ests []*Estimator
		for _, r := range benchRatios {
			e, err := d.NewEstimator(Shape{N: sh.n, DIn: sh.dIn, DOut: sh.dOut}, wtacrs(int(r*float64(sh.n))))
			require.NoError(b, err)
			ests = append(ests, e)
		}
		b.Run(fmt.Sprintf("n=%d/din=%d/dout=%d", sh.n, sh.dIn, sh.dOut), func(b *testing.B) {
			benchmarkGradW(b, d, dw, dh, dg, ests)
		})
		for _, e := range ests {
			require.NoError(b, e.Free())
		}
		for _, m := range []*Matrix{dh, dg, dw} {
			require.NoError(b, m.Free())
		}
	}
}

func benchmarkGradW(b *testing.B, d *Device, dw, dh, dg *Matrix, ests []*Estimator) {
	type run struct {
		name string
		f    func(seed uint64) error
	}
	runs := []run{{"exact", func(uint64) error { return d.GradW(dw, dh, dg) }}}
	for i, e := range ests {
		runs = append(runs, run{fmt.Sprintf("wtacrs%.1fn", benchRatios[i]), func(seed uint64) error {
			return e.GradW(dw, dh, dg, seed, 0)
		}})
	}
	// Algorithm 1's regime: the weights are known before backward (‖H_t‖ from forward, ‖∇Z_t‖
	// cached), so no pass over H and ∇Z besides the sampled rows.
	for i, e := range ests {
		runs = append(runs, run{fmt.Sprintf("wtacrs%.1fn-w", benchRatios[i]), func(seed uint64) error {
			return e.GradWWithWeights(dw, dh, dg, seed, 0)
		}})
	}
	for _, r := range runs { // warm-up: module loading, cuBLAS heuristics, caches
		for j := 0; j < 3; j++ {
			require.NoError(b, r.f(uint64(j)))
		}
	}
	require.NoError(b, d.Synchronize())
	times := make([]time.Duration, len(runs))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r, rn := range runs {
			start := time.Now()
			for j := 0; j < benchBatch; j++ {
				if err := rn.f(uint64(i*benchBatch + j)); err != nil {
					b.Fatal(err)
				}
			}
			if err := d.Synchronize(); err != nil {
				b.Fatal(err)
			}
			times[r] += time.Since(start)
		}
	}
	b.StopTimer()
	per := make([]float64, len(runs))
	for r := range runs {
		per[r] = float64(times[r].Nanoseconds()) / 1e3 / float64(b.N*benchBatch)
		b.ReportMetric(per[r], runs[r].name+"-us")
	}
	for i := range ests {
		b.ReportMetric(per[0]/per[i+1], fmt.Sprintf("speedup-%.1fn", benchRatios[i]))
		b.ReportMetric(per[0]/per[len(ests)+i+1], fmt.Sprintf("speedup-%.1fn-w", benchRatios[i]))
	}
	// Where the time goes: a synchronous pass that waits after every stage, and |C|.
	for i, e := range ests {
		require.NoError(b, e.Err())
		tr, err := e.Trace()
		require.NoError(b, err)
		e.setTiming(true)
		const reps = 5
		for j := 0; j < reps; j++ {
			require.NoError(b, e.GradW(dw, dh, dg, uint64(j), 0))
		}
		e.setTiming(false)
		st := e.stageTimes()
		names := make([]string, 0, len(st))
		for name := range st {
			names = append(names, name)
		}
		slices.Sort(names)
		line := ""
		for _, name := range names {
			line += fmt.Sprintf(" %s %.1fµs", name, float64(st[name].Nanoseconds())/1e3/reps)
		}
		// The alternative for |C|: a host round trip of the n weights and estimator.ChooseC.
		t0 := time.Now()
		tr2, err := e.Trace() // waits, then copies the weights (and the small sketch arrays)
		require.NoError(b, err)
		t1 := time.Now()
		_, err = estimator.ChooseC(tr2.Weights, e.Options().K)
		require.NoError(b, err)
		t2 := time.Now()
		b.Logf("%s on %s: |C| = %d of k = %d; stages (synchronous):%s; host round trip instead: copy %.1fµs + ChooseC %.1fµs",
			runs[i+1].name, d.Name(), len(tr.Kept), e.Options().K, line,
			float64(t1.Sub(t0).Nanoseconds())/1e3, float64(t2.Sub(t1).Nanoseconds())/1e3)
	}
}
