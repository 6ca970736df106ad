//go:build cuda

package gpu

import (
	"embed"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gorgonia.org/cu"
	cublas "gorgonia.org/cu/blas"

	"github.com/wtacrs/wtacrs/estimator"
)

// The PTX of every kernel file for every compute capability that scripts/gpu/ptx.sh targets,
// named ptx/<kernel file>_sm<cc>.ptx.
//
//go:embed ptx/*.ptx
var ptxFiles embed.FS

// dptr is a device pointer to elements of type T, so that a launch cannot mix up buffers.
type dptr[T float32 | float64 | int32 | uint32 | int64 | uint64] uintptr

// launchGrid is the grid of a launch (y = 0 means 1); the block is the kernel's, from its source.
type launchGrid struct{ x, y int }

// grid1 is a one-dimensional grid of ⌈items/perBlock⌉ blocks.
func grid1(items, perBlock int) launchGrid { return launchGrid{x: ceilDiv(items, perBlock)} }

// kernelSet holds the loaded kernels; its launch methods (launch_gen.go) are generated from the
// kernel sources.
type kernelSet struct {
	fn [numKernels]cu.Function
}

// launch launches kernel id with one 8-byte slot per argument (gorgonia.org/cu copies 8 bytes
// from every parameter pointer) on the default stream, with the kernel's block size.
func (ks *kernelSet) launch(id kernelID, grid launchGrid, args []uint64) error {
	spec := &kernelSpecs[id]
	if len(args) != len(spec.params) {
		panic(fmt.Sprintf("gpu: %d arguments for %s, which takes %d", len(args), spec.name, len(spec.params)))
	}
	var ptrs [maxKernelParams]unsafe.Pointer
	for i := range args {
		ptrs[i] = unsafe.Pointer(&args[i])
	}
	return cudaErr(spec.name, ks.fn[id].Launch(grid.x, max(grid.y, 1), 1, spec.block, 1, 1, 0, cu.Stream{}, ptrs[:len(args)]))
}

type cudaBackend struct {
	mu      sync.Mutex
	dev     cu.Device
	ctx     cu.CUContext
	devName string
	arch    int
	blas    *cublas.Standard
	mods    []cu.Module
	kernels kernelSet
	ptxInfo map[string]string // kernel file → the PTX loaded
}

func cudaErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %s: %v", ErrCUDA, what, err)
}

