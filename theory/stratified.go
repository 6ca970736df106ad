package theory

import (
	"fmt"
	"math"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
	"pgregory.net/rapid"
)

// MaxCaseStrata is the largest number of strata that [StratifiedCases] generates.
const MaxCaseStrata = 8

// StratifiedCase is a generated product whose M = Strata·Size pairs fall into Strata
// consecutive strata of Size pairs (stratum g holds pairs [g·Size, (g+1)·Size)), with a budget
// per stratum: the input of the claims about estimator.Stratified.
type StratifiedCase struct {
	// Case holds the product X·Y over the M pairs. Its K is the budget of every stratum,
	// 1 ≤ K ≤ Size (K = Size keeps every positive pair: the estimate is exact); its C is 0 and
	// not used (the stratified estimators choose |C| by their rule).
	Case
	// Strata is the number of strata and Size the pairs of each.
	Strata, Size int
}

// String describes the case in one line, for counterexamples.
func (c StratifiedCase) String() string {
	return fmt.Sprintf("%s n=%d m=%d q=%d strata=%d size=%d k=%d seed=%d", c.Family, c.N, c.M, c.Q, c.Strata, c.Size, c.K, c.Seed)
}

// GoString describes the case without its entries, as [Case.GoString] does.
func (c StratifiedCase) GoString() string { return "theory.StratifiedCase{" + c.String() + "}" }

// NewStratifiedCase builds the product of [NewCase] over strata·size pairs with the given
// family and seed, and budget k per stratum. It returns ErrCase when a size is out of range
// (n, q ≥ 1, strata, size ≥ 1, strata·size ≤ MaxPairs, 1 ≤ k ≤ size) or the family is unknown.
func NewStratifiedCase(family string, n, strata, size, q, k int, seed uint64) (StratifiedCase, error) {
	if strata < 1 || size < 1 || size > MaxPairs/strata || k < 1 || k > size {
		return StratifiedCase{}, fmt.Errorf("%w: strata=%d size=%d k=%d", ErrCase, strata, size, k)
	}
	c, err := NewCase(family, n, strata*size, q, k, 0, seed)
	if err != nil {
		return StratifiedCase{}, err
	}
	return StratifiedCase{Case: c, Strata: strata, Size: size}, nil
}

// StratifiedCases returns the generator of stratified cases: the family, the strata (1 to
// MaxCaseStrata), the size of a stratum (strata·size ≤ MaxPairs), the budget k from 1 to size, n and
// q from 1 to 4 and the seed, each drawn with a label. Families place their heavy, dominant and
// padding pairs over all M pairs, so strata differ, and padded cases often have strata of zero
// weight.
func StratifiedCases() *rapid.Generator[StratifiedCase] {
	return rapid.Custom(func(t *rapid.T) StratifiedCase {
		family := rapid.SampledFrom(Families()).Draw(t, "family")
		strata := rapid.IntRange(1, MaxCaseStrata).Draw(t, "strata")
		size := rapid.IntRange(1, MaxPairs/strata).Draw(t, "size")
		k := rapid.IntRange(1, size).Draw(t, "k")
		n := rapid.IntRange(1, 4).Draw(t, "n")
		q := rapid.IntRange(1, 4).Draw(t, "q")
		seed := rapid.Uint64().Draw(t, "seed")
		cs, err := NewStratifiedCase(family, n, strata, size, q, k, seed)
		if err != nil {
			panic("theory: " + err.Error())
		}
		return cs
	})
}

// block returns the columns [lo, hi) of x and the rows [lo, hi) of y, copies.
func block(x, y matrix.Dense[float64], lo, hi int) (xb, yb matrix.Dense[float64]) {
	xb = matrix.Dense[float64]{Rows: x.Rows, Cols: hi - lo, Data: make([]float64, x.Rows*(hi-lo))}
	for r := range x.Rows {
		copy(xb.Row(r), x.Row(r)[lo:hi])
	}
	yb = matrix.Dense[float64]{Rows: hi - lo, Cols: y.Cols, Data: append([]float64(nil), y.Data[lo*y.Cols:hi*y.Cols]...)}
	return xb, yb
}

// checkStratified returns the shape errors of [NewLaw] for a stratified estimator.
func checkStratified(x, y matrix.Dense[float64], s *estimator.Stratified) error {
	if _, err := matrix.Product(x, y); err != nil {
		return err
	}
	if s == nil || s.M() != x.Cols {
		return fmt.Errorf("%w: stratified estimator does not fit X with %d columns", estimator.ErrShape, x.Cols)
	}
	return nil
}

