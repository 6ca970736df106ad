// wtacrs_select: the candidates for the kept set C of WTA-CRS, and the total weight.
#include "common.cuh"

// One block of 1024 threads. With cand ≥ 1 pairs wanted (cand ≤ m), finds by an 8-pass radix
// select on the bit patterns of the (non-negative) weights the value v of the cand-th heaviest
// pair, then writes the cand heaviest pairs (every pair heavier than v, then the pairs equal to v
// by increasing index) to cval/cidx. scalars[S_TOTAL] receives Σ w, summed in a fixed order.
extern "C" __global__ void wtacrs_select(const double *w, long long m, long long cand, double *cval,
                                         int *cidx, double *scalars) {
    __shared__ unsigned int hist[256];
    __shared__ unsigned long long prefix, mask;
    __shared__ long long remaining;
    __shared__ double dscratch[32];
    __shared__ long long lscratch[32];
    const int tid = threadIdx.x, nt = blockDim.x;
    const unsigned long long *bits = (const unsigned long long *)w;

    // Σ w: per-thread strided sums, then a fixed-order scan.
    double part = 0;
    for (long long i = tid; i < m; i += nt) part += w[i];
    double total;
    block_exclusive_scan<double>(part, dscratch, &total);
    if (tid == 0) scalars[S_TOTAL] = total;
    if (cand <= 0) return;

    if (tid == 0) {
        prefix = 0;
        mask = 0;
        remaining = cand;
    }
    __syncthreads();
    for (int shift = 56; shift >= 0; shift -= 8) {
        for (int b = tid; b < 256; b += nt) hist[b] = 0;
        __syncthreads();
        unsigned long long p = prefix, mk = mask;
        for (long long i = tid; i < m; i += nt) {
            unsigned long long b = bits[i];
            if ((b & mk) == p) atomicAdd(&hist[(b >> shift) & 255u], 1u);
        }
        __syncthreads();
        if (tid == 0) {
            long long acc = 0, need = remaining;
            int sel = 0;
            for (int d = 255; d >= 0; d--) {
                if (acc + (long long)hist[d] >= need) {
                    sel = d;
                    break;
                }
                acc += hist[d];
            }
            remaining = need - acc;
            prefix = p | ((unsigned long long)sel << shift);
            mask = mk | (255ull << shift);
        }
        __syncthreads();
    }
    const unsigned long long vb = prefix;
    const long long takeEq = remaining;  // pairs equal to v that are taken, smallest index first
    if (tid == 0) ((long long *)scalars)[S_EQ] = takeEq;

    // Ordered compaction: thread t owns a contiguous chunk of indices.
    long long chunk = (m + nt - 1) / nt;
    long long lo = tid * chunk, hi = lo + chunk < m ? lo + chunk : m;
    long long gt = 0, eq = 0;
    for (long long i = lo; i < hi; i++) {
        unsigned long long b = bits[i];
        gt += b > vb;
        eq += b == vb;
    }
    long long gtTotal, eqTotal;
    long long gtBase = block_exclusive_scan<long long>(gt, lscratch, &gtTotal);
    long long eqBase = block_exclusive_scan<long long>(eq, lscratch, &eqTotal);
    for (long long i = lo; i < hi; i++) {
        unsigned long long b = bits[i];
        if (b > vb) {
            cval[gtBase] = w[i];
            cidx[gtBase] = (int)i;
            gtBase++;
        } else if (b == vb) {
            if (eqBase < takeEq) {
                cval[gtTotal + eqBase] = w[i];
                cidx[gtTotal + eqBase] = (int)i;
            }
            eqBase++;
        }
    }
}
