package theory

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/linear"
	"github.com/wtacrs/wtacrs/matrix"
)

// LinearCase is the approximate linear layer Z = HW + b built from a case: the m pairs are the
// tokens, H = Xᵀ (m×n), ∇Z = Y (m×q), W (n×q) and b (q) drawn from the case's seed, and a
// gradient-norm cache with one entry per token, fixed for the sampling.
type LinearCase struct {
	// H is the layer input (m×n), W the weight (n×q) and GradZ the output gradient ∇Z (m×q).
	H, W, GradZ matrix.Dense[float64]
	// B is the bias, q entries.
	B []float64
	// Cache holds the cached ‖∇Z_t‖: the current norm times a log-normal factor (σ = 0.5), so
	// positive wherever ∇Z_t ≠ 0, and zero or positive at random on the tokens whose gradient is
	// zero (padding).
	Cache []float64
	// Plan is WTA-CRS (|C| by estimator.ChooseC) over the weights ‖H_t‖·Cache_t.
	Plan *estimator.Plan
}

// NewLinearCase builds the linear layer of a case. Errors are those of the estimator.
func NewLinearCase(c Case) (LinearCase, error) {
	r := rand.New(rand.NewPCG(c.Seed, 0x6c696e))
	lc := LinearCase{H: matrix.Transpose(c.X), GradZ: c.Y}
	lc.W = matrix.Dense[float64]{Rows: c.N, Cols: c.Q, Data: make([]float64, c.N*c.Q)}
	for i := range lc.W.Data {
		lc.W.Data[i] = r.NormFloat64()
	}
	lc.B = make([]float64, c.Q)
	for i := range lc.B {
		lc.B[i] = r.NormFloat64()
	}
	g := estimator.RowNorms(c.Y)
	lc.Cache = make([]float64, c.M)
	for t, v := range g {
		switch {
		case v > 0:
			lc.Cache[t] = v * math.Exp(0.5*r.NormFloat64())
		case r.IntN(2) == 0:
			lc.Cache[t] = r.Float64()
		}
	}
	w, err := estimator.WeightsFromNorms(estimator.RowNorms(lc.H), lc.Cache)
	if err != nil {
		return LinearCase{}, err
	}
	if lc.Plan, err = estimator.NewWTACRS(w, c.K); err != nil {
		return LinearCase{}, err
	}
	return lc, nil
}

// linearStep runs the layer forward with the sketch (nil: exact) and backward with ∇Z.
func (lc LinearCase) linearStep(s *estimator.Sketch) (z, gradH, gradW matrix.Dense[float64], gradB []float64, err error) {
	z, saved, err := linear.Forward(lc.H, lc.W, lc.B, s)
	if err != nil {
		return z, gradH, gradW, nil, err
	}
	gradH, gradW, gradB, err = linear.Backward(saved, lc.W, lc.GradZ)
	return z, gradH, gradW, gradB, err
}

// LinearExact checks property 5 exactly on a case: the expectation of the layer's ∇W over the
// sampling, enumerated through the layer itself (the kept tokens as one sketch, plus Draws times
// Σ_j p_j times the sketch of token j alone with its scale, by linearity of ∇W in the sketch), is
// HᵀGradZ to RelTol of the terms. Worst is the largest relative deviation.
func LinearExact(c Case) (Verdict, error) {
	lc, err := NewLinearCase(c)
	if err != nil {
		return Verdict{}, err
	}
	law, err := NewLaw(c.X, c.Y, lc.Plan)
	if err != nil {
		return Verdict{}, err
	}
	exact, err := matrix.ProductTransA(lc.H, lc.GradZ)
	if err != nil {
		return Verdict{}, err
	}
	p := lc.Plan
	kept := slices.Sorted(slices.Values(p.Kept()))
	ones := make([]float64, len(kept))
	for i := range ones {
		ones[i] = 1
	}
	_, _, mean, _, err := lc.linearStep(&estimator.Sketch{M: p.M(), Kept: p.Kept(), Index: kept, Scale: ones})
	if err != nil {
		return Verdict{}, err
	}
	for j, q := range p.Probs() {
		if q == 0 {
			continue
		}
		_, _, gw, _, err := lc.linearStep(&estimator.Sketch{M: p.M(), Draws: []int{j}, Index: []int{j}, Scale: []float64{p.Scale(j)}})
		if err != nil {
			return Verdict{}, err
		}
		for e, v := range gw.Data {
			mean.Data[e] += float64(p.Draws()) * q * v
		}
	}
	worst := 0.0
	for e, v := range mean.Data {
		d := math.Abs(v - exact.Data[e])
		worst = max(worst, ratio(d, law.Magnitude[e]))
		if d > RelTol*law.Magnitude[e] {
			return fails(worst, "E[∇W] − HᵀGradZ is %.3g of the terms at entry %d", ratio(d, law.Magnitude[e]), e), nil
		}
	}
	return holds(worst), nil
}

