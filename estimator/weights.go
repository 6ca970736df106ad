package estimator

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/wtacrs/wtacrs/internal/parallel"
	"github.com/wtacrs/wtacrs/matrix"
	"gonum.org/v1/gonum/blas/gonum"
)

// ErrRange reports a number that float64 cannot hold where the result needs it: weights that
// span more than float64's range, a scale 1/(k·p) that would overflow, a closed-form moment or
// product above MaxFloat64. The message gives the value and what to rescale.
var ErrRange = errors.New("estimator: out of float64 range")

// Weights returns the sampling weights w_i = ‖X[:,i]‖·‖Y[i,:]‖ of the m pairs of the product XY
// (Eq. 3 up to normalisation). Norms and weights are right over float64's whole range (entries
// of 1e-300, subnormal or up to MaxFloat64): when some w_i would overflow or fall below the
// normal range, every weight is multiplied by one power of two (see [WeightsFromNorms]). It
// returns ErrShape or ErrNonFinite for bad input and ErrRange when the weights span more than
// float64 holds.
func Weights[T matrix.Float](x, y matrix.Dense[T]) ([]float64, error) {
	if err := matrix.CheckProduct(x, y); err != nil {
		return nil, err
	}
	return weightsOf(nil, columnNorms(x), rowNorms(nil, y))
}

// WeightsTransA returns the sampling weights w_t = ‖H[t,:]‖·‖G[t,:]‖ of the product HᵀG, whose
// pairs are the rows of H and G (for ∇W = Hᵀ∇Z: the tokens), over float64's whole range as for
// [Weights]. It returns ErrShape or ErrNonFinite for bad input and ErrRange when the weights
// span more than float64 holds.
func WeightsTransA[T matrix.Float](h, g matrix.Dense[T]) ([]float64, error) {
	if err := matrix.CheckTransShape(h, g); err != nil {
		return nil, err
	}
	// NaN and Inf are found through the norms: a row holding one has a non-finite norm, so the
	// data is read once.
	a := rowNorms(nil, h)
	b := rowNorms(nil, g)
	for i := range a.v {
		if err := finiteNorm("H", h, i, a.v[i]); err != nil {
			return nil, err
		}
		if err := finiteNorm("G", g, i, b.v[i]); err != nil {
			return nil, err
		}
	}
	return weightsOf(nil, a, b)
}

// WeightsFromNorms returns w_i = a_i·b_i from caller-supplied norms, for example ‖H_t‖ and a
// cached ‖∇Z_t‖. When some product would overflow, or fall below float64's normal range although
// both of its norms are positive, every weight is multiplied by one power of two 2^s, chosen so
// that the largest lies in [0.5, 1): probabilities, plans and sketches depend on the weights
// only up to a common factor, and a power of two changes none of their bits. So a pair with
// positive norms never gets weight 0. It returns ErrShape when the lengths differ, ErrNonFinite
// for NaN or ±Inf, ErrNegative for a negative norm and ErrRange when the smallest positive
// product is more than 2^1074 times below the largest, beyond what float64 holds at one scale.
func WeightsFromNorms(a, b []float64) ([]float64, error) {
	if err := checkNorms(a, b); err != nil {
		return nil, err
	}
	return weightsOf(nil, norms{v: a}, norms{v: b})
}

// WeightsFromNormsInto is [WeightsFromNorms] writing the weights into dst, grown to len(a)
// when shorter (nil: fresh storage), so that a caller that forms weights at every step can reuse
// one buffer. It returns the weights, in dst's storage when it was large enough, and the errors
// of WeightsFromNorms.
func WeightsFromNormsInto(dst, a, b []float64) ([]float64, error) {
	if err := checkNorms(a, b); err != nil {
		return nil, err
	}
	return weightsOf(dst, norms{v: a}, norms{v: b})
}

// checkNorms returns the errors of [WeightsFromNorms] for the norms a and b.
func checkNorms(a, b []float64) error {
	if len(a) != len(b) {
		return fmt.Errorf("%w: %d norms against %d", ErrShape, len(a), len(b))
	}
	for i := range a {
		for _, v := range [2]float64{a[i], b[i]} {
			switch {
			case math.IsNaN(v) || math.IsInf(v, 0):
				return fmt.Errorf("%w: norm %d is %v", ErrNonFinite, i, v)
			case v < 0:
				return fmt.Errorf("%w: norm %d is %v", ErrNegative, i, v)
			}
		}
	}
	return nil
}

// norms holds m non-negative norms, the i-th being v[i]·2^exp[i]; exp is nil when every
// exponent is zero, which is the case unless a norm left float64's safe range.
type norms struct {
	v   []float64
	exp []int
}

// at returns norm i as a wide number.
func (n norms) at(i int) wide {
	if n.exp == nil {
		return makeWide(n.v[i], 0)
	}
	return makeWide(n.v[i], n.exp[i])
}