func openBackend(ordinal int) (backend, error) {
	count, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoGPU, err)
	}
	if ordinal >= count {
		return nil, fmt.Errorf("%w: device %d of %d", ErrNoGPU, ordinal, count)
	}
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoGPU, err)
	}
	b := &cudaBackend{dev: dev, ptxInfo: map[string]string{}}
	if b.devName, err = dev.Name(); err != nil {
		return nil, cudaErr("device name", err)
	}
	major, minor, err := dev.ComputeCapability()
	if err != nil {
		return nil, cudaErr("compute capability", err)
	}
	b.arch = 10*major + minor
	if b.ctx, err = dev.RetainPrimaryCtx(); err != nil {
		return nil, cudaErr("primary context", err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(b.ctx); err != nil {
		_ = dev.ReleasePrimaryCtx()
		return nil, cudaErr("set context", err)
	}
	if err := b.load(); err != nil {
		b.release()
		return nil, err
	}
	// The cuBLAS handle belongs to the context current when it is created.
	impl := &cublas.Standard{}
	if err := impl.Init(); err != nil {
		b.release()
		return nil, cudaErr("cuBLAS", err)
	}
	b.blas = impl
	return b, nil
}

// load loads, for every kernel file, the PTX of the highest compute capability ≤ the device's
// that the driver accepts, and looks up its kernels.
func (b *cudaBackend) load() error {
	mods := map[string]cu.Module{}
	for id := range kernelID(numKernels) {
		spec := &kernelSpecs[id]
		mod, ok := mods[spec.file]
		if !ok {
			var err error
			if mod, err = b.loadFile(spec.file); err != nil {
				return err
			}
			mods[spec.file] = mod
			b.mods = append(b.mods, mod)
		}
		f, err := mod.Function(spec.name)
		if err != nil {
			return fmt.Errorf("%w: %s in %s.cu: %v", ErrPTX, spec.name, spec.file, err)
		}
		b.kernels.fn[id] = f
	}
	return nil
}

// loadFile loads the best PTX of gpu/kernels/<file>.cu that the driver accepts.
func (b *cudaBackend) loadFile(file string) (cu.Module, error) {
	why := "no PTX file with kernels (run scripts/gpu/ptx.sh)"
	for _, arch := range ptxArchs {
		if arch > b.arch {
			continue
		}
		data, err := ptxFiles.ReadFile(fmt.Sprintf("ptx/%s_sm%d.ptx", file, arch))
		if err != nil || !strings.Contains(string(data), ".entry") {
			continue
		}
		m, err := cu.LoadData(string(data))
		if err != nil {
			why = fmt.Sprintf("compute_%d: %v", arch, err)
			continue
		}
		b.ptxInfo[file] = fmt.Sprintf("compute_%d by %s", arch, ptxGenerator(data))
		return m, nil
	}
	return cu.Module{}, fmt.Errorf("%w: %s.cu for compute capability %d.%d: %s", ErrPTX, file, b.arch/10, b.arch%10, why)
}

// ptxGenerator names the compiler that wrote a PTX file, from its header comment.
func ptxGenerator(data []byte) string {
	switch s := string(data[:min(len(data), 400)]); {
	case strings.Contains(s, "NVIDIA"):
		return "nvcc"
	case strings.Contains(s, "LLVM"):
		return "clang"
	}
	return "unknown"
}

func (b *cudaBackend) info() string {
	files := make([]string, 0, len(b.ptxInfo))
	for f, how := range b.ptxInfo {
		files = append(files, f+": "+how)
	}
	slices.Sort(files)
	return fmt.Sprintf("%s, compute capability %d.%d, cuda driver %d; PTX %s", b.devName, b.arch/10, b.arch%10, cu.Version(), strings.Join(files, ", "))
}

// release unloads the modules and releases the context; the context must be current.
func (b *cudaBackend) release() {
	for _, m := range b.mods {
		_ = m.Unload()
	}
	b.mods = nil
	_ = b.dev.ReleasePrimaryCtx()
}

// enter makes the device's context current on a locked OS thread; the returned function undoes it.
func (b *cudaBackend) enter() (func(), error) {
	b.mu.Lock()
	runtime.LockOSThread()
	if err := cu.SetCurrentContext(b.ctx); err != nil {
		runtime.UnlockOSThread()
		b.mu.Unlock()
		return nil, cudaErr("set context", err)
	}
	return func() {
		runtime.UnlockOSThread()
		b.mu.Unlock()
	}, nil
}

func (b *cudaBackend) name() string { return b.devName }

func (b *cudaBackend) close() error {
	done, err := b.enter()
	if err != nil {
		return err
	}
	defer done()
	serr := cu.Synchronize()
	if b.blas != nil {
		_ = b.blas.Close()
	}
	b.release()
	return cudaErr("synchronize", serr)
}

func (b *cudaBackend) sync() error {
	done, err := b.enter()
	if err != nil {
		return err
	}
	defer done()
	return cudaErr("synchronize", cu.Synchronize())
}

func (b *cudaBackend) alloc(bytes int64) (uintptr, error) {
	done, err := b.enter()
	if err != nil {
		return 0, err
	}
	defer done()
	p, err := cu.MemAlloc(bytes)
	if err != nil {
		return 0, cudaErr(fmt.Sprintf("allocating %d bytes", bytes), err)
	}
	return uintptr(p), nil
}

func (b *cudaBackend) free(ptr uintptr) error {
	done, err := b.enter()
	if err != nil {
		return err
	}
	defer done()
	return cudaErr("free", cu.MemFree(cu.DevicePtr(ptr)))
}

func (b *cudaBackend) upload(dst uintptr, src []float32) error {
	done, err := b.enter()
	if err != nil {
		return err
	}
	defer done()
	return cudaErr("copy to device", cu.MemcpyHtoD(cu.DevicePtr(dst), unsafe.Pointer(&src[0]), int64(len(src))*4))
}

func (b *cudaBackend) download(dst []float32, src uintptr) error {
	done, err := b.enter()
	if err != nil {
		return err
	}
	defer done()
	return cudaErr("copy to host", cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), cu.DevicePtr(src), int64(len(dst))*4))
}

