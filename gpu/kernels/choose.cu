// wtacrs_choose: |C| by the rule of estimator.ChooseC, and the kept set.
#include "common.cuh"

// One block of 1024 threads over the cand candidates sorted heaviest first. The factor
// f(c) = (T − S_c)/(k − c), S_c the weight of the c heaviest pairs, is quasi-convex in c: it
// decreases exactly while the next pair is heavier than f(c). So the argmin with the smallest c
// on ties, the rule of estimator.ChooseC, is the first c with sval[c] ≤ f(c) (or cand). Modes:
// 0 that rule; 1 (k ≥ m) the number of positive weights, as in estimator.NewWTACRS; 2 a fixed
// |C| = cand, as in estimator.NewWTACRSFixed.
// Writes |C| to scalars[S_C], the kept pairs heaviest first to kept, and marks them in keptFlag.
extern "C" __global__ void wtacrs_choose(const double *sval, const int *sidx, long long cand,
                                         long long k, long long mode, double *scalars,
                                         int *kept, unsigned int *keptFlag) {
    __shared__ double dscratch[32];
    __shared__ long long first;
    const int tid = threadIdx.x, nt = blockDim.x;
    const double T = scalars[S_TOTAL];
    if (tid == 0) first = cand;
    long long chunk = (cand + nt - 1) / nt;
    long long lo = tid * chunk, hi = lo + chunk < cand ? lo + chunk : cand;
    double part = 0;
    for (long long c = lo; c < hi; c++) part += sval[c];
    double total;
    double s = block_exclusive_scan<double>(part, dscratch, &total);  // also syncs `first`
    for (long long c = lo; c < hi; c++) {
        bool grow = mode == 2 || (mode == 1 ? sval[c] > 0 : sval[c] > (T - s) / (double)(k - c));
        if (!grow) {
            atomicMin((unsigned long long *)&first, (unsigned long long)c);
            break;
        }
        s += sval[c];
    }
    __syncthreads();
    const long long C = first;
    if (tid == 0) ((long long *)scalars)[S_C] = C;
    for (long long c = tid; c < C; c += nt) {
        kept[c] = sidx[c];
        keptFlag[sidx[c]] = 1u;
    }
}
