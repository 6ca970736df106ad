package theory_test

import (
	"fmt"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/theory"
)

// CheckExact passes CRS and rejects deterministic top-k on the same product.
func ExampleCheckExact() {
	x := matrix.Dense[float64]{Rows: 1, Cols: 3, Data: []float64{1, 2, 3}}
	y := matrix.Dense[float64]{Rows: 3, Cols: 1, Data: []float64{1, 1, 1}}
	w, _ := estimator.Weights(x, y)
	crs, _ := estimator.NewCRS(w, 2)
	top, _ := estimator.NewTopK(w, 2)
	for _, p := range []*estimator.Plan{crs, top} {
		r, _ := theory.CheckExact(x, y, p)
		fmt.Printf("%v biased: %v (worst %.3f)\n", p.Method(), r.Biased, r.Worst)
	}
	// Output:
	// crs biased: false (worst 0.000)
	// topk biased: true (worst 0.167)
}

// CheckMean averages sketches and tests every entry against XY with a Bernstein threshold.
func ExampleCheckMean() {
	c, _ := theory.NewCase(theory.FamilyLogNormal, 2, 16, 2, 4, 1, 7)
	w := c.Weights()
	wta, _ := estimator.NewWTACRS(w, c.K)
	zc, _ := theory.ControlZeroCache(w, c.K)
	for _, p := range []*estimator.Plan{wta, zc} {
		r, _ := theory.CheckMean(c.X, c.Y, p, 2000, 1, 1e-9)
		fmt.Printf("rejected: %v\n", r.Rejected)
	}
	// Output:
	// rejected: false
	// rejected: true
}

// Verify checks every claim on generated cases; here the exact Theorem 1 check on 5 cases.
func ExampleVerify() {
	rep, err := theory.Verify(theory.Config{Cases: 5, Sketches: 100, Seed: 1, Alpha: 1e-7})
	if err != nil {
		fmt.Println(err)
		return
	}
	f := rep.Findings[0]
	fmt.Printf("%s: %s on %d cases\n", f.Claim, f.Verdict, f.Cases)
	// Output:
	// Theorem 1: CRS and WTA-CRS unbiased (exact enumeration): holds on 5 cases
}
