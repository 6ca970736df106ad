// wtacrs_cdf: the blocked cumulative sum of the draw weights (w, zero on the kept set) in the
// order of the estimator package: sequential sums inside blocks of 256 pairs, then sequential
// block offsets, all in float64.
#include "common.cuh"

// One block of 1024 threads. loc[i] receives the running sum inside i's block, offsets[b] the sum
// of the blocks before b, scalars[S_TDRAW] the total; cdf[i] = offsets[i/256] + loc[i]. keptFlag
// is read and cleared for the next call.
extern "C" __global__ void wtacrs_cdf(const double *w, unsigned int *keptFlag, long long m,
                                      double *loc, double *offsets, double *scalars) {
    const int tid = threadIdx.x, nt = blockDim.x;
    long long nb = (m + WTACRS_CDF_BLOCK - 1) / WTACRS_CDF_BLOCK;
    for (long long b = tid; b < nb; b += nt) {
        long long lo = b * WTACRS_CDF_BLOCK;
        long long hi = lo + WTACRS_CDF_BLOCK < m ? lo + WTACRS_CDF_BLOCK : m;
        double local = 0;
        for (long long i = lo; i < hi; i++) {
            double v = w[i];
            if (keptFlag[i]) {
                v = 0;
                keptFlag[i] = 0u;
            }
            local += v;
            loc[i] = local;
        }
        offsets[b] = local;  // block total for now
    }
    __syncthreads();
    if (tid == 0) {
        double off = 0;
        for (long long b = 0; b < nb; b++) {
            double t = offsets[b];
            offsets[b] = off;
            off += t;
        }
        scalars[S_TDRAW] = off;
    }
}
