package estimator

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/philox"
	"gonum.org/v1/gonum/blas/gonum"
)

// sketchSink keeps the compiler from discarding the sketches of the benchmarks below.
var sketchSink *Sketch

// normsSink keeps the norms of BenchmarkRowNorms.
var normsSink []float64

// benchmarkSample times Plan.Sample for a plan over the token weights of benchLayer.
func benchmarkSample(b *testing.B, method Method, ratio float64) {
	h, dz := benchLayer(benchTokens, 64, 64)
	w, err := WeightsTransA(h, dz)
	if err != nil {
		b.Fatal(err)
	}
	plan, err := NewPlan(method, w, max(1, int(ratio*benchTokens)), AutoC)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		sketchSink = plan.Sample(uint64(i), 0)
	}
}

func BenchmarkSample(b *testing.B) {
	for _, c := range []struct {
		method Method
		ratio  float64
	}{{MethodWTACRS, 0.1}, {MethodWTACRS, 0.3}, {MethodCRS, 0.1}, {MethodCRS, 1}, {MethodCRS, 16}} {
		b.Run(fmt.Sprintf("%v/k=%gn", c.method, c.ratio), func(b *testing.B) { benchmarkSample(b, c.method, c.ratio) })
	}
}

// BenchmarkRowNorms times the norm pass over H of benchLayer (4096×768 float32).
func BenchmarkRowNorms(b *testing.B) {
	h, _ := benchLayer(benchTokens, benchIn, benchOut)
	b.SetBytes(int64(4 * len(h.Data)))
	b.ResetTimer()
	for range b.N {
		normsSink = RowNorms(h)
	}
}

// plainRowNorms is the norm pass without the range checks and the scaled fallback: the square
// root of gonum's dot kernel per row, in parallel as RowNorms.
func plainRowNorms(d matrix.Dense[float32]) []float64 {
	out := make([]float64, d.Rows)
	var impl gonum.Implementation
	parallelRows(d.Rows, d.Cols, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := d.Row(i)
			out[i] = math.Sqrt(float64(impl.Sdot(len(r), r, 1, r, 1)))
		}
	})
	return out
}

// BenchmarkRowNormsOverhead times RowNorms and plainRowNorms alternately in one run and reports
// their ratio (x_plain: RowNorms time over the plain pass's), the cost of the range checks on
// ordinary data.
func BenchmarkRowNormsOverhead(b *testing.B) {
	h, _ := benchLayer(benchTokens, benchIn, benchOut)
	var checked, plain time.Duration
	for i := range b.N {
		t0 := time.Now()
		if i%2 == 0 {
			normsSink = RowNorms(h)
			t1 := time.Now()
			normsSink = plainRowNorms(h)
			checked, plain = checked+t1.Sub(t0), plain+time.Since(t1)
		} else {
			normsSink = plainRowNorms(h)
			t1 := time.Now()
			normsSink = RowNorms(h)
			plain, checked = plain+t1.Sub(t0), checked+time.Since(t1)
		}
	}
	b.ReportMetric(float64(checked)/float64(plain), "x_plain")
	b.ReportMetric(float64(checked.Microseconds())/float64(b.N), "rownorms_us")
	b.ReportMetric(float64(plain.Microseconds())/float64(b.N), "plain_us")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkSampleMergedOverhead times Sample by sorting the draws (the merge before dense
// accumulation) and Sample as it is, alternately in one run, for WTA-CRS at k = 0.1n, and
// reports their ratio (x_sort: the sorting merge's time over Sample's).
func BenchmarkSampleMergedOverhead(b *testing.B) {
	h, dz := benchLayer(benchTokens, 64, 64)
	w, err := WeightsTransA(h, dz)
	if err != nil {
		b.Fatal(err)
	}
	for _, ratio := range []float64{0.1, 0.3, 1} {
		b.Run(fmt.Sprintf("k=%gn", ratio), func(b *testing.B) {
			plan, err := NewPlan(MethodCRS, w, int(ratio*benchTokens), AutoC)
			if err != nil {
				b.Fatal(err)
			}
			var sorted, dense time.Duration
			for i := range b.N {
				t0 := time.Now()
				s := &Sketch{M: plan.m, Kept: slices.Clone(plan.kept), Draws: make([]int, plan.draws)}
				for j := range s.Draws {
					s.Draws[j] = pick(plan.cdf, philox.Uniform(uint64(i), 0, uint64(j)))
				}
				s.merge(plan.scale) // as sample does, without a copy of the scales
				t1 := time.Now()
				sketchSink = plan.Sample(uint64(i), 0)
				sorted, dense = sorted+t1.Sub(t0), dense+time.Since(t1)
			}
			b.ReportMetric(float64(sorted)/float64(dense), "x_sort")
			b.ReportMetric(0, "ns/op")
		})
	}
}
