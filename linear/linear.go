// Package linear is the approximate linear layer of Algorithm 1 of the WTA-CRS paper: a layer
// Z = HW + b whose forward pass keeps, for backward, either its whole input (exact) or only the
// rows of H a sketch selected, pre-scaled, and whose backward computes ∇H and ∇b exactly and
// ∇W = Hᵀ∇Z from the kept rows.
//
// It is a package of its own because it is neither an estimator nor a model: it composes
// package estimator's sketches (which rows, with which scales) with package matrix's products
// into a layer with saved state, for any model to use (package model builds its encoder from
// it; package theory checks its unbiasedness; package gpu mirrors it on the device). Keeping it
// out of estimator leaves that package about estimators and their moments, and keeping it out
// of model lets it be tested and reused without a transformer around it.
package linear

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/internal/gemm"
	"github.com/wtacrs/wtacrs/matrix"
)

// Saved is what a linear layer Z = HW + b keeps from its forward pass for its backward
// pass (Algorithm 1 of the paper): the whole input H for an exact layer, or only the rows of H
// a [estimator.Sketch] selected, each already multiplied by its scale factor, with their token indices.
type Saved[T matrix.Float] struct {
	// N is the number of input rows (pooled tokens) of the forward pass.
	N int
	// H holds every input row (exact; it shares the caller's storage, which must not change
	// before backward) or the kept, pre-scaled rows in ascending token order.
	H matrix.Dense[T]
	// Index lists the token of each row of H; nil for an exact layer.
	Index []int
}

// Exact reports whether the layer kept its whole input.
func (s Saved[T]) Exact() bool { return s.Index == nil }

// Bytes returns the memory the saved activations occupy: the rows of H and, for a sampled
// layer, one int per index.
func (s Saved[T]) Bytes() int {
	return len(s.H.Data)*matrix.ElemSize[T]() + len(s.Index)*int(unsafe.Sizeof(int(0)))
}

// Forward computes Z = HW + b for H (n×d_in), W (d_in×d_out) and a bias b of d_out entries
// (nil for none), and returns what backward needs. With a nil sketch the layer is exact and keeps
// H itself (no copy). With a sketch over the n rows of H it keeps only the sketch's rows, each
// multiplied by its scale (Algorithm 1's H'), so that [Backward] returns an unbiased
// estimate of ∇W whenever the sketch comes from an unbiased plan whose weights are positive for
// every token with a nonzero output gradient. Errors: estimator.ErrShape for dimensions that do not fit
// or a sketch over another number of rows, estimator.ErrNonFinite for NaN or Inf in H, W or b.
func Forward[T matrix.Float](h, w matrix.Dense[T], b []T, s *estimator.Sketch) (matrix.Dense[T], Saved[T], error) {
	if err := h.Check("H"); err != nil {
		return matrix.Dense[T]{}, Saved[T]{}, fmt.Errorf("linear forward: %w", err)
	}
	if err := w.Check("W"); err != nil {
		return matrix.Dense[T]{}, Saved[T]{}, fmt.Errorf("linear forward: %w", err)
	}
	if h.Cols != w.Rows {
		return matrix.Dense[T]{}, Saved[T]{}, fmt.Errorf("%w: linear forward: H is %dx%d but W is %dx%d", estimator.ErrShape, h.Rows, h.Cols, w.Rows, w.Cols)
	}
	if b != nil && len(b) != w.Cols {
		return matrix.Dense[T]{}, Saved[T]{}, fmt.Errorf("%w: linear forward: bias has %d entries for %d outputs", estimator.ErrShape, len(b), w.Cols)
	}
	if err := matrix.CheckFinite("b", b); err != nil {
		return matrix.Dense[T]{}, Saved[T]{}, fmt.Errorf("linear forward: %w", err)
	}
	z := matrix.Dense[T]{Rows: h.Rows, Cols: w.Cols, Data: make([]T, h.Rows*w.Cols)}
	if b != nil {
		for i := 0; i < z.Rows; i++ {
			copy(z.Row(i), b)
		}
	}
	gemm.Gemm(false, false, h.Rows, w.Cols, h.Cols, 1, h.Data, max(1, h.Cols), w.Data, max(1, w.Cols), 1, z.Data, max(1, z.Cols))
	saved, err := Keep(h, s)
	if err != nil {
		return matrix.Dense[T]{}, Saved[T]{}, err
	}
	return z, saved, nil
}

// Keep returns what [Forward] keeps of the input H (n×d_in) for backward under the sketch s
// (nil for exact: H itself, no copy), without computing the output: for callers that form the
// output otherwise (by row groups, say). Errors: estimator.ErrShape for a sketch over another
// number of rows, estimator.ErrNonFinite for NaN or Inf in a kept row.
func Keep[T matrix.Float](h matrix.Dense[T], s *estimator.Sketch) (Saved[T], error) {
	saved := Saved[T]{N: h.Rows}
	if s == nil {
		saved.H = h
		return saved, nil
	}
	if err := s.Validate(h.Rows); err != nil {
		return Saved[T]{}, fmt.Errorf("linear forward: %w", err)
	}
	r := s.Rows()
	saved.H = matrix.Dense[T]{Rows: r, Cols: h.Cols, Data: make([]T, r*h.Cols)}
	saved.Index = make([]int, r)
	copy(saved.Index, s.Index)
	if err := estimator.GatherInto(saved.H, matrix.Dense[T]{}, h, matrix.Dense[T]{}, s); err != nil {
		return Saved[T]{}, fmt.Errorf("linear forward: %w", err)
	}
	return saved, nil
}

