package gpu

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/wtacrs/wtacrs/estimator"
)

// Errors returned by this package, wrapped with context.
var (
	// ErrNoGPU reports a build without the cuda tag, or no usable CUDA device.
	ErrNoGPU = errors.New("gpu: no CUDA device (build with -tags cuda on a machine with an NVIDIA GPU)")
	// ErrShape reports matrices whose dimensions do not fit together.
	ErrShape = errors.New("gpu: shape mismatch")
	// ErrBudget reports a budget k or a kept-set size |C| out of range.
	ErrBudget = errors.New("gpu: budget out of range")
	// ErrNonFinite reports a NaN or ±Inf in an input.
	ErrNonFinite = errors.New("gpu: NaN or Inf in input")
	// ErrMethod reports a method the device does not implement.
	ErrMethod = errors.New("gpu: unsupported method")
	// ErrClosed reports the use of a closed device or a freed matrix or estimator.
	ErrClosed = errors.New("gpu: use after close")
	// ErrPTX reports missing or unloadable kernels (run scripts/gpu/ptx.sh).
	ErrPTX = errors.New("gpu: kernels not available")
	// ErrCUDA reports a failure of the CUDA driver or of cuBLAS.
	ErrCUDA = errors.New("gpu: CUDA call failed")
)

// backend is the device side, implemented in the cuda build only.
type backend interface {
	name() string
	info() string // device, driver and PTX loaded, for logs
	close() error
	sync() error
	alloc(bytes int64) (uintptr, error)
	free(ptr uintptr) error
	upload(dst uintptr, src []float32) error
	download(dst []float32, src uintptr) error
	// gemmTN computes the row-major C (m×n) = Aᵀ (A is r×m) · B (B is r×n).
	gemmTN(c, a, b uintptr, m, n, r int) error
	// gemmNT computes the row-major C (m×n) = A (m×r) · Bᵀ (B is n×r).
	gemmNT(c, a, b uintptr, m, n, r int) error
	newSampler(cfg samplerConfig) (sampler, error)
}

// sampler is the device state of one Estimator.
type sampler interface {
	// gradW queues an estimate; with norms false it samples from the weights already held.
	gradW(dst, h, g uintptr, seed, stream uint64, norms bool) error
	setWeights(w []float64) error
	check() error
	trace() (*Trace, error)
	free() error
	// setTiming turns on (or off) a synchronous mode that waits after every stage and adds its
	// wall time to stageTimes; for benchmarks only.
	setTiming(on bool)
	stageTimes() map[string]time.Duration
}

type samplerConfig struct {
	method             estimator.Method
	n, dIn, dOut, k, c int
}

// Device is an open CUDA device with its context, kernels and cuBLAS handle. Its methods may be
// called from any goroutine, one at a time.
type Device struct {
	b backend
}

// Open opens the CUDA device of the given ordinal (0 for the first). It returns ErrNoGPU without
// the cuda build tag or without a device, and ErrPTX when the embedded kernels are placeholders.
func Open(ordinal int) (*Device, error) {
	if ordinal < 0 {
		return nil, fmt.Errorf("%w: device ordinal %d", ErrNoGPU, ordinal)
	}
	b, err := openBackend(ordinal)
	if err != nil {
		return nil, err
	}
	return &Device{b: b}, nil
}

func (d *Device) ok() error {
	if d == nil || d.b == nil {
		return fmt.Errorf("%w: device", ErrClosed)
	}
	return nil
}

// Name returns the device's name, or "" for a closed device.
func (d *Device) Name() string {
	if d.ok() != nil {
		return ""
	}
	return d.b.name()
}

// Close releases the device. Matrices and estimators of the device must not be used afterwards.
func (d *Device) Close() error {
	if err := d.ok(); err != nil {
		return err
	}
	err := d.b.close()
	d.b = nil
	return err
}

// Synchronize waits until all work queued on the device has finished.
func (d *Device) Synchronize() error {
	if err := d.ok(); err != nil {
		return err
	}
	return d.b.sync()
}

