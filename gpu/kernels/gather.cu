// wtacrs_gather: the operands of the sampled GEMM. Row r of Hs is H[rowIdx[r],:] times
// (float)rowScale[r], row r of Gs is G[rowIdx[r],:]; rows with pair −1 are zero.
#include "common.cuh"

// Grid: ceil(k / 8) blocks of 256 threads; one warp per row.
extern "C" __global__ void __launch_bounds__(WTACRS_GATHER_WARPS * 32)
    wtacrs_gather(const float *__restrict__ h, const float *__restrict__ g, long long dIn,
                  long long dOut, const int *__restrict__ rowIdx,
                  const double *__restrict__ rowScale, long long k, float *__restrict__ hs,
                  float *__restrict__ gs) {
    const int lane = threadIdx.x & 31;
    const long long r = (long long)blockIdx.x * WTACRS_GATHER_WARPS + (threadIdx.x >> 5);
    if (r >= k) return;
    const long long idx = rowIdx[r];
    const float f = (float)rowScale[r];
    float *hrow = hs + r * dIn, *grow = gs + r * dOut;
    if (idx < 0) {
        for (long long c = lane; c < dIn; c += 32) hrow[c] = 0.f;
        for (long long c = lane; c < dOut; c += 32) grow[c] = 0.f;
        return;
    }
    const float *hsrc = h + idx * dIn, *gsrc = g + idx * dOut;
    if ((dIn & 3) == 0 && (dOut & 3) == 0 &&
        ((((unsigned long long)h) | ((unsigned long long)g) | ((unsigned long long)hs) |
          ((unsigned long long)gs)) & 15) == 0) {
        const float4 *h4 = (const float4 *)hsrc, *g4 = (const float4 *)gsrc;
        float4 *hd = (float4 *)hrow, *gd = (float4 *)grow;
#pragma unroll 4
        for (long long c = lane; c < (dIn >> 2); c += 32) {
            float4 v = __ldg(h4 + c);
            v.x *= f;
            v.y *= f;
            v.z *= f;
            v.w *= f;
            hd[c] = v;
        }
#pragma unroll 4
        for (long long c = lane; c < (dOut >> 2); c += 32) gd[c] = __ldg(g4 + c);
        return;
    }
    for (long long c = lane; c < dIn; c += 32) hrow[c] = hsrc[c] * f;
    for (long long c = lane; c < dOut; c += 32) grow[c] = gsrc[c];
}
