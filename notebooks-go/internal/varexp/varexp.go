// Package varexp computes the expected squared error of the estimators of package estimator
// against the budget k, in closed form and by Monte Carlo, on synthetic weight-gradient products
// HᵀG: a heavy-tailed batch (token norms drawn from a Pareto law) and a padded batch (the same
// with a share of all-zero padding tokens).
package varexp

import (
	"errors"
	"fmt"
	"math"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/philox"
)

// ErrInput reports invalid settings.
var ErrInput = errors.New("varexp: invalid input")

// Problem is a weight-gradient product HᵀG: H is m×dIn, G is m×dOut.
type Problem struct {
	// Name labels the problem in panel titles and table rows.
	Name string
	// H (m×dIn) and G (m×dOut) are the two factors; their m rows are the pairs sampled.
	H, G matrix.Dense[float64]
}

// HeavyTailed returns m tokens whose rows of H have Pareto(alpha) norms (alpha > 0) and random
// directions, with Gaussian G, from the Philox stream (seed, 0); the last padded·m tokens
// (0 ≤ padded < 1) are all zero, like padding. It returns ErrInput for bad sizes.
func HeavyTailed(name string, m, dIn, dOut int, alpha, padded float64, seed uint64) (Problem, error) {
	if m < 1 || dIn < 1 || dOut < 1 || !(alpha > 0) || !(padded >= 0 && padded < 1) {
		return Problem{}, fmt.Errorf("%w: m=%d dIn=%d dOut=%d alpha=%v padded=%v", ErrInput, m, dIn, dOut, alpha, padded)
	}
	h, _ := matrix.NewDense[float64](m, dIn, nil)
	g, _ := matrix.NewDense[float64](m, dOut, nil)
	var ctr uint64
	normal := func() float64 { // Box–Muller
		u1 := philox.Uniform(seed, 0, ctr)
		u2 := philox.Uniform(seed, 0, ctr+1)
		ctr += 2
		return math.Sqrt(-2*math.Log(1-u1)) * math.Cos(2*math.Pi*u2)
	}
	real := m - int(padded*float64(m))
	for t := range real {
		scale := math.Pow(1-philox.Uniform(seed, 1, uint64(t)), -1/alpha)
		var n2 float64
		row := h.Row(t)
		for j := range row {
			row[j] = normal()
			n2 += row[j] * row[j]
		}
		for j := range row {
			row[j] *= scale / math.Sqrt(n2)
		}
		for j := range g.Row(t) {
			g.Row(t)[j] = normal()
		}
	}
	return Problem{Name: name, H: h, G: g}, nil
}

// Point is the error of one method at one budget.
type Point struct {
	// Method is the estimator evaluated.
	Method estimator.Method
	// K is the budget, the number of pairs the estimate uses, in [1, m].
	K int
	// ClosedForm is E‖HᵀG − estimate‖²_F from [estimator.ClosedForm] (bias² + variance), NaN when
	// no closed form exists.
	ClosedForm float64
	// MonteCarlo is the mean of the trials' squared errors and MCStdErr its standard error.
	MonteCarlo, MCStdErr float64
	// Z is (MonteCarlo − ClosedForm)/MCStdErr (NaN without a closed form).
	Z float64
}

// Sweep evaluates every method at every budget with the given number of Monte Carlo trials
// (trial t uses stream t of seed). Budgets must lie in [1, m]; trials ≥ 2.
func Sweep(p Problem, methods []estimator.Method, ks []int, trials int, seed uint64) ([]Point, error) {
	if trials < 2 {
		return nil, fmt.Errorf("%w: %d trials", ErrInput, trials)
	}
	w, err := estimator.WeightsTransA(p.H, p.G)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	exact, err := matrix.ProductTransA(p.H, p.G)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	ht := matrix.Transpose(p.H)
	var out []Point
	for _, k := range ks {
		if k < 1 || k > len(w) {
			return nil, fmt.Errorf("%w: k = %d for %d tokens", ErrInput, k, len(w))
		}
		for _, m := range methods {
			plan, err := estimator.NewPlan(m, w, k, estimator.AutoC)
			if err != nil {
				return nil, fmt.Errorf("%w: %v k=%d: %w", ErrInput, m, k, err)
			}
			pt, err := Evaluate(p, ht, exact, plan, trials, seed)
			if err != nil {
				return nil, err
			}
			pt.K = k
			out = append(out, pt)
		}
	}
	return out, nil
}

// Evaluate returns the closed-form and Monte Carlo squared errors of one plan for HᵀG (ht is
// Hᵀ and exact is HᵀG, passed in to be computed once).
func Evaluate(p Problem, ht, exact matrix.Dense[float64], plan *estimator.Plan, trials int, seed uint64) (Point, error) {
	pt := Point{Method: plan.Method(), K: plan.K(), ClosedForm: math.NaN(), Z: math.NaN()}
	mom, err := estimator.ClosedForm(ht, p.G, plan)
	switch {
	case err == nil:
		pt.ClosedForm = mom.ExpectedSquaredError()
	case errors.Is(err, estimator.ErrNoClosedForm):
	default:
		return Point{}, fmt.Errorf("varexp: %w", err)
	}
	var sum, sum2 float64
	for t := range trials {
		est, err := estimator.ApplyTransA(p.H, p.G, plan.Sample(seed, uint64(t)))
		if err != nil {
			return Point{}, fmt.Errorf("varexp: %w", err)
		}
		var e float64
		for i, v := range est.Data {
			d := v - exact.Data[i]
			e += d * d
		}
		sum += e
		sum2 += e * e
	}
	n := float64(trials)
	pt.MonteCarlo = sum / n
	pt.MCStdErr = math.Sqrt(max(sum2/n-pt.MonteCarlo*pt.MonteCarlo, 0) / (n - 1))
	if !math.IsNaN(pt.ClosedForm) && pt.MCStdErr > 0 {
		pt.Z = (pt.MonteCarlo - pt.ClosedForm) / pt.MCStdErr
	}
	return pt, nil
}
