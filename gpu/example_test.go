package gpu_test

import (
	"errors"
	"fmt"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/gpu"
)

// Estimate ∇W = Hᵀ∇Z with WTA-CRS on the GPU and compare the pairs used with package estimator.
func ExampleEstimateGradW() {
	d, err := gpu.Open(0)
	if errors.Is(err, gpu.ErrNoGPU) {
		fmt.Println("no GPU:", err)
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	h, _ := estimator.NewDense(4, 2, []float32{1, 2, 3, 4, 5, 6, 7, 8})
	g, _ := estimator.NewDense(4, 1, []float32{1, -1, 2, 0.5})
	dw, tr, err := gpu.EstimateGradW(d, h, g, estimator.MethodWTACRS, 3, estimator.AutoC, 42, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, _ := estimator.NewWTACRS(tr.Weights, 3)
	sk := plan.Sample(42, 0)
	fmt.Println(dw.Rows, dw.Cols, len(tr.Kept) == len(plan.Kept), fmt.Sprint(tr.Draws) == fmt.Sprint(sk.Draws))
}

// Queue estimates on device-resident data: no allocation and no host round trip per call.
func ExampleDevice_NewEstimator() {
	d, err := gpu.Open(0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	const n, dIn, dOut = 1024, 64, 32
	h, _ := d.Alloc(n, dIn)
	g, _ := d.Alloc(n, dOut)
	dw, _ := d.Alloc(dIn, dOut)
	e, err := d.NewEstimator(estimator.MethodWTACRS, n, dIn, dOut, n/10, estimator.AutoC)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Free()
	for step := uint64(0); step < 3; step++ {
		_ = e.GradW(dw, h, g, 7, step) // queued
	}
	fmt.Println(e.Err()) // waits
}
