package theory

import (
	"github.com/wtacrs/wtacrs/estimator"
)

// ZeroingThreshold is the P_C above which the published code multiplies the sampled part by 0.
const ZeroingThreshold = 1 - 1e-3

// Control is a biased estimator that the checkers must reject.
type Control struct {
	// Name is short ("topk", "norepl", "zeroing", "zerocache"); Models says what it stands for.
	Name, Models string
	// Plan is the biased plan over the case's pairs.
	Plan *estimator.Plan
}

// ControlZeroing returns the WTA-CRS plan over w with budget k (|C| by estimator.ChooseC) as the
// published code uses it when P_C > 1 − 1e-3: the sampled part is multiplied by 0, that is, every
// pair outside C gets scale 0 (estimator.Plan.WithScale). When P_C ≤ ZeroingThreshold the plan
// is plain WTA-CRS (unbiased). Errors are those of estimator.NewWTACRS.
func ControlZeroing(w []float64, k int) (*estimator.Plan, error) {
	p, err := estimator.NewWTACRS(w, k)
	if err != nil || p.MassC() <= ZeroingThreshold {
		return p, err
	}
	return p.WithScale(make([]float64, p.M()))
}

// ControlZeroCache returns the WTA-CRS plan over w with budget k (|C| by estimator.ChooseC) with
// the scaling the published code applies while the gradient-norm cache is all zero (every
// sample of the first epoch): a drawn pair j ∉ C gets only the factor 1 − P_C instead of
// (1 − P_C)/((k − |C|)·p_j). The plan draws as WTA-CRS does; only the scales differ
// (estimator.Plan.WithScale). Errors are those of estimator.NewWTACRS.
func ControlZeroCache(w []float64, k int) (*estimator.Plan, error) {
	p, err := estimator.NewWTACRS(w, k)
	if err != nil {
		return nil, err
	}
	scale := p.Scales()
	for i := range scale {
		if p.Prob(i) > 0 {
			scale[i] = 1 - p.MassC()
		}
	}
	return p.WithScale(scale)
}

// Controls returns the four negative controls over weights w with budget k: deterministic top-k
// (estimator.NewTopK), sampling without replacement with no rescaling
// (estimator.NewNoReplacement, a fallback of the published code), [ControlZeroing] and
// [ControlZeroCache]. Errors are those of the estimator constructors.
func Controls(w []float64, k int) ([]Control, error) {
	topk, err := estimator.NewTopK(w, k)
	if err != nil {
		return nil, err
	}
	norepl, err := estimator.NewNoReplacement(w, k)
	if err != nil {
		return nil, err
	}
	zeroing, err := ControlZeroing(w, k)
	if err != nil {
		return nil, err
	}
	zerocache, err := ControlZeroCache(w, k)
	if err != nil {
		return nil, err
	}
	return []Control{
		{"topk", "deterministic top-k, unscaled", topk},
		{"norepl", "sampling without replacement, unscaled (published fallback)", norepl},
		{"zeroing", "sampled part multiplied by 0 when P_C > 1 − 1e-3 (published code)", zeroing},
		{"zerocache", "sampled pairs scaled by 1 − P_C only, all-zero cache (published code)", zerocache},
	}, nil
}

// ControlResult is what the unbiasedness checkers say about one control on one case.
type ControlResult struct {
	// Name is the control's [Control.Name].
	Name string
	// Checkable is false when the control's law is not enumerated on the case (sampling
	// without replacement over more than MaxEnumerated positive pairs); the rest is then zero.
	Checkable bool
	// Exact is the verdict of [CheckExact].
	Exact ExactResult
	// Mean is the verdict of [CheckMean].
	Mean MeanResult
}

// CheckControls runs [CheckExact] and [CheckMean] (α/4 each) on the four [Controls] of a case.
func CheckControls(c Case, mc MC) ([]ControlResult, error) {
	ctrls, err := Controls(c.Weights(), c.K)
	if err != nil {
		return nil, err
	}
	out := make([]ControlResult, len(ctrls))
	for i, ctl := range ctrls {
		out[i].Name = ctl.Name
		if ctl.Plan.Method() == estimator.MethodNoReplacement && positive(c.Weights()) > MaxEnumerated {
			continue
		}
		out[i].Checkable = true
		if out[i].Exact, err = CheckExact(c.X, c.Y, ctl.Plan); err != nil {
			return nil, err
		}
		if out[i].Mean, err = CheckMean(c.X, c.Y, ctl.Plan, mc.Sketches, mc.Seed+uint64(i), mc.Alpha/float64(len(ctrls))); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func positive(w []float64) int {
	n := 0
	for _, v := range w {
		if v > 0 {
			n++
		}
	}
	return n
}
