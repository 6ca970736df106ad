// Shared device helpers of the gpu package's kernels: the Philox4x32-10 generator with the
// stream layout of package estimator, and deterministic block-wide scans.
//
// Every scalar kernel argument is 8 bytes wide (long long, unsigned long long or double): the Go
// launcher copies 8 bytes per argument.
#pragma once

#define WTACRS_CDF_BLOCK 256

// philox4x32_10 returns the Philox4x32-10 block of a 128-bit counter and a 64-bit key, word for
// word as estimator.Philox.
__device__ __forceinline__ uint4 philox4x32_10(uint4 c, uint2 k) {
    const unsigned int m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;
    const unsigned int w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;
#pragma unroll
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            k.x += w0;
            k.y += w1;
        }
        unsigned int hi0 = __umulhi(m0, c.x), lo0 = m0 * c.x;
        unsigned int hi1 = __umulhi(m1, c.z), lo1 = m1 * c.z;
        c = make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

// uniform01 returns the uniform number in [0, 1) of estimator.Uniform(seed, stream, counter).
__device__ __forceinline__ double uniform01(unsigned long long seed, unsigned long long stream,
                                            unsigned long long counter) {
    uint4 x = philox4x32_10(
        make_uint4((unsigned int)counter, (unsigned int)(counter >> 32), (unsigned int)stream,
                   (unsigned int)(stream >> 32)),
        make_uint2((unsigned int)seed, (unsigned int)(seed >> 32)));
    unsigned long long bits = ((unsigned long long)x.x << 32) | (unsigned long long)x.y;
    return (double)(bits >> 11) * 0x1p-53;
}

// Block-wide exclusive scan of one value per thread in a fixed order (warp shuffles, then the
// warp totals), so the result does not depend on scheduling. blockDim.x must be a multiple of
// 32; scratch holds 32 entries. Every thread of the block must call it. total receives the sum
// over the block.
template <typename T>
__device__ T block_exclusive_scan(T x, T *scratch, T *total) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int nwarps = (blockDim.x + 31) >> 5;
    T incl = x;
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
        T y = __shfl_up_sync(0xffffffffu, incl, off);
        if (lane >= off) incl += y;
    }
    T excl = __shfl_up_sync(0xffffffffu, incl, 1);
    if (lane == 0) excl = (T)0;
    if (lane == 31) scratch[warp] = incl;
    __syncthreads();
    if (warp == 0) {
        T v = lane < nwarps ? scratch[lane] : (T)0;
#pragma unroll
        for (int off = 1; off < 32; off <<= 1) {
            T y = __shfl_up_sync(0xffffffffu, v, off);
            if (lane >= off) v += y;
        }
        scratch[lane] = v;
    }
    __syncthreads();
    T base = warp > 0 ? scratch[warp - 1] : (T)0;
    T out = base + excl;
    *total = scratch[nwarps - 1];
    __syncthreads();
    return out;
}

// Slots of the per-estimator scalar buffer (8 bytes each).
#define S_TOTAL 0  // double: Σ w over all pairs (wtacrs_select)
#define S_TDRAW 1  // double: total of the draw weights, the last blocked-CDF value (wtacrs_cdf)
#define S_C 2      // long long: |C| (wtacrs_choose; stays 0 for CRS)
#define S_FLAG 3   // unsigned long long: generation of the last call that saw a non-finite norm
#define S_EQ 4     // long long: candidates taken among the pairs equal to the threshold
#define S_SLOTS 8
