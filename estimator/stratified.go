package estimator

import (
	"fmt"
	"math"
	"strings"

	"github.com/wtacrs/wtacrs/matrix"
)

// CRule says how a [Stratified] WTA-CRS estimator chooses |C| in its strata.
type CRule int

// The rules of [NewStratifiedWTACRS].
const (
	// COwn gives each stratum the |C| of [ChooseC] over its own weights. It is the zero value
	// and the default.
	COwn CRule = iota
	// CShared gives every stratum one |C|, the c of [ChooseCShared] (the rule of the published
	// code, which picks one |C| for all heads of a product), capped in each stratum by its
	// number of positive weights.
	CShared
)

var cRuleNames = map[CRule]string{COwn: "own", CShared: "shared"}

// String returns the rule's command-line name.
func (r CRule) String() string {
	if s, ok := cRuleNames[r]; ok {
		return s
	}
	return fmt.Sprintf("CRule(%d)", int(r))
}

// CRules lists every rule in a fixed order.
func CRules() []CRule { return []CRule{COwn, CShared} }

// ParseCRule returns the rule with the given command-line name ("own" or "shared", in any case).
func ParseCRule(name string) (CRule, error) {
	for _, r := range CRules() {
		if r.String() == strings.ToLower(name) {
			return r, nil
		}
	}
	return 0, fmt.Errorf("estimator: unknown |C| rule %q (want own or shared)", name)
}

// ChooseCShared returns the one |C| that the published code gives every stratum of a product:
// the c that minimises the mean over the strata of (1 − P_{C,g}(c))/(k − c), the factor of
// Theorem 2's bound, where P_{C,g}(c) is the share of stratum g's weight held by its c heaviest
// pairs; c ranges over 0..min(k−1, min_g m_g) with m_g = len(ws[g]) (every stratum counted,
// those of zero weight included), the smallest c on ties. Strata whose weights are all zero are
// left out of the mean (they draw nothing); when every stratum is, or there is none, it returns
// 0. For one stratum the factor is that of [ChooseC]. It needs k ≥ 1 (ErrBudget) and returns
// ErrNonFinite or ErrNegative for a NaN, ±Inf or negative weight, naming its stratum. ws is not
// changed.
func ChooseCShared(ws [][]float64, k int) (int, error) {
	if k < 1 {
		return 0, fmt.Errorf("%w: k = %d, want k ≥ 1", ErrBudget, k)
	}
	for g, w := range ws {
		if err := checkWeights(w); err != nil {
			return 0, fmt.Errorf("%w (stratum %d)", err, g)
		}
	}
	if len(ws) == 0 {
		return 0, nil
	}
	cmax := k - 1
	for _, w := range ws {
		cmax = min(cmax, len(w))
	}
	// share[c] = Σ_g (1 − P_{C,g}(c)) over the strata of positive weight; the mean divides it
	// by their number, which changes no argmin.
	share := make([]float64, cmax+1)
	included := 0
	for _, w := range ws {
		rest := restOutsideTop(w, topOrder(w, cmax))
		if rest[0] == 0 {
			continue
		}
		included++
		for c := range share {
			share[c] += rest[c] / rest[0]
		}
	}
	if included == 0 {
		return 0, nil
	}
	best, bestC := math.Inf(1), 0
	for c, s := range share {
		if v := s / float64(k-c); v < best {
			best, bestC = v, c
		}
	}
	return bestC, nil
}

// MaxStrata is the largest number of strata of a [Stratified] estimator: stratum g's random
// numbers use the counters g·2³² + j, which must fit in 64 bits.
const MaxStrata = 1 << 32

// MaxStratumDraws is the largest number of draws of one stratum of a [Stratified] estimator:
// its draw j uses counter g·2³² + j, which must stay below the next stratum's first counter.
const MaxStratumDraws = 1<<32 - 1

// Stratified is a WTA-CRS estimator of a product whose pairs fall into independent strata, as
// the attention products of a model do (one stratum per sequence and head): stratum g holds the
// pairs [g·size, (g+1)·size) and has its own WTA-CRS [Plan] with the same budget k, its own |C|
// by the [CRule]. A sketch is the union of one sketch per stratum, drawn on disjoint counters
// (see the stream layout in the package documentation), so the strata's estimates are
// independent and the estimate, their sum, is unbiased. Build it with [NewStratifiedWTACRS].
// Like a plan it is immutable and safe for concurrent use: its accessors return copies or
// immutable plans, and [Stratified.WithScale] makes a new one with other scales.
type Stratified struct {
	strata, size, k int
	rule            CRule
	plans           []*Plan
	massC           float64
}

