/*
 * Compatibility header for building gorgonia.org/cu v0.9.6 against CUDA 13.
 *
 * CUDA 13 changed the signatures behind five driver API names that gorgonia.org/cu calls with
 * their CUDA 12 arguments: cuCtxCreate, cuMemAdvise, cuMemPrefetchAsync, cuGraphAddDependencies
 * and cuGraphGetEdges. The driver still exports the legacy entry points (cuCtxCreate_v2 and the
 * unsuffixed others). Placed first on the include path (CGO_CFLAGS=-I.../gpu/cudacompat), this
 * file includes the real cuda.h and, for CUDA 13 and later only, maps the five names back to
 * declarations of those legacy symbols. With CUDA 12 it changes nothing.
 */
#ifndef WTACRS_CUDACOMPAT_CUDA_H
#define WTACRS_CUDACOMPAT_CUDA_H

#include_next <cuda.h>

#if defined(CUDA_VERSION) && CUDA_VERSION >= 13000

#ifdef __cplusplus
extern "C" {
#endif

CUresult CUDAAPI wtacrs_legacy_cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev)
    __asm__("cuCtxCreate_v2");
CUresult CUDAAPI wtacrs_legacy_cuMemAdvise(CUdeviceptr devPtr, size_t count, CUmem_advise advice,
                                           CUdevice device) __asm__("cuMemAdvise");
CUresult CUDAAPI wtacrs_legacy_cuMemPrefetchAsync(CUdeviceptr devPtr, size_t count,
                                                  CUdevice dstDevice, CUstream hStream)
    __asm__("cuMemPrefetchAsync");
CUresult CUDAAPI wtacrs_legacy_cuGraphAddDependencies(CUgraph hGraph, const CUgraphNode *from,
                                                      const CUgraphNode *to,
                                                      size_t numDependencies)
    __asm__("cuGraphAddDependencies");
CUresult CUDAAPI wtacrs_legacy_cuGraphGetEdges(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to,
                                               size_t *numEdges) __asm__("cuGraphGetEdges");

#ifdef __cplusplus
}
#endif

#undef cuCtxCreate
#define cuCtxCreate wtacrs_legacy_cuCtxCreate
#undef cuMemAdvise
#define cuMemAdvise wtacrs_legacy_cuMemAdvise
#undef cuMemPrefetchAsync
#define cuMemPrefetchAsync wtacrs_legacy_cuMemPrefetchAsync
#undef cuGraphAddDependencies
#define cuGraphAddDependencies wtacrs_legacy_cuGraphAddDependencies
#undef cuGraphGetEdges
#define cuGraphGetEdges wtacrs_legacy_cuGraphGetEdges

#endif /* CUDA_VERSION >= 13000 */

#endif /* WTACRS_CUDACOMPAT_CUDA_H */
