package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/internal/memlimit"
	"github.com/wtacrs/wtacrs/internal/npyfile"
	"github.com/wtacrs/wtacrs/matrix"
)

func init() {
	register(command{name: "estimate", summary: "estimate X.Y from .npy files with one method; print JSON", run: runEstimate})
}

// errTooMuchWork reports a job whose work, counted up front, exceeds its bound: estimate's
// random draws (-max-draws) or multiply-adds (-max-work), verify's trials (-max-trials).
var errTooMuchWork = errors.New("too much work")

// defaultMaxDraws is the default bound on trials × draws per trial: about a minute on one core.
const defaultMaxDraws = 1_000_000_000

// trialOverhead is the fixed cost of one trial of an estimate in multiply-adds (measured: about
// 210 ns a trial for a 3×4 by 4×2 product, some 400 multiply-adds at the rate of the large ones).
const trialOverhead = 500

// defaultMaxWork is the default bound on the multiply-adds of the estimates over all trials
// (the gathers and GEMMs of Apply): about a minute of the pure-Go GEMM on one core.
const defaultMaxWork = 50_000_000_000

// estimateResult is the JSON object printed by wtacrs estimate.
type estimateResult struct {
	Method string `json:"method"`
	N      int    `json:"n"`
	M      int    `json:"m"`
	Q      int    `json:"q"`
	K      int    `json:"k"`
	// C is |C|, the pairs kept exactly, and MassC the share of the weight they hold; with strata
	// K is the budget of each stratum, C the sum of the strata's |C| and MassC the share of the
	// total weight kept exactly.
	C     int     `json:"c"`
	MassC float64 `json:"mass_c"`
	// Strata and CRule are the number of strata and the rule of their |C|, present only with
	// -strata > 1.
	Strata int    `json:"strata,omitempty"`
	CRule  string `json:"c_rule,omitempty"`
	// ExactVariance is the closed-form E‖XY − X'Y'‖²_F (bias included); null when no closed form
	// exists (sampling without replacement over more than estimator.MaxEnumeratedPairs pairs).
	ExactVariance       *figure `json:"exact_variance"`
	EmpiricalVariance   figure  `json:"empirical_variance"`
	EmpiricalBiasMaxAbs figure  `json:"empirical_bias_max_abs"`
	Trials              int     `json:"trials"`
	Seed                uint64  `json:"seed"`
}

// figure is one of estimate's figures, v·2^exp. The figures are computed on X and Y rescaled by
// powers of two where their own scale would take the squares out of float64's range, and carry
// the exponent that scales them back. A figure that float64 holds to full precision (0, or a
// normal number) prints as a JSON number, as json.Marshal prints a float64; one beyond (below
// 2.2e-308 or above 1.8e308) prints as a JSON string holding its decimal value, such as
// "1.2345678901234567e-600", so that a reader expecting a float64 fails instead of reading 0 or +Inf.
type figure struct {
	v   float64
	exp int
}

// value returns the figure as a float64 and whether float64 holds it to full precision.
func (f figure) value() (float64, bool) {
	x := math.Ldexp(f.v, f.exp)
	return x, f.v == 0 || math.Abs(x) >= 0x1p-1022 && !math.IsInf(x, 0)
}

// big returns the figure as an exact big.Float.
func (f figure) big() *big.Float {
	b := new(big.Float).SetFloat64(f.v)
	return b.SetMantExp(b, f.exp)
}

func (f figure) MarshalJSON() ([]byte, error) {
	if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
		return nil, fmt.Errorf("figure %v is not finite", f.v)
	}
	if x, ok := f.value(); ok {
		return json.Marshal(x)
	}
	// 17 significant digits identify a 53-bit mantissa (big.Float's shortest form does not
	// always round-trip at powers of two).
	return json.Marshal(f.big().Text('g', 17))
}