// NewStratifiedWTACRS splits the weights w into strata consecutive strata of size = len(w)/strata
// pairs each and builds a WTA-CRS plan with budget k ≥ 1 in every stratum g, over
// w[g·size : (g+1)·size]. With rule COwn the stratum's plan is [NewWTACRS]'s (|C| by
// [ChooseC]); with CShared it is [NewWTACRSFixed]'s with |C| = min(c*, positive weights of the
// stratum, k−1), c* = [ChooseCShared] over all strata (a stratum's zero-weight pairs are never
// kept). When k ≥ size every stratum keeps all its positive pairs and draws nothing, whatever
// the rule, as NewWTACRS does for k ≥ m: the estimate is exact.
//
// It returns ErrShape unless 1 ≤ strata ≤ MaxStrata and len(w) is a positive multiple of
// strata, ErrBudget for k < 1, an unknown rule or a stratum with more than MaxStratumDraws
// draws, ErrNonFinite or ErrNegative for a bad weight (named by its index in w) and ErrRange as
// NewWTACRS does, naming the stratum. It keeps copies of the weights: changing w later does not
// change it. It allocates O(len(w)) and, with CShared, O(strata·k) for the shared rule.
func NewStratifiedWTACRS(w []float64, strata, k int, rule CRule) (*Stratified, error) {
	switch {
	case strata < 1 || uint64(strata) > MaxStrata:
		return nil, fmt.Errorf("%w: %d strata, want 1 to 2^32", ErrShape, strata)
	case len(w) == 0 || len(w)%strata != 0:
		return nil, fmt.Errorf("%w: %d pairs do not fall into %d strata of at least one pair each", ErrShape, len(w), strata)
	case k < 1:
		return nil, fmt.Errorf("%w: k = %d, want k ≥ 1", ErrBudget, k)
	case rule != COwn && rule != CShared:
		return nil, fmt.Errorf("%w: unknown |C| rule %v", ErrBudget, rule)
	}
	size := len(w) / strata
	for i, v := range w {
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			return nil, fmt.Errorf("%w: weight %d (stratum %d) is %v", ErrNonFinite, i, i/size, v)
		case v < 0:
			return nil, fmt.Errorf("%w: weight %d (stratum %d) is %v", ErrNegative, i, i/size, v)
		}
	}
	ws := make([][]float64, strata)
	for g := range ws {
		ws[g] = w[g*size : (g+1)*size]
	}
	shared := 0
	if rule == CShared && k < size {
		var err error
		if shared, err = ChooseCShared(ws, k); err != nil {
			return nil, err
		}
	}
	s := &Stratified{strata: strata, size: size, k: k, rule: rule, plans: make([]*Plan, strata)}
	for g, wg := range ws {
		var p *Plan
		var err error
		if rule == COwn || k >= size {
			p, err = NewWTACRS(wg, k)
		} else {
			p, err = NewWTACRSFixed(wg, k, min(shared, positiveCount(wg)))
		}
		if err == nil && uint64(p.draws) > MaxStratumDraws {
			err = fmt.Errorf("%w: %d draws, at most %d per stratum", ErrBudget, p.draws, uint64(MaxStratumDraws))
		}
		if err != nil {
			return nil, fmt.Errorf("%w (stratum %d, pairs %d to %d)", err, g, g*size, (g+1)*size-1)
		}
		s.plans[g] = p
	}
	s.massC = s.keptShare()
	return s, nil
}

// keptShare returns Σ_g Σ_{C_g} w / Σ w: 1 when every stratum keeps all its weight, 0 when every
// weight is zero.
func (s *Stratified) keptShare() float64 {
	var kept, total float64
	all := true
	for _, p := range s.plans {
		if p.total == 0 {
			continue
		}
		total += p.total
		kept += p.massC * p.total
		all = all && p.massC == 1
	}
	switch {
	case total == 0:
		return 0
	case all:
		return 1
	}
	return min(kept/total, 1)
}

func positiveCount(w []float64) int {
	n := 0
	for _, v := range w {
		if v > 0 {
			n++
		}
	}
	return n
}

// M returns the number of pairs, Strata()·Size().
func (s *Stratified) M() int { return s.strata * s.size }

