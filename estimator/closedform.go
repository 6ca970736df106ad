package estimator

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/wtacrs/wtacrs/matrix"
)

// MaxEnumeratedPairs bounds the number of positive-weight pairs for which the closed form of
// sampling without replacement is computed (it enumerates subsets).
const MaxEnumeratedPairs = 16

// Moments are the exact first two moments of an estimator's error.
type Moments struct {
	// Mean is E[X'Y'] over the plan's randomness.
	Mean matrix.Dense[float64]
	// SquaredBias is ‖E[X'Y'] − XY‖²_F (zero up to rounding for unbiased plans).
	SquaredBias float64
	// Variance is E‖X'Y' − E[X'Y']‖²_F, the sum of the entries' variances.
	Variance float64
}

// ExpectedSquaredError returns E‖XY − X'Y'‖²_F = SquaredBias + Variance.
func (m Moments) ExpectedSquaredError() float64 { return m.SquaredBias + m.Variance }

// ClosedForm returns the exact moments of the plan's estimate of XY, computed in float64:
//
//   - i.i.d. plans (CRS, WTA-CRS, uniform; any scales, see [Plan.WithScale]): mean
//     Σ_C X_cY_c + d·Σ_i p_i s_i X_iY_i and variance
//     d·(Σ_i p_i s_i² ‖X[:,i]‖²‖Y[i,:]‖² − ‖Σ_i p_i s_i X_iY_i‖²_F) for d draws;
//   - Bernoulli: variance Σ_i p_i(1−p_i) s_i² ‖X[:,i]‖²‖Y[i,:]‖²;
//   - top-k: deterministic, all error is bias;
//   - sampling without replacement: by enumerating the subsets of the positive-weight pairs,
//     ErrNoClosedForm when there are more than MaxEnumeratedPairs of them.
//
// The moments are right over float64's whole range: where a square, a product or a sum of the
// plain float64 evaluation would overflow or underflow (entries of 1e-300 or 1e300, scales near
// the limits), the moments are recomputed with separate binary exponents, each column-row pair
// rescaled by powers of two (exact). Results below float64's range are rounded to the nearest
// float64 (a subnormal or 0): the moments are homogeneous, of degree 2 in X and in Y, so scaling
// X or Y by a power of two brings them into range. A result above MaxFloat64 returns ErrRange
// with its value.
//
// X must be n×m and Y m×q with m = p.M(); it returns ErrShape or ErrNonFinite otherwise.
func ClosedForm[T matrix.Float](x, y matrix.Dense[T], p *Plan) (Moments, error) {
	if err := matrix.CheckProduct(x, y); err != nil {
		return Moments{}, err
	}
	if p == nil || p.m != x.Cols {
		return Moments{}, fmt.Errorf("%w: plan over a different number of pairs than X (%d columns)", ErrShape, x.Cols)
	}
	switch p.method {
	case MethodCRS, MethodWTACRS, MethodUniform, MethodBernoulli, MethodTopK, MethodNoReplacement:
	default:
		return Moments{}, fmt.Errorf("estimator: unknown method %v", p.method)
	}
	if p.method == MethodNoReplacement {
		if err := p.checkEnumerable(); err != nil {
			return Moments{}, err
		}
	}
	xf, yf := matrix.ToFloat64(x), matrix.ToFloat64(y)
	if p.deterministicExact(xf, yf) {
		// Every pair of X·Y is used once with scale 1: the estimate is X·Y itself, and its
		// moments are exactly zero (not the rounding of two evaluations of one product).
		if exact, err := matrix.Product(xf, yf); err == nil && allFinite(exact.Data) {
			return Moments{Mean: exact}, nil
		} // a product beyond float64's range: the general evaluation reports it
	}
	if m, ok := p.closedFormFast(xf, yf); ok {
		return m, nil
	}
	return p.closedFormWide(xf, yf)
}

