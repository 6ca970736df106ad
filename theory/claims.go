package theory

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
)

// Verdict is the verdict of one claim on one case.
type Verdict struct {
	// Applies is false when the case says nothing about the claim (for example k = 1 for a
	// claim about |C| ≥ 1); Holds is then true.
	Applies, Holds bool
	// Worst is the claim's statistic on this case: a z-score or a ratio, see [Claim].
	Worst float64
	// Detail describes the failure when Holds is false.
	Detail string
}

func holds(worst float64) Verdict { return Verdict{Applies: true, Holds: true, Worst: worst} }

func fails(worst float64, format string, args ...any) Verdict {
	return Verdict{Applies: true, Worst: worst, Detail: fmt.Sprintf(format, args...)}
}

// MC holds the Monte Carlo parameters of a statistical claim on one case.
type MC struct {
	// Sketches is the number of sketches per plan.
	Sketches int
	// Seed is the seed of the sketches of the first plan; the others use Seed+1, Seed+2, ….
	Seed uint64
	// Alpha bounds the probability that the claim is refuted falsely on this case.
	Alpha float64
}

// unbiasedPlans returns the plans of Theorem 1 for a case: CRS, WTA-CRS with |C| by the rule and
// WTA-CRS with the case's fixed |C|.
func unbiasedPlans(c Case) ([]*estimator.Plan, []string, error) {
	w := c.Weights()
	crs, err := estimator.NewCRS(w, c.K)
	if err != nil {
		return nil, nil, err
	}
	auto, err := estimator.NewWTACRS(w, c.K)
	if err != nil {
		return nil, nil, err
	}
	fixed, err := estimator.NewWTACRSFixed(w, c.K, c.C)
	if err != nil {
		return nil, nil, err
	}
	return []*estimator.Plan{crs, auto, fixed},
		[]string{"CRS", fmt.Sprintf("WTA-CRS |C|=%d (rule)", len(auto.Kept())), fmt.Sprintf("WTA-CRS |C|=%d", c.C)}, nil
}

// UnbiasedExact checks Theorem 1 exactly on a case: CRS, WTA-CRS with the rule's |C| and with
// the case's |C| have expectation XY ([CheckExact]), and the enumerated expectation agrees with
// estimator.ClosedForm. Worst is the largest relative deviation.
func UnbiasedExact(c Case) (Verdict, error) {
	plans, names, err := unbiasedPlans(c)
	if err != nil {
		return Verdict{}, err
	}
	return exactVerdict(names, "ClosedForm", func(i int) (ExactResult, error) { return CheckExact(c.X, c.Y, plans[i]) })
}

// exactVerdict is the verdict of the exact checks check(i) of the named estimators: it fails at
// the first biased one, or the first whose enumeration and closed form (named closedForm in the
// detail) differ by more than RelTol. Worst is the largest relative deviation.
func exactVerdict(names []string, closedForm string, check func(i int) (ExactResult, error)) (Verdict, error) {
	worst := 0.0
	for i, name := range names {
		r, err := check(i)
		if err != nil {
			return Verdict{}, err
		}
		worst = max(worst, r.Worst)
		if r.Biased {
			return fails(worst, "%s: E[X'Y'] − XY is %.3g of the terms at (%d,%d)", name, r.Worst, r.Row, r.Col), nil
		}
		if r.ClosedFormGap > RelTol {
			return fails(worst, "%s: enumeration and %s differ by %.3g", name, closedForm, r.ClosedFormGap), nil
		}
	}
	return holds(worst), nil
}

// UnbiasedMC checks Theorem 1 by Monte Carlo on a case: [CheckMean] on the plans of
// [UnbiasedExact], α/3 each. Worst is the largest deviation of a mean over its threshold
// (above 1 refutes).
func UnbiasedMC(c Case, mc MC) (Verdict, error) {
	plans, names, err := unbiasedPlans(c)
	if err != nil {
		return Verdict{}, err
	}
	return meanVerdict(names, func(i int) (MeanResult, error) {
		return CheckMean(c.X, c.Y, plans[i], mc.Sketches, mc.Seed+uint64(i), mc.Alpha/float64(len(plans)))
	})
}

// meanVerdict is the verdict of the Monte Carlo mean checks check(i) of the named estimators: it
// fails at the first rejected one. Worst is the largest deviation of a mean over its threshold.
func meanVerdict(names []string, check func(i int) (MeanResult, error)) (Verdict, error) {
	worst := 0.0
	for i, name := range names {
		r, err := check(i)
		if err != nil {
			return Verdict{}, err
		}
		worst = max(worst, r.WorstRatio)
		if r.Rejected {
			return fails(worst, "%s: mean of %d sketches off by %.3g thresholds (z = %.3g) at (%d,%d)",
				name, r.Sketches, r.WorstRatio, r.WorstZ, r.Row, r.Col), nil
		}
	}
	return holds(worst), nil
}