func (f *figure) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var x float64
		if err := json.Unmarshal(b, &x); err != nil {
			return err
		}
		*f = figure{v: x}
		return nil
	}
	v, _, err := big.ParseFloat(s, 10, 256, big.ToNearestEven)
	if err != nil {
		return fmt.Errorf("figure %q: %w", s, err)
	}
	v.SetPrec(53)
	mant := new(big.Float)
	e := v.MantExp(mant)
	m, _ := mant.Float64()
	*f = figure{v: m, exp: e}
	return nil
}

// estimateLimits bounds an estimate's resources up front.
type estimateLimits struct {
	mem      uint64 // bytes (memlimit.Unlimited for none)
	maxDraws uint64 // trials × random numbers drawn per trial
	maxWork  uint64 // trials × multiply-adds of one estimate
}

func runEstimate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("estimate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, stderr, "wtacrs estimate -x X.npy -y Y.npy [flags]",
		"Estimates the product X.Y with one method over -trials independent sketches and prints one\n"+
			"JSON object: the closed-form expected squared error (bias included; null where no closed\n"+
			"form exists) against the empirical one, and the empirical bias. Figures float64 cannot\n"+
			"hold to full precision are printed as strings.",
		"wtacrs estimate -x testdata/example/X.npy -y testdata/example/Y.npy -method wtacrs -k 64",
		"wtacrs estimate -x X.npy -y Y.npy -method crs -k 100 -trials 5000 -seed 7",
		"wtacrs estimate -x X.npy -y Y.npy -k 8 -strata 16 -c-rule shared")
	xPath := fs.String("x", "", "X, an n x m float32 or float64 .npy `FILE` (C order)")
	yPath := fs.String("y", "", "Y, an m x q float32 or float64 .npy `FILE` (C order)")
	methodName := fs.String("method", "wtacrs", "estimator: wtacrs, crs, uniform, topk, bernoulli or norepl")
	k := fs.Int("k", 0, "budget of column-row pairs, k >= 1 (required); with -strata, of each stratum")
	c := fs.Int("c", estimator.AutoC, "|C| for wtacrs, 0 <= c <= min(k-1, m); -1 picks it by the rule of Theorem 2")
	strata := fs.Int("strata", 1, "split the m pairs into `G` equal contiguous strata, sampled independently with\n"+
		"budget k each (-method wtacrs only; G must divide m); 1: one plan over all pairs")
	cRuleName := fs.String("c-rule", estimator.COwn.String(), "`RULE` that picks |C| of the strata with -strata > 1: own (each stratum's by the\n"+
		"rule of Theorem 2) or shared (one |C| for all strata, the rule of the published code)")
	trials := fs.Int("trials", 1000, "number of independent sketches for the empirical figures, >= 1")
	seed := fs.Uint64("seed", 1, "seed of the Philox generator; trial t uses stream t")
	lim := estimateLimits{maxDraws: defaultMaxDraws, maxWork: defaultMaxWork}
	memLimit := memLimitFlag(fs)
	fs.Func("max-work", fmt.Sprintf("refuse an estimate of more than `N` multiply-adds over all trials (default %.0e)", float64(defaultMaxWork)), func(s string) error {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(v >= 1) {
			return fmt.Errorf("want a count >= 1 such as 5e10")
		}
		lim.maxWork = memlimit.Unlimited
		if v < 0x1p64 {
			lim.maxWork = uint64(v)
		}
		return nil
	})
	fs.Func("max-draws", fmt.Sprintf("refuse an estimate that draws more than `N` random numbers over all trials (default %d)", uint64(defaultMaxDraws)), func(s string) error {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(v >= 1) {
			return fmt.Errorf("want a count ≥ 1 such as 1e9")
		}
		lim.maxDraws = memlimit.Unlimited
		if v < 0x1p64 {
			lim.maxDraws = uint64(v)
		}
		return nil
	})
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err // flag.ErrHelp included: the dispatcher exits 0 on it
	}
	lim.mem = memLimit()
	switch {
	case len(pos) > 0:
		return errUsage(fmt.Sprintf("unexpected arguments %q (X and Y are given with -x and -y)", pos))
	case *xPath == "" || *yPath == "":
		return errUsage("both -x and -y are required")
	case *k < 1:
		return errUsage(fmt.Sprintf("-k %d: the budget must be at least 1", *k))
	case *trials < 1:
		return errUsage(fmt.Sprintf("-trials %d: need at least one trial", *trials))
	}
	method, err := estimator.ParseMethod(*methodName)
	if err != nil {
		return errUsage(err.Error())
	}
	if *c != estimator.AutoC && method != estimator.MethodWTACRS {
		return errUsage("-c is only meaningful for -method wtacrs")
	}
	cRuleSet := false
	fs.Visit(func(f *flag.Flag) { cRuleSet = cRuleSet || f.Name == "c-rule" })
	rule, err := estimator.ParseCRule(*cRuleName)
	switch {
	case *strata < 1:
		return errUsage(fmt.Sprintf("-strata %d: want at least 1 stratum", *strata))
	case *strata > 1 && method != estimator.MethodWTACRS:
		return errUsage(fmt.Sprintf("-strata %d: strata are sampled with -method wtacrs only, not %v", *strata, method))
	case *strata > 1 && *c != estimator.AutoC:
		return errUsage(fmt.Sprintf("-c fixes |C| of one plan; with -strata %d choose the strata's |C| with -c-rule own or shared", *strata))
	case cRuleSet && *strata == 1:
		return errUsage("-c-rule is only meaningful with -strata > 1 (and -method wtacrs)")
	case err != nil:
		return errUsage(fmt.Sprintf("-c-rule: %v", err))
	}
	// The headers first: X and Y are read (as float64) only when they fit in memory.
	var dims [2][]int
	for i, path := range []string{*xPath, *yPath} {
		info, err := npyfile.ReadInfo(path)
		if err != nil {
			return err
		}
		dims[i] = info.Shape
		if len(info.Shape) > 2 {
			return fmt.Errorf("%w: %s has %d dimensions, want 2", npyfile.ErrFormat, path, len(info.Shape))
		}
	}
	n, m, q := dim(dims[0], 0), dim(dims[0], 1), dim(dims[1], 1)
	if *strata > 1 && m%*strata != 0 {
		return fmt.Errorf("%w: -strata %d does not divide the %d pairs of the product (the columns of %s): the strata must be of equal size",
			estimator.ErrShape, *strata, m, *xPath)
	}
	if err := memlimit.Check(fmt.Sprintf("estimate of a %d×%d by %d×%d product", n, m, dim(dims[1], 0), q),
		estimateMemory(n, m, q, nil), lim.mem); err != nil {
		return fmt.Errorf("estimating with X = %s, Y = %s: %w", *xPath, *yPath, err)
	}
	x, err := npyfile.Read(*xPath)
	if err != nil {
		return err
	}
	y, err := npyfile.Read(*yPath)
	if err != nil {
		return err
	}
	// Errors about X and Y name their files.
	if err := x.Check(*xPath + " (X)"); err != nil {
		return err
	}
	if err := y.Check(*yPath + " (Y)"); err != nil {
		return err
	}
	spec := estimateSpec{method: method, k: *k, c: *c, strata: *strata, rule: rule, trials: *trials, seed: *seed}
	res, err := estimate(x, y, spec, lim)
	if err != nil {
		return fmt.Errorf("estimating with X = %s, Y = %s: %w", *xPath, *yPath, err)
	}
	out, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", out)
	return err
}