// deterministicExact reports whether every sketch of p uses exactly the pairs with a nonzero
// product X[:,i]·Y[i,:], each once with scale 1, and nothing else: no pair is drawn at random,
// and every pair left out has a zero column of X or a zero row of Y. (A plan whose weights do
// not come from X and Y may leave out a pair that matters; it is not exact then.)
func (p *Plan) deterministicExact(xf, yf matrix.Dense[float64]) bool {
	used := make([]bool, p.m)
	switch p.method {
	case MethodCRS, MethodWTACRS, MethodUniform, MethodTopK:
		if p.draws != 0 {
			return false
		}
		for _, i := range p.kept {
			used[i] = true
		}
	case MethodBernoulli:
		for i, q := range p.prob {
			switch {
			case q == 1 && p.scale[i] == 1:
				used[i] = true
			case q != 0:
				return false
			}
		}
	case MethodNoReplacement:
		if p.draws != p.positive() {
			return false
		}
		for i, v := range p.weights {
			if v > 0 {
				if p.scale[i] != 1 {
					return false
				}
				used[i] = true
			}
		}
	default:
		return false
	}
	for i, u := range used {
		if !u && !columnZero(xf, i) && !allZero(yf.Row(i)) {
			return false
		}
	}
	return true
}

// closedFormFast evaluates the moments in plain float64, as they always were, and reports
// whether that evaluation was safely in range: every column and row square sum normal or
// exactly zero, every partial product of a second-moment term normal, every result finite and
// the sum of squares of one draw's mean normal or exactly zero. Where it reports false the caller
// recomputes with closedFormWide. A squared bias whose squares underflowed (a bias of rounding
// size on tiny entries) is recomputed alone over rescaled pairs.
func (p *Plan) closedFormFast(xf, yf matrix.Dense[float64]) (Moments, bool) {
	exact, _ := matrix.Product(xf, yf)
	a2, b2 := columnSquares(xf), rowSquares(yf)
	if !squaresSafe(a2, func(j int) bool { return columnZero(xf, j) }) ||
		!squaresSafe(b2, func(i int) bool { return allZero(yf.Row(i)) }) || !allFinite(exact.Data) {
		return Moments{}, false
	}

	coef := make([]float64, p.m) // mean = X diag(coef) Y
	for _, c := range p.kept {
		coef[c] = 1
	}
	var variance float64
	switch p.method {
	case MethodCRS, MethodWTACRS, MethodUniform:
		d := float64(p.draws)
		one := make([]float64, p.m) // one draw's mean: X diag(one) Y
		var second float64
		for i, q := range p.prob {
			if !chainSafe(q, p.scale[i], p.scale[i], a2[i], b2[i]) {
				return Moments{}, false
			}
			one[i] = q * p.scale[i]
			coef[i] += d * one[i]
			second += q * p.scale[i] * p.scale[i] * a2[i] * b2[i]
		}
		mu := scaledProduct(xf, yf, one)
		f := frob2(mu.Data)
		if !sumSafe(f, mu.Data) {
			return Moments{}, false
		}
		variance = d * (second - f)
	case MethodBernoulli:
		for i, q := range p.prob {
			if !chainSafe(q*(1-q), p.scale[i], p.scale[i], a2[i], b2[i]) || !chainSafe(q, p.scale[i]) {
				return Moments{}, false
			}
			coef[i] += q * p.scale[i]
			variance += q * (1 - q) * p.scale[i] * p.scale[i] * a2[i] * b2[i]
		}
	case MethodTopK:
	case MethodNoReplacement:
		// The enumeration squares pair products and sums them with cancellation: safe when every
		// column and row norm lies in [2^-200, 2^200] (or is zero), so that pair products lie in
		// [2^-400, 2^400] and their squares and Gram entries far inside the normal range.
		for i := range a2 {
			if a2[i] != 0 && (a2[i] < 0x1p-400 || a2[i] > 0x1p400) || b2[i] != 0 && (b2[i] < 0x1p-400 || b2[i] > 0x1p400) {
				return Moments{}, false
			}
		}
		m := p.closedFormNoReplacement(xf, yf, exact)
		return m, allFinite([]float64{m.SquaredBias, m.Variance, m.SquaredBias + m.Variance}) && allFinite(m.Mean.Data)
	}
	if !allFinite(coef) || math.IsInf(variance, 0) || math.IsNaN(variance) {
		return Moments{}, false
	}
	mean := scaledProduct(xf, yf, coef)
	if !allFinite(mean.Data) {
		return Moments{}, false
	}
	bias := diff2(mean.Data, exact.Data)
	if !(bias <= math.MaxFloat64) {
		return Moments{}, false
	}
	if bias < 0x1p-1022 && !equalData(mean.Data, exact.Data) {
		// The differences' squares underflowed: ‖X·diag(coef − 1)·Y‖² over rescaled pairs.
		off := make([]float64, p.m)
		for i, c := range coef {
			off[i] = c - 1
		}
		w, err := pairSquares(xf, yf, columnNorms(xf), rowNorms(nil, yf), off)
		if err != nil {
			return Moments{}, false
		}
		b, ok := w.float64()
		if !ok || b >= 0x1p-1022 {
			// Not an underflow: the plain differences lost a bias far below the product's
			// rounding (found by FuzzRangeProperties); the wide evaluation decides.
			return Moments{}, false
		}
		bias = b
	}
	return Moments{Mean: mean, SquaredBias: bias, Variance: max(variance, 0)}, true
}

