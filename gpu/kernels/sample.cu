// wtacrs_sample: the pair and the scale of every row of the sampled product. Row r < |C| is kept
// pair kept[r] with scale 1; row |C| + j is draw j: Philox4x32-10 (seed, stream, counter j) gives
// u, the pair is the smallest i with cdf[i] > u·T in the blocked cumulative sum (or the last pair
// of positive weight when rounding leaves none), its scale T/(draws·w_i), exactly as
// estimator.Plan.Sample; rows past |C| + draws get pair −1.
#include "common.cuh"

// Grid: ceil(k / 256) blocks of 256 threads.
extern "C" __global__ void __launch_bounds__(WTACRS_SAMPLE_THREADS)
    wtacrs_sample(const double *__restrict__ w, const double *__restrict__ loc,
                  const double *__restrict__ offsets, long long m, const int *__restrict__ kept,
                  const double *__restrict__ scalars, unsigned long long seed,
                  unsigned long long stream, long long k, int *__restrict__ rowIdx,
                  double *__restrict__ rowScale) {
    const long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= k) return;
    const long long C = ((const long long *)scalars)[WTACRS_SLOT_C];
    const double T = scalars[WTACRS_SLOT_TDRAW];
    const long long draws = T > 0 ? k - C : 0;
    long long idx = -1;
    double f = 0;
    if (r < C) {
        idx = kept[r];
        f = 1;
    } else if (r - C < draws) {
        const double target = uniform01(seed, stream, (unsigned long long)(r - C)) * T;
        long long lo = 0, hi = m;
        while (lo < hi) {
            long long mid = lo + ((hi - lo) >> 1);
            double c = offsets[mid / WTACRS_CDF_BLOCK] + loc[mid];
            if (c > target) hi = mid; else lo = mid + 1;
        }
        if (lo == m) {
            lo = m - 1;
            while (lo > 0 && offsets[lo / WTACRS_CDF_BLOCK] + loc[lo] ==
                                 offsets[(lo - 1) / WTACRS_CDF_BLOCK] + loc[lo - 1])
                lo--;
        }
        idx = lo;
        f = T / ((double)draws * w[idx]);
    }
    rowIdx[r] = (int)idx;
    rowScale[r] = f;
}