// Strata returns the number of strata.
func (s *Stratified) Strata() int { return s.strata }

// Size returns the number of pairs of one stratum.
func (s *Stratified) Size() int { return s.size }

// K returns the budget k of every stratum.
func (s *Stratified) K() int { return s.k }

// Rule returns the rule that chose |C|.
func (s *Stratified) Rule() CRule { return s.rule }

// Plan returns the WTA-CRS plan of stratum g, over its pairs 0..Size()−1 (pair i of the stratum
// is pair g·Size() + i of the product). Plans are immutable, so it returns the plan itself. It
// panics unless 0 ≤ g < Strata().
func (s *Stratified) Plan(g int) *Plan {
	if g < 0 || g >= s.strata {
		panic(fmt.Sprintf("estimator: stratum %d of %d", g, s.strata))
	}
	return s.plans[g]
}

// C returns |C| of every stratum, a copy.
func (s *Stratified) C() []int {
	c := make([]int, s.strata)
	for g, p := range s.plans {
		c[g] = len(p.kept)
	}
	return c
}

// MassC returns the share of the total weight kept exactly, Σ_g Σ_{c∈C_g} w_c / Σ w: for one
// stratum its plan's MassC, 1 when every positive pair is kept, 0 when every weight is zero.
func (s *Stratified) MassC() float64 { return s.massC }

// WithScale returns a copy of s in which a pair drawn at random gets the factor scale[i] (i a
// pair of the product, 0 ≤ i < M()) instead of its plan's: [Plan.WithScale] in every stratum,
// with the same kept pairs, probabilities and draws, so the same seed and stream pick the same
// pairs. It is how a wrongly scaled stratified estimator is made, for example a negative control
// of a check of unbiasedness. scale is copied and s is not changed. Its errors are those of
// Plan.WithScale (ErrShape unless len(scale) = M()).
func (s *Stratified) WithScale(scale []float64) (*Stratified, error) {
	if len(scale) != s.M() {
		return nil, fmt.Errorf("%w: %d scales for a stratified estimator over %d pairs", ErrShape, len(scale), s.M())
	}
	q := *s
	q.plans = make([]*Plan, s.strata)
	for g, p := range s.plans {
		var err error
		if q.plans[g], err = p.WithScale(scale[g*s.size : (g+1)*s.size]); err != nil {
			return nil, fmt.Errorf("%w (stratum %d)", err, g)
		}
	}
	return &q, nil
}

// Sample draws one sketch over all M() pairs with the given seed and stream: the union of one
// sketch per stratum, stratum g's draw j using counter g·2³² + j (see the stream layout in the
// package documentation). Index lists the pairs of the product ascending (pair i of stratum g
// is g·Size() + i), Kept and Draws list the strata's kept pairs and draws stratum after stratum.
// With one stratum it is that stratum's Plan(0).Sample(seed, stream), bit for bit. The same
// estimator, seed and stream always give the same sketch.
func (s *Stratified) Sample(seed, stream uint64) *Sketch { return s.sample(seed, stream, true) }

// SampleMerged is [Stratified.Sample] without the raw draw sequence: Index and Scale are the
// same bit for bit, Draws is nil (see [Plan.SampleMerged]).
func (s *Stratified) SampleMerged(seed, stream uint64) *Sketch { return s.sample(seed, stream, false) }

func (s *Stratified) sample(seed, stream uint64, keep bool) *Sketch {
	if s.strata == 1 {
		return s.plans[0].sample(seed, stream, 0, keep)
	}
	parts := make([]*Sketch, s.strata)
	var kept, drawn, used int
	for g, p := range s.plans {
		parts[g] = p.sample(seed, stream, uint64(g)<<32, keep)
		kept += len(parts[g].Kept)
		drawn += len(parts[g].Draws)
		used += len(parts[g].Index)
	}
	out := &Sketch{M: s.M(), Kept: make([]int, 0, kept), Index: make([]int, 0, used), Scale: make([]float64, 0, used)}
	if keep {
		out.Draws = make([]int, 0, drawn)
	}
	for g, part := range parts {
		base := g * s.size
		for _, i := range part.Kept {
			out.Kept = append(out.Kept, base+i)
		}
		for _, i := range part.Draws {
			out.Draws = append(out.Draws, base+i)
		}
		for _, i := range part.Index {
			out.Index = append(out.Index, base+i)
		}
		out.Scale = append(out.Scale, part.Scale...)
	}
	return out
}