// closedFormWide evaluates the moments with separate binary exponents: the second-moment sums
// term by term as wide numbers from the column and row norms, and each matrix product
// (the mean, one draw's mean, the bias X·diag(coef−1)·Y) over balanced, rescaled pairs, whose
// squares are then summed with scaling.
func (p *Plan) closedFormWide(xf, yf matrix.Dense[float64]) (Moments, error) {
	a, b := columnNorms(xf), rowNorms(nil, yf)
	if p.method == MethodNoReplacement {
		return p.closedFormNoReplacementWide(xf, yf, a, b)
	}
	coef := make([]float64, p.m)
	for _, c := range p.kept {
		coef[c] = 1
	}
	var variance wide
	switch p.method {
	case MethodCRS, MethodWTACRS, MethodUniform:
		d := float64(p.draws)
		one := make([]float64, p.m)
		var second wide
		for i, q := range p.prob {
			one[i] = q * p.scale[i]
			coef[i] += d * one[i]
			ab := a.at(i).mul(b.at(i))
			s := makeWide(p.scale[i], 0)
			second = second.add(makeWide(q, 0).mul(s).mul(s).mul(ab).mul(ab))
		}
		mu, err := pairSquares(xf, yf, a, b, one)
		if err != nil {
			return Moments{}, err
		}
		variance = makeWide(d, 0).mul(second.add(mu.neg()))
	case MethodBernoulli:
		for i, q := range p.prob {
			coef[i] += q * p.scale[i]
			ab := a.at(i).mul(b.at(i))
			s := makeWide(p.scale[i], 0)
			variance = variance.add(makeWide(q*(1-q), 0).mul(s).mul(s).mul(ab).mul(ab))
		}
	}
	if !allFinite(coef) {
		return Moments{}, fmt.Errorf("%w: the coefficients d·p_i·s_i of the mean overflow float64 (scales too large)", ErrRange)
	}
	off := make([]float64, p.m) // the bias is X·diag(coef − 1)·Y
	for i, c := range coef {
		off[i] = c - 1
	}
	bias, err := pairSquares(xf, yf, a, b, off)
	if err != nil {
		return Moments{}, err
	}
	mean, e, err := pairProduct(xf, yf, a, b, coef, wideProductExp(p.m))
	if err != nil {
		return Moments{}, err
	}
	for i, v := range mean.Data {
		mean.Data[i] = math.Ldexp(v, e)
		if math.IsInf(mean.Data[i], 0) {
			return Moments{}, fmt.Errorf("%w: the mean E[X'Y'] has an entry ≈%v, above MaxFloat64; rescale X or Y", ErrRange, makeWide(v, e))
		}
	}
	if variance.frac < 0 {
		variance = wide{}
	}
	return momentsOf(mean, bias, variance)
}