// Matrix is a row-major float32 matrix in device memory. Create it with [Device.Alloc] or
// [Device.Upload]; release it with [Matrix.Free].
type Matrix struct {
	// Rows and Cols are the dimensions; do not change them.
	Rows, Cols int
	dev        *Device
	ptr        uintptr
}

// Alloc returns an uninitialised rows×cols matrix on the device (rows, cols ≥ 1).
func (d *Device) Alloc(rows, cols int) (*Matrix, error) {
	if err := d.ok(); err != nil {
		return nil, err
	}
	if rows < 1 || cols < 1 || rows > math.MaxInt32 || cols > math.MaxInt32 {
		return nil, fmt.Errorf("%w: cannot allocate a %dx%d matrix", ErrShape, rows, cols)
	}
	p, err := d.b.alloc(int64(rows) * int64(cols) * 4)
	if err != nil {
		return nil, err
	}
	return &Matrix{Rows: rows, Cols: cols, dev: d, ptr: p}, nil
}

// Upload copies m to a new device matrix. It returns ErrShape when m's storage does not match its
// dimensions and ErrNonFinite when m holds NaN or ±Inf.
func (d *Device) Upload(m estimator.Dense[float32]) (*Matrix, error) {
	if m.Rows < 1 || m.Cols < 1 || len(m.Data) != m.Rows*m.Cols {
		return nil, fmt.Errorf("%w: matrix is %dx%d with %d elements", ErrShape, m.Rows, m.Cols, len(m.Data))
	}
	for i, v := range m.Data {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%w: element (%d,%d) is %v", ErrNonFinite, i/m.Cols, i%m.Cols, f)
		}
	}
	out, err := d.Alloc(m.Rows, m.Cols)
	if err != nil {
		return nil, err
	}
	if err := d.b.upload(out.ptr, m.Data); err != nil {
		_ = out.Free()
		return nil, err
	}
	return out, nil
}

func (m *Matrix) ok() error {
	if m == nil || m.ptr == 0 {
		return fmt.Errorf("%w: matrix", ErrClosed)
	}
	return m.dev.ok()
}

// Download copies the matrix to host memory (waiting for queued work).
func (m *Matrix) Download() (estimator.Dense[float32], error) {
	if err := m.ok(); err != nil {
		return estimator.Dense[float32]{}, err
	}
	out := estimator.Dense[float32]{Rows: m.Rows, Cols: m.Cols, Data: make([]float32, m.Rows*m.Cols)}
	if err := m.dev.b.download(out.Data, m.ptr); err != nil {
		return estimator.Dense[float32]{}, err
	}
	return out, nil
}

// Free releases the matrix's device memory. Freeing twice returns ErrClosed.
func (m *Matrix) Free() error {
	if err := m.ok(); err != nil {
		return err
	}
	err := m.dev.b.free(m.ptr)
	m.ptr = 0
	return err
}

func sameDevice(d *Device, ms ...*Matrix) error {
	for _, m := range ms {
		if err := m.ok(); err != nil {
			return err
		}
		if m.dev != d {
			return fmt.Errorf("%w: matrix of another device", ErrShape)
		}
	}
	return nil
}

// GradW computes the exact weight gradient dst = HᵀG with cuBLAS (H is n×d_in, G is n×d_out, dst
// is d_in×d_out). The work is queued; [Device.Synchronize] or [Matrix.Download] waits for it.
func (d *Device) GradW(dst, h, g *Matrix) error {
	if err := d.ok(); err != nil {
		return err
	}
	if err := sameDevice(d, dst, h, g); err != nil {
		return err
	}
	if h.Rows != g.Rows || dst.Rows != h.Cols || dst.Cols != g.Cols {
		return fmt.Errorf("%w: ∇W %dx%d = Hᵀ G with H %dx%d and G %dx%d", ErrShape, dst.Rows, dst.Cols, h.Rows, h.Cols, g.Rows, g.Cols)
	}
	return d.b.gemmTN(dst.ptr, h.ptr, g.ptr, h.Cols, g.Cols, h.Rows)
}

