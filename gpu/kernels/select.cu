// wtacrs_select: the candidates for the kept set C of WTA-CRS, and the total weight.
#include "common.cuh"

#define DIGIT_BINS (1 << WTACRS_SELECT_DIGIT_BITS)
#define SELECT_UNROLL 8  // loads in flight per thread

// One block of 1024 threads. With cand ≥ 1 pairs wanted (cand ≤ m), finds the value v of the
// cand-th heaviest pair by a radix select on the bit patterns of the (non-negative) weights,
// most significant digit first (digits of 11 bits: 63..53, 52..42, 41..31, 30..20, 19..9, 8..0),
// then writes the cand heaviest pairs (every pair heavier than v, then the pairs equal to v by
// increasing index) to cval/cidx. scalars[WTACRS_SLOT_TOTAL] receives Σ w, summed in a fixed
// order.
extern "C" __global__ void __launch_bounds__(WTACRS_SELECT_THREADS)
    wtacrs_select(const double *__restrict__ w, long long m, long long cand,
                  double *__restrict__ cval, int *__restrict__ cidx, double *__restrict__ scalars) {
    __shared__ unsigned int hist[DIGIT_BINS];
    __shared__ unsigned long long prefix, mask;
    __shared__ long long remaining;
    __shared__ double dscratch[32];
    __shared__ long long lscratch[32];
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31;
    const unsigned long long *bits = (const unsigned long long *)w;

    // Σ w: per-thread strided sums, then a fixed-order scan.
    double part = 0;
    for (long long i = tid; i < m; i += nt) part += w[i];
    double total;
    block_exclusive_scan<double>(part, dscratch, &total);
    if (tid == 0) scalars[WTACRS_SLOT_TOTAL] = total;
    if (cand <= 0) return;

    if (tid == 0) {
        prefix = 0;
        mask = 0;
        remaining = cand;
    }
    __syncthreads();
    int top = 64;
    while (top > 0) {
        const int shift = top > WTACRS_SELECT_DIGIT_BITS ? top - WTACRS_SELECT_DIGIT_BITS : 0;
        const int width = top - shift;
        const unsigned int digitMask = (1u << width) - 1u;
        for (int b = tid; b < DIGIT_BINS; b += nt) hist[b] = 0;
        __syncthreads();
        const unsigned long long p = prefix, mk = mask;
        // Every lane of a warp runs the same number of iterations, so that lanes with the same
        // digit can add their count with one atomic (many weights share their leading bits).
        for (long long base = 0; base < m; base += (long long)SELECT_UNROLL * nt) {
            unsigned long long bv[SELECT_UNROLL];
#pragma unroll
            for (int u = 0; u < SELECT_UNROLL; u++) {
                long long i = base + (long long)u * nt + tid;
                bv[u] = i < m ? bits[i] : ~0ull;
            }
#pragma unroll
            for (int u = 0; u < SELECT_UNROLL; u++) {
                long long i = base + (long long)u * nt + tid;
                bool active = i < m && (bv[u] & mk) == p;
                unsigned int key = active ? (unsigned int)((bv[u] >> shift) & digitMask) : 0xffffffffu;
                unsigned int peers = __match_any_sync(0xffffffffu, key);
                if (active && lane == __ffs(peers) - 1) atomicAdd(&hist[key], (unsigned int)__popc(peers));
            }
        }
        __syncthreads();
        if (tid == 0) {
            long long acc = 0, need = remaining;
            int sel = 0;
            for (int d = (int)digitMask; d >= 0; d--) {
                if (acc + (long long)hist[d] >= need) {
                    sel = d;
                    break;
                }
                acc += hist[d];
            }
            remaining = need - acc;
            prefix = p | ((unsigned long long)sel << shift);
            mask = mk | ((unsigned long long)digitMask << shift);
        }
        __syncthreads();
        top = shift;
    }
    const unsigned long long vb = prefix;
    const long long takeEq = remaining;  // pairs equal to v that are taken, smallest index first
    if (tid == 0) ((long long *)scalars)[WTACRS_SLOT_EQ] = takeEq;

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
