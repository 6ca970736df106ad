// A CUDA driver without devices, to run the cuda-tagged tests of package gpu on a machine without
// a GPU. gorgonia.org/cu calls cuInit in its package init and exits the process when it fails,
// which it does without a device; preloaded ahead of libcuda.so.1 (LD_PRELOAD), this library
// answers cuInit with success and cuDeviceGetCount with no device, so that gpu.Open returns
// gpu.ErrNoGPU and the device tests skip. Every other driver call would go to the real library;
// none is made once Open has failed. Built and used by scripts/gpu/compile-check.sh.
typedef int CUresult; // CUDA_SUCCESS is 0

CUresult cuInit(unsigned int flags) {
    (void)flags;
    return 0;
}

CUresult cuDeviceGetCount(int *count) {
    *count = 0;
    return 0;
}