// LinearMC checks property 5 by Monte Carlo on a case: over mc.Sketches sketches of the layer's
// plan, the mean of the ∇W that LinearForward/LinearBackward return passes [CheckMeanOf]
// (α = mc.Alpha), and in every sketch Z, ∇H and the bias gradient equal those of the exact
// layer to RelTol of their terms. Worst is the largest deviation of a mean over its threshold.
func LinearMC(c Case, mc MC) (Verdict, error) {
	lc, err := NewLinearCase(c)
	if err != nil {
		return Verdict{}, err
	}
	z0, gh0, _, gb0, err := lc.linearStep(nil)
	if err != nil {
		return Verdict{}, err
	}
	zTol := termScale(lc.H, lc.W, lc.B)
	hTol := termScale(lc.GradZ, matrix.Transpose(lc.W), nil)
	var mismatch string
	res, err := CheckMeanOf(c.X, c.Y, lc.Plan, mc.Sketches, mc.Seed, mc.Alpha, func(s *estimator.Sketch) ([]float64, error) {
		z, gh, gw, gb, err := lc.linearStep(s)
		if err != nil {
			return nil, err
		}
		if mismatch == "" {
			switch {
			case !closeTo(z.Data, z0.Data, zTol):
				mismatch = "forward Z differs from the exact layer's"
			case !closeTo(gh.Data, gh0.Data, hTol):
				mismatch = "∇H differs from ∇Z Wᵀ"
			case !slices.Equal(gb, gb0):
				mismatch = "the bias gradient differs from the column sums of ∇Z"
			}
		}
		return gw.Data, nil
	})
	if err != nil {
		return Verdict{}, err
	}
	if mismatch != "" {
		return fails(res.WorstRatio, "%s", mismatch), nil
	}
	if res.Rejected {
		return fails(res.WorstRatio, "mean ∇W of %d sketches off by %.3g thresholds (z = %.3g) at (%d,%d)",
			res.Sketches, res.WorstRatio, res.WorstZ, res.Row, res.Col), nil
	}
	return holds(res.WorstRatio), nil
}

// termScale returns, per entry of AB (+ b), RelTol times Σ_k |A_ik B_kj| + |b_j|.
func termScale(a, b matrix.Dense[float64], bias []float64) []float64 {
	out := make([]float64, a.Rows*b.Cols)
	for i := range a.Rows {
		for j := range b.Cols {
			var s float64
			for k := range a.Cols {
				s += math.Abs(a.Data[i*a.Cols+k] * b.Data[k*b.Cols+j])
			}
			if bias != nil {
				s += math.Abs(bias[j])
			}
			out[i*b.Cols+j] = RelTol * s
		}
	}
	return out
}

func closeTo(a, b, tol []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i, v := range a {
		if !(math.Abs(v-b[i]) <= tol[i]) {
			return false
		}
	}
	return true
}

// String describes the layer's sizes.
func (lc LinearCase) String() string {
	return fmt.Sprintf("linear layer: %d tokens, d_in = %d, d_out = %d, |C| = %d", lc.H.Rows, lc.H.Cols, lc.W.Cols, len(lc.Plan.Kept()))
}
