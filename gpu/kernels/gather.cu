// wtacrs_gather: the rows of the sampled product. Row r < |C| is kept pair kept[r] (scale 1);
// row |C| + j is draw j (Philox counter j, the pair found in the blocked CDF, scale
// T/(draws·w_i)); rows past |C| + draws are zero. Hs gets the H rows times their scale (float32),
// Gs the matching G rows.
#include "common.cuh"

// Grid: k blocks (one per row), any block size.
extern "C" __global__ void wtacrs_gather(const float *h, const float *g, long long dIn,
                                         long long dOut, const double *w, const double *loc,
                                         const double *offsets, long long m, const int *kept,
                                         const double *scalars, unsigned long long seed,
                                         unsigned long long stream, long long k, float *hs,
                                         float *gs, int *rowIdx, double *rowScale) {
    __shared__ long long pick;
    __shared__ float scale;
    const long long r = blockIdx.x;
    if (threadIdx.x == 0) {
        const long long C = ((const long long *)scalars)[S_C];
        const double T = scalars[S_TDRAW];
        const long long draws = T > 0 ? k - C : 0;
        long long idx = -1;
        double f = 0;
        if (r < C) {
            idx = kept[r];
            f = 1;
        } else if (r - C < draws) {
            double target = uniform01(seed, stream, (unsigned long long)(r - C)) * T;
            long long lo = 0, hi = m;
            while (lo < hi) {
                long long mid = lo + ((hi - lo) >> 1);
                double c = offsets[mid / WTACRS_CDF_BLOCK] + loc[mid];
                if (c > target) hi = mid; else lo = mid + 1;
            }
            if (lo == m) {  // rounding left no cdf value above the target: the last positive pair
                lo = m - 1;
                while (lo > 0 && offsets[lo / WTACRS_CDF_BLOCK] + loc[lo] ==
                                     offsets[(lo - 1) / WTACRS_CDF_BLOCK] + loc[lo - 1])
                    lo--;
            }
            idx = lo;
            f = T / ((double)draws * w[idx]);
        }
        pick = idx;
        scale = (float)f;
        rowIdx[r] = (int)idx;
        rowScale[r] = f;
    }
    __syncthreads();
    const long long idx = pick;
    const float f = scale;
    float *hrow = hs + r * dIn, *grow = gs + r * dOut;
    if (idx < 0) {
        for (long long c = threadIdx.x; c < dIn; c += blockDim.x) hrow[c] = 0.f;
        for (long long c = threadIdx.x; c < dOut; c += blockDim.x) grow[c] = 0.f;
        return;
    }
    const float *hsrc = h + idx * dIn, *gsrc = g + idx * dOut;
    if ((dIn & 3) == 0 && (dOut & 3) == 0 && (((unsigned long long)h | (unsigned long long)g |
                                                (unsigned long long)hs | (unsigned long long)gs) &
                                               15) == 0) {
        const float4 *h4 = (const float4 *)hsrc, *g4 = (const float4 *)gsrc;
        float4 *hd = (float4 *)hrow, *gd = (float4 *)grow;
        for (long long c = threadIdx.x; c < (dIn >> 2); c += blockDim.x) {
            float4 v = __ldg(h4 + c);
            v.x *= f; v.y *= f; v.z *= f; v.w *= f;
            hd[c] = v;
        }
        for (long long c = threadIdx.x; c < (dOut >> 2); c += blockDim.x) gd[c] = __ldg(g4 + c);
        return;
    }
    for (long long c = threadIdx.x; c < dIn; c += blockDim.x) hrow[c] = hsrc[c] * f;
    for (long long c = threadIdx.x; c < dOut; c += blockDim.x) grow[c] = gsrc[c];
}
