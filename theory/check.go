package theory

import (
	"fmt"
	"math"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
)

// RelTol is the relative rounding tolerance of the checkers: a difference smaller than RelTol
// times the magnitude of the terms of an entry (see [Law]) is rounding, not bias.
const RelTol = 1e-9

// ExactResult is the verdict of [CheckExact].
type ExactResult struct {
	// Biased reports an entry whose expectation differs from XY by more than RelTol·Magnitude.
	Biased bool
	// Worst is the largest |E[X'Y'] − XY| / Magnitude over the entries, at (Row, Col).
	Worst float64
	// Row and Col are the 0-based entry of XY where Worst is attained.
	Row, Col int
	// ClosedFormGap is the largest |Law.Mean − ClosedForm.Mean| / Magnitude: the two independent
	// computations of the expectation agree when it is below RelTol.
	ClosedFormGap float64
}

// CheckExact decides whether the plan's estimate of XY is unbiased, exactly: the expectation is
// computed by enumerating the law of one draw ([NewLaw]) and compared with the product XY entry
// by entry. It also compares that expectation with estimator.ClosedForm's. X must be n×m and Y
// m×q, finite, with m = p.M; errors are those of [NewLaw] and estimator.ClosedForm.
func CheckExact(x, y matrix.Dense[float64], p *estimator.Plan) (ExactResult, error) {
	law, err := NewLaw(x, y, p)
	if err != nil {
		return ExactResult{}, err
	}
	exact, err := matrix.Product(x, y)
	if err != nil {
		return ExactResult{}, err
	}
	cf, err := estimator.ClosedForm(x, y, p)
	if err != nil {
		return ExactResult{}, err
	}
	return checkExact(law, exact.Data, cf.Mean.Data), nil
}

// checkExact compares the law's mean with the exact product and with the closed form's mean.
func checkExact(law Law, exact, cfMean []float64) ExactResult {
	var res ExactResult
	for e, mean := range law.Mean {
		mag := law.Magnitude[e]
		d := math.Abs(mean - exact[e])
		if d > RelTol*mag {
			res.Biased = true
		}
		if rel := ratio(d, mag); rel > res.Worst || (res.Worst == 0 && e == 0) {
			res.Worst, res.Row, res.Col = rel, e/law.Cols, e%law.Cols
		}
		res.ClosedFormGap = max(res.ClosedFormGap, ratio(math.Abs(mean-cfMean[e]), mag))
	}
	return res
}

// ratio returns d/mag, 0 for 0/0 and +Inf for d/0 with d > 0.
func ratio(d, mag float64) float64 {
	if d == 0 {
		return 0
	}
	if mag == 0 {
		return math.Inf(1)
	}
	return d / mag
}

// BernsteinRadius returns the t with P(|S| ≥ t) ≤ α for a sum S of independent zero-mean terms,
// each bounded by rng in absolute value, with total variance v (Bernstein's inequality
// P(|S| ≥ t) ≤ 2·exp(−t²/(2(v + rng·t/3)))): t = rng·L/3 + √((rng·L/3)² + 2vL), L = ln(2/α).
func BernsteinRadius(v, rng, alpha float64) float64 {
	l := math.Log(2 / alpha)
	a := rng * l / 3
	return a + math.Sqrt(a*a+2*v*l)
}

// MeanResult is the verdict of [CheckMean].
type MeanResult struct {
	// Rejected reports an entry whose Monte Carlo mean is farther from XY than its threshold.
	Rejected bool
	// Sketches is the number T of sketches averaged.
	Sketches int
	// WorstRatio is the largest |mean_T − XY| / threshold over the entries (above 1 rejects),
	// at (Row, Col); WorstZ is the largest |mean_T − XY| / √(Var/T) (+Inf for a deterministic
	// entry off by more than rounding).
	WorstRatio, WorstZ float64
	// Row and Col are the 0-based entry of XY where WorstRatio is attained.
	Row, Col int
	// Detectable reports that some entry's exact bias exceeds twice its threshold, so that a
	// biased plan is rejected with probability at least 1 − α.
	Detectable bool
}

