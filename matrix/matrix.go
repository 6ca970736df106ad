// Package matrix is the dense matrix type of the project and its exact products, at the bottom
// of the import graph: the estimators, the model, the .npy files and the GPU package all speak
// [Dense].
//
// # Conventions
//
// A [Dense] is row-major: element (i, j) is Data[i*Cols+j]. Its element type is float32 or
// float64 ([Float]). Functions that take matrices validate them and return errors wrapping
// [ErrShape] (dimensions that do not fit, storage that does not match them) or [ErrNonFinite]
// (a NaN or ±Inf); they never change their inputs and allocate their results. The GEMM is
// package internal/gemm: gonum's pure Go by default, OpenBLAS with the build tag cblas
// ([Backend] says which).
package matrix

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/wtacrs/wtacrs/internal/gemm"
)

// Errors returned by this package (and, under the same identity, by the packages built on
// it), wrapped with context.
var (
	// ErrShape reports matrices whose dimensions do not fit together.
	ErrShape = errors.New("shape mismatch")
	// ErrNonFinite reports a NaN or ±Inf in an input.
	ErrNonFinite = errors.New("NaN or Inf in input")
)

// Float is the element type of a [Dense] matrix.
type Float interface{ float32 | float64 }

// ElemSize returns the size in bytes of one element of type T (4 or 8).
func ElemSize[T Float]() int {
	var z T
	return int(unsafe.Sizeof(z))
}

// Backend names the GEMM implementation in use, such as "OpenBLAS (libopenblas.so.0,
// runtime, 2 threads)", "gonum (pure Go)" or "OpenBLAS (cgo, 2 threads)" (an OpenBLAS with
// the thread count it reported), choosing it from the environment variable
// WTACRS_BLAS on the first call of Backend, InitBackend or a product: "auto" (the default)
// loads libopenblas.so.0, libopenblas.so or a generic CBLAS (libcblas.so.3, libblas.so.3) and
// falls back to gonum's pure Go when none loads; "go" or "gonum" is the pure Go; any other
// value is the path of the CBLAS library to load.
func Backend() string { return gemm.Backend() }

// InitBackend chooses the GEMM implementation as [Backend] does and returns the error of the
// choice: nil, or an error saying that the library WTACRS_BLAS names cannot be loaded, in
// which case the products use gonum's pure Go. A program should call it at start-up and stop
// on its error; every call returns the same error.
func InitBackend() error { return gemm.Init() }

// Dense is a row-major matrix: element (i, j) is Data[i*Cols+j]. A valid Dense has
// len(Data) = Rows·Cols; [Dense.Check] verifies it.
type Dense[T Float] struct {
	// Rows and Cols are the dimensions, both ≥ 0.
	Rows, Cols int
	// Data is the storage, row after row.
	Data []T
}

// NewDense returns a rows×cols matrix backed by data, or a new zero matrix when data is nil.
// It returns ErrShape when a dimension is negative or len(data) ≠ rows·cols.
func NewDense[T Float](rows, cols int, data []T) (Dense[T], error) {
	if rows < 0 || cols < 0 {
		return Dense[T]{}, fmt.Errorf("%w: negative dimension %dx%d", ErrShape, rows, cols)
	}
	if data == nil {
		if cols > 0 && rows > math.MaxInt/cols {
			return Dense[T]{}, fmt.Errorf("%w: %dx%d elements overflow", ErrShape, rows, cols)
		}
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
		panic(fmt.Sprintf("matrix: index (%d,%d) out of range for %dx%d", i, j, d.Rows, d.Cols))
	}
	return d.Data[i*d.Cols+j]
}

// Row returns row i as a slice of the matrix's storage.
func (d Dense[T]) Row(i int) []T { return d.Data[i*d.Cols : (i+1)*d.Cols] }

// CheckShape returns ErrShape, naming the matrix, when the storage does not fit the dimensions.
func (d Dense[T]) CheckShape(name string) error {
	if d.Rows < 0 || d.Cols < 0 || len(d.Data) != d.Rows*d.Cols {
		return fmt.Errorf("%w: %s is %dx%d with %d elements", ErrShape, name, d.Rows, d.Cols, len(d.Data))
	}
	return nil
}

