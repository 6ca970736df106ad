// wtacrs_rank: sorts the candidates of wtacrs_select by decreasing weight, ties by smaller index
// (the order of estimator.SortedOrder), by counting for each one the candidates before it.
#include "common.cuh"

#define RANK_TILE 256

// Grid: ceil(cand / 256) blocks of 256 threads.
extern "C" __global__ void wtacrs_rank(const double *cval, const int *cidx, long long cand,
                                       double *sval, int *sidx) {
    __shared__ double tv[RANK_TILE];
    __shared__ int ti[RANK_TILE];
    long long me = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    double v = 0;
    int idx = 0;
    if (me < cand) {
        v = cval[me];
        idx = cidx[me];
    }
    long long rank = 0;
    for (long long base = 0; base < cand; base += RANK_TILE) {
        long long j = base + threadIdx.x;
        if (threadIdx.x < RANK_TILE && j < cand) {
            tv[threadIdx.x] = cval[j];
            ti[threadIdx.x] = cidx[j];
        }
        __syncthreads();
        int lim = cand - base < RANK_TILE ? (int)(cand - base) : RANK_TILE;
        for (int t = 0; t < lim; t++) {
            double u = tv[t];
            rank += (u > v) || (u == v && ti[t] < idx);
        }
        __syncthreads();
    }
    if (me < cand) {
        sval[rank] = v;
        sidx[rank] = idx;
    }
}
