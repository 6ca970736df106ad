package gpu

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
)

// Errors returned by this package, wrapped with context. Where the meaning is that of package
// estimator the error wraps estimator's sentinel instead: [estimator.ErrShape] (dimensions that do
// not fit), [estimator.ErrBudget] (k or |C| out of range), [estimator.ErrNonFinite] (NaN or ±Inf)
// and [estimator.ErrNegative] (a negative weight).
var (
	// ErrNoGPU reports a build without the cuda tag, or no usable CUDA device.
	ErrNoGPU = errors.New("gpu: no CUDA device")
	// ErrMethod reports a method the device does not implement.
	ErrMethod = errors.New("gpu: unsupported method")
	// ErrDevice reports a matrix of another device.
	ErrDevice = errors.New("gpu: matrix of another device")
	// ErrState reports a call that needs an earlier one: a trace before any estimate, sampling
	// from held weights before any were given.
	ErrState = errors.New("gpu: call out of order")
	// ErrClosed reports the use of a closed device or a freed matrix or estimator.
	ErrClosed = errors.New("gpu: use after close")
	// ErrPTX reports missing or unloadable kernels (run scripts/gpu/ptx.sh).
	ErrPTX = errors.New("gpu: kernels not available")
	// ErrCUDA reports a failure of the CUDA driver or of cuBLAS.
	ErrCUDA = errors.New("gpu: CUDA call failed")
)

// Shape is the shape of the estimates of an [Estimator]: H is N×DIn, G (∇Z) is N×DOut and ∇W is
// DIn×DOut; the pairs of the product are the N tokens.
type Shape struct {
	// N is the number of tokens (rows of H and G), DIn the columns of H and DOut the columns
	// of G; each in [1, 2³¹).
	N, DIn, DOut int
}

func (s Shape) check() error {
	if s.N < 1 || s.DIn < 1 || s.DOut < 1 || s.N > math.MaxInt32 || s.DIn > math.MaxInt32 || s.DOut > math.MaxInt32 {
		return fmt.Errorf("%w: n = %d, d_in = %d, d_out = %d, want each in [1, 2³¹)", estimator.ErrShape, s.N, s.DIn, s.DOut)
	}
	return nil
}

// Options choose what an [Estimator] computes: the method, the budget and how |C| is found. The
// zero value is not valid: set Method and K.
type Options struct {
	// Method is estimator.MethodCRS or estimator.MethodWTACRS.
	Method estimator.Method
	// K is the budget: the number of rows of the sampled product, 1 ≤ K < 2³¹.
	K int
	// FixedC keeps exactly C pairs, as estimator.NewWTACRSFixed (WTA-CRS only). Without it |C|
	// follows the rule of estimator.ChooseC (every pair of positive weight when K ≥ N, as
	// estimator.NewWTACRS).
	FixedC bool
	// C is the number of pairs kept exactly with FixedC, 0 ≤ C ≤ min(K−1, N); it must be 0
	// without FixedC.
	C int
}

// check validates o for n pairs, with the rules and the sentinels of estimator.NewPlan.
func (o Options) check(n int) error {
	if o.Method != estimator.MethodCRS && o.Method != estimator.MethodWTACRS {
		return fmt.Errorf("%w: %v (want crs or wtacrs)", ErrMethod, o.Method)
	}
	if o.K < 1 || o.K > math.MaxInt32 {
		return fmt.Errorf("%w: k = %d, want 1 ≤ k < 2³¹", estimator.ErrBudget, o.K)
	}
	switch {
	case !o.FixedC && o.C != 0:
		return fmt.Errorf("%w: |C| = %d given without FixedC", estimator.ErrBudget, o.C)
	case o.FixedC && o.Method != estimator.MethodWTACRS:
		return fmt.Errorf("%w: |C| = %d given for method %v", estimator.ErrBudget, o.C, o.Method)
	case o.FixedC && (o.C < 0 || o.C > o.K-1 || o.C > n):
		return fmt.Errorf("%w: |C| = %d, want 0 ≤ |C| ≤ min(k−1, n) = %d", estimator.ErrBudget, o.C, min(o.K-1, n))
	}
	return nil
}

