// Minimal stand-in for the CUDA headers that the kernels of gpu/kernels use, so that clang can
// compile them to PTX without a CUDA installation (clang -x cuda -nocudainc -nocudalib). Every
// function maps to the NVPTX builtin that the CUDA headers use for it. Used by
// scripts/gpu/ptx-clang.sh; nvcc does not see this file.
#pragma once
#include "__clang_cuda_builtin_vars.h"

#define __host__ __attribute__((host))
#define __device__ __attribute__((device))
#define __global__ __attribute__((global))
#define __shared__ __attribute__((shared))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __launch_bounds__(...) __attribute__((launch_bounds(__VA_ARGS__)))

struct __attribute__((aligned(8))) uint2 { unsigned int x, y; };
struct __attribute__((aligned(16))) uint4 { unsigned int x, y, z, w; };
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };

static __device__ __forceinline__ uint2 make_uint2(unsigned int x, unsigned int y) {
    uint2 v = {x, y};
    return v;
}
static __device__ __forceinline__ uint4 make_uint4(unsigned int x, unsigned int y, unsigned int z,
                                                   unsigned int w) {
    uint4 v = {x, y, z, w};
    return v;
}

static __device__ __forceinline__ unsigned int __umulhi(unsigned int a, unsigned int b) {
    return __nvvm_mulhi_ui(a, b);
}
static __device__ __forceinline__ int __ffs(int x) { return __builtin_ffs(x); }
static __device__ __forceinline__ int __popc(unsigned int x) { return __builtin_popcount(x); }
static __device__ __forceinline__ void __syncwarp(unsigned int mask = 0xffffffffu) {
    __nvvm_bar_warp_sync(mask);
}
static __device__ __forceinline__ void __threadfence() { __nvvm_membar_gl(); }

static __device__ __forceinline__ int __shfl_up_sync(unsigned m, int v, unsigned d) {
    return __nvvm_shfl_sync_up_i32(m, v, d, 0);
}
static __device__ __forceinline__ unsigned __shfl_up_sync(unsigned m, unsigned v, unsigned d) {
    return (unsigned)__nvvm_shfl_sync_up_i32(m, (int)v, d, 0);
}
static __device__ __forceinline__ long long __shfl_up_sync(unsigned m, long long v, unsigned d) {
    int lo = __nvvm_shfl_sync_up_i32(m, (int)(unsigned long long)v, d, 0);
    int hi = __nvvm_shfl_sync_up_i32(m, (int)((unsigned long long)v >> 32), d, 0);
    return (long long)(((unsigned long long)(unsigned)hi << 32) | (unsigned)lo);
}
static __device__ __forceinline__ double __shfl_up_sync(unsigned m, double v, unsigned d) {
    return __builtin_bit_cast(double, __shfl_up_sync(m, __builtin_bit_cast(long long, v), d));
}
static __device__ __forceinline__ double __shfl_xor_sync(unsigned m, double v, int lane) {
    long long b = __builtin_bit_cast(long long, v);
    int lo = __nvvm_shfl_sync_bfly_i32(m, (int)(unsigned long long)b, lane, 0x1f);
    int hi = __nvvm_shfl_sync_bfly_i32(m, (int)((unsigned long long)b >> 32), lane, 0x1f);
    return __builtin_bit_cast(double, (long long)(((unsigned long long)(unsigned)hi << 32) | (unsigned)lo));
}
static __device__ __forceinline__ unsigned int __match_any_sync(unsigned m, unsigned v) {
    return __nvvm_match_any_sync_i32(m, (int)v);
}

static __device__ __forceinline__ unsigned int atomicAdd(unsigned int *p, unsigned int v) {
    return (unsigned int)__nvvm_atom_add_gen_i((int *)p, (int)v);
}
static __device__ __forceinline__ unsigned long long atomicMax(unsigned long long *p,
                                                               unsigned long long v) {
    return __nvvm_atom_max_gen_ull(p, v);
}
static __device__ __forceinline__ unsigned long long atomicMin(unsigned long long *p,
                                                               unsigned long long v) {
    return __nvvm_atom_min_gen_ull(p, v);
}

static __device__ __forceinline__ float __ldg(const float *p) { return __nvvm_ldg_f(p); }
static __device__ __forceinline__ float4 __ldg(const float4 *p) {
    typedef float v4f __attribute__((ext_vector_type(4)));
    v4f v = __nvvm_ldg_f4((const v4f *)p);
    float4 r = {v.x, v.y, v.z, v.w};
    return r;
}

static __device__ __forceinline__ double __ldcg(const double *p) {
    double r;
    asm volatile("ld.global.cg.f64 %0, [%1];" : "=d"(r) : "l"(p));
    return r;
}

static __device__ __forceinline__ double sqrt(double x) { return __nvvm_sqrt_rn_d(x); }
static __device__ __forceinline__ bool isfinite(double x) { return __builtin_isfinite(x); }
