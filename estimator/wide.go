package estimator

import (
	"fmt"
	"math"

	"github.com/wtacrs/wtacrs/matrix"
)

// wide is the number frac·2^exp: a float64 with a separate binary exponent, for the norms,
// weights and moments of matrices whose squares leave float64's range (entries of 1e-300 or
// 1e300). frac is 0 or has magnitude in [0.5, 1), except that a NaN or ±Inf is carried as
// frac with exp 0. The operations round as float64 does; only the exponent's range is wider.
type wide struct {
	frac float64
	exp  int
}

// makeWide returns f·2^e normalised.
func makeWide(f float64, e int) wide {
	if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return wide{frac: f}
	}
	fr, fe := math.Frexp(f)
	return wide{fr, fe + e}
}

func (a wide) mul(b wide) wide { return makeWide(a.frac*b.frac, a.exp+b.exp) }

// add returns a + b, rounded once to 53 bits at the larger operand's exponent.
func (a wide) add(b wide) wide {
	switch {
	case a.frac == 0:
		return b
	case b.frac == 0:
		return a
	case a.exp < b.exp:
		a, b = b, a
	}
	return makeWide(a.frac+math.Ldexp(b.frac, b.exp-a.exp), a.exp)
}

func (a wide) neg() wide { return wide{-a.frac, a.exp} }

func (a wide) ldexp(k int) wide {
	if a.frac == 0 || !a.finite() {
		return a
	}
	return wide{a.frac, a.exp + k}
}

// sqrt returns √a for a ≥ 0.
func (a wide) sqrt() wide {
	if a.frac <= 0 || !a.finite() {
		return wide{frac: math.Sqrt(a.frac)}
	}
	f, e := a.frac, a.exp
	if e%2 != 0 {
		f, e = f*2, e-1
	}
	return makeWide(math.Sqrt(f), e/2)
}

func (a wide) finite() bool { return !math.IsNaN(a.frac) && !math.IsInf(a.frac, 0) }

// float64 returns a rounded to float64 (a subnormal or 0 below float64's range) and whether it
// fits: false when it overflows to ±Inf, and false when a itself is not finite (a wide
// computation that overflowed its fraction lies above float64's range too).
func (a wide) float64() (float64, bool) {
	f := math.Ldexp(a.frac, a.exp)
	return f, !math.IsInf(f, 0) && a.finite()
}

// String prints a in decimal with four significant digits, also beyond float64's range
// ("1.234e+600").
func (a wide) String() string {
	if a.frac == 0 || !a.finite() {
		return fmt.Sprint(a.frac)
	}
	l := math.Log10(math.Abs(a.frac)) + float64(a.exp)*math.Log10(2)
	d := math.Floor(l)
	m := math.Copysign(math.Pow(10, l-d), a.frac)
	if math.Abs(m) >= 9.9995 { // rounding to four digits carries into the exponent
		m, d = m/10, d+1
	}
	return fmt.Sprintf("%.3fe%+03d", m, int(d))
}

// wideSumSquares returns Σv² without overflow or underflow: the entries are scaled by the power
// of two that brings the largest to [0.5, 1) before they are squared (as BLAS nrm2 scales). A
// NaN or ±Inf entry gives a NaN or +Inf sum.
func wideSumSquares[T matrix.Float](v []T) wide {
	var big float64
	for _, x := range v {
		a := math.Abs(float64(x))
		if a != a {
			return wide{frac: math.NaN()}
		}
		big = max(big, a)
	}
	if big == 0 || math.IsInf(big, 1) {
		return wide{frac: big}
	}
	_, e := math.Frexp(big)
	// The entries are multiplied by 2^-e: exact unless the product is subnormal, where it rounds
	// as math.Ldexp does. 2^-e is a float64 for −e ≤ 1023; the larger shifts of subnormal inputs
	// take two steps.
	pre, shift := 1.0, -e
	if shift > 1023 {
		pre, shift = 0x1p1000, shift-1000
	}
	scale := math.Ldexp(1, shift)
	var s float64
	for _, x := range v {
		f := float64(x) * pre * scale
		s += f * f
	}
	return makeWide(s, 2*e)
}
