package analysis

import (
	"errors"
	"fmt"
	"math"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
)

// ErrInput reports input the analyses cannot use: lengths that differ, a budget or fraction out
// of range, NaN, ±Inf or negative norms.
var ErrInput = errors.New("analysis: invalid input")

// TopFraction is the share of pairs whose mass Figure 12 plots (the top 10%).
const TopFraction = 0.1

// Stats are the analyses of one weight vector at one budget. See the package documentation for
// the definitions.
type Stats struct {
	// M is the number of pairs |D| and K the budget k.
	M, K int
	// AllZero reports that every weight is zero (for example a cold gradient-norm cache): the
	// curve is then all zeros, C is empty and the ratios are 1.
	AllZero bool
	// Mass[c] is P_C for the c heaviest pairs, c = 0..min(K, M); Fraction[c] = c/K.
	Mass, Fraction []float64
	// ChosenC is the |C| of [estimator.ChooseC].
	ChosenC int
	// MassAtC is P_C at ChosenC, Mass[ChosenC].
	MassAtC float64
	// Theorem2 reports P_C > |C|/k at ChosenC (false when ChosenC is 0).
	Theorem2 bool
	// AboveDiagonal is the share of c in 1..min(K−1, M) with P_C > c/K (0 when K = 1).
	AboveDiagonal float64
	// Top10Mass is P_C for |C| = ⌈0.1·M⌉ (0 when M = 0).
	Top10Mass float64
	// MassTenthK and MassHalfK are P_C for |C| = ⌈0.1·K⌉ and ⌈0.5·K⌉ (points of the curve
	// that do not depend on the rule's choice).
	MassTenthK, MassHalfK float64
	// BoundFactor is Theorem 2's factor K(1 − P_C)/(K − ChosenC).
	BoundFactor float64
	// VarianceRatio is [OrthogonalVarianceRatio] at K and ChosenC.
	VarianceRatio float64
}

// Select returns the weights w_t = act[t]·grad[t] of the tokens t with valid[t] (every token
// when valid is nil). act and grad are per-token norms, for example ‖H_t‖ and the exact or cached
// ‖∇Z_t‖. It returns ErrInput when the lengths differ or a norm is NaN, ±Inf or negative.
func Select(act, grad []float64, valid []bool) ([]float64, error) {
	if valid != nil && len(valid) != len(act) {
		return nil, fmt.Errorf("%w: %d validity flags for %d tokens", ErrInput, len(valid), len(act))
	}
	w, err := estimator.WeightsFromNorms(act, grad)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if valid == nil {
		return w, nil
	}
	out := make([]float64, 0, len(w))
	for t, ok := range valid {
		if ok {
			out = append(out, w[t])
		}
	}
	return out, nil
}

// CurveIndex returns |C| = ⌈fraction·k⌉ (a tolerance of 1e-9 absorbs the rounding of
// fraction·k), clamped to [0, k]: the point of the curve at |C|/k = fraction.
func CurveIndex(fraction float64, k int) int {
	return min(max(int(math.Ceil(fraction*float64(k)-1e-9)), 0), k)
}

// Analyze computes the [Stats] of weights w (length m ≥ 1, finite, non-negative) at budget k,
// 1 ≤ k ≤ m. It does not modify w. It returns ErrInput for bad input.
func Analyze(w []float64, k int) (Stats, error) {
	m := len(w)
	if m < 1 || k < 1 || k > m {
		return Stats{}, fmt.Errorf("%w: budget k = %d over %d pairs", ErrInput, k, m)
	}
	mass, err := estimator.TopMass(w)
	if err != nil {
		return Stats{}, fmt.Errorf("%w: %w", ErrInput, err)
	}
	s := Stats{M: m, K: k, VarianceRatio: 1, BoundFactor: 1}
	top := min(k, m)
	s.Mass = append([]float64(nil), mass[:top+1]...)
	s.Fraction = make([]float64, top+1)
	for c := range s.Fraction {
		s.Fraction[c] = float64(c) / float64(k)
	}
	s.Top10Mass = mass[int(math.Ceil(TopFraction*float64(m)-1e-9))]
	s.MassTenthK, s.MassHalfK = s.Mass[CurveIndex(0.1, k)], s.Mass[CurveIndex(0.5, k)]
	var total float64
	for _, v := range w {
		total += v
	}
	if total == 0 {
		s.AllZero = true
		return s, nil
	}
	above, count := 0, 0
	for c := 1; c <= min(k-1, m); c++ {
		count++
		if mass[c] > float64(c)/float64(k) {
			above++
		}
	}
	if count > 0 {
		s.AboveDiagonal = float64(above) / float64(count)
	}
	if s.ChosenC, err = estimator.ChooseC(w, k); err != nil {
		return Stats{}, fmt.Errorf("%w: %w", ErrInput, err)
	}
	s.MassAtC = mass[s.ChosenC]
	s.Theorem2 = s.ChosenC > 0 && s.MassAtC > float64(s.ChosenC)/float64(k)
	if s.BoundFactor, err = estimator.BoundFactor(w, k, s.ChosenC); err != nil {
		return Stats{}, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if s.VarianceRatio, err = OrthogonalVarianceRatio(w, k, s.ChosenC); err != nil {
		return Stats{}, err
	}
	return s, nil
}

// OrthogonalVariances returns the closed-form variances of CRS (k draws) and of WTA-CRS with C
// the c heaviest pairs, computed from the weights alone. The exact closed forms
//
//	Var[CRS]     = (Σ_i w_i²/p_i − ‖XY‖²_F) / k
//	Var[WTA-CRS] = ((1 − P_C) Σ_{j∉C} w_j²/p_j − ‖X_{D\C} Y_{D\C}‖²_F) / (k − c)
//
// need the cross terms ⟨X_iY_i, X_jY_j⟩ of the pairs' outer products, which norms do not
// determine. This function sets them to zero (mutually orthogonal outer products), so that
// ‖XY‖²_F = Σ w_i² and, with W = Σ w and R = Σ_{j∉C} w_j,
//
//	crs = (W² − Σ_i w_i²) / k,   wta = (R² − Σ_{j∉C} w_j²) / (k − c).
//
// It needs 0 ≤ c < k, c ≤ m and valid weights, and returns ErrInput otherwise.
func OrthogonalVariances(w []float64, k, c int) (crs, wta float64, err error) {
	if k < 1 || c < 0 || c >= k || c > len(w) {
		return 0, 0, fmt.Errorf("%w: k = %d, |C| = %d, m = %d", ErrInput, k, c, len(w))
	}
	if _, err := estimator.Probabilities(w); err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrInput, err)
	}
	order := estimator.SortedOrder(w)
	var total, total2, rest, rest2 float64
	for j := len(order) - 1; j >= 0; j-- { // lightest first, for accuracy
		v := w[order[j]]
		total += v
		total2 += v * v
		if j >= c {
			rest += v
			rest2 += v * v
		}
	}
	crs = max(total*total-total2, 0) / float64(k)
	wta = max(rest*rest-rest2, 0) / float64(k-c)
	return crs, wta, nil
}

