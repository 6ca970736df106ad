// wtacrs_cdf: the blocked cumulative sum of the draw weights (w, zero on the kept set) in the
// order of package estimator: sequential float64 sums inside blocks of 256 pairs, then sequential
// block offsets.
#include "common.cuh"

// Grid: ceil(nb / 8) blocks of 256 threads, nb = ceil(m/256); one warp per block of pairs. The
// warp stages its 256 draw weights in shared memory, lane 0 sums them in order, and loc[i]
// receives the running sum inside i's block. The last thread block to finish (counter, zero on
// entry and left zero) turns the block totals into offsets[b], the sum of the blocks before b, and
// writes the total to scalars[WTACRS_SLOT_TDRAW]; cdf[i] = offsets[i/256] + loc[i]. keptFlag is
// read and cleared for the next call.
extern "C" __global__ void __launch_bounds__(WTACRS_CDF_WARPS * 32)
    wtacrs_cdf(const double *__restrict__ w, unsigned int *__restrict__ keptFlag, long long m,
               double *__restrict__ loc, double *__restrict__ totals, double *__restrict__ offsets,
               unsigned int *__restrict__ counter, double *__restrict__ scalars) {
    __shared__ double stage[WTACRS_CDF_WARPS][WTACRS_CDF_BLOCK];
    __shared__ bool lastBlock;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const long long nb = (m + WTACRS_CDF_BLOCK - 1) / WTACRS_CDF_BLOCK;
    const long long b = (long long)blockIdx.x * WTACRS_CDF_WARPS + warp;
    if (b < nb) {
        const long long lo = b * WTACRS_CDF_BLOCK;
        const int len = m - lo < WTACRS_CDF_BLOCK ? (int)(m - lo) : WTACRS_CDF_BLOCK;
        double *s = stage[warp];
        for (int j = lane; j < len; j += 32) {
            double v = w[lo + j];
            if (keptFlag[lo + j]) {
                v = 0;
                keptFlag[lo + j] = 0u;
            }
            s[j] = v;
        }
        __syncwarp();
        if (lane == 0) {
            double local = 0;
            for (int j = 0; j < len; j++) {
                local += s[j];
                s[j] = local;
            }
            totals[b] = local;
        }
        __syncwarp();
        for (int j = lane; j < len; j += 32) loc[lo + j] = s[j];
    }
    // Last block done: the sequential offsets. The block totals are read through L2 (__ldcg,
    // written by other blocks) in chunks staged in shared memory; thread 0 adds them in order.
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) lastBlock = atomicAdd(counter, 1u) == gridDim.x - 1;
    __syncthreads();
    if (!lastBlock) return;
    __threadfence();
    double *chunk = &stage[0][0];
    const long long chunkLen = WTACRS_CDF_WARPS * WTACRS_CDF_BLOCK;
    double off = 0;  // meaningful in thread 0 only
    for (long long base = 0; base < nb; base += chunkLen) {
        const long long len = nb - base < chunkLen ? nb - base : chunkLen;
        for (long long i = threadIdx.x; i < len; i += blockDim.x) chunk[i] = __ldcg(totals + base + i);
        __syncthreads();
        if (threadIdx.x == 0) {
            for (long long i = 0; i < len; i++) {
                double t = chunk[i];
                chunk[i] = off;
                off += t;
            }
        }
        __syncthreads();
        for (long long i = threadIdx.x; i < len; i += blockDim.x) offsets[base + i] = chunk[i];
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        scalars[WTACRS_SLOT_TDRAW] = off;
        *counter = 0u;
    }
}