// set stores norm i, allocating the exponents when the first nonzero one comes.
func (n *norms) set(i int, w wide) {
	n.v[i] = w.frac
	if w.exp != 0 && n.exp == nil {
		n.exp = make([]int, len(n.v)) // the norms so far have exponent 0
	}
	if n.exp != nil {
		n.exp[i] = w.exp
	}
}

// float64s returns the norms rounded to float64: +Inf for a norm above MaxFloat64 (a row of
// several entries near it), a subnormal for a row of subnormal entries. It reuses v.
func (n norms) float64s() []float64 {
	if n.exp != nil {
		for i, e := range n.exp {
			n.v[i] = math.Ldexp(n.v[i], e)
		}
	}
	return n.v
}

// weightsOf returns w_i = a_i·b_i for finite non-negative norms, as [WeightsFromNorms] describes.
// When every norm has exponent zero and every product and the sum are in float64's normal range,
// w_i is the float64 product a.v[i]*b.v[i] (the fast path, bit for bit what it always was).
// The weights are written into dst (grown to len(a.v) when shorter; nil: fresh storage).
func weightsOf(dst []float64, a, b norms) ([]float64, error) {
	w := resize(dst, len(a.v))
	if a.exp == nil && b.exp == nil {
		ok := true
		var total float64
		for i := range w {
			w[i] = a.v[i] * b.v[i]
			total += w[i]
			if w[i] < 0x1p-1022 && (w[i] != 0 || a.v[i] != 0 && b.v[i] != 0) {
				ok = false // subnormal, or underflowed to zero
			}
		}
		if ok && total <= math.MaxFloat64 {
			return w, nil
		}
	}
	prod := make([]wide, len(w))
	top, low, small := math.MinInt, math.MaxInt, -1
	for i := range w {
		prod[i] = a.at(i).mul(b.at(i))
		if prod[i].frac != 0 {
			top = max(top, prod[i].exp)
			if prod[i].exp < low {
				low, small = prod[i].exp, i
			}
		}
	}
	if small < 0 {
		clear(w)
		return w, nil // every weight is zero
	}
	// The natural scale when every positive product is normal (frac·2^exp ≥ 2^-1022) and the sum
	// is finite; otherwise the largest weight in [0.5, 1).
	if low >= -1021 && top <= 1024 {
		var total float64
		for i, p := range prod {
			w[i] = math.Ldexp(p.frac, p.exp)
			total += w[i]
		}
		if total <= math.MaxFloat64 {
			return w, nil
		}
	}
	for i, p := range prod {
		w[i] = math.Ldexp(p.frac, p.exp-top)
		// Every positive product must stay positive; the one of lowest exponent need not be the
		// smallest (found by FuzzRangeProperties: two pairs 2^-1075 and 2^-1074.2 below the
		// largest, the first rounding to 0).
		if p.frac != 0 && w[i] == 0 {
			return nil, fmt.Errorf("%w: the weight of pair %d (≈%v) is 2^%d times the largest, below what float64 holds at one scale (2^-1074); rescale that pair's column and row",
				ErrRange, i, p, p.exp-top)
		}
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

// maxSpan bounds Σw/w_i over the positive weights of a sampling plan. A drawn pair's scale is at
// most T/w_i (1/(k·p_i) with k ≥ 1, p_i = w_i/T), and the plan's total T may exceed Σw by a
// rounding of at most a factor (1 + m·2^-53) < 2; 2^1020 keeps every scale and every probability
// (≥ 2^-1020) in float64's normal range.
const maxSpan = 0x1p1020

// checkSpan returns ErrRange when the positive weights span more than maxSpan: the scale of the
// lightest pair, 1/(k·p), would overflow float64 (and such a pair is never drawn: the draws
// resolve probabilities of 2^-53 at best).
func checkSpan(w []float64) error {
	var total float64
	small := -1
	for i, v := range w {
		total += v
		if v > 0 && (small < 0 || v < w[small]) {
			small = i
		}
	}
	if small >= 0 && !(total/w[small] <= maxSpan) {
		return fmt.Errorf("%w: weight %d (%g) is more than 2^1020 below the sum of the weights (%g): its scale 1/(k·p) would overflow float64",
			ErrRange, small, w[small], total)
	}
	return nil
}

// RowNorms returns the Euclidean norm of every row of d, computed in parallel over rows. The
// norms are right over float64's whole range: a row of entries of 1e-300 or subnormal ones gets
// its norm (subnormal where the norm is), a row of entries near MaxFloat64 gets its norm or +Inf
// where the norm exceeds MaxFloat64. It does not check d for NaN or Inf (a row holding one gets
// norm NaN or +Inf).
func RowNorms[T matrix.Float](d matrix.Dense[T]) []float64 {
	return rowNorms(nil, d).float64s()
}

// RowNormsInto is [RowNorms] writing into dst, which must have d.Rows entries (it panics
// otherwise): for callers that compute norms at every step and reuse one buffer. It returns dst.
func RowNormsInto[T matrix.Float](dst []float64, d matrix.Dense[T]) []float64 {
	if len(dst) != d.Rows {
		panic(fmt.Sprintf("estimator: %d norms for a matrix of %d rows", len(dst), d.Rows))
	}
	return rowNorms(dst, d).float64s()
}

// rowNorms returns the row norms of d in the storage of out (grown to d.Rows when shorter; nil:
// fresh storage). The fast path is the square root of gonum's dot kernel, accepted where that
// sum of squares is safely in range (see sumSquares); a zero sum is accepted only for a row of
// zeros (it may hide squares that underflowed), and the other rows are recomputed with scaling.
func rowNorms[T matrix.Float](out []float64, d matrix.Dense[T]) norms {
	out = resize(out, d.Rows)
	var fallback atomic.Bool // some row is marked for the scaled computation
	parallelRows(d.Rows, d.Cols, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := d.Row(i)
			switch s, ok := sumSquares(row); {
			case ok:
				out[i] = math.Sqrt(s)
			case s == 0 && allZero(row):
				out[i] = 0 // what the scaled computation gives a zero row, found faster
			default:
				out[i] = -1
				fallback.Store(true)
			}
		}
	})
	n := norms{v: out}
	if fallback.Load() {
		for i, v := range out {
			if v < 0 {
				n.set(i, wideSumSquares(d.Row(i)).sqrt())
			}
		}
	}
	return n
}