// GradH computes the exact input gradient dst = G Wᵀ of a linear layer (G is n×d_out, W is
// d_in×d_out, dst is n×d_in) with cuBLAS. The work is queued.
func (d *Device) GradH(dst, g, w *Matrix) error {
	if err := d.ok(); err != nil {
		return err
	}
	if err := sameDevice(d, dst, g, w); err != nil {
		return err
	}
	if g.Cols != w.Cols || dst.Rows != g.Rows || dst.Cols != w.Rows {
		return fmt.Errorf("%w: ∇H %dx%d = G Wᵀ with G %dx%d and W %dx%d", ErrShape, dst.Rows, dst.Cols, g.Rows, g.Cols, w.Rows, w.Cols)
	}
	return d.b.gemmNT(dst.ptr, g.ptr, w.ptr, g.Rows, w.Rows, g.Cols)
}

// Estimator estimates ∇W = HᵀG on the device for one shape (n tokens, d_in, d_out) and budget k,
// with every buffer allocated once. Build it with [Device.NewEstimator]; it is not safe for
// concurrent use.
type Estimator struct {
	// Method is estimator.MethodCRS or estimator.MethodWTACRS; N, DIn and DOut are the shape of
	// H (N×DIn) and G (N×DOut); K is the budget. They are fixed at construction: do not change.
	Method         estimator.Method
	N, DIn, DOut   int
	K              int
	dev            *Device
	s              sampler
	hasRun, closed bool
	hasWeights     bool
}

// NewEstimator prepares method (estimator.MethodCRS or estimator.MethodWTACRS) for H n×d_in and G
// n×d_out with budget k ≥ 1 pairs. c is |C| for WTA-CRS: estimator.AutoC for the rule of
// estimator.ChooseC, or a fixed 0 ≤ c ≤ min(k−1, n); c must be AutoC for CRS. It returns ErrMethod,
// ErrBudget or ErrShape for bad arguments. The device memory taken is about
// k·(d_in + d_out)·4 + 40·n bytes. WTA-CRS orders its min(k−1, n) candidates (n when k ≥ n) by
// rank counting, O(min(k, n)²) comparisons per call: about 2.4·10⁸ at k = 15360, fine up to k of
// a few 10⁴.
func (d *Device) NewEstimator(method estimator.Method, n, dIn, dOut, k, c int) (*Estimator, error) {
	if err := d.ok(); err != nil {
		return nil, err
	}
	if method != estimator.MethodCRS && method != estimator.MethodWTACRS {
		return nil, fmt.Errorf("%w: %v (want crs or wtacrs)", ErrMethod, method)
	}
	if n < 1 || dIn < 1 || dOut < 1 || n > math.MaxInt32 || dIn > math.MaxInt32 || dOut > math.MaxInt32 {
		return nil, fmt.Errorf("%w: n = %d, d_in = %d, d_out = %d", ErrShape, n, dIn, dOut)
	}
	if k < 1 || k > math.MaxInt32 {
		return nil, fmt.Errorf("%w: k = %d, want k ≥ 1", ErrBudget, k)
	}
	switch {
	case method == estimator.MethodCRS && c != estimator.AutoC:
		return nil, fmt.Errorf("%w: |C| = %d given for crs", ErrBudget, c)
	case method == estimator.MethodWTACRS && c != estimator.AutoC && (c < 0 || c > k-1 || c > n):
		return nil, fmt.Errorf("%w: |C| = %d, want 0 ≤ |C| ≤ min(k−1, n) = %d", ErrBudget, c, min(k-1, n))
	}
	s, err := d.b.newSampler(samplerConfig{method: method, n: n, dIn: dIn, dOut: dOut, k: k, c: c})
	if err != nil {
		return nil, err
	}
	return &Estimator{Method: method, N: n, DIn: dIn, DOut: dOut, K: k, dev: d, s: s}, nil
}

func (e *Estimator) ok() error {
	if e == nil || e.closed || e.s == nil {
		return fmt.Errorf("%w: estimator", ErrClosed)
	}
	return e.dev.ok()
}