// estimateSpec is the estimator and the trials of one estimate.
type estimateSpec struct {
	method estimator.Method
	k      int // the budget (of every stratum, with strata)
	c      int // |C| of wtacrs, estimator.AutoC for the rule
	strata int // 1: one plan over all pairs; more: estimator.Stratified (wtacrs only)
	rule   estimator.CRule
	trials int
	seed   uint64
}

// estimated is what estimate uses of a plan or a stratified estimator.
type estimated struct {
	sample   func(seed, stream uint64) *estimator.Sketch
	moments  func(x, y matrix.Dense[float64]) (estimator.Moments, error)
	kept     int     // pairs kept exactly (summed over the strata)
	massC    float64 // the share of the weight they hold
	perTrial uint64  // random numbers drawn per trial
	pairs    int     // pairs one estimate's GEMM has at most, for -max-work
	memory   uint64  // bytes, see estimateMemory
	describe string  // the estimator with its budget, for the -max-draws message
}

// newEstimated builds the plan (or, with strata, the stratified estimator) of spec over w.
func newEstimated(w []float64, n, q int, spec estimateSpec) (estimated, error) {
	m := len(w)
	if spec.strata > 1 {
		s, err := estimator.NewStratifiedWTACRS(w, spec.strata, spec.k, spec.rule)
		if err != nil {
			return estimated{}, err
		}
		e := estimated{sample: s.SampleMerged, massC: s.MassC(), pairs: spec.strata * min(spec.k, s.Size()),
			moments: func(x, y matrix.Dense[float64]) (estimator.Moments, error) {
				return estimator.ClosedFormStratified(x, y, s)
			},
			describe: fmt.Sprintf("%v with k = %d in each of %d strata of %d pairs, %v |C|", spec.method, spec.k, spec.strata, s.Size(), spec.rule)}
		var used uint64
		for g := range s.Strata() {
			p := s.Plan(g)
			e.kept += len(p.Kept())
			e.perTrial = memlimit.Sum(e.perTrial, uint64(p.Draws()))
			used = memlimit.Sum(used, uint64(len(p.Kept())), uint64(p.Draws()))
		}
		e.memory = memoryOf(n, m, q, int(min(used, uint64(m))), false, 2)
		return e, nil
	}
	plan, err := estimator.NewPlan(spec.method, w, spec.k, spec.c)
	if err != nil {
		return estimated{}, err
	}
	return estimated{sample: plan.SampleMerged, kept: len(plan.Kept()), massC: plan.MassC(),
		moments: func(x, y matrix.Dense[float64]) (estimator.Moments, error) {
			return estimator.ClosedForm(x, y, plan)
		},
		perTrial: uint64(drawsPerTrial(plan)), pairs: min(spec.k, m), memory: estimateMemory(n, m, q, plan),
		describe: fmt.Sprintf("%v with k = %d over m = %d pairs", spec.method, spec.k, m)}, nil
}

