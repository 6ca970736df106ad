package estimator

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/wtacrs/wtacrs/internal/gemm"
	"github.com/wtacrs/wtacrs/matrix"
	"gonum.org/v1/gonum/blas/gonum"
)

// Apply returns the estimate X'Y' of XY that the sketch describes: the columns X[:,i] scaled by
// their factors times the rows Y[i,:], as one GEMM over the sketch's pairs (no temporary of the
// full inner size). It checks the shapes, the sketch's indices and the gathered pairs for NaN
// and Inf; the weight functions check the rest of the input.
func Apply[T matrix.Float](x, y matrix.Dense[T], s *Sketch) (matrix.Dense[T], error) {
	if err := checkSketch(x.Cols, y.Rows, s); err != nil {
		return matrix.Dense[T]{}, fmt.Errorf("%w (X is %dx%d, Y is %dx%d)", err, x.Rows, x.Cols, y.Rows, y.Cols)
	}
	if len(x.Data) != x.Rows*x.Cols || len(y.Data) != y.Rows*y.Cols {
		return matrix.Dense[T]{}, fmt.Errorf("%w: storage does not match the dimensions", ErrShape)
	}
	r, n, m, q := s.Rows(), x.Rows, x.Cols, y.Cols
	xs := make([]T, n*r)
	for i := 0; i < n; i++ {
		row, dst := x.Data[i*m:(i+1)*m], xs[i*r:(i+1)*r]
		for j, idx := range s.Index {
			dst[j] = row[idx] * T(s.Scale[j])
		}
	}
	ys := make([]T, r*q)
	for j, idx := range s.Index {
		copy(ys[j*q:(j+1)*q], y.Row(idx))
	}
	if err := finite("X", xs); err != nil {
		return matrix.Dense[T]{}, err
	}
	if err := finite("Y", ys); err != nil {
		return matrix.Dense[T]{}, err
	}
	out := matrix.Dense[T]{Rows: n, Cols: q, Data: make([]T, n*q)}
	gemm.Gemm(false, false, n, q, r, 1, xs, max(1, r), ys, max(1, q), 0, out.Data, max(1, q))
	return out, nil
}

// ApplyTransA returns the estimate of HᵀG whose pairs are the rows of H and G (for the weight
// gradient ∇W = Hᵀ∇Z: the tokens): the kept rows of H scaled by their factors, gathered with the
// matching rows of G into one GEMM of inner size s.Rows(). Checks as for [Apply].
func ApplyTransA[T matrix.Float](h, g matrix.Dense[T], s *Sketch) (matrix.Dense[T], error) {
	dst := matrix.Dense[T]{Rows: h.Cols, Cols: g.Cols, Data: make([]T, h.Cols*g.Cols)}
	if err := ApplyTransAInto(dst, h, g, s, nil); err != nil {
		return matrix.Dense[T]{}, err
	}
	return dst, nil
}

// Workspace holds the gather buffers of [ApplyTransAInto], so that repeated estimates (one per
// layer and step in training) reuse memory rather than allocate and fault in fresh pages each
// time. The zero value is ready to use. A Workspace must not be used by two calls at once.
type Workspace[T matrix.Float] struct{ hs, gs []T }

// buffers returns the workspace's buffers resized to n and m elements.
func (ws *Workspace[T]) buffers(n, m int) ([]T, []T) {
	if cap(ws.hs) < n {
		ws.hs = make([]T, n)
	}
	if cap(ws.gs) < m {
		ws.gs = make([]T, m)
	}
	return ws.hs[:n], ws.gs[:m]
}