// GradW queues the estimate dst ≈ HᵀG drawn with (seed, stream) (see the package documentation).
// H must be N×DIn, G N×DOut and dst DIn×DOut. It does not wait and does not look at the data:
// call [Estimator.Err] to learn whether a norm was NaN or Inf (the estimate is then garbage).
func (e *Estimator) GradW(dst, h, g *Matrix, seed, stream uint64) error {
	if err := e.ok(); err != nil {
		return err
	}
	if err := sameDevice(e.dev, dst, h, g); err != nil {
		return err
	}
	if h.Rows != e.N || g.Rows != e.N || h.Cols != e.DIn || g.Cols != e.DOut || dst.Rows != e.DIn || dst.Cols != e.DOut {
		return fmt.Errorf("%w: estimator for H %dx%d, G %dx%d given H %dx%d, G %dx%d, ∇W %dx%d",
			ErrShape, e.N, e.DIn, e.N, e.DOut, h.Rows, h.Cols, g.Rows, g.Cols, dst.Rows, dst.Cols)
	}
	if err := e.s.gradW(dst.ptr, h.ptr, g.ptr, seed, stream, true); err != nil {
		return err
	}
	e.hasRun, e.hasWeights = true, true
	return nil
}

// SetWeights replaces the sampling weights the estimator holds with w (length N, finite,
// non-negative), for [Estimator.GradWWithWeights]: for example ‖H_t‖ from the forward pass times a
// cached ‖∇Z_t‖ (Algorithm 1). The estimate stays unbiased when w_t > 0 wherever H[t,:] and
// G[t,:] are both non-zero. It returns ErrShape, ErrNonFinite or ErrBudget (negative weight).
func (e *Estimator) SetWeights(w []float64) error {
	if err := e.ok(); err != nil {
		return err
	}
	if len(w) != e.N {
		return fmt.Errorf("%w: %d weights for %d tokens", ErrShape, len(w), e.N)
	}
	for i, v := range w {
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			return fmt.Errorf("%w: weight %d is %v", ErrNonFinite, i, v)
		case v < 0:
			return fmt.Errorf("%w: weight %d is %v < 0", ErrBudget, i, v)
		}
	}
	if err := e.s.setWeights(w); err != nil {
		return err
	}
	e.hasWeights = true
	return nil
}

// GradWWithWeights queues an estimate of HᵀG like [Estimator.GradW] but samples from the weights
// the estimator holds (from [Estimator.SetWeights] or the last GradW) instead of computing the
// norms: no pass over H and G besides the sampled rows. It returns ErrShape when no weights are
// held yet.
func (e *Estimator) GradWWithWeights(dst, h, g *Matrix, seed, stream uint64) error {
	if err := e.ok(); err != nil {
		return err
	}
	if !e.hasWeights {
		return fmt.Errorf("%w: no weights held (call SetWeights or GradW first)", ErrShape)
	}
	if err := sameDevice(e.dev, dst, h, g); err != nil {
		return err
	}
	if h.Rows != e.N || g.Rows != e.N || h.Cols != e.DIn || g.Cols != e.DOut || dst.Rows != e.DIn || dst.Cols != e.DOut {
		return fmt.Errorf("%w: estimator for H %dx%d, G %dx%d given H %dx%d, G %dx%d, ∇W %dx%d",
			ErrShape, e.N, e.DIn, e.N, e.DOut, h.Rows, h.Cols, g.Rows, g.Cols, dst.Rows, dst.Cols)
	}
	if err := e.s.gradW(dst.ptr, h.ptr, g.ptr, seed, stream, false); err != nil {
		return err
	}
	e.hasRun = true
	return nil
}

// Backward queues the backward pass of the approximate linear layer Z = HW: the exact
// dH = G Wᵀ and the estimate dW ≈ HᵀG of [Estimator.GradW]. W is DIn×DOut and dH N×DIn.
func (e *Estimator) Backward(dH, dW, h, g, w *Matrix, seed, stream uint64) error {
	if err := e.ok(); err != nil {
		return err
	}
	if err := e.dev.GradH(dH, g, w); err != nil {
		return err
	}
	return e.GradW(dW, h, g, seed, stream)
}