// Alternative is a sampling distribution that Eq. 3 says cannot beat the norm products.
type Alternative struct {
	// Name describes the distribution in a verdict's detail ("uniform", "w^2", …).
	Name string
	// Weights are the unnormalised sampling weights, one per pair; those of [Alternatives] are
	// positive wherever the case's weights are.
	Weights []float64
}

// Alternatives returns the distributions compared with p ∝ ‖X[:,i]‖‖Y[i,:]‖ on a case: uniform,
// ‖X[:,i]‖ alone, ‖Y[i,:]‖ alone (positive where w is), w^½, w², w perturbed by a log-normal
// factor, a random log-normal distribution drawn from the case's seed, and the mixture of p
// with the uniform distribution. Every alternative is positive
// wherever w is, so CRS with it is unbiased.
func Alternatives(c Case) []Alternative {
	w := c.Weights()
	m := len(w)
	a := estimator.RowNorms(matrix.Transpose(c.X))
	b := estimator.RowNorms(c.Y)
	r := rand.New(rand.NewPCG(c.Seed, 0x616c74))
	var total float64
	for _, v := range w {
		total += v
	}
	alts := []Alternative{{"uniform", make([]float64, m)}, {"‖X‖ only", a}, {"‖Y‖ only", b},
		{"w^0.5", make([]float64, m)}, {"w^2", make([]float64, m)}, {"perturbed", make([]float64, m)},
		{"mixture", make([]float64, m)}, {"random", make([]float64, m)}}
	for i, v := range w {
		alts[0].Weights[i] = 1
		alts[3].Weights[i] = math.Sqrt(v)
		alts[4].Weights[i] = v * v
		alts[5].Weights[i] = v * math.Exp(0.5*r.NormFloat64())
		alts[7].Weights[i] = math.Exp(r.NormFloat64())
		alts[6].Weights[i] = 1.0 / float64(m)
		if total > 0 {
			alts[6].Weights[i] += v / total
		}
	}
	// Keep only alternatives that are positive wherever w is (‖X‖ alone is zero when the column
	// is, and then so is w; w² can underflow).
	out := alts[:0]
	for _, alt := range alts {
		ok := true
		for i, v := range w {
			if v > 0 && !(alt.Weights[i] > 0) {
				ok = false
			}
		}
		if ok {
			out = append(out, alt)
		}
	}
	return out
}

// roundingScale returns (Σ w)², the size of the terms of the CRS variance, for tolerances.
func roundingScale(w []float64) float64 {
	var s float64
	for _, v := range w {
		s += v
	}
	return s * s
}

// Eq3ClosedForm checks Eq. 3 in closed form on a case: the variance of CRS with p ∝ w ([Law])
// is no larger than with any of the [Alternatives], up to RelTol·(Σw)². Worst is the largest
// Var(p)/Var(alternative).
func Eq3ClosedForm(c Case) (Verdict, error) {
	return eq3ClosedForm(c, c.Weights(), Alternatives(c))
}

// eq3ClosedForm checks that CRS with weights best is no worse than with any alternative.
func eq3ClosedForm(c Case, best []float64, alts []Alternative) (Verdict, error) {
	w := c.Weights()
	tol := RelTol * roundingScale(w)
	v0, err := crsVariance(c, best)
	if err != nil {
		return Verdict{}, err
	}
	worst := 0.0
	for _, alt := range alts {
		v, err := crsVariance(c, alt.Weights)
		if err != nil {
			return Verdict{}, err
		}
		worst = max(worst, ratio(v0, v))
		if v0 > v+tol {
			return fails(worst, "CRS with %s has variance %.6g < %.6g", alt.Name, v, v0), nil
		}
	}
	return holds(worst), nil
}

func crsVariance(c Case, w []float64) (float64, error) {
	p, err := estimator.NewCRS(w, c.K)
	if err != nil {
		return 0, err
	}
	law, err := NewLaw(c.X, c.Y, p)
	if err != nil {
		return 0, err
	}
	return law.TotalVariance(), nil
}

// Eq3MC checks Eq. 3 by Monte Carlo on a case: for p ∝ w and each alternative, the median-of-
// means interval of [CheckVariance] for the expected squared error is computed; the claim is
// refuted when the interval of p lies wholly above an alternative's. Worst is the largest
// (Estimate_p − Estimate_alt) / (HalfWidth_p + HalfWidth_alt) (above 1 refutes).
func Eq3MC(c Case, mc MC) (Verdict, error) {
	return eq3MC(c, c.Weights(), Alternatives(c), mc)
}