// momentsOf rounds the wide squared bias and variance to float64, returning ErrRange for one
// above MaxFloat64.
func momentsOf(mean matrix.Dense[float64], bias, variance wide) (Moments, error) {
	b, okB := bias.float64()
	v, okV := variance.float64()
	switch {
	case !okV:
		return Moments{}, fmt.Errorf("%w: the closed-form variance overflows float64 (≈%v); rescale X or Y", ErrRange, variance)
	case !okB:
		return Moments{}, fmt.Errorf("%w: the closed-form squared bias overflows float64 (≈%v); rescale X or Y", ErrRange, bias)
	case math.IsInf(b+v, 0):
		return Moments{}, fmt.Errorf("%w: the closed-form expected squared error overflows float64 (≈%v); rescale X or Y", ErrRange, bias.add(variance))
	}
	return Moments{Mean: mean, SquaredBias: b, Variance: v}, nil
}

// wideProductExp is the binary exponent that pairProduct gives the largest pair product when the
// product's squares are summed with scaling: m such products and their sums stay below 2^1000.
func wideProductExp(m int) int { return 1000 - bits.Len(uint(m)) }

// pairSquares returns ‖X·diag(c)·Y‖²_F as a wide number.
func pairSquares(x, y matrix.Dense[float64], a, b norms, c []float64) (wide, error) {
	prod, e, err := pairProduct(x, y, a, b, c, wideProductExp(len(c)))
	if err != nil {
		return wide{}, err
	}
	return wideSumSquares(prod.Data).ldexp(2 * e), nil
}

// pairProduct returns P and e with X·diag(c)·Y = P·2^e, computed over balanced pairs (see
// balancedPairs). It returns ErrRange when a coefficient is not finite.
func pairProduct(x, y matrix.Dense[float64], a, b norms, c []float64, top int) (matrix.Dense[float64], int, error) {
	for j, cj := range c {
		if math.IsNaN(cj) || math.IsInf(cj, 0) {
			return matrix.Dense[float64]{}, 0, fmt.Errorf("%w: coefficient %d of the closed form is %v", ErrRange, j, cj)
		}
	}
	xs, ys, e := balancedPairs(x, y, a, b, c, top)
	out, _ := matrix.Product(xs, ys)
	return out, e, nil
}

// balancedPairs returns X' and Y' and e with X·diag(c)·Y = X'·Y'·2^e for finite c. Each pair j is
// rescaled by powers of two (exact, up to entries that become subnormal): the column X[:,j]·c_j
// and the row Y[j,:] are brought to about the same norm, and all pairs by one common factor so
// that the largest ‖c_j X[:,j]‖·‖Y[j,:]‖ lies in [2^(top−1), 2^top). a and b are the column norms
// of X and the row norms of Y. Pairs of zero product are zero in X' and Y'.
func balancedPairs(x, y matrix.Dense[float64], a, b norms, c []float64, top int) (xs, ys matrix.Dense[float64], e int) {
	m := len(c)
	r := make([]wide, m) // ‖c_j X[:,j]‖·‖Y[j,:]‖
	hi := math.MinInt
	for j, cj := range c {
		r[j] = makeWide(cj, 0).mul(a.at(j)).mul(b.at(j))
		if r[j].frac != 0 {
			hi = max(hi, r[j].exp)
		}
	}
	xs = matrix.Dense[float64]{Rows: x.Rows, Cols: m, Data: make([]float64, len(x.Data))}
	ys = matrix.Dense[float64]{Rows: m, Cols: y.Cols, Data: make([]float64, len(y.Data))}
	if hi == math.MinInt {
		return xs, ys, 0
	}
	shift := top - hi // every pair product is multiplied by 2^shift
	for j, cj := range c {
		if r[j].frac == 0 {
			continue
		}
		cf, ce := math.Frexp(cj)
		// Column j times cf·2^(ce+sx), row j times 2^sy, sx + sy = shift, the two norms balanced.
		ea, eb := a.at(j).exp+ce, b.at(j).exp
		sx := floorHalf(shift + eb - ea)
		sy := shift - sx
		for i := range x.Rows {
			xs.Data[i*m+j] = math.Ldexp(x.Data[i*m+j], ce+sx) * cf
		}
		for k, v := range y.Row(j) {
			ys.Data[j*y.Cols+k] = math.Ldexp(v, sy)
		}
	}
	return xs, ys, -shift
}