// PlanC returns the c argument of estimator.NewPlan for these options: C when FixedC, else
// estimator.AutoC.
func (o Options) PlanC() int {
	if o.FixedC {
		return o.C
	}
	return estimator.AutoC
}

// checkWeights validates sampling weights for n pairs with the checks of package estimator's plans:
// estimator.ErrShape for a wrong length, estimator.ErrNonFinite for NaN, ±Inf or an infinite sum,
// estimator.ErrNegative for a negative weight. It allocates n float64.
func checkWeights(w []float64, n int) error {
	if len(w) != n {
		return fmt.Errorf("%w: %d weights for %d pairs", estimator.ErrShape, len(w), n)
	}
	if _, err := estimator.Probabilities(w); err != nil {
		return err
	}
	return nil
}

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
	newSampler(s Shape, o Options) (sampler, error)
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

// Close releases the device. Matrices and estimators of the device must not be used afterwards
// (they return ErrClosed).
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
	rows, cols int
	dev        *Device
	ptr        uintptr
}

// Dims returns the dimensions of the matrix (0, 0 for a nil matrix).
func (m *Matrix) Dims() (rows, cols int) {
	if m == nil {
		return 0, 0
	}
	return m.rows, m.cols
}

// Alloc returns an uninitialised rows×cols matrix on the device (1 ≤ rows, cols < 2³¹); it
// returns estimator.ErrShape for other dimensions.
func (d *Device) Alloc(rows, cols int) (*Matrix, error) {
	if err := d.ok(); err != nil {
		return nil, err
	}
	if rows < 1 || cols < 1 || rows > math.MaxInt32 || cols > math.MaxInt32 {
		return nil, fmt.Errorf("%w: cannot allocate a %dx%d matrix", estimator.ErrShape, rows, cols)
	}
	p, err := d.b.alloc(int64(rows) * int64(cols) * 4)
	if err != nil {
		return nil, err
	}
	return &Matrix{rows: rows, cols: cols, dev: d, ptr: p}, nil
}

