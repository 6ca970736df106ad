package gpu_test

import (
	"errors"
	"fmt"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/gpu"
	"github.com/wtacrs/wtacrs/matrix"
)

// Predict on the host what an Estimator keeps and draws: WTA-CRS with a budget of 4 rows over six
// pairs keeps the three heaviest exactly and draws the last row from the other pairs.
func ExampleHostTrace() {
	w := []float64{0.5, 8, 1, 0, 6, 2}
	tr, err := gpu.HostTrace(w, gpu.Options{Method: estimator.MethodWTACRS, K: 4}, 42, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("kept:", tr.Kept)
	fmt.Println("draws:", tr.Draws)
	fmt.Printf("scales: %.4f\n", tr.Scales)
	// Output:
	// kept: [1 4 5]
	// draws: [2]
	// scales: [1.5000]
}

// Estimate ∇W = Hᵀ∇Z with WTA-CRS on the GPU, or without one with package estimator on the CPU:
// for the same weights, seed and stream both keep and draw the same pairs.
func ExampleEstimateGradW() {
	h, _ := matrix.NewDense(6, 2, []float32{1, 2, 3, 4, 5, 6, 0, 1, 2, 2, 1, 0})
	g, _ := matrix.NewDense(6, 1, []float32{1, -1, 2, 0, 3, 1})
	opts := gpu.Options{Method: estimator.MethodWTACRS, K: 4}
	var kept, draws []int
	d, err := gpu.Open(0)
	switch {
	case err == nil:
		defer d.Close()
		dw, tr, err := gpu.EstimateGradW(d, h, g, opts, 42, 0)
		if err != nil {
			fmt.Println(err)
			return
		}
		_ = dw // the d_in×d_out estimate
		kept, draws = tr.Kept, tr.Draws
	case errors.Is(err, gpu.ErrNoGPU):
		w, err := estimator.WeightsTransA(h, g)
		if err != nil {
			fmt.Println(err)
			return
		}
		plan, err := estimator.NewPlan(opts.Method, w, opts.K, opts.PlanC())
		if err != nil {
			fmt.Println(err)
			return
		}
		sk := plan.Sample(42, 0) // estimator.ApplyTransA(h, g, sk) is the estimate
		kept, draws = plan.Kept(), sk.Draws
	default:
		fmt.Println(err)
		return
	}
	fmt.Println("kept:", kept, "draws:", draws)
	// Output:
	// kept: [2 4 1] draws: [0]
}

// tokens returns a rows×cols matrix of small integers, every eleventh row eight times larger: the
// norms are exact on every device, and a few tokens are heavy.
func tokens(rows, cols, salt int) matrix.Dense[float32] {
	m, _ := matrix.NewDense[float32](rows, cols, nil)
	for i := range m.Data {
		v := float32((i*7+salt*13)%9 - 4)
		if (i/cols)%11 == 0 {
			v *= 8
		}
		m.Data[i] = v
	}
	return m
}

// Queue estimates on device-resident data: the estimator allocates its buffers once and every call
// queues kernels without a host round trip; Err and Trace wait. Without a GPU, package estimator
// draws the same pairs on the CPU.
func ExampleDevice_NewEstimator() {
	const n, dIn, dOut, k = 64, 8, 4, 16
	h, g := tokens(n, dIn, 1), tokens(n, dOut, 2)
	opts := gpu.Options{Method: estimator.MethodWTACRS, K: k}
	d, err := gpu.Open(0)
	if errors.Is(err, gpu.ErrNoGPU) {
		w, _ := estimator.WeightsTransA(h, g)
		plan, _ := estimator.NewPlan(opts.Method, w, k, opts.PlanC())
		fmt.Println("kept:", plan.Kept())
		fmt.Println("first draws of step 2:", plan.Sample(7, 2).Draws[:6])
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	dh, _ := d.Upload(h)
	dg, _ := d.Upload(g)
	dw, _ := d.Alloc(dIn, dOut)
	defer func() { _, _, _ = dh.Free(), dg.Free(), dw.Free() }()
	e, err := d.NewEstimator(gpu.Shape{N: n, DIn: dIn, DOut: dOut}, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Free()
	for step := uint64(0); step < 3; step++ {
		if err := e.GradW(dw, dh, dg, 7, step); err != nil { // queued
			fmt.Println(err)
			return
		}
	}
	if err := e.Err(); err != nil { // waits
		fmt.Println(err)
		return
	}
	tr, _ := e.Trace() // of the last step
	fmt.Println("kept:", tr.Kept)
	fmt.Println("first draws of step 2:", tr.Draws[:6])
	// Output:
	// kept: [22 11 0 44 33 55]
	// first draws of step 2: [60 59 40 16 41 29]
}