// estimate runs spec.trials sketches of one estimator and compares them with the closed form.
// It may rescale x and y in place (by powers of two).
//
// Before it allocates more than O(m) beyond X and Y it checks the memory it will need against
// lim.mem and the random numbers it will draw against lim.maxDraws.
func estimate(x, y matrix.Dense[float64], spec estimateSpec, lim estimateLimits) (*estimateResult, error) {
	w, err := estimator.Weights(x, y)
	if err != nil {
		return nil, err
	}
	n, m, q := x.Rows, x.Cols, y.Cols
	est, err := newEstimated(w, n, q, spec)
	if err != nil {
		return nil, err
	}
	if err := memlimit.Check(fmt.Sprintf("estimate of a %d×%d by %d×%d product", n, m, m, q), est.memory, lim.mem); err != nil {
		return nil, err
	}
	trials := spec.trials
	if total := memlimit.Mul(trials, int(min(est.perTrial, uint64(1<<62)))); total > lim.maxDraws {
		return nil, fmt.Errorf("%w: %d trials × %d random draws per trial (%s) = %s, above -max-draws %d; lower -trials or -k, or raise -max-draws",
			errTooMuchWork, trials, est.perTrial, est.describe, countString(total), lim.maxDraws)
	}
	// One estimate gathers at most r pairs (n·r + r·q; r = min(k, m), or strata·min(k, size))
	// and multiplies n×r by r×q; the trial loop adds n·q. Top-k and Bernoulli draw few random
	// numbers but pay this. Each trial also has a fixed cost (a sketch, its buffers, the running
	// moments), worth about trialOverhead multiply-adds per stratum, which dominates for tiny
	// products.
	r := est.pairs
	perEstimate := memlimit.Sum(memlimit.Mul(n, q, r), memlimit.Mul(n+q, r), memlimit.Mul(n, q), memlimit.Mul(trialOverhead, spec.strata))
	if total := memlimit.Mul(trials, int(min(perEstimate, uint64(1<<62)))); total > lim.maxWork {
		return nil, fmt.Errorf("%w: %d trials × about %s multiply-adds per estimate (a %d×%d by %d×%d product over at most %d pairs) = %s, above -max-work %s; lower -trials or -k, or raise -max-work",
			errTooMuchWork, trials, countString(perEstimate), n, r, r, q, r, countString(total), countString(lim.maxWork))
	}
	// The figures are homogeneous (degree 1 or 2 in X and in Y), and the sketches depend on the
	// weights only up to a common factor: compute them on X·2^ex and Y·2^ey in a comfortable
	// range and scale them back.
	ex, err := rescale(x, "X")
	if err != nil {
		return nil, err
	}
	ey, err := rescale(y, "Y")
	if err != nil {
		return nil, err
	}
	e := -(ex + ey) // a figure of degree 1 is v·2^e, one of degree 2 v·2^(2e)
	exact, err := matrix.Product(x, y)
	if err != nil {
		return nil, err
	}
	res := &estimateResult{Method: spec.method.String(), N: n, M: m, Q: q, K: spec.k,
		C: est.kept, MassC: est.massC, Trials: trials, Seed: spec.seed}
	if spec.strata > 1 {
		res.Strata, res.CRule = spec.strata, spec.rule.String()
	}
	cf, err := est.moments(x, y)
	switch {
	case err == nil:
		res.ExactVariance = &figure{cf.ExpectedSquaredError(), 2 * e}
	case !errors.Is(err, estimator.ErrNoClosedForm):
		return nil, err
	}
	mean := make([]float64, len(exact.Data))
	var variance, biasMax float64
	for t := 0; t < trials; t++ {
		e, err := estimator.Apply(x, y, est.sample(spec.seed, uint64(t)))
		if err != nil {
			return nil, err
		}
		for i, v := range e.Data {
			d := v - exact.Data[i]
			variance += d * d
			mean[i] += v
		}
	}
	variance /= float64(trials)
	for i, v := range mean {
		biasMax = math.Max(biasMax, math.Abs(v/float64(trials)-exact.Data[i]))
	}
	if math.IsInf(variance, 0) || math.IsNaN(variance) || math.IsInf(biasMax, 0) || math.IsNaN(biasMax) {
		return nil, fmt.Errorf("%w: the empirical figures overflow float64 (the sketches' scales are too large for these X and Y)", estimator.ErrRange)
	}
	res.EmpiricalVariance = figure{variance, 2 * e}
	res.EmpiricalBiasMaxAbs = figure{biasMax, e}
	return res, nil
}

