package analysis

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Interval is the mean of independent replicates (one value per training seed, say) with a
// two-sided Student t confidence interval.
type Interval struct {
	// N is the number of values.
	N int
	// Mean is their mean and SD their sample standard deviation (denominator N − 1; 0 when
	// N = 1).
	Mean, SD float64
	// Level is the confidence level of [Lo, Hi], for example 0.95.
	Level float64
	// Lo and Hi are Mean ∓ t·SD/√N with t the (1 + Level)/2 quantile of Student's t with N − 1
	// degrees of freedom; NaN when N = 1 (no interval from a single value).
	Lo, Hi float64
}

// TInterval returns the mean of x with its t interval at the confidence level (in (0, 1)). The
// interval assumes independent, roughly normal values; with few of them it is wide (t = 12.7 for
// two values at 95%, 4.30 for three). It does not modify x and returns ErrInput for an empty x,
// a NaN or ±Inf value, or a level outside (0, 1).
func TInterval(x []float64, level float64) (Interval, error) {
	if len(x) == 0 {
		return Interval{}, fmt.Errorf("%w: no values for an interval", ErrInput)
	}
	if !(level > 0 && level < 1) {
		return Interval{}, fmt.Errorf("%w: confidence level %v, want one in (0, 1)", ErrInput, level)
	}
	var sum float64
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Interval{}, fmt.Errorf("%w: value %d is %v", ErrInput, i, v)
		}
		sum += v
	}
	n := len(x)
	iv := Interval{N: n, Mean: sum / float64(n), Level: level, Lo: math.NaN(), Hi: math.NaN()}
	if n == 1 {
		return iv, nil
	}
	var ss float64
	for _, v := range x {
		ss += (v - iv.Mean) * (v - iv.Mean)
	}
	iv.SD = math.Sqrt(ss / float64(n-1))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}.Quantile((1 + level) / 2)
	half := t * iv.SD / math.Sqrt(float64(n))
	iv.Lo, iv.Hi = iv.Mean-half, iv.Mean+half
	return iv, nil
}
