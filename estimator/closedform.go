package estimator

import (
	"fmt"
	"math/bits"
)

// MaxEnumeratedPairs bounds the number of positive-weight pairs for which the closed form of
// sampling without replacement is computed (it enumerates subsets).
const MaxEnumeratedPairs = 16

// Moments are the exact first two moments of an estimator's error.
type Moments struct {
	// Mean is E[X'Y'] over the plan's randomness.
	Mean Dense[float64]
	// SquaredBias is ‖E[X'Y'] − XY‖²_F (zero up to rounding for unbiased plans).
	SquaredBias float64
	// Variance is E‖X'Y' − E[X'Y']‖²_F, the sum of the entries' variances.
	Variance float64
}

// ExpectedSquaredError returns E‖XY − X'Y'‖²_F = SquaredBias + Variance.
func (m Moments) ExpectedSquaredError() float64 { return m.SquaredBias + m.Variance }

// ClosedForm returns the exact moments of the plan's estimate of XY, computed in float64:
//
//   - i.i.d. plans (CRS, WTA-CRS, uniform; any Scale): mean Σ_C X_cY_c + d·Σ_i p_i s_i X_iY_i and
//     variance d·(Σ_i p_i s_i² ‖X[:,i]‖²‖Y[i,:]‖² − ‖Σ_i p_i s_i X_iY_i‖²_F) for d draws;
//   - Bernoulli: variance Σ_i p_i(1−p_i) s_i² ‖X[:,i]‖²‖Y[i,:]‖²;
//   - top-k: deterministic, all error is bias;
//   - sampling without replacement: by enumerating the subsets of the positive-weight pairs,
//     ErrNoClosedForm when there are more than MaxEnumeratedPairs of them.
//
// X must be n×m and Y m×q with m = p.M; it returns ErrShape or ErrNonFinite otherwise.
func ClosedForm[T Float](x, y Dense[T], p *Plan) (Moments, error) {
	if err := checkProduct(x, y); err != nil {
		return Moments{}, err
	}
	if p == nil || p.M != x.Cols {
		return Moments{}, fmt.Errorf("%w: plan over a different number of pairs than X (%d columns)", ErrShape, x.Cols)
	}
	xf, yf := ToFloat64(x), ToFloat64(y)
	exact, _ := Product(xf, yf)
	a2, b2 := columnSquares(xf), rowSquares(yf)

	coef := make([]float64, p.M) // mean = X diag(coef) Y
	for _, c := range p.Kept {
		coef[c] = 1
	}
	var variance float64
	switch p.Method {
	case MethodCRS, MethodWTACRS, MethodUniform:
		d := float64(p.Draws)
		one := make([]float64, p.M) // one draw's mean: X diag(one) Y
		var second float64
		for i, q := range p.Prob {
			one[i] = q * p.Scale[i]
			coef[i] += d * one[i]
			second += q * p.Scale[i] * p.Scale[i] * a2[i] * b2[i]
		}
		mu := scaledProduct(xf, yf, one)
		variance = d * (second - frob2(mu.Data))
	case MethodBernoulli:
		for i, q := range p.Prob {
			coef[i] += q * p.Scale[i]
			variance += q * (1 - q) * p.Scale[i] * p.Scale[i] * a2[i] * b2[i]
		}
	case MethodTopK:
	case MethodNoReplacement:
		return p.closedFormNoReplacement(xf, yf, exact)
	default:
		return Moments{}, fmt.Errorf("estimator: unknown method %v", p.Method)
	}
	mean := scaledProduct(xf, yf, coef)
	return Moments{Mean: mean, SquaredBias: diff2(mean.Data, exact.Data), Variance: max(variance, 0)}, nil
}

// closedFormNoReplacement enumerates the outcomes of successive sampling.
func (p *Plan) closedFormNoReplacement(x, y, exact Dense[float64]) (Moments, error) {
	var pos []int
	for i, v := range p.weights {
		if v > 0 {
			pos = append(pos, i)
		}
	}
	if len(pos) > MaxEnumeratedPairs {
		return Moments{}, fmt.Errorf("%w: sampling without replacement over %d positive pairs (at most %d are enumerated)",
			ErrNoClosedForm, len(pos), MaxEnumeratedPairs)
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
		if bits.OnesCount(uint(s)) == p.Draws {
			final = append(final, s)
			continue
		}
		rest := total
		for j := range np {
			if s&(1<<j) != 0 {
				rest -= p.weights[pos[j]]
			}
		}
		for j := range np {
			if s&(1<<j) == 0 {
				prob[s|1<<j] += prob[s] * p.weights[pos[j]] / rest
			}
		}
	}
	// Products of the positive pairs: inner products with XY and with each other.
	outer := make([]Dense[float64], np)
	for j, i := range pos {
		e := make([]float64, p.M)
		e[i] = p.Scale[i]
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
	incl := make([]float64, p.M)
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
	coef := make([]float64, p.M)
	for i := range coef {
		coef[i] = incl[i] * p.Scale[i]
	}
	mean := scaledProduct(x, y, coef)
	bias2 := diff2(mean.Data, exact.Data)
	return Moments{Mean: mean, SquaredBias: bias2, Variance: max(err2-bias2, 0)}, nil
}

// scaledProduct returns X diag(c) Y.
func scaledProduct(x, y Dense[float64], c []float64) Dense[float64] {
	xs := Dense[float64]{Rows: x.Rows, Cols: x.Cols, Data: make([]float64, len(x.Data))}
	for i := 0; i < x.Rows; i++ {
		for j, v := range x.Row(i) {
			xs.Data[i*x.Cols+j] = v * c[j]
		}
	}
	out, _ := Product(xs, y)
	return out
}

func columnSquares(x Dense[float64]) []float64 {
	s := make([]float64, x.Cols)
	for i := 0; i < x.Rows; i++ {
		for j, v := range x.Row(i) {
			s[j] += v * v
		}
	}
	return s
}

func rowSquares(y Dense[float64]) []float64 {
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

// Transpose returns dᵀ as a new matrix, so that the closed forms of HᵀG can be had as those of
// XY with X = Hᵀ.
func Transpose[T Float](d Dense[T]) Dense[T] {
	out := Dense[T]{Rows: d.Cols, Cols: d.Rows, Data: make([]T, len(d.Data))}
	for i := 0; i < d.Rows; i++ {
		for j, v := range d.Row(i) {
			out.Data[j*d.Rows+i] = v
		}
	}
	return out
}