// comfortable is the range [2^-comfortable, 2^comfortable] of max|X| and max|Y| in which
// estimate computes its figures as they are: their products, squares and sums of squares then stay
// far inside float64's normal range.
const comfortable = 100

// rescale multiplies d by the power of two 2^s that brings max|d| into
// [2^-comfortable, 2^comfortable] (s = 0 when it is there already) and returns s. Scaling up is
// exact; scaling down is exact except for entries that become subnormal, and it returns
// estimator.ErrRange when an entry would vanish (d spans more than float64 holds at one scale).
func rescale(d matrix.Dense[float64], name string) (int, error) {
	var big float64
	for _, v := range d.Data {
		big = math.Max(big, math.Abs(v))
	}
	if big == 0 {
		return 0, nil
	}
	_, e := math.Frexp(big) // big ∈ [2^(e−1), 2^e)
	var s int
	switch {
	case e-1 > comfortable:
		s = comfortable - e + 1
	case e < -comfortable:
		s = -comfortable - e
	default:
		return 0, nil
	}
	for i, v := range d.Data {
		d.Data[i] = math.Ldexp(v, s)
		if d.Data[i] == 0 && v != 0 {
			return 0, fmt.Errorf("%w: %s holds %g and %g, more than float64 holds at one scale; the smaller would vanish", estimator.ErrRange, name, v, big)
		}
	}
	return s, nil
}

