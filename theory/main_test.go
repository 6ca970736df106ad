package theory

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// The statistical assertions of this package share a false-failure budget of 1e-6 per run
// (Bonferroni over the assertions below; every other assertion is deterministic):
//
//	TestUnbiasedMonteCarlo     2e-7   Theorem 1, CheckMean on CRS and WTA-CRS
//	TestEq3MonteCarlo          2e-7   Eq. 3, CheckVariance intervals
//	TestClosedFormMonteCarlo   2e-7   closed forms against CheckVariance
//	TestLinearMonteCarlo       1e-7   property 5, CheckMeanOf through the layer
//	TestStratifiedMonteCarlo   3e-8   stratified WTA-CRS, CheckMeanStratified (own and shared |C|)
//	TestStratifiedClosedFormMonteCarlo
//	                           3e-8   ClosedFormStratified against CheckVarianceStratified
//	negative controls          4·2.5e-8 + 5e-8 + 5e-8 (a detectable bias not rejected)
//	                           + 1.5e-8 + 1e-8 (the stratified controls)
//	ExampleCheckMean           1e-9   (α of its unbiased plan; the output is fixed by its seed)
//	TestCheckMeanRejectsBiasAtDetectionLevel
//	                           2e-9   (exact binomial: 1.5e-9) + 1e-40 (its unbiased plan)
//
// Total 9.88e-7 ≤ 1e-6.
const (
	alphaUnbiasedMC     = 2e-7
	alphaEq3MC          = 2e-7
	alphaClosedFormMC   = 2e-7
	alphaLinearMC       = 1e-7
	alphaStratifiedMC   = 3e-8
	alphaStratifiedCFMC = 3e-8
	alphaControlMC      = 2.5e-8 // per control
	alphaEq3Control     = 5e-8
	alphaCFControl      = 5e-8
	alphaStratControl   = 1.5e-8
	alphaStratCFControl = 1e-8
	alphaMeanLevel      = 2e-9 // bounds the exact probability that a bias at the detection level passes
)

var long = flag.Bool("theory.long", false, "run 10× the cases and 10× the sketches (100× the trials) with fresh seeds")

// testSeed is the fixed seed of rapid and of the sketches; -theory.long replaces it by a fresh one.
var testSeed uint64 = 20231120

// sketches is the number of Monte Carlo sketches per plan and case.
var sketches = 1000

// checks is the number of cases per rapid property (the value of -rapid.checks).
var checks = 100

func TestMain(m *testing.M) {
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *long {
		testSeed = rand.Uint64() | 1
		sketches *= 10
		if !set["rapid.checks"] {
			flag.Set("rapid.checks", "1000")
		}
		fmt.Fprintf(os.Stderr, "theory: -theory.long with seed %d\n", testSeed)
	}
	if !set["rapid.seed"] {
		flag.Set("rapid.seed", strconv.FormatUint(testSeed, 10))
	}
	if f := flag.Lookup("rapid.checks"); f != nil {
		if n, err := strconv.Atoi(f.Value.String()); err == nil && n > 0 {
			checks = n
		}
	}
	start := time.Now()
	code := m.Run()
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "theory: tests took %v\n", time.Since(start))
	}
	os.Exit(code)
}

// caseAlpha returns the share of a property's budget for one rapid case: rapid runs at most
// `checks` cases before it passes (shrinking only follows a failure).
func caseAlpha(total float64) float64 { return total / float64(checks) }

// mcSeed derives the sketches' seed of a case from the run's seed and the case's own seed.
func mcSeed(c Case) uint64 { return testSeed*0x9e3779b97f4a7c15 ^ c.Seed }

// requireClaim is the body of a deterministic property: it draws a case from [Cases] (labelled
// "case") and fails t with the case when claim errs or does not hold on it.
func requireClaim(t *rapid.T, claim func(Case) (Verdict, error)) {
	t.Helper()
	c := Cases().Draw(t, "case")
	o, err := claim(c)
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	if !o.Holds {
		t.Fatalf("%v: %s", c, o.Detail)
	}
}

// requireClaimMC is the body of a Monte Carlo property with false-failure budget alpha over the
// property: [requireClaim] with the case's sketches seeded by mcSeed and caseAlpha(alpha) per
// case.
func requireClaimMC(t *rapid.T, claim func(Case, MC) (Verdict, error), alpha float64) {
	t.Helper()
	requireClaim(t, func(c Case) (Verdict, error) {
		return claim(c, MC{Sketches: sketches, Seed: mcSeed(c), Alpha: caseAlpha(alpha)})
	})
}

// exampleCases returns the first n cases of the generator (restricted to families, if any) with
// seeds derived from testSeed: the cases a search for a counterexample walks through.
func exampleCases(n int, families ...string) []Case {
	g := CasesOf(families...)
	out := make([]Case, n)
	for i := range out {
		out[i] = g.Example(int(testSeed%1_000_000) + i)
	}
	return out
}

// requireStratifiedClaim is [requireClaim] for a claim about stratified cases: it draws a case
// from [StratifiedCases] (labelled "case").
func requireStratifiedClaim(t *rapid.T, claim func(StratifiedCase) (Verdict, error)) {
	t.Helper()
	c := StratifiedCases().Draw(t, "case")
	o, err := claim(c)
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	if !o.Holds {
		t.Fatalf("%v: %s", c, o.Detail)
	}
}

// requireStratifiedClaimMC is [requireClaimMC] for a claim about stratified cases.
func requireStratifiedClaimMC(t *rapid.T, claim func(StratifiedCase, MC) (Verdict, error), alpha float64) {
	t.Helper()
	requireStratifiedClaim(t, func(c StratifiedCase) (Verdict, error) {
		return claim(c, MC{Sketches: sketches, Seed: mcSeed(c.Case), Alpha: caseAlpha(alpha)})
	})
}

// exampleStratifiedCases returns the first n stratified cases of the generator with seeds
// derived from testSeed, as [exampleCases] does.
func exampleStratifiedCases(n int) []StratifiedCase {
	g := StratifiedCases()
	out := make([]StratifiedCase, n)
	for i := range out {
		out[i] = g.Example(int(testSeed%1_000_000) + i)
	}
	return out
}