// CheckMean decides whether the plan's estimate of XY is unbiased from T = sketches sketches
// drawn with the given seed (streams 0..T−1) and applied with estimator.Apply. Entry (r, c) is
// rejected when |mean_T − XY| exceeds BernsteinRadius(T·Var, Range, α/(n·q))/T plus
// RelTol·Magnitude, with Var and Range from [NewLaw]; so an unbiased plan is rejected with
// probability at most α. It needs sketches ≥ 1 and 0 < α < 1 (ErrSketches) and returns the errors
// of [NewLaw].
func CheckMean(x, y matrix.Dense[float64], p *estimator.Plan, sketches int, seed uint64, alpha float64) (MeanResult, error) {
	return CheckMeanOf(x, y, p, sketches, seed, alpha, func(s *estimator.Sketch) ([]float64, error) {
		est, err := estimator.Apply(x, y, s)
		return est.Data, err
	})
}

// CheckMeanOf is [CheckMean] for another computation of the same estimate: estimate must return
// the n×q estimate (row-major) that the sketch describes, for example through an approximate
// linear layer's backward pass. Its errors are passed on.
func CheckMeanOf(x, y matrix.Dense[float64], p *estimator.Plan, sketches int, seed uint64, alpha float64,
	estimate func(*estimator.Sketch) ([]float64, error)) (MeanResult, error) {
	if sketches < 1 || !(alpha > 0 && alpha < 1) {
		return MeanResult{}, fmt.Errorf("%w: %d sketches, α = %v", ErrSketches, sketches, alpha)
	}
	law, err := NewLaw(x, y, p)
	if err != nil {
		return MeanResult{}, err
	}
	return checkMean(x, y, law, p.Sample, sketches, seed, alpha, estimate)
}

// checkMean is CheckMeanOf for an estimator with the given law whose sketch of stream s is
// sample(seed, s).
func checkMean(x, y matrix.Dense[float64], law Law, sample func(seed, stream uint64) *estimator.Sketch, sketches int, seed uint64, alpha float64,
	estimate func(*estimator.Sketch) ([]float64, error)) (MeanResult, error) {
	exact, err := matrix.Product(x, y)
	if err != nil {
		return MeanResult{}, err
	}
	sum := make([]float64, len(exact.Data))
	for s := range sketches {
		est, err := estimate(sample(seed, uint64(s)))
		if err != nil {
			return MeanResult{}, err
		}
		if len(est) != len(sum) {
			return MeanResult{}, fmt.Errorf("%w: estimate of %d entries for a %dx%d product", estimator.ErrShape, len(est), x.Rows, y.Cols)
		}
		for e, v := range est {
			sum[e] += v
		}
	}
	t := float64(sketches)
	aEntry := alpha / float64(len(sum))
	res := MeanResult{Sketches: sketches}
	for e, s := range sum {
		d := math.Abs(s/t - exact.Data[e])
		thr := BernsteinRadius(t*law.Var[e], law.Range[e], aEntry)/t + RelTol*law.Magnitude[e]
		if d > thr {
			res.Rejected = true
		}
		if math.Abs(law.Mean[e]-exact.Data[e]) > 2*thr {
			res.Detectable = true
		}
		if r := ratio(d, thr); r > res.WorstRatio {
			res.WorstRatio, res.Row, res.Col = r, e/law.Cols, e%law.Cols
		}
		z := 0.0
		switch {
		case law.Var[e] > 0:
			z = d / math.Sqrt(law.Var[e]/t)
		case d > RelTol*law.Magnitude[e]:
			z = math.Inf(1)
		}
		res.WorstZ = max(res.WorstZ, z)
	}
	return res, nil
}

// groupFactor is the Chebyshev factor of [CheckVariance]: a group mean is off by more than
// groupFactor standard deviations with probability at most 1/groupFactor².
const groupFactor = 4

// Groups returns the smallest number g of groups for which a median of g group means, each off
// by more than groupFactor standard deviations with probability at most 1/16, is off with
// probability at most α: P(Binomial(g, 1/16) ≥ ⌈g/2⌉) ≤ α. It needs 0 < α < 1.
func Groups(alpha float64) int {
	for g := 1; ; g += 2 {
		if binomialTail(g, 1.0/(groupFactor*groupFactor), (g+1)/2) <= alpha {
			return g
		}
	}
}