// drawsPerTrial is the number of random numbers one sketch of the plan draws.
func drawsPerTrial(p *estimator.Plan) int {
	switch p.Method() {
	case estimator.MethodCRS, estimator.MethodWTACRS, estimator.MethodUniform:
		return p.Draws()
	case estimator.MethodBernoulli, estimator.MethodNoReplacement:
		return p.M() // one per pair
	}
	return 0
}

// estimateMemory returns an upper bound of the bytes estimate holds at its peak for an n×m by
// m×q product: X and Y, the O(m) vectors of the weights and the plan, the exact product and the
// running mean, the closed form's copies and products, and one trial's sketch and estimate.
func estimateMemory(n, m, q int, p *estimator.Plan) uint64 {
	r := m // pairs one sketch uses, at most
	if p != nil && (p.Method() == estimator.MethodCRS || p.Method() == estimator.MethodUniform ||
		p.Method() == estimator.MethodWTACRS) {
		r = min(m, len(p.Kept())+p.Draws())
	}
	return memoryOf(n, m, q, r, p == nil || p.Method() == estimator.MethodNoReplacement, 0)
}

// memoryOf is estimateMemory for sketches of at most r pairs, a closed form that enumerates
// (sampling without replacement: one product per positive pair, at most 16) or not, and extra
// n×q products of the closed form (the strata's running sums).
func memoryOf(n, m, q, r int, enumerates bool, extra int) uint64 {
	const f = 8 // bytes of a float64 or an int
	inputs := memlimit.Sum(memlimit.Mul(n, m, f), memlimit.Mul(m, q, f))
	vectors := memlimit.Mul(24, m, f)
	products := memlimit.Mul(2, n, q, f)
	// ClosedForm: float64 copies of X and Y, a scaled copy of X, and the products (the exact one,
	// the mean, one draw's mean), twice over where it rescales. A stratified closed form holds
	// the copies of X and Y, one stratum's block of X and that stratum's ClosedForm, less than
	// these, and the extra sums.
	closed := memlimit.Sum(memlimit.Mul(3, n, m, f), memlimit.Mul(2, m, q, f), memlimit.Mul(5+extra, n, q, f))
	if enumerates {
		closed = memlimit.Sum(closed, memlimit.Mul(estimator.MaxEnumeratedPairs, n, q, f))
	}
	trial := memlimit.Sum(memlimit.Mul(n, r, f), memlimit.Mul(r, q, f), memlimit.Mul(n, q, f), memlimit.Mul(4, m, f))
	return memlimit.Sum(inputs, vectors, products, closed, trial)
}

// countString prints a count exactly below 1e15 and as 1.8e+19 above (memlimit.Unlimited for a
// product that overflowed uint64).
func countString(v uint64) string {
	switch {
	case v == memlimit.Unlimited:
		return "more than 1.8e+19"
	case v < 1e15:
		return strconv.FormatUint(v, 10)
	}
	return strconv.FormatFloat(float64(v), 'g', 3, 64)
}

// dim returns dimension i of a .npy shape read as a matrix (a 1-D array of n is n×1).
func dim(shape []int, i int) int {
	if i < len(shape) {
		return shape[i]
	}
	if i == 1 && len(shape) == 1 {
		return 1
	}
	return 0
}
