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
// run, at n = 4096 tokens and a 768×768 layer, and reports their ratio (x_faster), so that both
// see the same machine state; see benchmarkSpeedup for the other figures.
func BenchmarkWeightGradientSpeedup(b *testing.B) {
	benchmarkSpeedup(b, benchTokens, benchIn, benchOut, 0.3, 0.1)
}

// BenchmarkWeightGradientSpeedupLarge is BenchmarkWeightGradientSpeedup at n = 65536 tokens and
// a 768×3072 layer (BERT-base's ffn_in over 128 sequences of 512): about 1.2 GB of matrices
// and seconds per iteration.
func BenchmarkWeightGradientSpeedupLarge(b *testing.B) {
	benchmarkSpeedup(b, 65536, 768, 3072, 0.3)
}

// benchmarkSpeedup times, per iteration and budget k = ratio·n, the exact GEMM HᵀG and WTA-CRS
// end to end as training runs it (norms of H and G, weights, the |C| rule and the draws with a
// reused Sketcher, gather and the GEMM over the kept rows with a reused Workspace), and reports
// x_faster (exact over end to end), x_faster_cached (without the norm pass over G: Algorithm
// 1's case, where ‖∇Z_t‖ comes from the cache and only ‖H_t‖ is computed), x_faster_given_norms
// (without either norm pass), and the time per iteration of each part in ms: exact, norms_h,
// norms_g, sketch (weights, |C| and draws), gather, gemm; rows_kept is the mean number of
// distinct rows kept. The exact and sampled sides alternate in order.
func benchmarkSpeedup(b *testing.B, n, dIn, dOut int, ratios ...float64) {
	h, dz := benchLayer(n, dIn, dOut)
	out := make([]float32, dIn*dOut)
	dst := matrix.Dense[float32]{Rows: dIn, Cols: dOut, Data: make([]float32, dIn*dOut)}
	for _, ratio := range ratios {
		k := int(ratio * float64(n))
		b.Run(fmt.Sprintf("k=%.1fn", ratio), func(b *testing.B) {
			var exact, normsH, normsG, sketch, gather, mult time.Duration
			var sk Sketcher
			var s Sketch
			var ws Workspace[float32]
			a, g := make([]float64, n), make([]float64, n)
			var w []float64
			rows := 0
			for i := range b.N {
				// Alternate the order, so that neither side always runs right after the other
				// (OpenBLAS's threads keep spinning for a while after a GEMM).
				if i%2 == 0 {
					exact += timeExact(h, dz, out)
				}
				t0 := time.Now()
				RowNormsInto(a, h)
				t1 := time.Now()
				RowNormsInto(g, dz)
				t2 := time.Now()
				var err error
				if w, err = WeightsFromNormsInto(w, a, g); err != nil {
					b.Fatal(err)
				}
				if err := sk.WTACRS(&s, w, k, uint64(i), 0); err != nil {
					b.Fatal(err)
				}
				t3 := time.Now()
				r := s.Rows()
				hb, gb := ws.buffers(r*dIn, r*dOut)
				hs := matrix.Dense[float32]{Rows: r, Cols: dIn, Data: hb}
				gs := matrix.Dense[float32]{Rows: r, Cols: dOut, Data: gb}
				if err := GatherInto(hs, gs, h, dz, &s); err != nil {
					b.Fatal(err)
				}
				t4 := time.Now()
				multiplyGathered(dst, hs, gs)
				t5 := time.Now()
				if i%2 == 1 {
					exact += timeExact(h, dz, out)
				}
				normsH += t1.Sub(t0)
				normsG += t2.Sub(t1)
				sketch += t3.Sub(t2)
				gather += t4.Sub(t3)
				mult += t5.Sub(t4)
				rows += r
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 / float64(b.N) }
			given := sketch + gather + mult
			b.ReportMetric(float64(exact)/float64(normsH+normsG+given), "x_faster")
			b.ReportMetric(float64(exact)/float64(normsH+given), "x_faster_cached")
			b.ReportMetric(float64(exact)/float64(given), "x_faster_given_norms")
			b.ReportMetric(ms(exact), "exact_ms")
			b.ReportMetric(ms(normsH), "norms_h_ms")
			b.ReportMetric(ms(normsG), "norms_g_ms")
			b.ReportMetric(ms(sketch), "sketch_ms")
			b.ReportMetric(ms(gather), "gather_ms")
			b.ReportMetric(ms(mult), "gemm_ms")
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

// BenchmarkWeightGradientScaling times the exact GEMM and WTA-CRS@0.3 end to end (norms,
// weights, the |C| rule, draws, gather, GEMM) of a 768×768 layer at n = 1024 … 65536 tokens,
// alternately within each iteration, and reports each side's ns per token (exact-ns/token,
// wtacrs0.3-ns/token) and their ratio (x_faster): both costs grow linearly in n when the
// per-token figures stay flat across the sub-benchmarks.
func BenchmarkWeightGradientScaling(b *testing.B) {
	for _, n := range []int{1024, 4096, 16384, 65536} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			h, dz := benchLayer(n, benchIn, benchOut)
			out := make([]float32, benchIn*benchOut)
			var ws Workspace[float32]
			k := int(0.3 * float64(n))
			var te, tw time.Duration
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				exactGradient(h, dz, out)
				t1 := time.Now()
				wtacrsGradient(sink, h, dz, k, uint64(i), &ws)
				te, tw = te+t1.Sub(t0), tw+time.Since(t1)
			}
			perToken := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) / float64(n) }
			b.ReportMetric(perToken(te), "exact-ns/token")
			b.ReportMetric(perToken(tw), "wtacrs0.3-ns/token")
			b.ReportMetric(float64(te)/float64(tw), "x_faster")
			b.ReportMetric(0, "ns/op")
		})
	}
}
