// wtacrs_choose: |C| by the rule of estimator.ChooseC, and the kept set.
#include "common.cuh"

// One block of 1024 threads. First places the candidates in rank order (sval/sidx, heaviest
// first) and clears rank for the next call. The factor f(c) = (T − S_c)/(k − c), S_c the weight
// of the c heaviest pairs, is quasi-convex in c: it decreases exactly while the next pair is
// heavier than f(c). So the argmin with the smallest c on ties, the rule of estimator.ChooseC, is
// the first c with sval[c] ≤ f(c) (or cand). Modes (common.cuh): WTACRS_CHOOSE_RULE that rule;
// WTACRS_CHOOSE_POSITIVE (k ≥ m) the number of positive weights, as in estimator.NewWTACRS;
// WTACRS_CHOOSE_FIXED a fixed |C| = cand, as in estimator.NewWTACRSFixed. Writes |C| to
// scalars[WTACRS_SLOT_C], the kept pairs heaviest first to kept, and marks them in keptFlag.
extern "C" __global__ void __launch_bounds__(WTACRS_CHOOSE_THREADS)
    wtacrs_choose(const double *__restrict__ cval, const int *__restrict__ cidx,
                  unsigned int *__restrict__ rank, long long cand, long long k, long long mode,
                  double *__restrict__ sval, int *__restrict__ sidx, double *__restrict__ scalars,
                  int *__restrict__ kept, unsigned int *__restrict__ keptFlag) {
    __shared__ double dscratch[32];
    __shared__ long long first;
    const int tid = threadIdx.x, nt = blockDim.x;
    for (long long i = tid; i < cand; i += nt) {
        unsigned int r = rank[i];
        sval[r] = cval[i];
        sidx[r] = cidx[i];
        rank[i] = 0u;
    }
    if (tid == 0) first = cand;
    __syncthreads();
    const double T = scalars[WTACRS_SLOT_TOTAL];
    long long chunk = (cand + nt - 1) / nt;
    long long lo = tid * chunk, hi = lo + chunk < cand ? lo + chunk : cand;
    double part = 0;
    for (long long c = lo; c < hi; c++) part += sval[c];
    double total;
    double s = block_exclusive_scan<double>(part, dscratch, &total);
    for (long long c = lo; c < hi; c++) {
        bool grow = mode == WTACRS_CHOOSE_FIXED ||
                    (mode == WTACRS_CHOOSE_POSITIVE ? sval[c] > 0
                                                    : sval[c] > (T - s) / (double)(k - c));
        if (!grow) {
            atomicMin((unsigned long long *)&first, (unsigned long long)c);
            break;
        }
        s += sval[c];
    }
    __syncthreads();
    const long long C = first;
    if (tid == 0) ((long long *)scalars)[WTACRS_SLOT_C] = C;
    for (long long c = tid; c < C; c += nt) {
        kept[c] = sidx[c];
        keptFlag[sidx[c]] = 1u;
    }
}
