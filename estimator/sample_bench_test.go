package estimator

import (
	"fmt"
	"testing"
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