func eq3MC(c Case, best []float64, alts []Alternative, mc MC) (Verdict, error) {
	alpha := mc.Alpha / float64(1+len(alts))
	interval := func(w []float64, seed uint64) (VarianceResult, error) {
		p, err := estimator.NewCRS(w, c.K)
		if err != nil {
			return VarianceResult{}, err
		}
		law, err := NewLaw(c.X, c.Y, p)
		if err != nil {
			return VarianceResult{}, err
		}
		return CheckVariance(c.X, c.Y, p, law.TotalVariance(), mc.Sketches, seed, alpha)
	}
	r0, err := interval(best, mc.Seed)
	if err != nil {
		return Verdict{}, err
	}
	worst := math.Inf(-1)
	for i, alt := range alts {
		r, err := interval(alt.Weights, mc.Seed+1+uint64(i))
		if err != nil {
			return Verdict{}, err
		}
		gap := r0.Estimate - r.Estimate
		width := r0.HalfWidth + r.HalfWidth
		s := 0.0
		switch {
		case width > 0:
			s = gap / width
		case gap > 0:
			s = math.Inf(1)
		}
		worst = max(worst, s)
		if gap > width {
			return fails(worst, "CRS with %s: squared error %.6g ± %.3g below %.6g ± %.3g",
				alt.Name, r.Estimate, r.HalfWidth, r0.Estimate, r0.HalfWidth), nil
		}
	}
	return holds(max(worst, 0)), nil
}

// closedFormPlans returns the plans of the closed-form claim: CRS, WTA-CRS (rule and fixed |C|),
// Bernoulli and uniform.
func closedFormPlans(c Case) ([]*estimator.Plan, []string, error) {
	plans, names, err := unbiasedPlans(c)
	if err != nil {
		return nil, nil, err
	}
	bern, err := estimator.NewBernoulli(c.Weights(), c.K)
	if err != nil {
		return nil, nil, err
	}
	uni, err := estimator.NewUniform(c.M, c.K)
	if err != nil {
		return nil, nil, err
	}
	return append(plans, bern, uni), append(names, "Bernoulli", "uniform"), nil
}

// ClosedFormMC checks on a case that estimator.ClosedForm's variance is the variance of the
// sketches for CRS, WTA-CRS (rule and fixed |C|), Bernoulli and uniform: it must equal the
// enumerated variance of [Law] to rounding (RelTol·Σ Magnitude²), and pass [CheckVariance]
// (α/5 each).
// Worst is the largest |Estimate − closed form| / HalfWidth (above 1 refutes).
func ClosedFormMC(c Case, mc MC) (Verdict, error) {
	return closedFormMC(c, mc, func(m estimator.Moments) float64 { return m.Variance })
}

// closedFormMC checks the claimed variance claim(ClosedForm) for the plans of closedFormPlans.
func closedFormMC(c Case, mc MC, claim func(estimator.Moments) float64) (Verdict, error) {
	plans, names, err := closedFormPlans(c)
	if err != nil {
		return Verdict{}, err
	}
	return varianceVerdict(names, func(i int) (VarianceResult, error) {
		cf, err := estimator.ClosedForm(c.X, c.Y, plans[i])
		if err != nil {
			return VarianceResult{}, err
		}
		return CheckVariance(c.X, c.Y, plans[i], claim(cf), mc.Sketches, mc.Seed+uint64(i), mc.Alpha/float64(len(plans)))
	})
}

// varianceVerdict is the verdict of the variance checks check(i) of the named estimators, each
// against its claimed variance: it fails at the first the median of means rejects, or whose
// claim differs from the enumerated variance by more than rounding. Worst is the largest
// |Estimate − Claimed| / HalfWidth.
func varianceVerdict(names []string, check func(i int) (VarianceResult, error)) (Verdict, error) {
	worst := 0.0
	for i, name := range names {
		r, err := check(i)
		if err != nil {
			return Verdict{}, err
		}
		worst = max(worst, ratio(math.Abs(r.Estimate-r.Claimed), r.HalfWidth))
		if r.Rejected {
			return fails(worst, "%s: closed form %.6g, median of means %.6g ± %.3g (z = %.3g)",
				name, r.Claimed, r.Estimate, r.HalfWidth, r.Z), nil
		}
		if d := math.Abs(r.Claimed - r.True); d > r.Rounding {
			return fails(worst, "%s: closed form %.6g, enumerated variance %.6g", name, r.Claimed, r.True), nil
		}
	}
	return holds(worst), nil
}

