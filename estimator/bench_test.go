package estimator

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/wtacrs/wtacrs/internal/gemm"
)

// The weight gradient ∇W = Hᵀ∇Z of a BERT-base-sized linear layer over 4096 pooled tokens.
const benchTokens, benchIn, benchOut = 4096, 768, 768

var sink Dense[float32]

// benchLayer returns H (n×dIn) and ∇Z (n×dOut) with Gaussian entries and log-normal token norms
// (σ = 1), as the activations and output gradients of a fine-tuned transformer are heavy-tailed.
func benchLayer(n, dIn, dOut int) (h, dz Dense[float32]) {
	h, _ = NewDense[float32](n, dIn, nil)
	dz, _ = NewDense[float32](n, dOut, nil)
	var c uint64
	normal := func() float64 {
		u1, u2 := Uniform(1, 5, c), Uniform(1, 5, c+1)
		c += 2
		return math.Sqrt(-2*math.Log(1-u1)) * math.Cos(2*math.Pi*u2)
	}
	for t := 0; t < n; t++ {
		a, b := math.Exp(normal()), math.Exp(normal())
		for j := range h.Row(t) {
			h.Data[t*dIn+j] = float32(a * normal())
		}
		for j := range dz.Row(t) {
			dz.Data[t*dOut+j] = float32(b * normal())
		}
	}
	return h, dz
}

// exactGradient is the baseline: one GEMM HᵀG into a preallocated output.
func exactGradient(h, dz Dense[float32], out []float32) {
	gemm.Gemm(true, false, h.Cols, dz.Cols, h.Rows, 1, h.Data, h.Cols, dz.Data, dz.Cols, 0, out, dz.Cols)
}

// wtacrsGradient is WTA-CRS end to end: norms and weights, the |C| rule, sampling, gather and the
// GEMM over the kept rows.
func wtacrsGradient(h, dz Dense[float32], k int, seed uint64) (Dense[float32], int) {
	w, err := WeightsTransA(h, dz)
	if err != nil {
		panic(err)
	}
	plan, err := NewWTACRS(w, k)
	if err != nil {
		panic(err)
	}
	s := plan.Sample(seed, 0)
	g, err := ApplyTransA(h, dz, s)
	if err != nil {
		panic(err)
	}
	return g, s.Rows()
}

func BenchmarkWeightGradientExact(b *testing.B) {
	h, dz := benchLayer(benchTokens, benchIn, benchOut)
	out := make([]float32, benchIn*benchOut)
	b.ResetTimer()
	for range b.N {
		exactGradient(h, dz, out)
	}
}

func BenchmarkWeightGradientWTACRS(b *testing.B) {
	h, dz := benchLayer(benchTokens, benchIn, benchOut)
	for _, ratio := range []float64{0.3, 0.1} {
		k := int(ratio * benchTokens)
		b.Run(fmt.Sprintf("k=%.1fn", ratio), func(b *testing.B) {
			for i := range b.N {
				sink, _ = wtacrsGradient(h, dz, k, uint64(i))
			}
		})
	}
}

// BenchmarkWeightGradientSpeedup times the exact GEMM and WTA-CRS end to end alternately in one
// run and reports their ratio (x_faster), so that both see the same machine state.
func BenchmarkWeightGradientSpeedup(b *testing.B) {
	h, dz := benchLayer(benchTokens, benchIn, benchOut)
	out := make([]float32, benchIn*benchOut)
	for _, ratio := range []float64{0.3, 0.1} {
		k := int(ratio * benchTokens)
		b.Run(fmt.Sprintf("k=%.1fn", ratio), func(b *testing.B) {
			var exact, approx time.Duration
			rows := 0
			for i := range b.N {
				t0 := time.Now()
				exactGradient(h, dz, out)
				t1 := time.Now()
				var r int
				sink, r = wtacrsGradient(h, dz, k, uint64(i))
				approx += time.Since(t1)
				exact += t1.Sub(t0)
				rows += r
			}
			b.ReportMetric(float64(exact)/float64(approx), "x_faster")
			b.ReportMetric(float64(exact.Milliseconds())/float64(b.N), "exact_ms")
			b.ReportMetric(float64(approx.Microseconds())/1e3/float64(b.N), "wtacrs_ms")
			b.ReportMetric(float64(rows)/float64(b.N), "rows_kept")
			b.ReportMetric(0, "ns/op")
		})
	}
}