// floorHalf returns ⌊n/2⌋.
func floorHalf(n int) int { return n >> 1 }

// squaresSafe reports whether every sum of squares s[j] is normal, or zero with a zero vector.
func squaresSafe(s []float64, zero func(j int) bool) bool {
	for j, v := range s {
		if !(v <= math.MaxFloat64) || v < 0x1p-1022 && (v != 0 || !zero(j)) {
			return false
		}
	}
	return true
}

// sumSafe reports whether the sum of squares s of v is normal, or zero with v zero.
func sumSafe(s float64, v []float64) bool {
	return s <= math.MaxFloat64 && (s >= 0x1p-1022 || s == 0 && allZero(v))
}

// chainSafe reports whether the left-to-right product of the factors keeps every partial
// product in float64's normal range, until a zero factor makes the rest exactly zero.
func chainSafe(f ...float64) bool {
	p := 1.0
	for _, v := range f {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
		if v == 0 {
			return true
		}
		p *= v
		if a := math.Abs(p); a < 0x1p-1022 || a > math.MaxFloat64 {
			return false
		}
	}
	return true
}

func allFinite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

func columnZero(d matrix.Dense[float64], j int) bool {
	for i := range d.Rows {
		if d.Data[i*d.Cols+j] != 0 {
			return false
		}
	}
	return true
}

func equalData(a, b []float64) bool {
	for i, v := range a {
		if v != b[i] {
			return false
		}
	}
	return true
}

// checkEnumerable returns ErrNoClosedForm when sampling without replacement has more positive
// pairs than are enumerated.
func (p *Plan) checkEnumerable() error {
	pos := 0
	for _, v := range p.weights {
		if v > 0 {
			pos++
		}
	}
	if pos > MaxEnumeratedPairs {
		return fmt.Errorf("%w: sampling without replacement over %d positive pairs (at most %d are enumerated)",
			ErrNoClosedForm, pos, MaxEnumeratedPairs)
	}
	return nil
}

// closedFormNoReplacementWide runs the enumeration on X and Y with every pair balanced and all
// rescaled by one power of two (each pair product X[:,j]·Y[j,:] is multiplied by the same 2^s,
// so the enumeration's sums are those of XY·2^s), then scales the moments back.
func (p *Plan) closedFormNoReplacementWide(x, y matrix.Dense[float64], a, b norms) (Moments, error) {
	ones := make([]float64, p.m)
	for i := range ones {
		ones[i] = 1
	}
	// The enumeration sums squares of sums of up to m pair products in float64: keep the largest
	// pair product at 2^(500 − log2 m), so that those squares stay below 2^1000.
	xs, ys, e := balancedPairs(x, y, a, b, ones, 500-bits.Len(uint(p.m)))
	exact, _ := matrix.Product(xs, ys)
	m := p.closedFormNoReplacement(xs, ys, exact)
	for i, v := range m.Mean.Data {
		m.Mean.Data[i] = math.Ldexp(v, e)
		if math.IsInf(m.Mean.Data[i], 0) {
			return Moments{}, fmt.Errorf("%w: the mean E[X'Y'] has an entry ≈%v, above MaxFloat64; rescale X or Y", ErrRange, makeWide(v, e))
		}
	}
	return momentsOf(m.Mean, makeWide(m.SquaredBias, 2*e), makeWide(m.Variance, 2*e))
}