// deviceSlice presents n float32 of device memory as a slice for gorgonia.org/cu/blas, which
// passes &s[0] to cuBLAS and never reads the elements on the host.
func deviceSlice(ptr uintptr, n int) []float32 {
	p := *(*unsafe.Pointer)(unsafe.Pointer(&ptr))
	return unsafe.Slice((*float32)(p), n)
}

// sgemm calls cuBLAS (column-major) with the context current.
func (b *cudaBackend) sgemm(tA, tB blas.Transpose, m, n, k int, a uintptr, lda int, bb uintptr, ldb int, c uintptr, ldc int) error {
	if err := b.blas.Err(); err != nil {
		return cudaErr("cuBLAS (an earlier call)", err)
	}
	b.blas.Sgemm(tA, tB, m, n, k, 1, deviceSlice(a, lda*max(m, k)), lda, deviceSlice(bb, ldb*max(n, k)), ldb, 0, deviceSlice(c, ldc*n), ldc)
	return cudaErr("cublasSgemm", b.blas.Err())
}

// gemmTN: row-major C (m×n) = Aᵀ B with A r×m and B r×n. Column-major, Cᵀ (n×m) = Bᵀ·(Aᵀ)ᵀ where
// the stored B is Bᵀ (n×r, ld n) and the stored A is Aᵀ (m×r, ld m): operands swapped, B
// untransposed and A transposed.
func (b *cudaBackend) gemmTN(c, a, bm uintptr, m, n, r int) error {
	done, err := b.enter()
	if err != nil {
		return err
	}
	defer done()
	return b.sgemm(blas.NoTrans, blas.Trans, n, m, r, bm, n, a, m, c, n)
}

// gemmNT: row-major C (m×n) = A Bᵀ with A m×r and B n×r. Column-major, Cᵀ (n×m) = B·Aᵀ where the
// stored B is Bᵀ (r×n, ld r) and the stored A is Aᵀ (r×m, ld r).
func (b *cudaBackend) gemmNT(c, a, bm uintptr, m, n, r int) error {
	done, err := b.enter()
	if err != nil {
		return err
	}
	defer done()
	return b.sgemm(blas.Trans, blas.NoTrans, n, m, r, bm, r, a, r, c, n)
}

func (s *cudaSampler) setTiming(on bool) {
	s.timing = on
	s.times = map[string]time.Duration{}
}

func (s *cudaSampler) stageTimes() map[string]time.Duration { return s.times }

// stage ends a stage in timing mode: it waits for the device and books the elapsed time.
func (s *cudaSampler) stage(name string, err error) error {
	if err != nil || !s.timing {
		return err
	}
	if err := cu.Synchronize(); err != nil {
		return cudaErr("synchronize", err)
	}
	now := time.Now()
	s.times[name] += now.Sub(s.last)
	s.last = now
	return nil
}

// cudaSampler holds every buffer of one Estimator.
type cudaSampler struct {
	b     *cudaBackend
	shape Shape
	opts  Options
	cand  int   // candidates for C (0: no selection)
	mode  int64 // wtacrs_choose mode (chooseMode)
	gen   uint64

	timing bool // synchronous mode: wait after every stage and add its time to times
	times  map[string]time.Duration
	last   time.Time

	w, loc, totals, offsets, cval, sval, rowScale, scalars dptr[float64]
	cidx, sidx, kept, rowIdx                               dptr[int32]
	keptFlag, rank, counter                                dptr[uint32]
	hs, gs                                                 dptr[float32]
	bufs                                                   []uintptr
}