// Theorem2 is the outcome of Theorem 2's claims on one case, and the data of the |C| study.
type Theorem2 struct {
	// Condition: Var[WTA-CRS] < Var[CRS] for every |C| with P_C > |C|/k (Worst: the largest
	// Var[WTA-CRS]/Var[CRS] among them, over the cases where Var[CRS] exceeds rounding).
	Condition Verdict
	// Bound: Var[WTA-CRS] ≤ k(1−P_C)/(k−|C|)·Var[CRS] for every |C| (Worst: the largest
	// Var[WTA-CRS]/bound over |C| ≥ 1 where the bound exceeds rounding; |C| = 0 is equality).
	Bound Verdict
	// Rule: estimator.ChooseC returns the argmin of the bound's factor (Worst: factor of the
	// chosen |C| over the least factor).
	Rule Verdict
	// BoundC is the |C| of the rule, BestC the |C| of least true variance (smallest on ties).
	BoundC, BestC int
	// VarBoundC and VarBestC are the total variances (summed over the entries, from [Law]) of
	// WTA-CRS at BoundC and BestC.
	VarBoundC, VarBestC float64
	// Agree reports VarBoundC ≤ VarBestC up to rounding: the rule's |C| is optimal.
	Agree bool
	// VarCRS is the total variance of CRS with the same budget, the reference of the bound.
	VarCRS float64
	// MaxC is the largest |C| tried, min(k−1, m).
	MaxC int
}

// CheckTheorem2 checks Theorem 2 on a case in closed form (variances from [Law]) over every
// |C| = 0..min(k−1, m), with the given bound factor function (nil: k(1−P_C)/(k−|C|), the
// paper's; another factor is how the tests prove the checker can reject). With k = 1 only
// |C| = 0 exists and the condition does not apply.
func CheckTheorem2(c Case, factor func(k, cc int, massC float64) float64) (Theorem2, error) {
	if factor == nil {
		factor = func(k, cc int, massC float64) float64 { return float64(k) * (1 - massC) / float64(k-cc) }
	}
	w := c.Weights()
	tol := RelTol * roundingScale(w)
	mass, err := estimator.TopMass(w)
	if err != nil {
		return Theorem2{}, err
	}
	vcrs, err := crsVariance(c, w)
	if err != nil {
		return Theorem2{}, err
	}
	res := Theorem2{VarCRS: vcrs, MaxC: min(c.K-1, c.M)}
	res.Condition.Holds, res.Bound.Holds, res.Rule.Holds = true, true, true
	res.Bound.Applies, res.Rule.Applies = true, true
	vars := make([]float64, res.MaxC+1)
	bestFactor, bestFactorC := math.Inf(1), 0
	for cc := 0; cc <= res.MaxC; cc++ {
		p, err := estimator.NewWTACRSFixed(w, c.K, cc)
		if err != nil {
			return Theorem2{}, err
		}
		law, err := NewLaw(c.X, c.Y, p)
		if err != nil {
			return Theorem2{}, err
		}
		v := law.TotalVariance()
		vars[cc] = v
		f := factor(c.K, cc, mass[cc])
		if own := (1 - mass[cc]) / float64(c.K-cc); own < bestFactor {
			bestFactor, bestFactorC = own, cc
		}
		bound := f * vcrs
		if cc > 0 && bound > tol { // |C| = 0 is equality; a ratio of rounding errors says nothing
			res.Bound.Worst = max(res.Bound.Worst, ratio(v, bound))
		}
		if v > bound+tol && res.Bound.Holds {
			res.Bound.Holds = false
			res.Bound.Detail = fmt.Sprintf("|C|=%d: Var[WTA-CRS] = %.6g > %.6g·Var[CRS] = %.6g", cc, v, f, bound)
		}
		if cc > 0 && mass[cc] > float64(cc)/float64(c.K) {
			res.Condition.Applies = true
			if vcrs > tol {
				res.Condition.Worst = max(res.Condition.Worst, ratio(v, vcrs))
			}
			if v >= vcrs+tol && res.Condition.Holds {
				res.Condition.Holds = false
				res.Condition.Detail = fmt.Sprintf("|C|=%d, P_C=%.6g > %.3g: Var[WTA-CRS] = %.6g ≥ Var[CRS] = %.6g",
					cc, mass[cc], float64(cc)/float64(c.K), v, vcrs)
			}
		}
	}
	chosen, err := estimator.ChooseC(w, c.K)
	if err != nil {
		return Theorem2{}, err
	}
	chosenFactor := (1 - mass[chosen]) / float64(c.K-chosen)
	res.Rule.Worst = ratio(chosenFactor, bestFactor)
	if chosenFactor > bestFactor*(1+RelTol) {
		res.Rule.Holds = false
		res.Rule.Detail = fmt.Sprintf("ChooseC = %d with factor %.6g, |C| = %d has %.6g", chosen, chosenFactor, bestFactorC, bestFactor)
	}
	res.BoundC = chosen
	best := 0
	for cc, v := range vars {
		if v < vars[best] {
			best = cc
		}
	}
	res.BestC, res.VarBoundC, res.VarBestC = best, vars[chosen], vars[best]
	res.Agree = res.VarBoundC <= res.VarBestC+tol
	return res, nil
}
