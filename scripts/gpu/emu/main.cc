// Runs the device pipeline of package gpu (the kernels of gpu/kernels, with the launch geometry of
// cudaSampler.gradW in gpu/cuda.go and the block sizes of gpu/kernels/common.cuh) on the CPU
// through emu.h. Input on stdin, output on stdout, both little-endian:
//   in:  int64 n, dIn, dOut, k, cand, mode; uint64 seed, stream; float32 H[n*dIn], G[n*dOut]
//   out: float64 w[n]; int64 C; float64 Tdraw; int32 rowIdx[k]; float64 rowScale[k];
//        float32 Hs[k*dIn], Gs[k*dOut]
#include "emu.h"
#include <cstdio>

#include "../../../gpu/kernels/norms.cu"
#include "../../../gpu/kernels/select.cu"
#include "../../../gpu/kernels/rank.cu"
#include "../../../gpu/kernels/choose.cu"
#include "../../../gpu/kernels/cdf.cu"
#include "../../../gpu/kernels/sample.cu"
#include "../../../gpu/kernels/gather.cu"

template <typename T> static void readN(T *p, size_t n) {
    if (fread(p, sizeof(T), n, stdin) != n) { fprintf(stderr, "emu: short input\n"); exit(2); }
}
template <typename T> static void writeN(const T *p, size_t n) { fwrite(p, sizeof(T), n, stdout); }

int main() {
    long long hdr[6];
    unsigned long long ss[2];
    readN(hdr, 6);
    readN(ss, 2);
    const long long n = hdr[0], dIn = hdr[1], dOut = hdr[2], k = hdr[3], cand = hdr[4], mode = hdr[5];
    const unsigned long long seed = ss[0], stream = ss[1];
    std::vector<float> h(n * dIn), g(n * dOut), hs(k * dIn), gs(k * dOut);
    readN(h.data(), h.size());
    readN(g.data(), g.size());
    const long long nb = (n + WTACRS_CDF_BLOCK - 1) / WTACRS_CDF_BLOCK, cz = cand > 0 ? cand : 1;
    std::vector<double> w(n), loc(n), totals(nb), offsets(nb), cval(cz), sval(cz), rowScale(k), scalars(WTACRS_SLOTS);
    std::vector<int> cidx(cz), sidx(cz), kept(cz), rowIdx(k);
    std::vector<unsigned int> keptFlag(n), rank(cz), counter(1);
    const unsigned long long gen = 1;
    auto blocks = [](long long a, long long b) { return dim3{(unsigned)((a + b - 1) / b), 1, 1}; };
    auto threads = [](unsigned t) { return dim3{t, 1, 1}; };
    emu_launch(blocks(n, WTACRS_NORMS_THREADS / 32), threads(WTACRS_NORMS_THREADS), [&] {
        wtacrs_norms(h.data(), g.data(), n, dIn, dOut, w.data(), scalars.data(), gen);
    });
    if (cand > 0) {
        emu_launch(dim3{1, 1, 1}, threads(WTACRS_SELECT_THREADS), [&] {
            wtacrs_select(w.data(), n, cand, cval.data(), cidx.data(), scalars.data());
        });
        emu_launch(dim3{(unsigned)((cand + WTACRS_RANK_TILE - 1) / WTACRS_RANK_TILE),
                        (unsigned)((cand + WTACRS_RANK_SLICE - 1) / WTACRS_RANK_SLICE), 1},
                   threads(WTACRS_RANK_THREADS), [&] { wtacrs_rank(cval.data(), cidx.data(), cand, rank.data()); });
        emu_launch(dim3{1, 1, 1}, threads(WTACRS_CHOOSE_THREADS), [&] {
            wtacrs_choose(cval.data(), cidx.data(), rank.data(), cand, k, mode, sval.data(), sidx.data(),
                          scalars.data(), kept.data(), keptFlag.data());
        });
    }
    emu_launch(blocks(nb, WTACRS_CDF_WARPS), threads(WTACRS_CDF_WARPS * 32), [&] {
        wtacrs_cdf(w.data(), keptFlag.data(), n, loc.data(), totals.data(), offsets.data(), counter.data(),
                   scalars.data());
    });
    emu_launch(blocks(k, WTACRS_SAMPLE_THREADS), threads(WTACRS_SAMPLE_THREADS), [&] {
        wtacrs_sample(w.data(), loc.data(), offsets.data(), n, kept.data(), scalars.data(), seed, stream, k,
                      rowIdx.data(), rowScale.data());
    });
    emu_launch(blocks(k, WTACRS_GATHER_WARPS), threads(WTACRS_GATHER_WARPS * 32), [&] {
        wtacrs_gather(h.data(), g.data(), dIn, dOut, rowIdx.data(), rowScale.data(), k, hs.data(), gs.data());
    });
    long long C;
    std::memcpy(&C, &scalars[WTACRS_SLOT_C], 8);
    for (unsigned int f : keptFlag)
        if (f) { fprintf(stderr, "emu: keptFlag not cleared\n"); return 3; }
    for (unsigned int r : rank)
        if (r) { fprintf(stderr, "emu: rank not cleared\n"); return 3; }
    if (counter[0]) { fprintf(stderr, "emu: counter not cleared\n"); return 3; }
    writeN(w.data(), n);
    writeN(&C, 1);
    writeN(&scalars[WTACRS_SLOT_TDRAW], 1);
    writeN(rowIdx.data(), k);
    writeN(rowScale.data(), k);
    writeN(hs.data(), hs.size());
    writeN(gs.data(), gs.size());
    return 0;
}
