package theory

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
	"pgregory.net/rapid"
)

// MaxPairs is the largest number of pairs m that [Cases] generates.
const MaxPairs = 64

// The families of generated cases.
const (
	FamilyGaussian  = "gaussian"  // i.i.d. standard normal entries
	FamilyLogNormal = "lognormal" // column and row scales log-normal with σ up to 3
	FamilyZipf      = "zipf"      // pair scales 1/rank^s, s in [0.5, 2.5], in random order
	FamilyPadded    = "padded"    // at least half of the pairs are padding tokens: Y row exactly zero
	FamilyDominant  = "dominant"  // one to three pairs up to 10⁶ times heavier than the rest
	FamilyNearTie   = "neartie"   // every pair of almost the same weight (relative spread 1e-12)
)

// Families lists the case families in a fixed order.
func Families() []string {
	return []string{FamilyGaussian, FamilyLogNormal, FamilyZipf, FamilyPadded, FamilyDominant, FamilyNearTie}
}

// Case is one generated product X·Y (X is N×M, Y is M×Q) with a budget K (1 ≤ K ≤ M) and a
// kept-set size C (0 ≤ C ≤ min(K−1, M)) for the WTA-CRS plans with a fixed |C|.
type Case struct {
	// Family is the generator family, one of [Families].
	Family string
	// N, M and Q are the sizes: X is N×M, Y is M×Q, and the M pairs are what is sampled.
	N, M, Q int
	// K is the budget, 1 ≤ K ≤ M, and C the kept-set size of the fixed-|C| plans,
	// 0 ≤ C ≤ min(K−1, M).
	K, C int
	// Seed is the seed the entries were drawn from (with Family and the sizes it fixes the case).
	Seed uint64
	// X (N×M) and Y (M×Q) are the factors of the product.
	X, Y matrix.Dense[float64]
}

// String describes the case in one line, for counterexamples.
func (c Case) String() string {
	return fmt.Sprintf("%s n=%d m=%d q=%d k=%d |C|=%d seed=%d", c.Family, c.N, c.M, c.Q, c.K, c.C, c.Seed)
}

// Weights returns the norm-product weights ‖X[:,i]‖·‖Y[i,:]‖ of the case's pairs.
func (c Case) Weights() []float64 {
	w, err := estimator.Weights(c.X, c.Y)
	if err != nil {
		panic("theory: generated case is invalid: " + err.Error())
	}
	return w
}

// NewCase builds the case of the given family, sizes and seed. It returns ErrCase when a size is
// out of range (n, q ≥ 1, 1 ≤ m ≤ MaxPairs, 1 ≤ k ≤ m, 0 ≤ c ≤ k−1) or the family is unknown.
func NewCase(family string, n, m, q, k, c int, seed uint64) (Case, error) {
	if n < 1 || q < 1 || m < 1 || m > MaxPairs || k < 1 || k > m || c < 0 || c > k-1 {
		return Case{}, fmt.Errorf("%w: n=%d m=%d q=%d k=%d |C|=%d", ErrCase, n, m, q, k, c)
	}
	r := rand.New(rand.NewPCG(seed, 0x7468656f7279))
	a := make([]float64, m) // column scales of X
	b := make([]float64, m) // row scales of Y
	for i := range a {
		a[i], b[i] = 1, 1
	}
	switch family {
	case FamilyGaussian:
	case FamilyLogNormal:
		s := 0.5 + 2.5*r.Float64()
		for i := range a {
			a[i] = math.Exp(s * r.NormFloat64())
			b[i] = math.Exp(s * r.NormFloat64())
		}
	case FamilyZipf:
		s := 0.5 + 2*r.Float64()
		for rank, i := range r.Perm(m) {
			a[i] = math.Pow(float64(rank+1), -s)
		}
	case FamilyPadded:
		pad := m/2 + r.IntN(m-m/2+1) // at least half, possibly all
		for _, i := range r.Perm(m)[:pad] {
			b[i] = 0
		}
	case FamilyDominant:
		for _, i := range r.Perm(m)[:1+r.IntN(min(3, m))] {
			s := math.Pow(10, 1+2*r.Float64()) // weight factor 10² to 10⁶
			a[i], b[i] = s, s
		}
	case FamilyNearTie:
	default:
		return Case{}, fmt.Errorf("%w: unknown family %q", ErrCase, family)
	}
	cs := Case{Family: family, N: n, M: m, Q: q, K: k, C: c, Seed: seed}
	cs.X = matrix.Dense[float64]{Rows: n, Cols: m, Data: make([]float64, n*m)}
	cs.Y = matrix.Dense[float64]{Rows: m, Cols: q, Data: make([]float64, m*q)}
	for i := range n {
		for j := range m {
			cs.X.Data[i*m+j] = a[j] * r.NormFloat64()
		}
	}
	for j := range m {
		for l := range q {
			cs.Y.Data[j*q+l] = b[j] * r.NormFloat64()
		}
	}
	if family == FamilyNearTie {
		// Normalise every pair to weight 1, then perturb by a relative 1e-12.
		w := cs.Weights()
		for j := range m {
			if w[j] == 0 {
				continue
			}
			f := (1 + 1e-12*r.NormFloat64()) / w[j]
			for l := range q {
				cs.Y.Data[j*q+l] *= f
			}
		}
	}
	return cs, nil
}

// Cases returns the generator of cases: the family, n and q from 1 to 4, m from 1 to MaxPairs,
// k from 1 to m, |C| from 0 to k−1 and the seed of the entries are drawn with labels, so that a
// shrunk failure names the case.
func Cases() *rapid.Generator[Case] { return CasesOf(Families()...) }

// CasesOf returns the generator of [Cases] restricted to the given families (all when none).
func CasesOf(families ...string) *rapid.Generator[Case] {
	if len(families) == 0 {
		families = Families()
	}
	return rapid.Custom(func(t *rapid.T) Case {
		family := rapid.SampledFrom(families).Draw(t, "family")
		m := rapid.IntRange(1, MaxPairs).Draw(t, "m")
		k := rapid.IntRange(1, m).Draw(t, "k")
		c := rapid.IntRange(0, k-1).Draw(t, "|C|")
		n := rapid.IntRange(1, 4).Draw(t, "n")
		q := rapid.IntRange(1, 4).Draw(t, "q")
		seed := rapid.Uint64().Draw(t, "seed")
		cs, err := NewCase(family, n, m, q, k, c, seed)
		if err != nil {
			panic("theory: " + err.Error())
		}
		return cs
	})
}

// GoString describes the case without its entries (which its Family, sizes and Seed determine),
// so that a shrunk rapid failure reads as a one-line bug report.
func (c Case) GoString() string { return "theory.Case{" + c.String() + "}" }
