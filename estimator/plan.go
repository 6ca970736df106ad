package estimator

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Method names an estimator.
type Method int

// The estimators of this package.
const (
	// MethodCRS draws k pairs i.i.d. from p ∝ w, scale 1/(k·p_i) (Eq. 2-3). Unbiased.
	MethodCRS Method = iota + 1
	// MethodWTACRS keeps the |C| heaviest pairs exactly and draws k−|C| pairs i.i.d. from p
	// restricted to the rest, scale (1−P_C)/((k−|C|)·p_j) (Eq. 4). Unbiased.
	MethodWTACRS
	// MethodUniform is CRS with p_i = 1/m. Unbiased.
	MethodUniform
	// MethodTopK keeps the k heaviest pairs unscaled. Biased.
	MethodTopK
	// MethodBernoulli keeps pair i independently with p_i = min(1, k·w_i/Σw), scale 1/p_i. Unbiased.
	MethodBernoulli
	// MethodNoReplacement draws k distinct pairs by successive sampling from p ∝ w, unscaled
	// (a fallback of the published code). Biased.
	MethodNoReplacement
)

var methodNames = map[Method]string{
	MethodCRS: "crs", MethodWTACRS: "wtacrs", MethodUniform: "uniform",
	MethodTopK: "topk", MethodBernoulli: "bernoulli", MethodNoReplacement: "norepl",
}