func (b *cudaBackend) newSampler(shape Shape, o Options) (sampler, error) {
	done, err := b.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	s := &cudaSampler{b: b, shape: shape, opts: o}
	n, k := int64(shape.N), int64(o.K)
	s.cand, s.mode = chooseMode(o, shape.N)
	nb := int64(cdfBlocks(shape.N))
	cand := int64(max(s.cand, 1))
	allocs := []struct {
		dst   *uintptr
		bytes int64
		zero  bool
	}{
		{(*uintptr)(&s.w), 8 * n, false},
		{(*uintptr)(&s.loc), 8 * n, false},
		{(*uintptr)(&s.totals), 8 * nb, false},
		{(*uintptr)(&s.offsets), 8 * nb, false},
		{(*uintptr)(&s.cval), 8 * cand, false},
		{(*uintptr)(&s.sval), 8 * cand, false},
		{(*uintptr)(&s.rowScale), 8 * k, false},
		{(*uintptr)(&s.scalars), 8 * slots, true},
		{(*uintptr)(&s.cidx), 4 * cand, false},
		{(*uintptr)(&s.sidx), 4 * cand, false},
		{(*uintptr)(&s.kept), 4 * cand, false},
		{(*uintptr)(&s.rowIdx), 4 * k, false},
		{(*uintptr)(&s.keptFlag), 4 * n, true},
		{(*uintptr)(&s.rank), 4 * cand, true},
		{(*uintptr)(&s.counter), 4, true},
		{(*uintptr)(&s.hs), 4 * k * int64(shape.DIn), false},
		{(*uintptr)(&s.gs), 4 * k * int64(shape.DOut), false},
	}
	for _, a := range allocs {
		p, err := cu.MemAlloc(a.bytes)
		if err != nil {
			s.freeLocked()
			return nil, cudaErr(fmt.Sprintf("allocating %d bytes", a.bytes), err)
		}
		s.bufs = append(s.bufs, uintptr(p))
		*a.dst = uintptr(p)
		if a.zero {
			if err := cu.MemsetD8(p, 0, a.bytes); err != nil {
				s.freeLocked()
				return nil, cudaErr("memset", err)
			}
		}
	}
	return s, nil
}

func (s *cudaSampler) setWeights(w []float64) error {
	done, err := s.b.enter()
	if err != nil {
		return err
	}
	defer done()
	return cudaErr("copy to device", cu.MemcpyHtoD(cu.DevicePtr(s.w), unsafe.Pointer(&w[0]), 8*int64(len(w))))
}

func (s *cudaSampler) gradW(dst, hp, gp uintptr, seed, stream uint64, norms bool) error {
	done, err := s.b.enter()
	if err != nil {
		return err
	}
	defer done()
	ks := &s.b.kernels
	h, g, out := dptr[float32](hp), dptr[float32](gp), dptr[float32](dst)
	n, dIn, dOut, k := int64(s.shape.N), int64(s.shape.DIn), int64(s.shape.DOut), int64(s.opts.K)
	cand := int64(s.cand)
	s.gen++
	if s.timing {
		if err := cu.Synchronize(); err != nil {
			return cudaErr("synchronize", err)
		}
		s.last = time.Now()
	}
	if norms {
		if err := s.stage("norms", ks.launchNorms(grid1(s.shape.N, normsThreads/32),
			h, g, n, dIn, dOut, s.w, s.scalars, s.gen)); err != nil {
			return err
		}
	}
	if s.cand > 0 {
		if err := ks.launchSelect(launchGrid{x: 1}, s.w, n, cand, s.cval, s.cidx, s.scalars); err != nil {
			return err
		}
		if err := ks.launchRank(launchGrid{x: ceilDiv(s.cand, rankTile), y: ceilDiv(s.cand, rankSlice)},
			s.cval, s.cidx, cand, s.rank); err != nil {
			return err
		}
		if err := ks.launchChoose(launchGrid{x: 1}, s.cval, s.cidx, s.rank, cand, k, s.mode,
			s.sval, s.sidx, s.scalars, s.kept, s.keptFlag); err != nil {
			return err
		}
		if err := s.stage("select |C|", nil); err != nil {
			return err
		}
	}
	if err := s.stage("cdf", ks.launchCdf(grid1(cdfBlocks(s.shape.N), cdfWarps),
		s.w, s.keptFlag, n, s.loc, s.totals, s.offsets, s.counter, s.scalars)); err != nil {
		return err
	}
	if err := s.stage("sample", ks.launchSample(grid1(s.opts.K, sampleThreads),
		s.w, s.loc, s.offsets, n, s.kept, s.scalars, seed, stream, k, s.rowIdx, s.rowScale)); err != nil {
		return err
	}
	if err := s.stage("gather", ks.launchGather(grid1(s.opts.K, gatherWarps),
		h, g, dIn, dOut, s.rowIdx, s.rowScale, k, s.hs, s.gs)); err != nil {
		return err
	}
	// ∇W (d_in×d_out, row-major) = Hsᵀ Gs over the k rows: column-major ∇Wᵀ = Gsᵀ·Hs.
	c := s.shape
	return s.stage("gemm", s.b.sgemm(blas.NoTrans, blas.Trans, c.DOut, c.DIn, s.opts.K,
		uintptr(s.gs), c.DOut, uintptr(s.hs), c.DIn, uintptr(out), c.DOut))
}

