package estimator_test

import (
	"fmt"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
)

// ExampleNewCRS estimates a product with column-row sampling and compares the closed-form
// expected squared error with the exact product.
func ExampleNewCRS() {
	x, _ := matrix.NewDense(2, 4, []float64{1, 2, 3, 4, 5, 6, 7, 8})
	y, _ := matrix.NewDense(4, 2, []float64{1, 0, 0, 1, 1, 1, 2, 0})
	w, _ := estimator.Weights(x, y)
	plan, _ := estimator.NewCRS(w, 2)
	sketch := plan.Sample(2, 0) // seed 2, stream 0
	est, _ := estimator.Apply(x, y, sketch)
	exact, _ := matrix.Product(x, y)
	cf, _ := estimator.ClosedForm(x, y, plan)
	fmt.Println("draws:", sketch.Draws)
	fmt.Printf("estimate: %.3g\n", est.Data)
	fmt.Println("exact:   ", exact.Data)
	fmt.Printf("E‖XY − X'Y'‖² = %.4g\n", cf.ExpectedSquaredError())
	// Output:
	// draws: [2 0]
	// estimate: [9.51 5.58 32.7 13]
	// exact:    [12 5 28 13]
	// E‖XY − X'Y'‖² = 242.3
}

// ExampleNewWTACRS estimates the weight gradient ∇W = Hᵀ∇Z of a linear layer over 6 tokens
// with a budget of 3: the dominant token is kept exactly, two draws cover the rest.
func ExampleNewWTACRS() {
	h, _ := matrix.NewDense(6, 2, []float32{9, 9, 1, 0, 0, 1, 1, 1, 0.5, 0, 0, 0})
	dz, _ := matrix.NewDense(6, 1, []float32{5, 1, -1, 1, 2, 3})
	w, _ := estimator.WeightsTransA(h, dz)
	plan, _ := estimator.NewWTACRS(w, 3)
	sketch := plan.Sample(7, 0)
	grad, _ := estimator.ApplyTransA(h, dz, sketch)
	exact, _ := matrix.ProductTransA(h, dz)
	fmt.Printf("kept exactly: %v (P_C = %.3f), drawn: %v\n", plan.Kept(), plan.MassC(), sketch.Draws)
	fmt.Printf("rows kept for backward: %d of %d\n", sketch.Rows(), h.Rows)
	fmt.Printf("estimate %.3g, exact %.3g\n", grad.Data, exact.Data)
	// Output:
	// kept exactly: [0] (P_C = 0.935), drawn: [4 2]
	// rows kept for backward: 3 of 6
	// estimate [47.2 42.8], exact [48 45]
}

// ExampleNewStratifiedWTACRS estimates a product whose 12 pairs fall into 3 independent strata
// of 4 (for example one sequence and three attention heads), with a budget of 2 pairs per
// stratum: each stratum's own |C|, or one |C| for all as the published code picks it.
func ExampleNewStratifiedWTACRS() {
	x, _ := matrix.NewDense(1, 12, []float64{8, 1, 1, 1, 1, 1, 1, 3, 6, 5, 0.5, 0.5})
	y, _ := matrix.NewDense(12, 2, []float64{1, 0, 1, 1, -1, 0, 1, 2, 1, 1, 2, 0, -1, 0, 1, -1, 1, 0, 1, 1, 1, 2, 0, 1})
	w, _ := estimator.Weights(x, y)
	exact, _ := matrix.Product(x, y)
	for _, rule := range estimator.CRules() {
		s, _ := estimator.NewStratifiedWTACRS(w, 3, 2, rule)
		sketch := s.Sample(1, 0)
		est, _ := estimator.Apply(x, y, sketch)
		cf, _ := estimator.ClosedFormStratified(x, y, s)
		fmt.Printf("%-6s |C| per stratum %v, pairs used %v, estimate %.3g (exact %.3g), E‖XY − X'Y'‖² = %.4g\n",
			rule, s.C(), sketch.Index, est.Data, exact.Data, cf.ExpectedSquaredError())
	}
	// Output:
	// own    |C| per stratum [1 0 0], pairs used [0 3 7 10], estimate [22.8 11.2] (exact [25.5 7.5]), E‖XY − X'Y'‖² = 55.23
	// shared |C| per stratum [1 1 1], pairs used [0 3 5 7 9 10], estimate [25.9 13] (exact [25.5 7.5]), E‖XY − X'Y'‖² = 39.64
}