// String returns the method's command-line name.
func (m Method) String() string {
	if s, ok := methodNames[m]; ok {
		return s
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// Unbiased reports whether the method's estimate has expectation XY for every input.
func (m Method) Unbiased() bool {
	return m == MethodCRS || m == MethodWTACRS || m == MethodUniform || m == MethodBernoulli
}

// Methods lists every method in a fixed order.
func Methods() []Method {
	return []Method{MethodCRS, MethodWTACRS, MethodUniform, MethodTopK, MethodBernoulli, MethodNoReplacement}
}

// ParseMethod returns the method with the given command-line name.
func ParseMethod(name string) (Method, error) {
	for m, s := range methodNames {
		if s == strings.ToLower(name) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("estimator: unknown method %q (want crs, wtacrs, uniform, topk, bernoulli or norepl)", name)
}

// CDFBlock is the block length of the blocked cumulative sum that maps a uniform number to a
// pair (see the package documentation).
const CDFBlock = 256

// AutoC asks [NewPlan] to choose |C| by the rule of [ChooseC].
const AutoC = -1

// Plan is the deterministic part of an estimator over m pairs: the pairs kept exactly, the
// distribution of the random part and the scales. Build it with [NewPlan] or a NewX function;
// draw sketches with [Plan.Sample]. A plan is immutable: its accessors return copies or single
// entries, so nothing can leave the cumulative sum behind the draws out of step with the
// probabilities, and an estimator with other (for example wrong) scales is a new plan, made by
// [Plan.WithScale]. A plan is safe for concurrent use.
type Plan struct {
	method Method
	m, k   int
	kept   []int     // the pairs kept exactly, heaviest first
	massC  float64   // P_C
	draws  int       // i.i.d. draws, or distinct pairs drawn without replacement
	prob   []float64 // per-draw (i.i.d.) or keep (Bernoulli) probabilities; nil otherwise
	scale  []float64 // the factor of a pair drawn or kept at random

	weights []float64 // a copy of the weights the plan was built from
	cdf     []float64 // blocked cumulative draw weights, i.i.d. methods only
	total   float64   // Σ weights
}

// Method returns the plan's estimator.
func (p *Plan) Method() Method { return p.method }

// M returns the number of pairs m.
func (p *Plan) M() int { return p.m }

// K returns the budget k the plan was built with.
func (p *Plan) K() int { return p.k }

// Kept returns the pairs kept exactly with scale 1 (the set C of WTA-CRS, or the top k),
// heaviest first, ties broken by smaller index; nil or empty when none is. It returns a copy.
func (p *Plan) Kept() []int { return slices.Clone(p.kept) }

// MassC returns P_C = Σ_{c∈C} w_c / Σ w, the share of the weight kept exactly (0 when every
// weight is zero).
func (p *Plan) MassC() float64 { return p.massC }

// Draws returns the number of i.i.d. draws (CRS, WTA-CRS, uniform) or of distinct pairs drawn
// without replacement; 0 for top-k and Bernoulli.
func (p *Plan) Draws() int { return p.draws }

// Prob returns, for the i.i.d. methods, the probability that one draw picks pair i (zero on
// Kept); for Bernoulli, the probability that pair i is kept; 0 for top-k and sampling without
// replacement, which have no such per-pair probability. It panics unless 0 ≤ i < M().
func (p *Plan) Prob(i int) float64 {
	if p.prob == nil {
		p.checkPair(i)
		return 0
	}
	return p.prob[i]
}

// Probs returns the probabilities of [Plan.Prob] for every pair, nil for top-k and sampling
// without replacement. It returns a copy; Prob(i) reads one entry without copying.
func (p *Plan) Probs() []float64 { return slices.Clone(p.prob) }

// Scale returns the factor applied to pair i each time it is drawn or kept at random (the kept
// pairs of Kept always get 1, whatever their Scale). It panics unless 0 ≤ i < M().
func (p *Plan) Scale(i int) float64 { return p.scale[i] }

// Scales returns the factors of [Plan.Scale] for every pair. It returns a copy; Scale(i) reads
// one entry without copying.
func (p *Plan) Scales() []float64 { return slices.Clone(p.scale) }

// Weights returns the weights the plan was built from (uniform: all ones). It returns a copy.
func (p *Plan) Weights() []float64 { return slices.Clone(p.weights) }

func (p *Plan) checkPair(i int) {
	if i < 0 || i >= p.m {
		panic(fmt.Sprintf("estimator: pair %d of a plan over %d pairs", i, p.m))
	}
}

// WithScale returns a copy of p in which a pair drawn or kept at random gets the factor
// scale[i] instead of p.Scale(i): another estimator with the same random choice of pairs, for
// example the wrongly scaled ones that a check of unbiasedness must reject. The method, the
// kept pairs (scale 1), the probabilities and the draws are those of p, so the same seed and
// stream pick the same pairs; Sample, SampleMerged and the closed forms follow the new scales.
// scale is copied and p is not changed. It returns ErrShape unless len(scale) = M(),
// ErrNonFinite for a NaN or ±Inf factor and ErrNegative for a negative one.
func (p *Plan) WithScale(scale []float64) (*Plan, error) {
	if len(scale) != p.m {
		return nil, fmt.Errorf("%w: %d scales for a plan over %d pairs", ErrShape, len(scale), p.m)
	}
	for i, s := range scale {
		switch {
		case math.IsNaN(s) || math.IsInf(s, 0):
			return nil, fmt.Errorf("%w: scale %d is %v", ErrNonFinite, i, s)
		case s < 0:
			return nil, fmt.Errorf("%w: scale %d is %v", ErrNegative, i, s)
		}
	}
	q := *p // the other fields are never written after construction: sharing them is safe
	q.scale = slices.Clone(scale)
	return &q, nil
}

// NewPlan builds the plan of method over weights w with budget k ≥ 1. c fixes |C| for WTA-CRS
// (0 ≤ c ≤ min(k−1, m)); pass [AutoC] for the rule of [ChooseC]. c must be AutoC for other
// methods. Errors: ErrBudget, ErrNonFinite, ErrNegative, and for CRS, WTA-CRS and Bernoulli
// ErrRange when a positive weight is more than 2^1020 below the sum (its scale would overflow).
// The plan keeps a copy of w (as every NewX function does): changing w later does not change it.
func NewPlan(method Method, w []float64, k, c int) (*Plan, error) {
	if c != AutoC && method != MethodWTACRS {
		return nil, fmt.Errorf("%w: |C| = %d given for method %v", ErrBudget, c, method)
	}
	switch method {
	case MethodCRS:
		return NewCRS(w, k)
	case MethodWTACRS:
		if c == AutoC {
			return NewWTACRS(w, k)
		}
		return NewWTACRSFixed(w, k, c)
	case MethodUniform:
		if err := checkWeights(w); err != nil {
			return nil, err
		}
		return NewUniform(len(w), k)
	case MethodTopK:
		return NewTopK(w, k)
	case MethodBernoulli:
		return NewBernoulli(w, k)
	case MethodNoReplacement:
		return NewNoReplacement(w, k)
	}
	return nil, fmt.Errorf("estimator: unknown method %v", method)
}

func checkBudget(w []float64, k int) error {
	if err := checkWeights(w); err != nil {
		return err
	}
	if k < 1 {
		return fmt.Errorf("%w: k = %d, want k ≥ 1", ErrBudget, k)
	}
	return nil
}

// checkSampled is checkBudget for the plans that scale by 1/p (CRS, WTA-CRS, Bernoulli): it also
// returns ErrRange when a positive weight is so far below the sum that its scale would overflow
// (see checkSpan).
func checkSampled(w []float64, k int) error {
	if err := checkBudget(w, k); err != nil {
		return err
	}
	return checkSpan(w)
}

// NewCRS returns the CRS plan: k i.i.d. draws from p ∝ w with scale 1/(k·p_i), for any k ≥ 1
// (also k ≥ m). When every weight is zero the plan draws nothing.
func NewCRS(w []float64, k int) (*Plan, error) {
	if err := checkSampled(w, k); err != nil {
		return nil, err
	}
	return newIID(MethodCRS, w, w, k, nil, k), nil
}

// NewUniform returns the uniform CRS plan over m ≥ 1 pairs: k i.i.d. uniform draws, scale m/k.
func NewUniform(m, k int) (*Plan, error) {
	if m < 1 {
		return nil, fmt.Errorf("%w: m = %d pairs", ErrShape, m)
	}
	ones := make([]float64, m)
	for i := range ones {
		ones[i] = 1
	}
	if k < 1 {
		return nil, fmt.Errorf("%w: k = %d, want k ≥ 1", ErrBudget, k)
	}
	return newIID(MethodUniform, ones, ones, k, nil, k), nil
}

// NewWTACRS returns the WTA-CRS plan with |C| chosen by [ChooseC]. When k ≥ m every pair of
// positive weight is kept and the estimate is exact.
func NewWTACRS(w []float64, k int) (*Plan, error) {
	if err := checkBudget(w, k); err != nil {
		return nil, err
	}
	var sel selection
	return newWTACRS(w, k, sel.wtacrsKept(w, k))
}

// selection is the scratch memory of choosing the set C of WTA-CRS; the zero value is ready.
type selection struct {
	idx  []int
	in   []bool
	rest []float64
}

// wtacrsKept returns the set C that [NewWTACRS] keeps for valid weights w and k ≥ 1, heaviest
// first, in the storage of sel (valid until its next use): with k ≥ m every pair of positive
// weight, otherwise the top |C| of the rule of [ChooseC].
func (sel *selection) wtacrsKept(w []float64, k int) []int {
	if k >= len(w) {
		top := topOrderInto(sel.idx, w, len(w))
		sel.idx = top
		c := 0
		for c < len(top) && w[top[c]] > 0 {
			c++
		}
		return top[:c]
	}
	top := topOrderInto(sel.idx, w, k-1)
	sel.idx = top[:cap(top)]
	if len(sel.in) < len(w) {
		sel.in = make([]bool, len(w))
	}
	sel.rest = restOutsideTopInto(sel.in[:len(w)], sel.rest, w, top)
	return top[:bestC(sel.rest, k)]
}

// NewWTACRSFixed returns the WTA-CRS plan that keeps the c heaviest pairs, 0 ≤ c ≤ min(k−1, m).
// When the kept pairs carry all the weight, nothing is drawn and the estimate is exact.
func NewWTACRSFixed(w []float64, k, c int) (*Plan, error) {
	if err := checkBudget(w, k); err != nil {
		return nil, err
	}
	if c < 0 || c > k-1 || c > len(w) {
		return nil, fmt.Errorf("%w: |C| = %d, want 0 ≤ |C| ≤ min(k−1, m) = %d", ErrBudget, c, min(k-1, len(w)))
	}
	return newWTACRS(w, k, topOrder(w, c))
}

// newWTACRS builds the plan that keeps kept and draws the rest. Only the drawn pairs are
// scaled by 1/p, so only their span is checked (ErrRange, see checkSpan): a plan that keeps
// every positive pair (k ≥ m) is exact whatever the weights' range.
func newWTACRS(w []float64, k int, kept []int) (*Plan, error) {
	rest := slices.Clone(w)
	for _, i := range kept {
		rest[i] = 0
	}
	if err := checkSpan(rest); err != nil {
		return nil, err
	}
	return newIID(MethodWTACRS, w, rest, k-len(kept), slices.Clone(kept), k), nil
}

// newIID builds a with-replacement plan: draws i.i.d. draws from drawWeight (zero on kept),
// scale T/(draws·drawWeight_i) with T the blocked total of drawWeight.
func newIID(method Method, w, drawWeight []float64, draws int, kept []int, k int) *Plan {
	p := &Plan{method: method, m: len(w), k: k, kept: kept, weights: slices.Clone(w)}
	p.total = sum(w)
	p.cdf = blockedCDF(drawWeight)
	t := 0.0
	if len(p.cdf) > 0 {
		t = p.cdf[len(p.cdf)-1]
	}
	if t == 0 {
		draws = 0
	}
	p.draws = draws
	p.prob = make([]float64, p.m)
	p.scale = make([]float64, p.m)
	for i, v := range drawWeight {
		if v > 0 && draws > 0 {
			p.prob[i] = v / t
			p.scale[i] = t / (float64(draws) * v)
		}
	}
	p.massC = p.massOf(kept)
	return p
}

func (p *Plan) massOf(idx []int) float64 {
	if p.total == 0 {
		return 0
	}
	var s float64
	positive := 0
	for _, i := range idx {
		s += p.weights[i]
		if p.weights[i] > 0 {
			positive++
		}
	}
	if positive == p.positive() {
		return 1 // every pair of positive weight: exactly all the mass, whatever the rounding
	}
	return s / p.total
}

// positive returns the number of pairs of positive weight.
func (p *Plan) positive() int {
	n := 0
	for _, v := range p.weights {
		if v > 0 {
			n++
		}
	}
	return n
}

// NewTopK returns the deterministic top-k plan: the k heaviest pairs (ties by index; pairs of
// weight zero are left out), unscaled.
// It is biased unless the other pairs' products sum to zero.
func NewTopK(w []float64, k int) (*Plan, error) {
	if err := checkBudget(w, k); err != nil {
		return nil, err
	}
	top := topOrder(w, min(k, len(w)))
	n := 0
	for n < len(top) && w[top[n]] > 0 {
		n++
	}
	p := &Plan{method: MethodTopK, m: len(w), k: k, kept: top[:n],
		scale: make([]float64, len(w)), weights: slices.Clone(w), total: sum(w)}
	p.massC = p.massOf(p.kept)
	return p, nil
}

// NewBernoulli returns the Bernoulli plan: pair i is kept independently with probability
// p_i = min(1, k·w_i/Σw) and scaled by 1/p_i. The expected number of kept pairs is at most k.
func NewBernoulli(w []float64, k int) (*Plan, error) {
	if err := checkBudget(w, k); err != nil {
		return nil, err
	}
	p := &Plan{method: MethodBernoulli, m: len(w), k: k, prob: make([]float64, len(w)),
		scale: make([]float64, len(w)), weights: slices.Clone(w), total: sum(w)}
	if p.total > 0 {
		for i, v := range w {
			if v > 0 {
				p.prob[i] = min(1, float64(k)*v/p.total)
				p.scale[i] = 1 / p.prob[i]
				// Only a pair kept with probability below 1 is scaled; its 1/p must be finite.
				if p.prob[i] == 0 || math.IsInf(p.scale[i], 0) || !(p.total/v <= maxSpan) && p.prob[i] < 1 {
					return nil, fmt.Errorf("%w: weight %d (%g) is more than 2^1020 below the sum of the weights (%g): its scale 1/p would overflow float64",
						ErrRange, i, v, p.total)
				}
			}
		}
	}
	return p, nil
}

// NewNoReplacement returns the plan that draws min(k, number of positive weights) distinct pairs
// by successive sampling from p ∝ w and keeps them unscaled (scale 1). Biased.
func NewNoReplacement(w []float64, k int) (*Plan, error) {
	if err := checkBudget(w, k); err != nil {
		return nil, err
	}
	p := &Plan{method: MethodNoReplacement, m: len(w), k: k, scale: make([]float64, len(w)),
		weights: slices.Clone(w), total: sum(w)}
	positive := 0
	for i, v := range w {
		if v > 0 {
			positive++
			p.scale[i] = 1
		}
	}
	p.draws = min(k, positive)
	return p, nil
}

// SortedOrder returns the pair indices by decreasing weight, ties broken by smaller index.
func SortedOrder(w []float64) []int {
	order := make([]int, len(w))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(w[b], w[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return order
}

// TopMass returns P_C of the c heaviest pairs for c = 0..m: TopMass(w)[c] = Σ_{top c} w / Σ w.
// Every entry is 0 when all weights are zero. It returns an error for NaN, ±Inf or negative weights.
func TopMass(w []float64) ([]float64, error) {
	if err := checkWeights(w); err != nil {
		return nil, err
	}
	order := SortedOrder(w)
	rest := suffixSums(w, order)
	mass := make([]float64, len(w)+1)
	if rest[0] == 0 {
		return mass, nil
	}
	for c := range mass {
		mass[c] = 1 - rest[c]/rest[0]
	}
	return mass, nil
}

// suffixSums returns rest[c] = Σ_{j ≥ c} w[order[j]] for c = 0..m, summed lightest first.
func suffixSums(w []float64, order []int) []float64 {
	rest := make([]float64, len(order)+1)
	for c := len(order) - 1; c >= 0; c-- {
		rest[c] = rest[c+1] + w[order[c]]
	}
	return rest
}

// ChooseC returns the |C| of WTA-CRS that minimises the factor of Theorem 2's bound:
// argmin over c ∈ {0..min(k−1, m)} of (1 − Σ_{top c} p)/(k − c), the smallest c on ties.
// It needs k ≥ 1 and returns the errors of [NewCRS].
func ChooseC(w []float64, k int) (int, error) {
	if err := checkBudget(w, k); err != nil {
		return 0, err
	}
	return chooseC(w, topOrder(w, min(k-1, len(w))), k), nil
}

// chooseC applies the rule given top, the min(k−1, m) heaviest pairs in order, with the weight
// left outside the top c pairs from restOutsideTop.
func chooseC(w []float64, top []int, k int) int { return bestC(restOutsideTop(w, top), k) }

// bestC returns the c ∈ {0..len(restAt)−1} that minimises restAt[c]/(k−c), the smallest on ties,
// for restAt from restOutsideTop over the min(k−1, m) heaviest pairs.
func bestC(restAt []float64, k int) int {
	best, bestC := math.Inf(1), 0
	for c := range restAt {
		if v := restAt[c] / float64(k-c); v < best {
			best, bestC = v, c
		}
	}
	return bestC
}

// BoundFactor returns k·(1 − P_C)/(k − c), the factor of Theorem 2: Var[WTA-CRS] ≤ factor·Var[CRS]
// when C holds the c heaviest pairs of w. It needs 0 ≤ c < k and c ≤ m.
func BoundFactor(w []float64, k, c int) (float64, error) {
	mass, err := TopMass(w)
	if err != nil {
		return 0, err
	}
	if k < 1 || c < 0 || c >= k || c > len(w) {
		return 0, fmt.Errorf("%w: k = %d, |C| = %d, m = %d", ErrBudget, k, c, len(w))
	}
	return float64(k) * (1 - mass[c]) / float64(k-c), nil
}

func sum(w []float64) float64 {
	var s float64
	for _, v := range w {
		s += v
	}
	return s
}

// blockedCDF returns the blocked cumulative sum of the package documentation.
func blockedCDF(w []float64) []float64 { return blockedCDFInto(nil, w) }

// blockedCDFInto is blockedCDF in the storage of cdf (grown to len(w) when shorter).
func blockedCDFInto(cdf, w []float64) []float64 {
	cdf = resize(cdf, len(w))
	var offset float64
	for lo := 0; lo < len(w); lo += CDFBlock {
		hi := min(lo+CDFBlock, len(w))
		var local float64
		for i := lo; i < hi; i++ {
			local += w[i]
			cdf[i] = offset + local
		}
		offset += local
	}
	return cdf
}

// pick maps u ∈ [0,1) to a pair through the blocked CDF: the smallest i with cdf[i] > u·T, or,
// when rounding leaves none, the largest i with cdf[i] > cdf[i−1] (a pair of positive weight whose
// weight was not lost to rounding). cdf must have positive total.
func pick(cdf []float64, u float64) int {
	t := cdf[len(cdf)-1]
	target := u * t
	// The binary search of slices.BinarySearchFunc (the same probes), written out: a comparison
	// through a function value per probe was most of the cost of a draw.
	i, j := 0, len(cdf)
	for i < j {
		h := int(uint(i+j) >> 1)
		if !(cdf[h] > target) {
			i = h + 1
		} else {
			j = h
		}
	}
	if i < len(cdf) {
		return i
	}
	i = len(cdf) - 1
	for i > 0 && cdf[i] == cdf[i-1] {
		i--
	}
	return i
}
