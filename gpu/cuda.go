//go:build cuda

package gpu

import (
	"embed"
	"fmt"
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

// kernelFiles maps each .cu file of gpu/kernels to the kernels it defines.
var kernelFiles = map[string][]string{
	"norms":  {"wtacrs_norms"},
	"select": {"wtacrs_select"},
	"rank":   {"wtacrs_rank"},
	"choose": {"wtacrs_choose"},
	"cdf":    {"wtacrs_cdf"},
	"sample": {"wtacrs_sample"},
	"gather": {"wtacrs_gather"},
}

// ptxArchs lists the compute capabilities with PTX, best first.
var ptxArchs = []int{90, 80}

// Thread-block sizes of the kernels.
const (
	normsBlock  = 256 // 8 warps, one token each
	singleBlock = 1024
	rankBlock   = 256  // RANK_THREADS
	rankTile    = 1024 // RANK_TILE: candidates per block
	rankSlice   = 512  // RANK_SLICE
	cdfWarps    = 8    // CDF_WARPS
	sampleBlock = 256
	gatherWarps = 8 // GATHER_WARPS
)

// scalar slots of the per-estimator buffer, as in kernels/common.cuh.
const (
	slotTotal = 0
	slotTDraw = 1
	slotC     = 2
	slotFlag  = 3
	slotCount = 8
)

type cudaBackend struct {
	mu      sync.Mutex
	dev     cu.Device
	ctx     cu.CUContext
	devName string
	arch    int
	blas    *cublas.Standard
	mods    []cu.Module
	fn      map[string]cu.Function
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
	b := &cudaBackend{dev: dev, fn: map[string]cu.Function{}, ptxInfo: map[string]string{}}
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
// that the driver accepts.
func (b *cudaBackend) load() error {
	for file, names := range kernelFiles {
		var mod cu.Module
		loaded := false
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
			mod, loaded = m, true
			b.ptxInfo[file] = fmt.Sprintf("compute_%d by %s", arch, ptxGenerator(data))
			break
		}
		if !loaded {
			return fmt.Errorf("%w: %s.cu for compute capability %d.%d: %s", ErrPTX, file, b.arch/10, b.arch%10, why)
		}
		b.mods = append(b.mods, mod)
		for _, name := range names {
			f, err := mod.Function(name)
			if err != nil {
				return fmt.Errorf("%w: %s in %s.cu: %v", ErrPTX, name, file, err)
			}
			b.fn[name] = f
		}
	}
	return nil
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

// kargs holds kernel arguments, each in an 8-byte slot (gorgonia.org/cu reads 8 bytes through
// every parameter pointer).
type kargs struct {
	vals [20]uint64
	ptrs [20]unsafe.Pointer
	n    int
}

func (a *kargs) reset() *kargs { a.n = 0; return a }

func (a *kargs) u(v uint64) *kargs {
	a.vals[a.n] = v
	a.ptrs[a.n] = unsafe.Pointer(&a.vals[a.n])
	a.n++
	return a
}

func (a *kargs) i(v int) *kargs     { return a.u(uint64(int64(v))) }
func (a *kargs) p(v uintptr) *kargs { return a.u(uint64(v)) }

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

func (b *cudaBackend) launch(name string, grid, block int, a *kargs) error {
	return b.launch2(name, grid, 1, block, a)
}

func (b *cudaBackend) launch2(name string, gridX, gridY, block int, a *kargs) error {
	f, ok := b.fn[name]
	if !ok {
		return fmt.Errorf("%w: kernel %s not loaded", ErrPTX, name)
	}
	return cudaErr(name, f.Launch(gridX, gridY, 1, block, 1, 1, 0, cu.Stream{}, a.ptrs[:a.n]))
}

// cudaSampler holds every buffer of one Estimator.
type cudaSampler struct {
	b    *cudaBackend
	cfg  samplerConfig
	cand int // candidates for C (0: no selection)
	mode int // wtacrs_choose mode
	gen  uint64
	args kargs

	timing bool // synchronous mode: wait after every stage and add its time to times
	times  map[string]time.Duration
	last   time.Time

	w, loc, totals, offsets, cval, sval, rowScale, scalars uintptr // float64
	cidx, sidx, kept, rowIdx, keptFlag, rank, counter      uintptr // 32-bit
	hs, gs                                                 uintptr // float32
	bufs                                                   []uintptr
}

func (b *cudaBackend) newSampler(cfg samplerConfig) (sampler, error) {
	done, err := b.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	s := &cudaSampler{b: b, cfg: cfg}
	n, k := cfg.n, cfg.k
	if cfg.method == estimator.MethodWTACRS {
		switch {
		case cfg.c != estimator.AutoC:
			s.cand, s.mode = cfg.c, 2
		case k >= n:
			s.cand, s.mode = n, 1
		default:
			s.cand, s.mode = k-1, 0
		}
	}
	nb := (n + estimator.CDFBlock - 1) / estimator.CDFBlock
	cand := max(s.cand, 1)
	allocs := []struct {
		dst   *uintptr
		bytes int64
		zero  bool
	}{
		{&s.w, 8 * int64(n), false},
		{&s.loc, 8 * int64(n), false},
		{&s.totals, 8 * int64(nb), false},
		{&s.offsets, 8 * int64(nb), false},
		{&s.cval, 8 * int64(cand), false},
		{&s.sval, 8 * int64(cand), false},
		{&s.rowScale, 8 * int64(k), false},
		{&s.scalars, 8 * slotCount, true},
		{&s.cidx, 4 * int64(cand), false},
		{&s.sidx, 4 * int64(cand), false},
		{&s.kept, 4 * int64(cand), false},
		{&s.rowIdx, 4 * int64(k), false},
		{&s.keptFlag, 4 * int64(n), true},
		{&s.rank, 4 * int64(cand), true},
		{&s.counter, 4, true},
		{&s.hs, 4 * int64(k) * int64(cfg.dIn), false},
		{&s.gs, 4 * int64(k) * int64(cfg.dOut), false},
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

func (s *cudaSampler) gradW(dst, h, g uintptr, seed, stream uint64, norms bool) error {
	b := s.b
	done, err := b.enter()
	if err != nil {
		return err
	}
	defer done()
	c := s.cfg
	s.gen++
	a := &s.args
	if s.timing {
		if err := cu.Synchronize(); err != nil {
			return cudaErr("synchronize", err)
		}
		s.last = time.Now()
	}
	if norms {
		warps := normsBlock / 32
		if err := s.stage("norms", b.launch("wtacrs_norms", (c.n+warps-1)/warps, normsBlock,
			a.reset().p(h).p(g).i(c.n).i(c.dIn).i(c.dOut).p(s.w).p(s.scalars).u(s.gen))); err != nil {
			return err
		}
	}
	if s.cand > 0 {
		if err := b.launch("wtacrs_select", 1, singleBlock,
			a.reset().p(s.w).i(c.n).i(s.cand).p(s.cval).p(s.cidx).p(s.scalars)); err != nil {
			return err
		}
		if err := b.launch2("wtacrs_rank", (s.cand+rankTile-1)/rankTile, (s.cand+rankSlice-1)/rankSlice, rankBlock,
			a.reset().p(s.cval).p(s.cidx).i(s.cand).p(s.rank)); err != nil {
			return err
		}
		if err := b.launch("wtacrs_choose", 1, singleBlock,
			a.reset().p(s.cval).p(s.cidx).p(s.rank).i(s.cand).i(c.k).i(s.mode).p(s.sval).p(s.sidx).
				p(s.scalars).p(s.kept).p(s.keptFlag)); err != nil {
			return err
		}
		if err := s.stage("select |C|", nil); err != nil {
			return err
		}
	}
	nb := (c.n + estimator.CDFBlock - 1) / estimator.CDFBlock
	if err := s.stage("cdf", b.launch("wtacrs_cdf", (nb+cdfWarps-1)/cdfWarps, cdfWarps*32,
		a.reset().p(s.w).p(s.keptFlag).i(c.n).p(s.loc).p(s.totals).p(s.offsets).p(s.counter).p(s.scalars))); err != nil {
		return err
	}
	if err := s.stage("sample", b.launch("wtacrs_sample", (c.k+sampleBlock-1)/sampleBlock, sampleBlock,
		a.reset().p(s.w).p(s.loc).p(s.offsets).i(c.n).p(s.kept).p(s.scalars).u(seed).u(stream).i(c.k).
			p(s.rowIdx).p(s.rowScale))); err != nil {
		return err
	}
	if err := s.stage("gather", b.launch("wtacrs_gather", (c.k+gatherWarps-1)/gatherWarps, gatherWarps*32,
		a.reset().p(h).p(g).i(c.dIn).i(c.dOut).p(s.rowIdx).p(s.rowScale).i(c.k).p(s.hs).p(s.gs))); err != nil {
		return err
	}
	return s.stage("gemm", b.sgemm(blas.NoTrans, blas.Trans, c.dOut, c.dIn, c.k, s.gs, c.dOut, s.hs, c.dIn, dst, c.dOut))
}

// copyBack copies n bytes from the device (the context must be current).
func copyBack(dst unsafe.Pointer, src uintptr, n int64) error {
	if n == 0 {
		return nil
	}
	return cudaErr("copy to host", cu.MemcpyDtoH(dst, cu.DevicePtr(src), n))
}

func (s *cudaSampler) scalarsLocked() ([slotCount]uint64, error) {
	var out [slotCount]uint64
	if err := cudaErr("synchronize", cu.Synchronize()); err != nil {
		return out, err
	}
	return out, copyBack(unsafe.Pointer(&out[0]), s.scalars, 8*slotCount)
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
		return fmt.Errorf("%w: a row of H or G has a NaN, Inf or overflowing norm", ErrNonFinite)
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
	c := s.cfg
	tr := &Trace{Weights: make([]float64, c.n), DrawTotal: f64frombits(sc[slotTDraw])}
	if err := copyBack(unsafe.Pointer(&tr.Weights[0]), s.w, 8*int64(c.n)); err != nil {
		return nil, err
	}
	for _, v := range tr.Weights {
		tr.Total += v
	}
	nc := int(int64(sc[slotC]))
	if nc < 0 || nc > c.k || nc > c.n {
		return nil, fmt.Errorf("%w: device reports |C| = %d", ErrCUDA, nc)
	}
	kept := make([]int32, max(nc, 1))
	if err := copyBack(unsafe.Pointer(&kept[0]), s.kept, 4*int64(nc)); err != nil {
		return nil, err
	}
	rows := make([]int32, c.k)
	scales := make([]float64, c.k)
	if err := copyBack(unsafe.Pointer(&rows[0]), s.rowIdx, 4*int64(c.k)); err != nil {
		return nil, err
	}
	if err := copyBack(unsafe.Pointer(&scales[0]), s.rowScale, 8*int64(c.k)); err != nil {
		return nil, err
	}
	tr.Kept = make([]int, nc)
	for i := range tr.Kept {
		tr.Kept[i] = int(kept[i])
	}
	draws := 0
	if tr.DrawTotal > 0 {
		draws = c.k - nc
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
