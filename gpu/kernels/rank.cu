// wtacrs_rank: the rank of every candidate of wtacrs_select in the order of
// estimator.SortedOrder (decreasing weight, ties by smaller index): the number of candidates
// before it, counted in slices of WTACRS_RANK_SLICE candidates by the blocks of the grid's y
// dimension.
#include "common.cuh"

// Grid: (ceil(cand/1024), ceil(cand/512)) blocks of 256 threads; thread t of block x ranks
// candidates 1024·x + t + 256·u, u < 4. rank must be zero on entry (wtacrs_choose clears it after
// use); integer additions make the result independent of the order of the blocks.
extern "C" __global__ void __launch_bounds__(WTACRS_RANK_THREADS)
    wtacrs_rank(const double *__restrict__ cval, const int *__restrict__ cidx, long long cand,
                unsigned int *__restrict__ rank) {
    __shared__ double tv[WTACRS_RANK_THREADS];
    __shared__ int ti[WTACRS_RANK_THREADS];
    double v[WTACRS_RANK_PER_THREAD];
    int idx[WTACRS_RANK_PER_THREAD];
    unsigned int r[WTACRS_RANK_PER_THREAD];
#pragma unroll
    for (int u = 0; u < WTACRS_RANK_PER_THREAD; u++) {
        const long long me = (long long)blockIdx.x * WTACRS_RANK_TILE + u * WTACRS_RANK_THREADS + threadIdx.x;
        v[u] = me < cand ? cval[me] : 0.0;
        idx[u] = me < cand ? cidx[me] : 0;
        r[u] = 0;
    }
    const long long first = (long long)blockIdx.y * WTACRS_RANK_SLICE;
    const long long last = first + WTACRS_RANK_SLICE < cand ? first + WTACRS_RANK_SLICE : cand;
    for (long long base = first; base < last; base += WTACRS_RANK_THREADS) {
        long long j = base + threadIdx.x;
        if (j < last) {
            tv[threadIdx.x] = cval[j];
            ti[threadIdx.x] = cidx[j];
        }
        __syncthreads();
        int lim = last - base < WTACRS_RANK_THREADS ? (int)(last - base) : WTACRS_RANK_THREADS;
        for (int t = 0; t < lim; t++) {
            const double w = tv[t];
            const int wi = ti[t];
#pragma unroll
            for (int u = 0; u < WTACRS_RANK_PER_THREAD; u++) r[u] += (w > v[u]) || (w == v[u] && wi < idx[u]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int u = 0; u < WTACRS_RANK_PER_THREAD; u++) {
        const long long me = (long long)blockIdx.x * WTACRS_RANK_TILE + u * WTACRS_RANK_THREADS + threadIdx.x;
        if (me < cand && r[u] > 0) atomicAdd(rank + me, r[u]);
    }
}
