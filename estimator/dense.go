package estimator

import (
	"errors"
	"fmt"
	"math"
)

// Errors returned by this package, wrapped with context.
var (
	// ErrShape reports matrices whose dimensions do not fit together.
	ErrShape = errors.New("estimator: shape mismatch")
	// ErrNonFinite reports a NaN or ±Inf in an input.
	ErrNonFinite = errors.New("estimator: NaN or Inf in input")
	// ErrBudget reports a budget k or a kept-set size |C| out of range.
	ErrBudget = errors.New("estimator: budget out of range")
	// ErrNegative reports a negative norm or weight.
	ErrNegative = errors.New("estimator: negative norm")
	// ErrNoClosedForm reports a closed form that is not available for a plan.
	ErrNoClosedForm = errors.New("estimator: no closed form")
)

// Float is the element type of a [Dense] matrix.
type Float interface{ ~float32 | ~float64 }

// Dense is a row-major matrix: element (i, j) is Data[i*Cols+j].
type Dense[T Float] struct {
	Rows, Cols int
	Data       []T
}

// NewDense returns a rows×cols matrix backed by data, or a new zero matrix when data is nil.
// It returns ErrShape when a dimension is negative or len(data) ≠ rows·cols.
func NewDense[T Float](rows, cols int, data []T) (Dense[T], error) {
	if rows < 0 || cols < 0 {
		return Dense[T]{}, fmt.Errorf("%w: negative dimension %dx%d", ErrShape, rows, cols)
	}
	if data == nil {
		data = make([]T, rows*cols)
	}
	if len(data) != rows*cols {
		return Dense[T]{}, fmt.Errorf("%w: %d elements for a %dx%d matrix", ErrShape, len(data), rows, cols)
	}
	return Dense[T]{Rows: rows, Cols: cols, Data: data}, nil
}

// At returns element (i, j). It panics when (i, j) is out of range.
func (d Dense[T]) At(i, j int) T {
	if i < 0 || i >= d.Rows || j < 0 || j >= d.Cols {
		panic(fmt.Sprintf("estimator: index (%d,%d) out of range for %dx%d", i, j, d.Rows, d.Cols))
	}
	return d.Data[i*d.Cols+j]
}

// Row returns row i as a slice of the matrix's storage.
func (d Dense[T]) Row(i int) []T { return d.Data[i*d.Cols : (i+1)*d.Cols] }

// check verifies that the storage fits the dimensions and that every element is finite.
func (d Dense[T]) check(name string) error {
	if d.Rows < 0 || d.Cols < 0 || len(d.Data) != d.Rows*d.Cols {
		return fmt.Errorf("%w: %s is %dx%d with %d elements", ErrShape, name, d.Rows, d.Cols, len(d.Data))
	}
	for k, v := range d.Data {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%w: %s[%d,%d] = %v", ErrNonFinite, name, k/d.Cols, k%d.Cols, f)
		}
	}
	return nil
}

// ToFloat64 returns a float64 copy of d.
func ToFloat64[T Float](d Dense[T]) Dense[float64] {
	out := make([]float64, len(d.Data))
	for i, v := range d.Data {
		out[i] = float64(v)
	}
	return Dense[float64]{Rows: d.Rows, Cols: d.Cols, Data: out}
}

// checkProduct validates X (n×m) and Y (m×q) for the product XY.
func checkProduct[T Float](x, y Dense[T]) error {
	if err := x.check("X"); err != nil {
		return err
	}
	if err := y.check("Y"); err != nil {
		return err
	}
	if x.Cols != y.Rows {
		return fmt.Errorf("%w: X is %dx%d but Y is %dx%d", ErrShape, x.Rows, x.Cols, y.Rows, y.Cols)
	}
	return nil
}

// checkTransProduct validates H (m×n) and G (m×q) for the product HᵀG.
func checkTransProduct[T Float](h, g Dense[T]) error {
	if err := h.check("H"); err != nil {
		return err
	}
	if err := g.check("G"); err != nil {
		return err
	}
	return checkTransShape(h, g)
}

// checkTransShape checks the dimensions of H and G for HᵀG, not their values.
func checkTransShape[T Float](h, g Dense[T]) error {
	if h.Rows < 0 || h.Cols < 0 || len(h.Data) != h.Rows*h.Cols {
		return fmt.Errorf("%w: H is %dx%d with %d elements", ErrShape, h.Rows, h.Cols, len(h.Data))
	}
	if g.Rows < 0 || g.Cols < 0 || len(g.Data) != g.Rows*g.Cols {
		return fmt.Errorf("%w: G is %dx%d with %d elements", ErrShape, g.Rows, g.Cols, len(g.Data))
	}
	if h.Rows != g.Rows {
		return fmt.Errorf("%w: H is %dx%d but G is %dx%d (rows must match)", ErrShape, h.Rows, h.Cols, g.Rows, g.Cols)
	}
	return nil
}
