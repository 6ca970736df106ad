package estimator

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas/gonum"
)

// Weights returns the sampling weights w_i = ‖X[:,i]‖·‖Y[i,:]‖ of the m pairs of the product XY
// (Eq. 3 up to normalisation). It returns ErrShape or ErrNonFinite for bad input.
func Weights[T Float](x, y Dense[T]) ([]float64, error) {
	if err := checkProduct(x, y); err != nil {
		return nil, err
	}
	m := x.Cols
	a := make([]float64, m)
	for i := 0; i < x.Rows; i++ {
		for j, v := range x.Row(i) {
			a[j] += float64(v) * float64(v)
		}
	}
	b := RowNorms(y)
	for i := range a {
		a[i] = math.Sqrt(a[i]) * b[i]
	}
	return a, nil
}

// WeightsTransA returns the sampling weights w_t = ‖H[t,:]‖·‖G[t,:]‖ of the product HᵀG, whose
// pairs are the rows of H and G (for ∇W = Hᵀ∇Z: the tokens). It returns ErrShape or ErrNonFinite
// for bad input.
func WeightsTransA[T Float](h, g Dense[T]) ([]float64, error) {
	if err := checkTransShape(h, g); err != nil {
		return nil, err
	}
	// NaN and Inf are found through the norms: a row holding one has a non-finite norm, so the
	// data is read once.
	a := RowNorms(h)
	b := RowNorms(g)
	for i := range a {
		if err := finiteNorm("H", h, i, a[i]); err != nil {
			return nil, err
		}
		if err := finiteNorm("G", g, i, b[i]); err != nil {
			return nil, err
		}
		a[i] *= b[i]
	}
	return a, nil
}

// WeightsFromNorms returns w_i = a_i·b_i from caller-supplied norms, for example ‖H_t‖ and a
// cached ‖∇Z_t‖. It returns ErrShape when the lengths differ, ErrNonFinite for NaN or ±Inf and
// ErrNegative for a negative norm.
func WeightsFromNorms(a, b []float64) ([]float64, error) {
	if len(a) != len(b) {
		return nil, fmt.Errorf("%w: %d norms against %d", ErrShape, len(a), len(b))
	}
	w := make([]float64, len(a))
	for i := range a {
		for _, v := range [2]float64{a[i], b[i]} {
			switch {
			case math.IsNaN(v) || math.IsInf(v, 0):
				return nil, fmt.Errorf("%w: norm %d is %v", ErrNonFinite, i, v)
			case v < 0:
				return nil, fmt.Errorf("%w: norm %d is %v", ErrNegative, i, v)
			}
		}
		w[i] = a[i] * b[i]
	}
	return w, nil
}

// Probabilities returns p_i = w_i / Σw. When every weight is zero it returns all zeros. It
// returns ErrNonFinite or ErrNegative for bad weights.
func Probabilities(w []float64) ([]float64, error) {
	if err := checkWeights(w); err != nil {
		return nil, err
	}
	var total float64
	for _, v := range w {
		total += v
	}
	p := make([]float64, len(w))
	if total == 0 {
		return p, nil
	}
	for i, v := range w {
		p[i] = v / total
	}
	return p, nil
}

func checkWeights(w []float64) error {
	var total float64
	for i, v := range w {
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			return fmt.Errorf("%w: weight %d is %v", ErrNonFinite, i, v)
		case v < 0:
			return fmt.Errorf("%w: weight %d is %v", ErrNegative, i, v)
		}
		total += v
	}
	if math.IsInf(total, 0) {
		return fmt.Errorf("%w: the weights sum to +Inf", ErrNonFinite)
	}
	return nil
}

// RowNorms returns the Euclidean norm of every row of d, computed in parallel over rows. It does
// not check d for NaN or Inf.
func RowNorms[T Float](d Dense[T]) []float64 {
	out := make([]float64, d.Rows)
	parallelRows(d.Rows, d.Cols, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = math.Sqrt(sumSquares(d.Row(i)))
		}
	})
	return out
}

// sumSquares uses gonum's assembly dot kernels.
func sumSquares[T Float](v []T) float64 {
	var impl gonum.Implementation
	switch s := any(v).(type) {
	case []float32:
		return float64(impl.Sdot(len(s), s, 1, s, 1))
	case []float64:
		return impl.Ddot(len(s), s, 1, s, 1)
	}
	var acc float64
	for _, x := range v {
		acc += float64(x) * float64(x)
	}
	return acc
}

// parallelRows splits rows into contiguous chunks, one goroutine each, when the work is large
// enough to pay for the goroutines.
func parallelRows(rows, cols int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > rows {
		workers = rows
	}
	if workers <= 1 || rows*cols < 1<<16 {
		f(0, rows)
		return
	}
	var wg sync.WaitGroup
	chunk := (rows + workers - 1) / workers
	for lo := 0; lo < rows; lo += chunk {
		hi := min(lo+chunk, rows)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// finiteNorm returns ErrNonFinite when the norm of row i is NaN or Inf: a NaN or Inf in the row,
// or a sum of squares that overflows.
func finiteNorm[T Float](name string, d Dense[T], i int, norm float64) error {
	if !math.IsNaN(norm) && !math.IsInf(norm, 0) {
		return nil
	}
	for j, v := range d.Row(i) {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%w: %s[%d,%d] = %v", ErrNonFinite, name, i, j, f)
		}
	}
	return fmt.Errorf("%w: the squared norm of %s row %d overflows", ErrNonFinite, name, i)
}
