// Package gpu runs CRS and WTA-CRS estimates of the weight gradient ∇W = Hᵀ∇Z on an NVIDIA GPU
// through gorgonia.org/cu, drawing the same pairs as package estimator for the same seed.
//
// # Builds
//
// Everything that needs CUDA is behind the build tag cuda. Without the tag the package compiles
// anywhere, [Open] returns [ErrNoGPU], the device tests skip and [HostTrace] still predicts what a
// device keeps and draws. With the tag it needs the CUDA driver API, cuBLAS and, for CUDA 13, the
// compatibility headers of gpu/cudacompat first on CGO_CFLAGS (scripts/gpu/env.sh sets CGO_CFLAGS
// and CGO_LDFLAGS). gorgonia.org/cu initialises the driver in its package init and exits the
// process when that fails, so a cuda build starts only where the driver finds a device;
// scripts/gpu/compile-check.sh runs its non-device tests elsewhere with a stand-in driver that
// reports none, and Open then returns ErrNoGPU.
//
// # Kernels
//
// The kernels are the .cu files of gpu/kernels. scripts/gpu/ptx.sh compiles them with nvcc into
// the PTX files of gpu/ptx, which are embedded and loaded with cu.LoadData (the highest compute
// capability the device accepts is picked). The Go side of the kernels is generated from their
// sources by gpu/internal/cuda2go (go generate ./gpu): kernels_gen.go holds a constant for every
// WTACRS_ macro of gpu/kernels/common.cuh (block sizes, the modes of wtacrs_choose, the scalar
// slots) and the table of kernels with their block sizes and parameters, launch_gen.go one typed
// launch method per kernel that puts each argument in its own 8-byte slot (gorgonia.org/cu reads 8
// bytes through every parameter pointer). Both are committed, like the PTX; tests check that they
// are up to date and that every PTX file has the table's entry points, parameters and block sizes.
//
// # Conventions
//
// Matrices on the device are row-major float32 [Matrix] values. H is n×d_in, ∇Z (called G) is
// n×d_out and ∇W is d_in×d_out; the pairs of the product are the n tokens. Weights, probabilities,
// the cumulative sums and the scales are float64, as in package estimator.
//
// An [Estimator] holds every buffer for one [Shape] and [Options], so that [Estimator.GradW] only
// enqueues kernels and one cuBLAS GEMM on the default stream: no allocation and no host round
// trip. The steps, all on the device:
//
//  1. norms: w_t = ‖H[t,:]‖·‖G[t,:]‖, one warp per token, one pass over H and G;
//  2. WTA-CRS only, |C|: the k−1 heaviest candidates by a one-block radix select on the weights'
//     bit patterns, their order by rank counting, and |C| = the first c with
//     w_(c) ≤ (T − S_c)/(k − c), which is the argmin of estimator.ChooseC;
//  3. the blocked cumulative sum of the draw weights, in the order of package estimator;
//  4. sampling: draw j is found by binary search for Philox4x32-10 (seed, stream, counter j),
//     one thread per draw, scale T/(draws·w_i);
//  5. gather and scale: one warp per row of Hs (scaled H rows) and Gs;
//  6. ∇W ≈ HsᵀGs with cuBLAS over k rows (rows past |C| + draws are zero).
//
// The sorted weights for |C| never leave the device: a host round trip of n float64 and a host
// sort would cost more than the whole device pipeline at n = 51200.
//
// # Parity with package estimator
//
// Given the same weights, the kept set and the draw sequence are those of
// estimator.NewWTACRSFixed(w, k, |C|).Sample(seed, stream) and of [HostTrace] bit for bit: the
// cumulative sums use the same float64 additions in the same order and the generator is the
// same. |C| is computed with a parallel prefix sum instead of the sequential suffix sums of
// estimator.ChooseC, so the two can differ only when two candidates' bound factors agree to
// rounding. The weights
// themselves are float64 sums of float32 squares on the device and agree with
// estimator.WeightsTransA to float32 rounding. Repeated draws of a pair are not merged: each
// draw is its own row, which gives the same estimate up to float32 rounding.
package gpu
