package estimator

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/wtacrs/wtacrs/internal/gemm"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/philox"
)

// The weight gradient ∇W = Hᵀ∇Z of a BERT-base-sized linear layer over 4096 pooled tokens.
const benchTokens, benchIn, benchOut = 4096, 768, 768

var sink = matrix.Dense[float32]{Rows: benchIn, Cols: benchOut, Data: make([]float32, benchIn*benchOut)}

// benchLayer returns H (n×dIn) and ∇Z (n×dOut) with Gaussian entries and log-normal token norms
// (σ = 1), as the activations and output gradients of a fine-tuned transformer are heavy-tailed.
func benchLayer(n, dIn, dOut int) (h, dz matrix.Dense[float32]) {
	h, _ = matrix.NewDense[float32](n, dIn, nil)
	dz, _ = matrix.NewDense[float32](n, dOut, nil)
	var c uint64
	normal := func() float64 {
		u1, u2 := philox.Uniform(1, 5, c), philox.Uniform(1, 5, c+1)
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
func exactGradient(h, dz matrix.Dense[float32], out []float32) {
	gemm.Gemm(true, false, h.Cols, dz.Cols, h.Rows, 1, h.Data, h.Cols, dz.Data, dz.Cols, 0, out, dz.Cols)
}

// wtacrsGradient is WTA-CRS end to end: norms and weights, the |C| rule, sampling, gather and the
// GEMM over the kept rows into dst, with gather buffers reused across calls as in training.
func wtacrsGradient(dst, h, dz matrix.Dense[float32], k int, seed uint64, ws *Workspace[float32]) int {
	w, err := WeightsTransA(h, dz)
	if err != nil {
		panic(err)
	}
	plan, err := NewWTACRS(w, k)
	if err != nil {
		panic(err)
	}
	s := plan.Sample(seed, 0)
	if err := ApplyTransAInto(dst, h, dz, s, ws); err != nil {
		panic(err)
	}
	return s.Rows()
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
			var ws Workspace[float32]
			for i := range b.N {
				wtacrsGradient(sink, h, dz, k, uint64(i), &ws)
			}
		})
	}
}

// BenchmarkWeightGradientSpeedup times the exact GEMM and WTA-CRS end to end alternately in one
// run and reports their ratio (x_faster), so that both see the same machine state. It also
// reports the time of the two norm passes over H and ∇Z (norms_ms, bound by memory bandwidth)
// and the ratio without them (x_faster_given_norms: Algorithm 1 reads ‖∇Z_t‖ from its cache and
// can compute ‖H_t‖ in forward).
func BenchmarkWeightGradientSpeedup(b *testing.B) {
	h, dz := benchLayer(benchTokens, benchIn, benchOut)
	out := make([]float32, benchIn*benchOut)
	for _, ratio := range []float64{0.3, 0.1} {
		k := int(ratio * benchTokens)
		b.Run(fmt.Sprintf("k=%.1fn", ratio), func(b *testing.B) {
			var exact, norms, rest time.Duration
			var ws Workspace[float32]
			rows := 0
			for i := range b.N {
				// Alternate the order, so that neither side always runs right after the other
				// (OpenBLAS's threads keep spinning for a while after a GEMM).
				if i%2 == 0 {
					exact += timeExact(h, dz, out)
				}
				t1 := time.Now()
				w, err := WeightsTransA(h, dz)
				if err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				plan, err := NewWTACRS(w, k)
				if err != nil {
					b.Fatal(err)
				}
				s := plan.Sample(uint64(i), 0)
				if err := ApplyTransAInto(sink, h, dz, s, &ws); err != nil {
					b.Fatal(err)
				}
				t3 := time.Now()
				if i%2 == 1 {
					exact += timeExact(h, dz, out)
				}
				norms += t2.Sub(t1)
				rest += t3.Sub(t2)
				rows += s.Rows()
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 / float64(b.N) }
			b.ReportMetric(float64(exact)/float64(norms+rest), "x_faster")
			b.ReportMetric(float64(exact)/float64(rest), "x_faster_given_norms")
			b.ReportMetric(ms(exact), "exact_ms")
			b.ReportMetric(ms(norms+rest), "wtacrs_ms")
			b.ReportMetric(ms(norms), "norms_ms")
			b.ReportMetric(float64(rows)/float64(b.N), "rows_kept")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func timeExact(h, dz matrix.Dense[float32], out []float32) time.Duration {
	t0 := time.Now()
	exactGradient(h, dz, out)
	return time.Since(t0)
}
