package gemm

import "testing"

// sink keeps the benchmarked products alive.
var sink float32

// benchmarkGemm times an m×k by k×n float32 product with the backend im (auto's when im is
// nil, skipping when auto finds no library).
func benchmarkGemm(b *testing.B, im *impl, m, n, k int) {
	if im == nil {
		if im, _ = choose("auto", nativeAuto); im == pureGo {
			b.Skip("no CBLAS library loads on this machine")
		}
	}
	tc := gemmCase{m: m, n: n, k: k, alpha: 1}
	a, lda, bb, ldb, c, ldc := operands[float32](tc, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		gemmWith(im, false, false, m, n, k, 1, a, lda, bb, ldb, 0, c, ldc)
	}
	sink = c[0]
}

func BenchmarkGemmGonum16(b *testing.B)   { benchmarkGemm(b, pureGo, 16, 16, 16) }
func BenchmarkGemmNative16(b *testing.B)  { benchmarkGemm(b, nil, 16, 16, 16) }
func BenchmarkGemmGonum128(b *testing.B)  { benchmarkGemm(b, pureGo, 128, 128, 128) }
func BenchmarkGemmNative128(b *testing.B) { benchmarkGemm(b, nil, 128, 128, 128) }
func BenchmarkGemmGonum512(b *testing.B)  { benchmarkGemm(b, pureGo, 512, 512, 512) }
func BenchmarkGemmNative512(b *testing.B) { benchmarkGemm(b, nil, 512, 512, 512) }