// Backward returns, for the output gradient ∇Z (n×d_out), the exact input gradient
// ∇H = ∇Z Wᵀ, the weight gradient ∇W = Hᵀ∇Z (exact, or H'ᵀ∇Z[Index] from the kept rows) and
// the exact bias gradient (column sums of ∇Z). It allocates its results; see
// [BackwardAdd] to accumulate. Errors: estimator.ErrShape, estimator.ErrNonFinite for NaN or Inf in ∇Z.
func Backward[T matrix.Float](saved Saved[T], w, gradZ matrix.Dense[T]) (gradH, gradW matrix.Dense[T], gradB []T, err error) {
	gradH = matrix.Dense[T]{Rows: saved.N, Cols: w.Rows, Data: make([]T, saved.N*w.Rows)}
	gradW = matrix.Dense[T]{Rows: w.Rows, Cols: w.Cols, Data: make([]T, w.Rows*w.Cols)}
	gradB = make([]T, w.Cols)
	if err := BackwardAdd(saved, w, gradZ, gradH, gradW, gradB); err != nil {
		return matrix.Dense[T]{}, matrix.Dense[T]{}, nil, err
	}
	return gradH, gradW, gradB, nil
}

// BackwardAdd is [Backward] writing into caller storage: it overwrites gradH
// (n×d_in; skipped when gradH.Data is nil) and adds to gradW (d_in×d_out; skipped when
// gradW.Data is nil, for a frozen weight, and then saved may hold no rows) and gradB (d_out
// entries; skipped when nil). Errors: estimator.ErrShape, estimator.ErrNonFinite for NaN or Inf
// in ∇Z.
func BackwardAdd[T matrix.Float](saved Saved[T], w, gradZ, gradH, gradW matrix.Dense[T], gradB []T) error {
	if err := gradZ.Check("∇Z"); err != nil {
		return fmt.Errorf("linear backward: %w", err)
	}
	din, dout, n := w.Rows, w.Cols, saved.N
	switch {
	case len(w.Data) != din*dout:
		return fmt.Errorf("%w: linear backward: W is %dx%d with %d elements", estimator.ErrShape, din, dout, len(w.Data))
	case gradZ.Rows != n || gradZ.Cols != dout:
		return fmt.Errorf("%w: linear backward: ∇Z is %dx%d, want %dx%d", estimator.ErrShape, gradZ.Rows, gradZ.Cols, n, dout)
	// With a frozen weight (gradW.Data nil) saved's rows are not read.
	case gradW.Data != nil && (saved.H.Cols != din || len(saved.H.Data) != saved.H.Rows*din):
		return fmt.Errorf("%w: linear backward: saved H is %dx%d for W %dx%d", estimator.ErrShape, saved.H.Rows, saved.H.Cols, din, dout)
	case gradW.Data != nil && (saved.Index == nil && saved.H.Rows != n || saved.Index != nil && len(saved.Index) != saved.H.Rows):
		return fmt.Errorf("%w: linear backward: %d saved rows, %d indices, %d tokens", estimator.ErrShape, saved.H.Rows, len(saved.Index), n)
	case gradH.Data != nil && (gradH.Rows != n || gradH.Cols != din || len(gradH.Data) != n*din):
		return fmt.Errorf("%w: linear backward: ∇H is %dx%d, want %dx%d", estimator.ErrShape, gradH.Rows, gradH.Cols, n, din)
	case gradW.Data != nil && (gradW.Rows != din || gradW.Cols != dout || len(gradW.Data) != din*dout):
		return fmt.Errorf("%w: linear backward: ∇W is %dx%d, want %dx%d", estimator.ErrShape, gradW.Rows, gradW.Cols, din, dout)
	case gradB != nil && len(gradB) != dout:
		return fmt.Errorf("%w: linear backward: ∇b has %d entries, want %d", estimator.ErrShape, len(gradB), dout)
	}
	for j, i := range saved.Index {
		if i < 0 || i >= n || (j > 0 && i <= saved.Index[j-1]) {
			return fmt.Errorf("%w: linear backward: saved index %d out of range or out of order", estimator.ErrShape, i)
		}
	}
	if gradH.Data != nil {
		gemm.Gemm(false, true, n, din, dout, 1, gradZ.Data, max(1, dout), w.Data, max(1, dout), 0, gradH.Data, max(1, din))
	}
	if gradB != nil {
		for i := 0; i < n; i++ {
			for c, v := range gradZ.Row(i) {
				gradB[c] += v
			}
		}
	}
	if gradW.Data == nil {
		return nil
	}
	g := gradZ
	if saved.Index != nil {
		r := len(saved.Index)
		buf := getRows[T](r * dout)
		defer putRows(buf)
		g = matrix.Dense[T]{Rows: r, Cols: dout, Data: *buf}
		for j, i := range saved.Index {
			copy(g.Row(j), gradZ.Row(i))
		}
	}
	gemm.Gemm(true, false, din, dout, saved.H.Rows, 1, saved.H.Data, max(1, din), g.Data, max(1, dout), 1, gradW.Data, max(1, dout))
	return nil
}

// rowPools hold the buffers of the gathered rows of ∇Z, one pool per element size (float32,
// float64), so that the sampled layers of a training step reuse memory instead of allocating
// and clearing r×d_out elements at every call.
var rowPools [2]sync.Pool

func rowPool[T matrix.Float]() *sync.Pool {
	if matrix.ElemSize[T]() == 4 {
		return &rowPools[0]
	}
	return &rowPools[1]
}

// getRows returns a buffer of n elements (their values arbitrary) from the pool of T.
func getRows[T matrix.Float](n int) *[]T {
	if b, ok := rowPool[T]().Get().(*[]T); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]T, n)
	return &b
}

// putRows returns a buffer of getRows to its pool.
func putRows[T matrix.Float](b *[]T) { rowPool[T]().Put(b) }
