package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/internal/npyfile"
)

func init() {
	register(command{name: "estimate", summary: "estimate X·Y from .npy files with one method; print JSON", run: runEstimate})
}

// estimateResult is the JSON object printed by wtacrs estimate.
type estimateResult struct {
	Method string  `json:"method"`
	N      int     `json:"n"`
	M      int     `json:"m"`
	Q      int     `json:"q"`
	K      int     `json:"k"`
	C      int     `json:"c"`
	MassC  float64 `json:"mass_c"`
	// ExactVariance is the closed-form E‖XY − X'Y'‖²_F (bias included); null when no closed form
	// exists (sampling without replacement over more than estimator.MaxEnumeratedPairs pairs).
	ExactVariance       *float64 `json:"exact_variance"`
	EmpiricalVariance   float64  `json:"empirical_variance"`
	EmpiricalBiasMaxAbs float64  `json:"empirical_bias_max_abs"`
	Trials              int      `json:"trials"`
	Seed                uint64   `json:"seed"`
}

func runEstimate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("estimate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wtacrs estimate -x X.npy -y Y.npy -method wtacrs|crs|uniform|topk|bernoulli|norepl -k K [-c C] [-trials T] [-seed S]")
		fs.PrintDefaults()
	}
	xPath := fs.String("x", "", "X, an n×m float32 or float64 .npy file (C order)")
	yPath := fs.String("y", "", "Y, an m×q float32 or float64 .npy file (C order)")
	methodName := fs.String("method", "wtacrs", "estimator: wtacrs, crs, uniform, topk, bernoulli or norepl")
	k := fs.Int("k", 0, "budget of column-row pairs, k ≥ 1")
	c := fs.Int("c", estimator.AutoC, "|C| for wtacrs, 0 ≤ c ≤ min(k−1, m); −1 picks it by the rule of Theorem 2")
	trials := fs.Int("trials", 1000, "number of independent sketches for the empirical figures, ≥ 1")
	seed := fs.Uint64("seed", 1, "seed of the Philox generator; trial t uses stream t")
	if err := fs.Parse(args); err != nil {
		return err // flag.ErrHelp included: the dispatcher exits 0 on it
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	case *xPath == "" || *yPath == "":
		return errors.New("both -x and -y are required")
	case *k < 1:
		return fmt.Errorf("-k %d: the budget must be at least 1", *k)
	case *trials < 1:
		return fmt.Errorf("-trials %d: need at least one trial", *trials)
	}
	method, err := estimator.ParseMethod(*methodName)
	if err != nil {
		return err
	}
	if *c != estimator.AutoC && method != estimator.MethodWTACRS {
		return fmt.Errorf("-c is only meaningful for -method wtacrs")
	}
	x, err := npyfile.Read(*xPath)
	if err != nil {
		return err
	}
	y, err := npyfile.Read(*yPath)
	if err != nil {
		return err
	}
	res, err := estimate(x, y, method, *k, *c, *trials, *seed)
	if err != nil {
		return err
	}
	out, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", out)
	return err
}

// estimate runs trials sketches of one method and compares them with the closed form.
func estimate(x, y estimator.Dense[float64], method estimator.Method, k, c, trials int, seed uint64) (*estimateResult, error) {
	w, err := estimator.Weights(x, y)
	if err != nil {
		return nil, err
	}
	plan, err := estimator.NewPlan(method, w, k, c)
	if err != nil {
		return nil, err
	}
	exact, err := estimator.Product(x, y)
	if err != nil {
		return nil, err
	}
	res := &estimateResult{Method: method.String(), N: x.Rows, M: x.Cols, Q: y.Cols, K: k,
		C: len(plan.Kept), MassC: plan.MassC, Trials: trials, Seed: seed}
	cf, err := estimator.ClosedForm(x, y, plan)
	switch {
	case err == nil:
		v := cf.ExpectedSquaredError()
		res.ExactVariance = &v
	case !errors.Is(err, estimator.ErrNoClosedForm):
		return nil, err
	}
	mean := make([]float64, len(exact.Data))
	for t := 0; t < trials; t++ {
		est, err := estimator.Apply(x, y, plan.Sample(seed, uint64(t)))
		if err != nil {
			return nil, err
		}
		for i, v := range est.Data {
			d := v - exact.Data[i]
			res.EmpiricalVariance += d * d
			mean[i] += v
		}
	}
	res.EmpiricalVariance /= float64(trials)
	for i, v := range mean {
		res.EmpiricalBiasMaxAbs = math.Max(res.EmpiricalBiasMaxAbs, math.Abs(v/float64(trials)-exact.Data[i]))
	}
	return res, nil
}