// Err waits for the queued work and returns ErrNonFinite when the last [Estimator.GradW] met a
// NaN or ±Inf in H or G.
func (e *Estimator) Err() error {
	if err := e.ok(); err != nil {
		return err
	}
	return e.s.check()
}

// Trace describes the last estimate of an [Estimator], read back from the device.
type Trace struct {
	// Weights are the sampling weights w_t the device computed.
	Weights []float64
	// Kept lists the pairs kept exactly, heaviest first (ties by smaller index), as
	// estimator.Plan.Kept.
	Kept []int
	// Draws lists the drawn pairs in draw order, as estimator.Sketch.Draws.
	Draws []int
	// Scales holds the scale of each draw, T/(draws·w_i).
	Scales []float64
	// Total is Σ w and DrawTotal the total of the draw weights (w, zero on Kept).
	Total, DrawTotal float64
}

// Trace waits for the queued work and returns the weights, the kept set and the draws of the last
// [Estimator.GradW]. It allocates and copies O(n) values: use it for checks, not in a loop.
func (e *Estimator) Trace() (*Trace, error) {
	if err := e.ok(); err != nil {
		return nil, err
	}
	if !e.hasRun {
		return nil, fmt.Errorf("%w: no estimate was made yet", ErrShape)
	}
	return e.s.trace()
}

// Free releases the estimator's device memory.
func (e *Estimator) Free() error {
	if err := e.ok(); err != nil {
		return err
	}
	e.closed = true
	return e.s.free()
}

// EstimateGradW is the host-memory convenience: it uploads H and G, runs one estimate of HᵀG with
// (method, k, c, seed, stream) as in [Device.NewEstimator] and [Estimator.GradW], and returns the
// estimate with its [Trace]. It checks H and G for NaN and Inf on the host.
func EstimateGradW(d *Device, h, g estimator.Dense[float32], method estimator.Method, k, c int, seed, stream uint64) (estimator.Dense[float32], *Trace, error) {
	var zero estimator.Dense[float32]
	if err := d.ok(); err != nil {
		return zero, nil, err
	}
	if h.Rows != g.Rows {
		return zero, nil, fmt.Errorf("%w: H is %dx%d but G is %dx%d (rows must match)", ErrShape, h.Rows, h.Cols, g.Rows, g.Cols)
	}
	e, err := d.NewEstimator(method, h.Rows, h.Cols, g.Cols, k, c)
	if err != nil {
		return zero, nil, err
	}
	defer e.Free()
	var ms []*Matrix
	defer func() {
		for _, m := range ms {
			_ = m.Free()
		}
	}()
	dh, err := d.Upload(h)
	if err != nil {
		return zero, nil, fmt.Errorf("H: %w", err)
	}
	ms = append(ms, dh)
	dg, err := d.Upload(g)
	if err != nil {
		return zero, nil, fmt.Errorf("G: %w", err)
	}
	ms = append(ms, dg)
	dw, err := d.Alloc(h.Cols, g.Cols)
	if err != nil {
		return zero, nil, err
	}
	ms = append(ms, dw)
	if err := e.GradW(dw, dh, dg, seed, stream); err != nil {
		return zero, nil, err
	}
	if err := e.Err(); err != nil {
		return zero, nil, err
	}
	tr, err := e.Trace()
	if err != nil {
		return zero, nil, err
	}
	out, err := dw.Download()
	return out, tr, err
}

func f64frombits(b uint64) float64 { return math.Float64frombits(b) }

// setTiming switches the estimator to a synchronous mode that times every stage (benchmarks).
func (e *Estimator) setTiming(on bool) { e.s.setTiming(on) }

// stageTimes returns the accumulated stage times of the synchronous mode.
func (e *Estimator) stageTimes() map[string]time.Duration { return e.s.stageTimes() }