// ClosedFormStratified returns the exact moments of the stratified estimate of XY. The strata's
// estimates are independent, so the mean is Σ_g mean_g and the variance Σ_g Variance_g, with
// mean_g and Variance_g the [ClosedForm] of stratum g's plan on the columns and rows of its pairs
// (X[:, g·size:(g+1)·size] and Y[g·size:(g+1)·size, :]); SquaredBias is ‖mean − XY‖²_F. With one
// stratum it is ClosedForm of that stratum's plan. Each stratum's moments are right over
// float64's range as ClosedForm's are; their sums and the squared bias are plain float64 sums
// (a WTA-CRS plan is unbiased, so the squared bias is rounding), and a sum above MaxFloat64
// returns ErrRange.
//
// X must be n×m and Y m×q with m = s.M(); it returns ErrShape or ErrNonFinite otherwise, and
// the errors of ClosedForm.
func ClosedFormStratified[T matrix.Float](x, y matrix.Dense[T], s *Stratified) (Moments, error) {
	if err := matrix.CheckProduct(x, y); err != nil {
		return Moments{}, err
	}
	if s == nil || s.M() != x.Cols {
		return Moments{}, fmt.Errorf("%w: stratified estimator over a different number of pairs than X (%d columns)", ErrShape, x.Cols)
	}
	if s.strata == 1 {
		return ClosedForm(x, y, s.plans[0])
	}
	xf, yf := matrix.ToFloat64(x), matrix.ToFloat64(y)
	n, q, size := x.Rows, y.Cols, s.size
	mean := matrix.Dense[float64]{Rows: n, Cols: q, Data: make([]float64, n*q)}
	var variance float64
	xg := matrix.Dense[float64]{Rows: n, Cols: size, Data: make([]float64, n*size)}
	for g, p := range s.plans {
		for r := range n {
			copy(xg.Row(r), xf.Data[r*x.Cols+g*size:r*x.Cols+(g+1)*size])
		}
		yg := matrix.Dense[float64]{Rows: size, Cols: q, Data: yf.Data[g*size*q : (g+1)*size*q]}
		m, err := ClosedForm(xg, yg, p)
		if err != nil {
			return Moments{}, fmt.Errorf("%w (stratum %d)", err, g)
		}
		for i, v := range m.Mean.Data {
			mean.Data[i] += v
		}
		variance += m.Variance
	}
	exact, err := matrix.Product(xf, yf)
	if err != nil {
		return Moments{}, err
	}
	bias := diff2(mean.Data, exact.Data)
	switch {
	case !allFinite(mean.Data):
		return Moments{}, fmt.Errorf("%w: the mean E[X'Y'] summed over the strata overflows float64; rescale X or Y", ErrRange)
	case math.IsInf(variance, 0):
		return Moments{}, fmt.Errorf("%w: the variance summed over the strata overflows float64; rescale X or Y", ErrRange)
	case math.IsInf(bias, 0) || math.IsInf(bias+variance, 0):
		return Moments{}, fmt.Errorf("%w: the squared bias summed over the strata overflows float64; rescale X or Y", ErrRange)
	}
	return Moments{Mean: mean, SquaredBias: bias, Variance: variance}, nil
}

// restOutsideTop returns rest[c], the weight outside the top c pairs, for c = 0..len(top), given
// top, the len(top) heaviest pairs in order: the weight outside top (summed in index order) plus
// the tail of top (summed lightest first), so it is exactly zero when nothing of positive weight
// is left.
func restOutsideTop(w []float64, top []int) []float64 {
	return restOutsideTopInto(nil, nil, w, top)
}

// restOutsideTopInto is restOutsideTop with in (len(w) flags, all false on entry and on
// return) and rest (grown to len(top)+1 when shorter) as its storage. It returns rest.
func restOutsideTopInto(in []bool, rest []float64, w []float64, top []int) []float64 {
	if in == nil {
		in = make([]bool, len(w))
	}
	for _, i := range top {
		in[i] = true
	}
	var outside float64
	for i, v := range w {
		if !in[i] {
			outside += v
		}
	}
	for _, i := range top {
		in[i] = false
	}
	rest = resize(rest, len(top)+1)
	rest[len(top)] = outside
	for c := len(top) - 1; c >= 0; c-- {
		rest[c] = rest[c+1] + w[top[c]]
	}
	return rest
}