// ApplyTransAInto is [ApplyTransA] writing into dst, which must be h.Cols×g.Cols, with the
// gather buffers of ws (nil: fresh buffers). dst is overwritten.
func ApplyTransAInto[T matrix.Float](dst matrix.Dense[T], h, g matrix.Dense[T], s *Sketch, ws *Workspace[T]) error {
	if err := checkSketch(h.Rows, g.Rows, s); err != nil {
		return fmt.Errorf("%w (H is %dx%d, G is %dx%d)", err, h.Rows, h.Cols, g.Rows, g.Cols)
	}
	if err := matrix.CheckTransShape(h, g); err != nil {
		return err
	}
	if dst.Rows != h.Cols || dst.Cols != g.Cols || len(dst.Data) != dst.Rows*dst.Cols {
		return fmt.Errorf("%w: the estimate of HᵀG is %dx%d, not %dx%d", ErrShape, h.Cols, g.Cols, dst.Rows, dst.Cols)
	}
	if ws == nil {
		ws = new(Workspace[T])
	}
	r := s.Rows()
	hb, gb := ws.buffers(r*h.Cols, r*g.Cols)
	hs := matrix.Dense[T]{Rows: r, Cols: h.Cols, Data: hb}
	gs := matrix.Dense[T]{Rows: r, Cols: g.Cols, Data: gb}
	if err := gatherInto(hs, gs, h, g, s); err != nil {
		return err
	}
	multiplyGathered(dst, hs, gs)
	return nil
}

// GatherRows returns the sketch's rows of H, each scaled by its factor, and the matching rows of
// G: the only activations Algorithm 1 keeps for backward. It returns ErrNonFinite when a
// gathered row holds NaN or Inf and ErrShape for a sketch that does not fit.
func GatherRows[T matrix.Float](h, g matrix.Dense[T], s *Sketch) (hs, gs matrix.Dense[T], err error) {
	if err := checkSketch(h.Rows, g.Rows, s); err != nil {
		return hs, gs, err
	}
	if err := matrix.CheckTransShape(h, g); err != nil {
		return hs, gs, err
	}
	r := s.Rows()
	hs = matrix.Dense[T]{Rows: r, Cols: h.Cols, Data: make([]T, r*h.Cols)}
	gs = matrix.Dense[T]{Rows: r, Cols: g.Cols, Data: make([]T, r*g.Cols)}
	return hs, gs, gatherInto(hs, gs, h, g, s)
}

// GatherInto fills hs (s.Rows()×h.Cols) with the sketch's rows of h, each times its scale, and
// gs (s.Rows()×g.Cols, or empty to gather h alone) with the matching rows of g, in parallel
// over rows: the rows Algorithm 1 keeps, written into caller storage. It returns ErrShape when
// the sketch does not fit h (and g) or the destinations have the wrong size, and ErrNonFinite
// when a gathered row holds NaN or Inf.
func GatherInto[T matrix.Float](hs, gs, h, g matrix.Dense[T], s *Sketch) error {
	gRows := h.Rows
	if len(gs.Data) > 0 {
		gRows = g.Rows
		if err := matrix.CheckTransShape(h, g); err != nil {
			return err
		}
	}
	if err := checkSketch(h.Rows, gRows, s); err != nil {
		return err
	}
	if err := h.CheckShape("H"); err != nil {
		return err
	}
	r := s.Rows()
	if hs.Rows != r || hs.Cols != h.Cols || len(hs.Data) != r*h.Cols {
		return fmt.Errorf("%w: the gathered rows of H are %dx%d, want %dx%d", ErrShape, hs.Rows, hs.Cols, r, h.Cols)
	}
	if len(gs.Data) > 0 && (gs.Rows != r || gs.Cols != g.Cols || len(gs.Data) != r*g.Cols) {
		return fmt.Errorf("%w: the gathered rows of G are %dx%d, want %dx%d", ErrShape, gs.Rows, gs.Cols, r, g.Cols)
	}
	return gatherInto(hs, gs, h, g, s)
}

// Validate returns ErrShape unless s is a sketch over m pairs with valid indices: in range,
// ascending, each once, one scale each; and ErrNonFinite for a NaN or ±Inf scale. Every
// function of this package that uses a sketch makes the same check.
func (s *Sketch) Validate(m int) error { return checkSketch(m, m, s) }

// gatherInto fills hs with the sketch's rows of h times their scales and gs with the matching
// rows of g (gs may be empty to gather h alone), in parallel over rows. It returns ErrNonFinite
// when a gathered row holds NaN or Inf.
func gatherInto[T matrix.Float](hs, gs matrix.Dense[T], h, g matrix.Dense[T], s *Sketch) error {
	var bad atomic.Int64 // gathered rows holding NaN or Inf
	withG := len(gs.Data) > 0
	parallelRows(s.Rows(), h.Cols+gs.Cols, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			idx := s.Index[j]
			// A NaN or ±Inf in the source row leaves a NaN or ±Inf in dst (f is finite).
			nonFinite := scaleRow(hs.Row(j), h.Row(idx), T(s.Scale[j]))
			if withG {
				copy(gs.Row(j), g.Row(idx))
				nonFinite = nonFinite || hasNonFinite(gs.Row(j))
			}
			if nonFinite {
				bad.Add(1)
			}
		}
	})
	if bad.Load() != 0 {
		if err := finite("H", hs.Data); err != nil {
			return err
		}
		return finite("G", gs.Data)
	}
	return nil
}