// copyBack copies n bytes from the device (the context must be current).
func copyBack(dst unsafe.Pointer, src uintptr, n int64) error {
	if n == 0 {
		return nil
	}
	return cudaErr("copy to host", cu.MemcpyDtoH(dst, cu.DevicePtr(src), n))
}

func (s *cudaSampler) scalarsLocked() ([slots]uint64, error) {
	var out [slots]uint64
	if err := cudaErr("synchronize", cu.Synchronize()); err != nil {
		return out, err
	}
	return out, copyBack(unsafe.Pointer(&out[0]), uintptr(s.scalars), 8*slots)
}

func (s *cudaSampler) check() error {
	done, err := s.b.enter()
	if err != nil {
		return err
	}
	defer done()
	sc, err := s.scalarsLocked()
	if err != nil {
		return err
	}
	if sc[slotFlag] == s.gen && s.gen > 0 {
		return fmt.Errorf("%w: a row of H or G has a NaN, Inf or overflowing norm", estimator.ErrNonFinite)
	}
	return nil
}

func (s *cudaSampler) trace() (*Trace, error) {
	done, err := s.b.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	sc, err := s.scalarsLocked()
	if err != nil {
		return nil, err
	}
	n, k := s.shape.N, s.opts.K
	tr := &Trace{Weights: make([]float64, n), DrawTotal: math.Float64frombits(sc[slotTdraw])}
	if err := copyBack(unsafe.Pointer(&tr.Weights[0]), uintptr(s.w), 8*int64(n)); err != nil {
		return nil, err
	}
	for _, v := range tr.Weights {
		tr.Total += v
	}
	nc := int(int64(sc[slotC]))
	if nc < 0 || nc > k || nc > n {
		return nil, fmt.Errorf("%w: device reports |C| = %d", ErrCUDA, nc)
	}
	kept := make([]int32, max(nc, 1))
	if err := copyBack(unsafe.Pointer(&kept[0]), uintptr(s.kept), 4*int64(nc)); err != nil {
		return nil, err
	}
	rows := make([]int32, k)
	scales := make([]float64, k)
	if err := copyBack(unsafe.Pointer(&rows[0]), uintptr(s.rowIdx), 4*int64(k)); err != nil {
		return nil, err
	}
	if err := copyBack(unsafe.Pointer(&scales[0]), uintptr(s.rowScale), 8*int64(k)); err != nil {
		return nil, err
	}
	tr.Kept = make([]int, nc)
	for i := range tr.Kept {
		tr.Kept[i] = int(kept[i])
	}
	draws := 0
	if tr.DrawTotal > 0 {
		draws = k - nc
	}
	tr.Draws = make([]int, draws)
	tr.Scales = make([]float64, draws)
	for j := range tr.Draws {
		tr.Draws[j] = int(rows[nc+j])
		tr.Scales[j] = scales[nc+j]
	}
	return tr, nil
}

func (s *cudaSampler) freeLocked() {
	for _, p := range s.bufs {
		_ = cu.MemFree(cu.DevicePtr(p))
	}
	s.bufs = nil
}

func (s *cudaSampler) free() error {
	done, err := s.b.enter()
	if err != nil {
		return err
	}
	defer done()
	err = cudaErr("synchronize", cu.Synchronize())
	s.freeLocked()
	return err
}
