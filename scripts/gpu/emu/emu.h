// A CPU emulation of the few CUDA features the kernels of gpu/kernels use, to run them on a
// machine without a GPU: every thread of a block is an OS thread, blocks run one after another
// (so __shared__ variables can be static), __syncthreads and the warp functions are barriers.
// Slow and only for correctness tests (gpu/emu_test.go, build tag gpuemu).
#pragma once
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

using std::isfinite;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__
#define __shared__ static

struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
};
struct uint2 { unsigned int x, y; };
struct uint4 { unsigned int x, y, z, w; };
struct alignas(16) float4 { float x, y, z, w; };
inline uint2 make_uint2(unsigned int x, unsigned int y) { return {x, y}; }
inline uint4 make_uint4(unsigned int x, unsigned int y, unsigned int z, unsigned int w) {
    return {x, y, z, w};
}

inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

struct emu_warp {
    std::barrier<> bar{32};
    uint64_t slot[32];
};
struct emu_block {
    std::barrier<> bar;
    std::vector<std::unique_ptr<emu_warp>> warps;
    explicit emu_block(int n) : bar(n) {
        for (int i = 0; i < n / 32; i++) warps.push_back(std::make_unique<emu_warp>());
    }
};
inline emu_block *emu_cur;
inline std::mutex emu_atomic_mu;

inline void __syncthreads() { emu_cur->bar.arrive_and_wait(); }
inline emu_warp &emu_my_warp() { return *emu_cur->warps[threadIdx.x >> 5]; }
inline void __syncwarp(unsigned = 0xffffffffu) { emu_my_warp().bar.arrive_and_wait(); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }

template <typename T> T emu_shfl(T v, int src) {
    emu_warp &w = emu_my_warp();
    const int lane = threadIdx.x & 31;
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    w.slot[lane] = bits;
    w.bar.arrive_and_wait();
    uint64_t got = w.slot[src];
    w.bar.arrive_and_wait();
    T r;
    std::memcpy(&r, &got, sizeof(T));
    return r;
}
template <typename T> T __shfl_up_sync(unsigned, T v, unsigned d) {
    int lane = threadIdx.x & 31;
    return emu_shfl(v, lane >= (int)d ? lane - (int)d : lane);
}
template <typename T> T __shfl_xor_sync(unsigned, T v, int m) {
    return emu_shfl(v, (int)((threadIdx.x & 31) ^ m));
}
inline unsigned int __match_any_sync(unsigned, unsigned v) {
    emu_warp &w = emu_my_warp();
    const int lane = threadIdx.x & 31;
    w.slot[lane] = v;
    w.bar.arrive_and_wait();
    unsigned int m = 0;
    for (int i = 0; i < 32; i++)
        if (w.slot[i] == v) m |= 1u << i;
    w.bar.arrive_and_wait();
    return m;
}

inline unsigned int atomicAdd(unsigned int *p, unsigned int v) {
    std::lock_guard<std::mutex> g(emu_atomic_mu);
    unsigned int old = *p;
    *p = old + v;
    return old;
}
inline unsigned long long atomicMax(unsigned long long *p, unsigned long long v) {
    std::lock_guard<std::mutex> g(emu_atomic_mu);
    unsigned long long old = *p;
    if (v > old) *p = v;
    return old;
}
inline unsigned long long atomicMin(unsigned long long *p, unsigned long long v) {
    std::lock_guard<std::mutex> g(emu_atomic_mu);
    unsigned long long old = *p;
    if (v < old) *p = v;
    return old;
}
inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
template <typename T> T __ldg(const T *p) { return *p; }
template <typename T> T __ldcg(const T *p) { return *p; }

// emu_launch runs body on every thread of every block of the grid, blocks one after another.
inline void emu_launch(dim3 grid, dim3 block, const std::function<void()> &body) {
    gridDim = grid;
    blockDim = block;
    for (unsigned by = 0; by < grid.y; by++) {
        for (unsigned bx = 0; bx < grid.x; bx++) {
            emu_block b((int)block.x);
            emu_cur = &b;
            std::vector<std::thread> ts;
            ts.reserve(block.x);
            for (unsigned t = 0; t < block.x; t++) {
                ts.emplace_back([&, t, bx, by] {
                    threadIdx = {t, 0, 0};
                    blockIdx = {bx, by, 0};
                    body();
                });
            }
            for (auto &th : ts) th.join();
        }
    }
}