// NewStratifiedLaw returns the law of the stratified estimate of XY, from the laws of the
// strata's plans on their columns of X and rows of Y ([NewLaw]): the strata are independent, so
// per entry the means and variances add, Range is the largest of the strata's (it bounds every
// random term, whichever stratum it comes from), Terms and Magnitude add. X must be n×m and Y
// m×q with finite entries and m = s.M(); it returns an estimator.ErrShape or ErrNonFinite error
// otherwise.
func NewStratifiedLaw(x, y matrix.Dense[float64], s *estimator.Stratified) (Law, error) {
	if err := checkStratified(x, y, s); err != nil {
		return Law{}, err
	}
	nq := x.Rows * y.Cols
	l := Law{Rows: x.Rows, Cols: y.Cols, Mean: make([]float64, nq), Var: make([]float64, nq),
		Range: make([]float64, nq), Magnitude: make([]float64, nq)}
	for g := range s.Strata() {
		xg, yg := block(x, y, g*s.Size(), (g+1)*s.Size())
		lg, err := NewLaw(xg, yg, s.Plan(g))
		if err != nil {
			return Law{}, fmt.Errorf("%w (stratum %d)", err, g)
		}
		for e := range l.Mean {
			l.Mean[e] += lg.Mean[e]
			l.Var[e] += lg.Var[e]
			l.Range[e] = max(l.Range[e], lg.Range[e])
			l.Magnitude[e] += lg.Magnitude[e]
		}
		l.Terms += lg.Terms
	}
	return l, nil
}

// iidCovariance returns the covariance Σ over the n·q entries (row-major, (n·q)²) of the
// estimate of an i.i.d. plan with d draws: d·Σ_i p_i (u_i − μ)(u_i − μ)ᵀ, with u_i the entries
// of scale_i·X[:,i]Y[i,:] and μ = Σ_i p_i u_i.
func iidCovariance(x, y matrix.Dense[float64], p *estimator.Plan) []float64 {
	n, m, q := x.Rows, x.Cols, y.Cols
	nq := n * q
	cov := make([]float64, nq*nq)
	if p.Draws() == 0 {
		return cov
	}
	prob := p.Probs()
	u := func(i int) []float64 {
		v := make([]float64, nq)
		for r := range n {
			for c := range q {
				v[r*q+c] = p.Scale(i) * x.Data[r*m+i] * y.Data[i*q+c]
			}
		}
		return v
	}
	mu := make([]float64, nq)
	for i, pi := range prob {
		if pi > 0 {
			for e, v := range u(i) {
				mu[e] += pi * v
			}
		}
	}
	d := float64(p.Draws())
	for i, pi := range prob {
		if pi <= 0 {
			continue
		}
		v := u(i)
		for e := range v {
			v[e] -= mu[e]
		}
		for a, va := range v {
			for b, vb := range v {
				cov[a*nq+b] += d * pi * va * vb
			}
		}
	}
	return cov
}

// StratifiedSquaredErrorSpread returns the standard deviation of ‖X'Y' − E[X'Y']‖²_F over one
// stratified sketch. With D_g the independent, zero-mean deviations of the strata and Σ_g their
// covariances over the entries, ‖ΣD_g‖² = Σ_g‖D_g‖² + Σ_{g≠h}⟨D_g, D_h⟩, whose two parts are
// uncorrelated, so Var‖ΣD_g‖² = Σ_g Var‖D_g‖² + 2·Σ_{g≠h}⟨Σ_g, Σ_h⟩_F, with Var‖D_g‖² from
// [SquaredErrorSpread] of the stratum's plan. It returns the errors of [NewStratifiedLaw].
func StratifiedSquaredErrorSpread(x, y matrix.Dense[float64], s *estimator.Stratified) (float64, error) {
	if err := checkStratified(x, y, s); err != nil {
		return 0, err
	}
	var v float64
	covs := make([][]float64, s.Strata())
	for g := range covs {
		xg, yg := block(x, y, g*s.Size(), (g+1)*s.Size())
		sg, err := SquaredErrorSpread(xg, yg, s.Plan(g))
		if err != nil {
			return 0, fmt.Errorf("%w (stratum %d)", err, g)
		}
		v += sg * sg
		covs[g] = iidCovariance(xg, yg, s.Plan(g))
	}
	for g, a := range covs {
		for _, b := range covs[g+1:] {
			var ip float64
			for e, va := range a {
				ip += va * b[e]
			}
			v += 4 * ip
		}
	}
	return math.Sqrt(max(0, v)), nil
}