// closedFormNoReplacement enumerates the outcomes of successive sampling.
// The caller has checked that there are at most MaxEnumeratedPairs positive pairs.
func (p *Plan) closedFormNoReplacement(x, y, exact matrix.Dense[float64]) Moments {
	var pos []int
	for i, v := range p.weights {
		if v > 0 {
			pos = append(pos, i)
		}
	}
	np := len(pos)
	// Subset probabilities of the ordered draws, by increasing mask.
	prob := make([]float64, 1<<np)
	prob[0] = 1
	var total float64
	for _, i := range pos {
		total += p.weights[i]
	}
	final := make([]int, 0)
	for s := range prob {
		if prob[s] == 0 {
			continue
		}
		if bits.OnesCount(uint(s)) == p.draws {
			final = append(final, s)
			continue
		}
		rest := total
		for j := range np {
			if s&(1<<j) != 0 {
				rest -= p.weights[pos[j]]
			}
		}
		if rest < total*0x1p-26 {
			// The subtraction cancelled more than half the bits (to 0 or below when the pairs
			// left weigh less than an ulp of the total): sum the pairs left instead.
			rest = 0
			for j := range np {
				if s&(1<<j) == 0 {
					rest += p.weights[pos[j]]
				}
			}
		}
		for j := range np {
			if s&(1<<j) == 0 {
				prob[s|1<<j] += prob[s] * p.weights[pos[j]] / rest
			}
		}
	}
	// Products of the positive pairs: inner products with XY and with each other.
	outer := make([]matrix.Dense[float64], np)
	for j, i := range pos {
		e := make([]float64, p.m)
		e[i] = p.scale[i]
		outer[j] = scaledProduct(x, y, e)
	}
	gram := make([]float64, np*np)
	withExact := make([]float64, np)
	for j := range np {
		withExact[j] = dot(outer[j].Data, exact.Data)
		for l := range np {
			gram[j*np+l] = dot(outer[j].Data, outer[l].Data)
		}
	}
	norm2 := frob2(exact.Data)
	incl := make([]float64, p.m)
	var err2 float64
	for _, s := range final {
		e := norm2
		for j := range np {
			if s&(1<<j) == 0 {
				continue
			}
			incl[pos[j]] += prob[s]
			e -= 2 * withExact[j]
			for l := range np {
				if s&(1<<l) != 0 {
					e += gram[j*np+l]
				}
			}
		}
		err2 += prob[s] * max(e, 0)
	}
	coef := make([]float64, p.m)
	for i := range coef {
		coef[i] = incl[i] * p.scale[i]
	}
	mean := scaledProduct(x, y, coef)
	bias2 := diff2(mean.Data, exact.Data)
	return Moments{Mean: mean, SquaredBias: bias2, Variance: max(err2-bias2, 0)}
}

// scaledProduct returns X diag(c) Y.
func scaledProduct(x, y matrix.Dense[float64], c []float64) matrix.Dense[float64] {
	xs := matrix.Dense[float64]{Rows: x.Rows, Cols: x.Cols, Data: make([]float64, len(x.Data))}
	for i := 0; i < x.Rows; i++ {
		for j, v := range x.Row(i) {
			xs.Data[i*x.Cols+j] = v * c[j]
		}
	}
	out, _ := matrix.Product(xs, y)
	return out
}

func columnSquares(x matrix.Dense[float64]) []float64 {
	s := make([]float64, x.Cols)
	for i := 0; i < x.Rows; i++ {
		for j, v := range x.Row(i) {
			s[j] += v * v
		}
	}
	return s
}

func rowSquares(y matrix.Dense[float64]) []float64 {
	s := make([]float64, y.Rows)
	for i := range s {
		for _, v := range y.Row(i) {
			s[i] += v * v
		}
	}
	return s
}

func frob2(v []float64) float64 { return dot(v, v) }

func dot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func diff2(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		d := v - b[i]
		s += d * d
	}
	return s
}