// binomialTail returns P(Binomial(n, p) ≥ h).
func binomialTail(n int, p float64, h int) float64 {
	var s float64
	for j := h; j <= n; j++ {
		lg1, _ := math.Lgamma(float64(n + 1))
		lg2, _ := math.Lgamma(float64(j + 1))
		lg3, _ := math.Lgamma(float64(n - j + 1))
		s += math.Exp(lg1 - lg2 - lg3 + float64(j)*math.Log(p) + float64(n-j)*math.Log1p(-p))
	}
	return s
}

// VarianceResult is the verdict of [CheckVariance].
type VarianceResult struct {
	// Rejected reports that the claimed variance lies outside the interval.
	Rejected bool
	// Claimed is the variance under test, True the variance of [NewLaw], Estimate the median of
	// the group means of ‖X'Y' − E[X'Y']‖²_F and HalfWidth the half-width of the interval.
	Claimed, True, Estimate, HalfWidth float64
	// Rounding is the rounding part of HalfWidth: RelTol·Σ Magnitude².
	Rounding float64
	// Z is (Estimate − Claimed) in standard deviations of one group mean (|Z| > 4 rejects).
	Z float64
	// Groups is the number of groups, Sketches the sketches used (a multiple of Groups).
	Groups, Sketches int
	// Detectable reports |Claimed − True| > 2·HalfWidth: a wrong claim is then rejected with
	// probability at least 1 − α.
	Detectable bool
}

// CheckVariance decides whether claimed is the variance E‖X'Y' − E[X'Y']‖²_F of the plan's
// estimate from sketches drawn with the given seed: the squared deviations of the sketches from
// the exact mean ([NewLaw]) are averaged in [Groups](α) groups and the median of the group means
// is compared with claimed. With σ the exact spread of one squared deviation
// ([SquaredErrorSpread]) and s sketches per group, the interval is claimed ± 4σ/√s (plus
// rounding), so a true claim is rejected with probability at most α. It needs 0 < α < 1 and at
// least Groups(α) sketches (ErrSketches), and returns the errors of [SquaredErrorSpread].
func CheckVariance(x, y matrix.Dense[float64], p *estimator.Plan, claimed float64, sketches int, seed uint64, alpha float64) (VarianceResult, error) {
	if !(alpha > 0 && alpha < 1) {
		return VarianceResult{}, fmt.Errorf("%w: α = %v", ErrSketches, alpha)
	}
	g := Groups(alpha)
	if sketches < g {
		return VarianceResult{}, fmt.Errorf("%w: %d sketches for %d groups", ErrSketches, sketches, g)
	}
	law, err := NewLaw(x, y, p)
	if err != nil {
		return VarianceResult{}, err
	}
	sigma, err := SquaredErrorSpread(x, y, p)
	if err != nil {
		return VarianceResult{}, err
	}
	return checkVariance(x, y, law, sigma, p.Sample, claimed, g, sketches/g, seed)
}

// checkVariance is CheckVariance for an estimator with the given law and spread σ of one
// squared deviation whose sketch of stream s is sample(seed, s), over g groups of size sketches.
func checkVariance(x, y matrix.Dense[float64], law Law, sigma float64, sample func(seed, stream uint64) *estimator.Sketch,
	claimed float64, g, size int, seed uint64) (VarianceResult, error) {
	means := make([]float64, g)
	for s := range g * size {
		est, err := estimator.Apply(x, y, sample(seed, uint64(s)))
		if err != nil {
			return VarianceResult{}, err
		}
		var e2 float64
		for e, v := range est.Data {
			d := v - law.Mean[e]
			e2 += d * d
		}
		means[s/size] += e2 / float64(size)
	}
	res := VarianceResult{Claimed: claimed, True: law.TotalVariance(), Estimate: median(means),
		Groups: g, Sketches: g * size}
	var mag2 float64
	for _, v := range law.Magnitude {
		mag2 += v * v
	}
	sd := sigma / math.Sqrt(float64(size))
	res.Rounding = RelTol * mag2
	res.HalfWidth = groupFactor*sd + res.Rounding
	d := math.Abs(res.Estimate - claimed)
	res.Rejected = d > res.HalfWidth
	res.Detectable = math.Abs(claimed-res.True) > 2*res.HalfWidth
	switch {
	case sd > 0:
		res.Z = (res.Estimate - claimed) / sd
	case res.Rejected:
		res.Z = math.Inf(1)
	}
	return res, nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	// Insertion sort: g is a few hundred at most.
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