// CheckExactStratified is [CheckExact] for a stratified estimator: the expectation enumerated
// by [NewStratifiedLaw] against XY and against estimator.ClosedFormStratified's mean. Its errors
// are those of NewStratifiedLaw and ClosedFormStratified.
func CheckExactStratified(x, y matrix.Dense[float64], s *estimator.Stratified) (ExactResult, error) {
	law, err := NewStratifiedLaw(x, y, s)
	if err != nil {
		return ExactResult{}, err
	}
	exact, err := matrix.Product(x, y)
	if err != nil {
		return ExactResult{}, err
	}
	cf, err := estimator.ClosedFormStratified(x, y, s)
	if err != nil {
		return ExactResult{}, err
	}
	return checkExact(law, exact.Data, cf.Mean.Data), nil
}

// CheckMeanStratified is [CheckMean] for a stratified estimator: T = sketches sketches of
// Stratified.Sample (streams 0..T−1) applied with estimator.Apply, each entry's mean against XY
// with the Bernstein threshold of the law of [NewStratifiedLaw] (a sum of independent terms
// over all strata), so that an unbiased estimator is rejected with probability at most α. It
// needs sketches ≥ 1 and 0 < α < 1 (ErrSketches) and returns the errors of NewStratifiedLaw.
func CheckMeanStratified(x, y matrix.Dense[float64], s *estimator.Stratified, sketches int, seed uint64, alpha float64) (MeanResult, error) {
	if sketches < 1 || !(alpha > 0 && alpha < 1) {
		return MeanResult{}, fmt.Errorf("%w: %d sketches, α = %v", ErrSketches, sketches, alpha)
	}
	law, err := NewStratifiedLaw(x, y, s)
	if err != nil {
		return MeanResult{}, err
	}
	return checkMean(x, y, law, s.Sample, sketches, seed, alpha, func(sk *estimator.Sketch) ([]float64, error) {
		est, err := estimator.Apply(x, y, sk)
		return est.Data, err
	})
}

// CheckVarianceStratified is [CheckVariance] for a stratified estimator: the median of means of
// the squared deviations of Stratified.Sample's sketches from the exact mean against claimed,
// with the spread of [StratifiedSquaredErrorSpread], so that a true claim is rejected with
// probability at most α. It needs 0 < α < 1 and at least Groups(α) sketches (ErrSketches) and
// returns the errors of NewStratifiedLaw.
func CheckVarianceStratified(x, y matrix.Dense[float64], s *estimator.Stratified, claimed float64, sketches int, seed uint64, alpha float64) (VarianceResult, error) {
	if !(alpha > 0 && alpha < 1) {
		return VarianceResult{}, fmt.Errorf("%w: α = %v", ErrSketches, alpha)
	}
	g := Groups(alpha)
	if sketches < g {
		return VarianceResult{}, fmt.Errorf("%w: %d sketches for %d groups", ErrSketches, sketches, g)
	}
	law, err := NewStratifiedLaw(x, y, s)
	if err != nil {
		return VarianceResult{}, err
	}
	sigma, err := StratifiedSquaredErrorSpread(x, y, s)
	if err != nil {
		return VarianceResult{}, err
	}
	return checkVariance(x, y, law, sigma, s.Sample, claimed, g, sketches/g, seed)
}

// stratifiedEstimators returns the stratified WTA-CRS estimators of a case, one per
// estimator.CRule (each stratum's own |C|, one shared |C|), and their names.
func stratifiedEstimators(c StratifiedCase) ([]*estimator.Stratified, []string, error) {
	var out []*estimator.Stratified
	var names []string
	for _, rule := range estimator.CRules() {
		s, err := estimator.NewStratifiedWTACRS(c.Weights(), c.Strata, c.K, rule)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, s)
		names = append(names, fmt.Sprintf("stratified WTA-CRS, %v |C| %v", rule, s.C()))
	}
	return out, names, nil
}

// StratifiedUnbiasedExact checks on a case that the stratified WTA-CRS estimator, with each
// stratum's own |C| and with one shared |C|, has expectation XY ([CheckExactStratified]), and
// that the enumerated expectation agrees with estimator.ClosedFormStratified. Worst is the
// largest relative deviation.
func StratifiedUnbiasedExact(c StratifiedCase) (Verdict, error) {
	ests, names, err := stratifiedEstimators(c)
	if err != nil {
		return Verdict{}, err
	}
	return exactVerdict(names, "ClosedFormStratified", func(i int) (ExactResult, error) { return CheckExactStratified(c.X, c.Y, ests[i]) })
}