// OrthogonalVarianceRatio returns wta/crs of [OrthogonalVariances], or 1 when both are zero (at
// most one positive weight: both estimators are then exact). It returns ErrInput for bad input.
func OrthogonalVarianceRatio(w []float64, k, c int) (float64, error) {
	crs, wta, err := OrthogonalVariances(w, k, c)
	if err != nil {
		return 0, err
	}
	if crs == 0 {
		return 1, nil
	}
	return wta / crs, nil
}

// ExactVariancesWeights is [ExactVariances] with both plans built from the sampling weights w
// (one per row of H and G, for example ‖H_t‖ times the cached ‖∇Z_t‖ Algorithm 1 samples with)
// instead of ‖H_t‖·‖G_t‖; the variances are those of the weight gradient HᵀG itself. Pairs of
// zero weight are never used by either estimator, so both share the same bias, if any. It
// returns ErrInput for a length of w other than the rows of H, and the estimator's errors
// wrapped in ErrInput. It allocates Hᵀ and the closed forms' d_in×d_out buffers.
func ExactVariancesWeights(h, g matrix.Dense[float64], w []float64, k int) (crs, wta float64, c int, err error) {
	if err := matrix.CheckTransShape(h, g); err != nil {
		return 0, 0, 0, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if len(w) != h.Rows {
		return 0, 0, 0, fmt.Errorf("%w: %d weights for %d rows of H", ErrInput, len(w), h.Rows)
	}
	if k < 1 || k > len(w) {
		return 0, 0, 0, fmt.Errorf("%w: budget k = %d over %d pairs", ErrInput, k, len(w))
	}
	ht := matrix.Transpose(h)
	pc, err := estimator.NewCRS(w, k)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if c, err = estimator.ChooseC(w, k); err != nil {
		return 0, 0, 0, fmt.Errorf("%w: %w", ErrInput, err)
	}
	pw, err := estimator.NewWTACRSFixed(w, k, c)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%w: %w", ErrInput, err)
	}
	mc, err := estimator.ClosedForm(ht, g, pc)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%w: %w", ErrInput, err)
	}
	mw, err := estimator.ClosedForm(ht, g, pw)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%w: %w", ErrInput, err)
	}
	return mc.Variance, mw.Variance, c, nil
}

// ExactVarianceRatio returns Var[WTA-CRS]/Var[CRS] of [ExactVariancesWeights] and the |C| of
// WTA-CRS, or a ratio of 1 when the CRS variance is zero (the estimators are then exact). It
// returns the errors of ExactVariancesWeights.
func ExactVarianceRatio(h, g matrix.Dense[float64], w []float64, k int) (ratio float64, c int, err error) {
	crs, wta, c, err := ExactVariancesWeights(h, g, w, k)
	if err != nil {
		return 0, 0, err
	}
	if crs == 0 {
		return 1, c, nil
	}
	return wta / crs, c, nil
}

// ExactVariances returns the exact closed-form variances E‖ĝ − E ĝ‖²_F of CRS and of WTA-CRS
// (|C| by [estimator.ChooseC]) for the weight gradient HᵀG at budget k, with sampling weights
// ‖H_t‖·‖G_t‖, and the |C| used. H is m×d_in and G is m×d_out; 1 ≤ k ≤ m. It returns the
// estimator's errors (ErrShape, ErrNonFinite, ErrBudget) wrapped in ErrInput.
func ExactVariances(h, g matrix.Dense[float64], k int) (crs, wta float64, c int, err error) {
	w, err := estimator.WeightsTransA(h, g)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%w: %w", ErrInput, err)
	}
	return ExactVariancesWeights(h, g, w, k)
}
