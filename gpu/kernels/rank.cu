// wtacrs_rank: the rank of every candidate of wtacrs_select in the order of
// estimator.SortedOrder (decreasing weight, ties by smaller index): the number of candidates
// before it, counted in slices of RANK_SLICE candidates by the blocks of the grid's y dimension.
#include "common.cuh"

#define RANK_TILE 256
#define RANK_SLICE 512

// Grid: (ceil(cand/256), ceil(cand/512)) blocks of 256 threads. rank must be zero on entry
// (wtacrs_choose clears it after use); integer additions make the result order-independent.
extern "C" __global__ void __launch_bounds__(RANK_TILE)
    wtacrs_rank(const double *__restrict__ cval, const int *__restrict__ cidx, long long cand,
                unsigned int *__restrict__ rank) {
    __shared__ double tv[RANK_TILE];
    __shared__ int ti[RANK_TILE];
    const long long me = (long long)blockIdx.x * RANK_TILE + threadIdx.x;
    double v = 0;
    int idx = 0;
    if (me < cand) {
        v = cval[me];
        idx = cidx[me];
    }
    const long long first = (long long)blockIdx.y * RANK_SLICE;
    const long long last = first + RANK_SLICE < cand ? first + RANK_SLICE : cand;
    unsigned int r = 0;
    for (long long base = first; base < last; base += RANK_TILE) {
        long long j = base + threadIdx.x;
        if (j < last) {
            tv[threadIdx.x] = cval[j];
            ti[threadIdx.x] = cidx[j];
        }
        __syncthreads();
        int lim = last - base < RANK_TILE ? (int)(last - base) : RANK_TILE;
        for (int t = 0; t < lim; t++) {
            double u = tv[t];
            r += (u > v) || (u == v && ti[t] < idx);
        }
        __syncthreads();
    }
    if (me < cand && r > 0) atomicAdd(rank + me, r);
}