// StratifiedUnbiasedMC checks by Monte Carlo on a case that the stratified WTA-CRS estimator
// (own and shared |C|) is unbiased: [CheckMeanStratified], α/2 each. Worst is the largest
// deviation of a mean over its threshold (above 1 refutes).
func StratifiedUnbiasedMC(c StratifiedCase, mc MC) (Verdict, error) {
	ests, names, err := stratifiedEstimators(c)
	if err != nil {
		return Verdict{}, err
	}
	return meanVerdict(names, func(i int) (MeanResult, error) {
		return CheckMeanStratified(c.X, c.Y, ests[i], mc.Sketches, mc.Seed+uint64(i), mc.Alpha/float64(len(ests)))
	})
}

// StratifiedClosedFormMC checks on a case that estimator.ClosedFormStratified's variance, the
// sum of the strata's, is the variance of the stratified sketches (own and shared |C|): it must
// equal the enumerated variance of [NewStratifiedLaw] to rounding (RelTol·Σ Magnitude²) and pass
// [CheckVarianceStratified] (α/2 each). Worst is the largest |Estimate − closed form| /
// HalfWidth (above 1 refutes).
func StratifiedClosedFormMC(c StratifiedCase, mc MC) (Verdict, error) {
	return stratifiedClosedFormMC(c, mc, func(_ *estimator.Stratified, m estimator.Moments) (float64, error) { return m.Variance, nil })
}

// stratifiedClosedFormMC checks the claimed variance claim(s, ClosedFormStratified) of the
// stratified estimators of a case.
func stratifiedClosedFormMC(c StratifiedCase, mc MC, claim func(*estimator.Stratified, estimator.Moments) (float64, error)) (Verdict, error) {
	ests, names, err := stratifiedEstimators(c)
	if err != nil {
		return Verdict{}, err
	}
	return varianceVerdict(names, func(i int) (VarianceResult, error) {
		cf, err := estimator.ClosedFormStratified(c.X, c.Y, ests[i])
		if err != nil {
			return VarianceResult{}, err
		}
		claimed, err := claim(ests[i], cf)
		if err != nil {
			return VarianceResult{}, err
		}
		return CheckVarianceStratified(c.X, c.Y, ests[i], claimed, mc.Sketches, mc.Seed+uint64(i), mc.Alpha/float64(len(ests)))
	})
}

// ControlStratifiedName is the name of the stratified negative control in a [ControlResult].
const ControlStratifiedName = "stratzerocache"

// ControlStratifiedZeroCache returns the stratified WTA-CRS estimator over w with strata strata
// and budget k per stratum, one shared |C| (estimator.CShared, the published rule), with the
// scaling the published code applies while the gradient-norm cache is all zero: a drawn pair j
// of stratum g gets only the factor 1 − P_{C,g} instead of (1 − P_{C,g})/((k − |C_g|)·p_j)
// ([ControlZeroCache] in every stratum, through estimator.Stratified.WithScale). It draws as
// the unbiased estimator does; only the scales differ. Errors are those of
// estimator.NewStratifiedWTACRS.
func ControlStratifiedZeroCache(w []float64, strata, k int) (*estimator.Stratified, error) {
	s, err := estimator.NewStratifiedWTACRS(w, strata, k, estimator.CShared)
	if err != nil {
		return nil, err
	}
	scale := make([]float64, s.M())
	for g := range s.Strata() {
		p := s.Plan(g)
		for i := range p.M() {
			scale[g*s.Size()+i] = p.Scale(i)
			if p.Prob(i) > 0 {
				scale[g*s.Size()+i] = 1 - p.MassC()
			}
		}
	}
	return s.WithScale(scale)
}

// CheckStratifiedControl runs [CheckExactStratified] and [CheckMeanStratified] (α) on
// [ControlStratifiedZeroCache] of a case.
func CheckStratifiedControl(c StratifiedCase, mc MC) (ControlResult, error) {
	s, err := ControlStratifiedZeroCache(c.Weights(), c.Strata, c.K)
	if err != nil {
		return ControlResult{}, err
	}
	res := ControlResult{Name: ControlStratifiedName, Checkable: true}
	if res.Exact, err = CheckExactStratified(c.X, c.Y, s); err != nil {
		return ControlResult{}, err
	}
	if res.Mean, err = CheckMeanStratified(c.X, c.Y, s, mc.Sketches, mc.Seed, mc.Alpha); err != nil {
		return ControlResult{}, err
	}
	return res, nil
}