// allZero reports whether every entry of v is ±0 (for example the output gradient of a token
// that no loss term reaches, or of padding).
func allZero[T matrix.Float](v []T) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// columnNorms returns the column norms of d, summing the squares of each column over the rows in
// order (the fast path) and recomputing with scaling the columns whose sum is not safely in
// float64's range.
func columnNorms[T matrix.Float](d matrix.Dense[T]) norms {
	a := make([]float64, d.Cols)
	for i := 0; i < d.Rows; i++ {
		for j, v := range d.Row(i) {
			a[j] += float64(v) * float64(v)
		}
	}
	n := norms{v: a}
	var col []T
	for j, s := range a {
		if s >= 0x1p-1022 && s <= math.MaxFloat64 {
			a[j] = math.Sqrt(s)
			continue
		}
		if col == nil {
			col = make([]T, d.Rows)
		}
		for i := range col {
			col[i] = d.Data[i*d.Cols+j]
		}
		n.set(j, wideSumSquares(col).sqrt())
	}
	return n
}

// sumSquares returns Σv² from gonum's assembly dot kernels and whether it is safely in range:
// finite and at least the smallest normal number of the precision it was summed in (float32 for
// []float32, float64 otherwise). Such a sum is as accurate as one at ordinary scales: each square
// that underflowed lost at most half the smallest subnormal, ε·2^-1022 in float64 (ε = 2^-53),
// so n of them lose at most n·ε·s, the bound of the sum's own rounding. A zero sum is not
// accepted: it may hide squares that underflowed.
func sumSquares[T matrix.Float](v []T) (float64, bool) {
	var impl gonum.Implementation
	switch s := any(v).(type) {
	case []float32:
		r := impl.Sdot(len(s), s, 1, s, 1)
		return float64(r), r >= 0x1p-126 && r <= math.MaxFloat32
	case []float64:
		r := impl.Ddot(len(s), s, 1, s, 1)
		return r, r >= 0x1p-1022 && r <= math.MaxFloat64
	}
	var acc float64
	for _, x := range v {
		acc += float64(x) * float64(x)
	}
	return acc, acc >= 0x1p-1022 && acc <= math.MaxFloat64
}

// parallelRows runs f over contiguous chunks of rows on several goroutines when the work
// (rows × cols) is large enough to pay for them (package internal/parallel).
func parallelRows(rows, cols int, f func(lo, hi int)) { parallel.Chunks(rows, cols, 1<<16, f) }

// finiteNorm returns ErrNonFinite when the norm of row i is NaN or Inf, that is when the row
// holds a NaN or ±Inf (norms are computed with scaling and never overflow here).
func finiteNorm[T matrix.Float](name string, d matrix.Dense[T], i int, norm float64) error {
	if !math.IsNaN(norm) && !math.IsInf(norm, 0) {
		return nil
	}
	for j, v := range d.Row(i) {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%w: %s[%d,%d] = %v", ErrNonFinite, name, i, j, f)
		}
	}
	panic(fmt.Sprintf("estimator: norm %v of finite row %d of %s", norm, i, name))
}