// Upload copies m to a new device matrix. It returns estimator.ErrShape when m is empty or its
// storage does not match its dimensions, and estimator.ErrNonFinite when m holds NaN or ±Inf.
func (d *Device) Upload(m matrix.Dense[float32]) (*Matrix, error) {
	if err := d.ok(); err != nil {
		return nil, err
	}
	if m.Rows < 1 || m.Cols < 1 || len(m.Data) != m.Rows*m.Cols {
		return nil, fmt.Errorf("%w: matrix is %dx%d with %d elements", estimator.ErrShape, m.Rows, m.Cols, len(m.Data))
	}
	for i, v := range m.Data {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%w: element (%d,%d) is %v", estimator.ErrNonFinite, i/m.Cols, i%m.Cols, f)
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
func (m *Matrix) Download() (matrix.Dense[float32], error) {
	if err := m.ok(); err != nil {
		return matrix.Dense[float32]{}, err
	}
	out := matrix.Dense[float32]{Rows: m.rows, Cols: m.cols, Data: make([]float32, m.rows*m.cols)}
	if err := m.dev.b.download(out.Data, m.ptr); err != nil {
		return matrix.Dense[float32]{}, err
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

// sameDevice returns ErrClosed for a freed matrix and ErrDevice for a matrix of another device.
func sameDevice(d *Device, ms ...*Matrix) error {
	for _, m := range ms {
		if err := m.ok(); err != nil {
			return err
		}
		if m.dev != d {
			return fmt.Errorf("%w: a %dx%d matrix", ErrDevice, m.rows, m.cols)
		}
	}
	return nil
}

// GradW computes the exact weight gradient dst = HᵀG with cuBLAS (H is n×d_in, G is n×d_out, dst
// is d_in×d_out, all of d). The work is queued; [Device.Synchronize] or [Matrix.Download] waits
// for it. It returns estimator.ErrShape for dimensions that do not fit.
func (d *Device) GradW(dst, h, g *Matrix) error {
	if err := d.ok(); err != nil {
		return err
	}
	if err := sameDevice(d, dst, h, g); err != nil {
		return err
	}
	if h.rows != g.rows || dst.rows != h.cols || dst.cols != g.cols {
		return fmt.Errorf("%w: ∇W %dx%d = Hᵀ G with H %dx%d and G %dx%d", estimator.ErrShape, dst.rows, dst.cols, h.rows, h.cols, g.rows, g.cols)
	}
	return d.b.gemmTN(dst.ptr, h.ptr, g.ptr, h.cols, g.cols, h.rows)
}

// GradH computes the exact input gradient dst = G Wᵀ of a linear layer (G is n×d_out, W is
// d_in×d_out, dst is n×d_in, all of d) with cuBLAS. The work is queued. It returns
// estimator.ErrShape for dimensions that do not fit.
func (d *Device) GradH(dst, g, w *Matrix) error {
	if err := d.ok(); err != nil {
		return err
	}
	if err := sameDevice(d, dst, g, w); err != nil {
		return err
	}
	if g.cols != w.cols || dst.rows != g.rows || dst.cols != w.rows {
		return fmt.Errorf("%w: ∇H %dx%d = G Wᵀ with G %dx%d and W %dx%d", estimator.ErrShape, dst.rows, dst.cols, g.rows, g.cols, w.rows, w.cols)
	}
	return d.b.gemmNT(dst.ptr, g.ptr, w.ptr, g.rows, w.rows, g.cols)
}

// Estimator estimates ∇W = HᵀG on the device for one [Shape] and [Options], with every buffer
// allocated once. Build it with [Device.NewEstimator]; it is not safe for concurrent use.
type Estimator struct {
	shape          Shape
	opts           Options
	dev            *Device
	s              sampler
	hasRun, closed bool
	hasWeights     bool
}

// NewEstimator prepares the estimates of shape s with options o. It returns estimator.ErrShape
// for a bad shape and ErrMethod or estimator.ErrBudget for bad options (see [Options]). The
// device memory taken is about K·(DIn + DOut)·4 + 40·N bytes. WTA-CRS orders its min(K−1, N)
// candidates (N when K ≥ N) by rank counting, O(min(K, N)²) comparisons per call: about 2.4·10⁸
// at K = 15360, fine up to K of a few 10⁴.
func (d *Device) NewEstimator(s Shape, o Options) (*Estimator, error) {
	if err := d.ok(); err != nil {
		return nil, err
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := o.check(s.N); err != nil {
		return nil, err
	}
	smp, err := d.b.newSampler(s, o)
	if err != nil {
		return nil, err
	}
	return &Estimator{shape: s, opts: o, dev: d, s: smp}, nil
}

// Shape returns the shape the estimator was built for.
func (e *Estimator) Shape() Shape { return e.shape }

// Options returns the options the estimator was built with.
func (e *Estimator) Options() Options { return e.opts }

func (e *Estimator) ok() error {
	if e == nil || e.closed || e.s == nil {
		return fmt.Errorf("%w: estimator", ErrClosed)
	}
	return e.dev.ok()
}

// checkOperands validates dst, H and G against the estimator's shape.
func (e *Estimator) checkOperands(dst, h, g *Matrix) error {
	if err := sameDevice(e.dev, dst, h, g); err != nil {
		return err
	}
	s := e.shape
	if h.rows != s.N || g.rows != s.N || h.cols != s.DIn || g.cols != s.DOut || dst.rows != s.DIn || dst.cols != s.DOut {
		return fmt.Errorf("%w: estimator for H %dx%d, G %dx%d given H %dx%d, G %dx%d, ∇W %dx%d",
			estimator.ErrShape, s.N, s.DIn, s.N, s.DOut, h.rows, h.cols, g.rows, g.cols, dst.rows, dst.cols)
	}
	return nil
}

// GradW queues the estimate dst ≈ HᵀG drawn with (seed, stream) (see the package documentation).
// H must be N×DIn, G N×DOut and dst DIn×DOut, all of the estimator's device: estimator.ErrShape
// and ErrDevice otherwise. It does not wait and does not look at the data: call [Estimator.Err]
// to learn whether a norm was NaN or Inf (the estimate is then garbage).
func (e *Estimator) GradW(dst, h, g *Matrix, seed, stream uint64) error {
	if err := e.ok(); err != nil {
		return err
	}
	if err := e.checkOperands(dst, h, g); err != nil {
		return err
	}
	if err := e.s.gradW(dst.ptr, h.ptr, g.ptr, seed, stream, true); err != nil {
		return err
	}
	e.hasRun, e.hasWeights = true, true
	return nil
}

// SetWeights replaces the sampling weights the estimator holds with w, for
// [Estimator.GradWWithWeights]: for example ‖H_t‖ from the forward pass times a cached ‖∇Z_t‖
// (Algorithm 1). The estimate stays unbiased when w_t > 0 wherever H[t,:] and G[t,:] are both
// non-zero. w must have length N with finite, non-negative entries: it returns
// estimator.ErrShape, estimator.ErrNonFinite (also for an infinite sum) or estimator.ErrNegative
// otherwise, the checks of package estimator's plans. It allocates N float64 for the check and
// copies w to the device.
func (e *Estimator) SetWeights(w []float64) error {
	if err := e.ok(); err != nil {
		return err
	}
	if err := checkWeights(w, e.shape.N); err != nil {
		return err
	}
	if err := e.s.setWeights(w); err != nil {
		return err
	}
	e.hasWeights = true
	return nil
}

// GradWWithWeights queues an estimate of HᵀG like [Estimator.GradW] but samples from the weights
// the estimator holds (from [Estimator.SetWeights] or the last GradW) instead of computing the
// norms: no pass over H and G besides the sampled rows. It returns ErrState when no weights are
// held yet.
func (e *Estimator) GradWWithWeights(dst, h, g *Matrix, seed, stream uint64) error {
	if err := e.ok(); err != nil {
		return err
	}
	if !e.hasWeights {
		return fmt.Errorf("%w: no weights held (call SetWeights or GradW first)", ErrState)
	}
	if err := e.checkOperands(dst, h, g); err != nil {
		return err
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

// Err waits for the queued work and returns estimator.ErrNonFinite when the last
// [Estimator.GradW] met a NaN or ±Inf in H or G.
func (e *Estimator) Err() error {
	if err := e.ok(); err != nil {
		return err
	}
	return e.s.check()
}

// Trace describes one estimate: the weights, the pairs kept and the pairs drawn. [Estimator.Trace]
// reads it back from the device; [HostTrace] computes it on the host.
type Trace struct {
	// Weights are the sampling weights w_t.
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
// estimate. It returns ErrState before the first one. It allocates and copies O(N) values: use it
// for checks, not in a loop.
func (e *Estimator) Trace() (*Trace, error) {
	if err := e.ok(); err != nil {
		return nil, err
	}
	if !e.hasRun {
		return nil, fmt.Errorf("%w: no estimate was made yet", ErrState)
	}
	return e.s.trace()
}

// Free releases the estimator's device memory. Freeing twice returns ErrClosed.
func (e *Estimator) Free() error {
	if err := e.ok(); err != nil {
		return err
	}
	e.closed = true
	return e.s.free()
}

// EstimateGradW is the host-memory convenience: it uploads H (n×d_in) and G (n×d_out), runs one
// estimate of HᵀG with options o and (seed, stream) as [Device.NewEstimator] and
// [Estimator.GradW], and returns the estimate with its [Trace]. It returns the errors of those,
// and checks H and G for NaN and Inf on the host.
func EstimateGradW(d *Device, h, g matrix.Dense[float32], o Options, seed, stream uint64) (matrix.Dense[float32], *Trace, error) {
	var zero matrix.Dense[float32]
	if err := d.ok(); err != nil {
		return zero, nil, err
	}
	if h.Rows != g.Rows {
		return zero, nil, fmt.Errorf("%w: H is %dx%d but G is %dx%d (rows must match)", estimator.ErrShape, h.Rows, h.Cols, g.Rows, g.Cols)
	}
	e, err := d.NewEstimator(Shape{N: h.Rows, DIn: h.Cols, DOut: g.Cols}, o)
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
		return zero, nil, fmt.Errorf("uploading H: %w", err)
	}
	ms = append(ms, dh)
	dg, err := d.Upload(g)
	if err != nil {
		return zero, nil, fmt.Errorf("uploading G: %w", err)
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

// setTiming switches the estimator to a synchronous mode that times every stage (benchmarks).
func (e *Estimator) setTiming(on bool) { e.s.setTiming(on) }

// stageTimes returns the accumulated stage times of the synchronous mode.
func (e *Estimator) stageTimes() map[string]time.Duration { return e.s.stageTimes() }