// scaleRow sets dst[c] = src[c]·f and reports whether some dst[c] is NaN or ±Inf, in one pass
// (the test of [matrix.HasNonFinite]: x·0 is NaN exactly for those, in four independent sums).
// len(dst) must be at least len(src).
func scaleRow[T matrix.Float](dst, src []T, f T) bool {
	dst = dst[:len(src)]
	var a0, a1, a2, a3 T
	i := 0
	for ; i+4 <= len(src); i += 4 {
		x0, x1, x2, x3 := src[i]*f, src[i+1]*f, src[i+2]*f, src[i+3]*f
		dst[i], dst[i+1], dst[i+2], dst[i+3] = x0, x1, x2, x3
		a0 += x0 * 0
		a1 += x1 * 0
		a2 += x2 * 0
		a3 += x3 * 0
	}
	for ; i < len(src); i++ {
		x := src[i] * f
		dst[i] = x
		a0 += x * 0
	}
	sum := a0 + a1 + a2 + a3
	return sum != sum
}

// hasNonFinite is [matrix.HasNonFinite] through gonum's assembly dot kernel: a row whose sum of
// squares is finite holds no NaN or ±Inf; only a row whose sum is not (a NaN or ±Inf, or entries
// whose squares overflow) is scanned.
func hasNonFinite[T matrix.Float](v []T) bool {
	var impl gonum.Implementation
	switch r := any(v).(type) {
	case []float32:
		s := impl.Sdot(len(r), r, 1, r, 1)
		if s <= math.MaxFloat32 {
			return false
		}
	case []float64:
		s := impl.Ddot(len(r), r, 1, r, 1)
		if s <= math.MaxFloat64 {
			return false
		}
	}
	return matrix.HasNonFinite(v)
}

// MultiplyGathered returns HsᵀGs for gathered rows (see [GatherRows]). It panics when the row
// counts differ.
func MultiplyGathered[T matrix.Float](hs, gs matrix.Dense[T]) matrix.Dense[T] {
	out := matrix.Dense[T]{Rows: hs.Cols, Cols: gs.Cols, Data: make([]T, hs.Cols*gs.Cols)}
	multiplyGathered(out, hs, gs)
	return out
}

// multiplyGathered overwrites dst with HsᵀGs.
func multiplyGathered[T matrix.Float](dst, hs, gs matrix.Dense[T]) {
	if hs.Rows != gs.Rows {
		panic(fmt.Sprintf("estimator: %d gathered rows of H against %d of G", hs.Rows, gs.Rows))
	}
	gemm.Gemm(true, false, hs.Cols, gs.Cols, hs.Rows, 1, hs.Data, max(1, hs.Cols), gs.Data, max(1, gs.Cols), 0, dst.Data, max(1, gs.Cols))
}

func checkSketch(mx, my int, s *Sketch) error {
	if mx != my {
		return fmt.Errorf("%w: inner dimensions %d and %d differ", ErrShape, mx, my)
	}
	if s == nil {
		return fmt.Errorf("%w: nil sketch", ErrShape)
	}
	if s.M != mx || len(s.Index) != len(s.Scale) {
		return fmt.Errorf("%w: sketch over %d pairs applied to a product over %d", ErrShape, s.M, mx)
	}
	for j, i := range s.Index {
		if i < 0 || i >= mx || (j > 0 && i <= s.Index[j-1]) {
			return fmt.Errorf("%w: sketch index %d out of range or out of order", ErrShape, i)
		}
	}
	for j, f := range s.Scale {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%w: the sketch scales pair %d by %v", ErrNonFinite, s.Index[j], f)
		}
	}
	return nil
}

func finite[T matrix.Float](name string, v []T) error {
	for _, x := range v {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%w: %s holds %v in a sampled pair", ErrNonFinite, name, f)
		}
	}
	return nil
}
