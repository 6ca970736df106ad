// wtacrs_norms: the sampling weights w_t = ‖H[t,:]‖·‖G[t,:]‖ of ∇W = HᵀG in one pass over H and
// G (one warp per token, float32 data, float64 sums).
#include "common.cuh"

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

__device__ __forceinline__ double row_squares(const float *row, long long cols, int lane) {
    double acc0 = 0, acc1 = 0;
    if ((cols & 3) == 0 && (((unsigned long long)row) & 15) == 0) {
        const float4 *r4 = (const float4 *)row;
        long long n4 = cols >> 2;
#pragma unroll 4
        for (long long i = lane; i < n4; i += 32) {
            float4 v = __ldg(r4 + i);
            acc0 += (double)v.x * v.x + (double)v.y * v.y;
            acc1 += (double)v.z * v.z + (double)v.w * v.w;
        }
    } else {
        for (long long i = lane; i < cols; i += 32) {
            double v = __ldg(row + i);
            acc0 += v * v;
        }
    }
    return warp_sum(acc0 + acc1);
}

// Grid: ceil(n / (blockDim.x/32)) blocks; one warp per row. flag receives gen when a norm is NaN
// or Inf.
extern "C" __global__ void __launch_bounds__(WTACRS_NORMS_THREADS)
    wtacrs_norms(const float *h, const float *g, long long n, long long dIn, long long dOut,
                 double *w, double *scalars, unsigned long long gen) {
    const int lane = threadIdx.x & 31;
    long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= n) return;
    double hh = row_squares(h + row * dIn, dIn, lane);
    double gg = row_squares(g + row * dOut, dOut, lane);
    if (lane == 0) {
        double wt = sqrt(hh) * sqrt(gg);
        if (!isfinite(hh) || !isfinite(gg)) {
            atomicMax((unsigned long long *)(scalars + WTACRS_SLOT_FLAG), gen);
            wt = 0;
        }
        w[row] = wt;
    }
}