// Check returns ErrShape when the storage does not fit the dimensions and ErrNonFinite, naming
// the matrix and the element, when an element is NaN or ±Inf.
func (d Dense[T]) Check(name string) error {
	if err := d.CheckShape(name); err != nil {
		return err
	}
	if !HasNonFinite(d.Data) {
		return nil
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

// Transpose returns dᵀ.
func Transpose[T Float](d Dense[T]) Dense[T] {
	out := Dense[T]{Rows: d.Cols, Cols: d.Rows, Data: make([]T, len(d.Data))}
	for i := 0; i < d.Rows; i++ {
		for j, v := range d.Row(i) {
			out.Data[j*d.Rows+i] = v
		}
	}
	return out
}

// CheckProduct validates X (n×m) and Y (m×q) for the product XY: ErrShape or ErrNonFinite.
func CheckProduct[T Float](x, y Dense[T]) error {
	if err := x.Check("X"); err != nil {
		return err
	}
	if err := y.Check("Y"); err != nil {
		return err
	}
	if x.Cols != y.Rows {
		return fmt.Errorf("%w: X is %dx%d but Y is %dx%d", ErrShape, x.Rows, x.Cols, y.Rows, y.Cols)
	}
	return nil
}

// CheckTransProduct validates H (m×n) and G (m×q) for the product HᵀG: ErrShape or
// ErrNonFinite.
func CheckTransProduct[T Float](h, g Dense[T]) error {
	if err := h.Check("H"); err != nil {
		return err
	}
	if err := g.Check("G"); err != nil {
		return err
	}
	return CheckTransShape(h, g)
}

// CheckTransShape checks the dimensions of H and G for HᵀG (ErrShape), not their values.
func CheckTransShape[T Float](h, g Dense[T]) error {
	if err := h.CheckShape("H"); err != nil {
		return err
	}
	if err := g.CheckShape("G"); err != nil {
		return err
	}
	if h.Rows != g.Rows {
		return fmt.Errorf("%w: H is %dx%d but G is %dx%d (rows must match)", ErrShape, h.Rows, h.Cols, g.Rows, g.Cols)
	}
	return nil
}

// Product returns the exact product XY. It returns ErrShape or ErrNonFinite for bad input.
func Product[T Float](x, y Dense[T]) (Dense[T], error) {
	if err := CheckProduct(x, y); err != nil {
		return Dense[T]{}, err
	}
	out := Dense[T]{Rows: x.Rows, Cols: y.Cols, Data: make([]T, x.Rows*y.Cols)}
	gemm.Gemm(false, false, x.Rows, y.Cols, x.Cols, 1, x.Data, max(1, x.Cols), y.Data, max(1, y.Cols), 0, out.Data, max(1, out.Cols))
	return out, nil
}

// ProductTransA returns the exact product HᵀG (for ∇W = Hᵀ∇Z). It returns ErrShape or
// ErrNonFinite for bad input.
func ProductTransA[T Float](h, g Dense[T]) (Dense[T], error) {
	if err := CheckTransProduct(h, g); err != nil {
		return Dense[T]{}, err
	}
	out := Dense[T]{Rows: h.Cols, Cols: g.Cols, Data: make([]T, h.Cols*g.Cols)}
	gemm.Gemm(true, false, h.Cols, g.Cols, h.Rows, 1, h.Data, max(1, h.Cols), g.Data, max(1, g.Cols), 0, out.Data, max(1, out.Cols))
	return out, nil
}

// CheckFinite returns ErrNonFinite, naming v, when v holds a NaN or ±Inf.
func CheckFinite[T Float](name string, v []T) error {
	if !HasNonFinite(v) {
		return nil
	}
	for i, x := range v {
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%w: %s[%d] = %v", ErrNonFinite, name, i, f)
		}
	}
	return nil
}

// HasNonFinite reports whether v holds a NaN or ±Inf: x·0 is NaN exactly for those, and a sum
// with a NaN term is NaN. Four independent sums keep the loop from waiting on one addition chain.
func HasNonFinite[T Float](v []T) bool {
	var a0, a1, a2, a3 T
	i := 0
	for ; i+4 <= len(v); i += 4 {
		a0 += v[i] * 0
		a1 += v[i+1] * 0
		a2 += v[i+2] * 0
		a3 += v[i+3] * 0
	}
	for ; i < len(v); i++ {
		a0 += v[i] * 0
	}
	s := a0 + a1 + a2 + a3
	return s != s
}
