package gpu

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
)

// openDevice opens device 0 or skips the test with the reason: a build without the cuda tag or a
// machine without an NVIDIA GPU.
func openDevice(t testing.TB) *Device {
	t.Helper()
	d, err := Open(0)
	if errors.Is(err, ErrNoGPU) {
		t.Skip(err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	t.Logf("device: %s", d.b.info())
	return d
}

// upload copies m to d; the device matrix is freed when the test ends.
func upload(t testing.TB, d *Device, m matrix.Dense[float32]) *Matrix {
	t.Helper()
	x, err := d.Upload(m)
	require.NoError(t, err)
	t.Cleanup(func() { _ = x.Free() })
	return x
}

// alloc allocates a rows×cols matrix on d; it is freed when the test ends.
func alloc(t testing.TB, d *Device, rows, cols int) *Matrix {
	t.Helper()
	x, err := d.Alloc(rows, cols)
	require.NoError(t, err)
	t.Cleanup(func() { _ = x.Free() })
	return x
}

// uploadPair uploads H (n×dIn) and G (n×dOut) to d and allocates the dIn×dOut result ∇W, all
// freed when the test ends.
func uploadPair(t testing.TB, d *Device, h, g matrix.Dense[float32]) (dh, dg, dw *Matrix) {
	t.Helper()
	return upload(t, d, h), upload(t, d, g), alloc(t, d, h.Cols, g.Cols)
}

// newEstimator makes an estimator for s and o on d; it is freed when the test ends.
func newEstimator(t testing.TB, d *Device, s Shape, o Options) *Estimator {
	t.Helper()
	e, err := d.NewEstimator(s, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Free() })
	return e
}

// requireSketchProduct requires every entry of the device estimate got, a float32 sum of k
// gathered terms, to be within gemmTolerance of the sketch's product computed in float64 on the
// host. It returns the worst ratio of error to tolerance.
func requireSketchProduct(t testing.TB, got, h, g matrix.Dense[float32], sk *estimator.Sketch, k int) float64 {
	t.Helper()
	want, err := estimator.ApplyTransA(matrix.ToFloat64(h), matrix.ToFloat64(g), sk)
	require.NoError(t, err)
	absSk := &estimator.Sketch{M: sk.M, Index: sk.Index, Scale: make([]float64, len(sk.Scale))}
	for j, s := range sk.Scale {
		absSk.Scale[j] = math.Abs(s)
	}
	absTerms, err := estimator.ApplyTransA(matrix.ToFloat64(abs32(h)), matrix.ToFloat64(abs32(g)), absSk)
	require.NoError(t, err)
	worst := 0.0
	for i := range want.Data {
		diff := math.Abs(float64(got.Data[i]) - want.Data[i])
		tol := gemmTolerance(k, absTerms.Data[i])
		require.LessOrEqual(t, diff, tol, "entry %d of ∇W", i)
		worst = max(worst, diff/max(tol, 1e-300))
	}
	return worst
}

// randomPair returns H (n×dIn) and G (n×dOut) with Gaussian entries and heavy-tailed row scales,
// so that WTA-CRS keeps a non-trivial set.
func randomPair(seed uint64, n, dIn, dOut int) (h, g matrix.Dense[float32]) {
	rng := rand.New(rand.NewPCG(seed, 99))
	fill := func(rows, cols int) matrix.Dense[float32] {
		d := matrix.Dense[float32]{Rows: rows, Cols: cols, Data: make([]float32, rows*cols)}
		for i := 0; i < rows; i++ {
			s := math.Exp(1.2 * rng.NormFloat64())
			for j := 0; j < cols; j++ {
				d.Data[i*cols+j] = float32(s * rng.NormFloat64())
			}
		}
		return d
	}
	return fill(n, dIn), fill(n, dOut)
}

func abs32(d matrix.Dense[float32]) matrix.Dense[float32] {
	out := matrix.Dense[float32]{Rows: d.Rows, Cols: d.Cols, Data: make([]float32, len(d.Data))}
	for i, v := range d.Data {
		out.Data[i] = float32(math.Abs(float64(v)))
	}
	return out
}

// gemmTolerance is the rigorous bound of float32 summation over r terms in any order, plus the
// rounding of the products and of the scales: (r+3)·2⁻²⁴ times the sum of the absolute terms.
func gemmTolerance(r int, absTerms float64) float64 {
	return float64(r+3) * 0x1p-24 * absTerms
}

// The nil and closed receivers answer ErrClosed everywhere, without a GPU.
func TestClosedReceivers(t *testing.T) {
	t.Parallel()
	var d *Device
	var m *Matrix
	var e *Estimator
	_, err := d.Alloc(2, 2)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, d.GradW(m, m, m), ErrClosed)
	assert.ErrorIs(t, d.Synchronize(), ErrClosed)
	assert.ErrorIs(t, d.Close(), ErrClosed)
	assert.Equal(t, "", d.Name())
	assert.ErrorIs(t, m.Free(), ErrClosed)
	_, err = m.Download()
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, e.GradW(m, m, m, 1, 1), ErrClosed)
	assert.ErrorIs(t, e.Err(), ErrClosed)
	_, err = e.Trace()
	assert.ErrorIs(t, err, ErrClosed)
	_, err = Open(-1)
	assert.ErrorIs(t, err, ErrNoGPU)
	_, _, err = EstimateGradW(d, matrix.Dense[float32]{}, matrix.Dense[float32]{}, crs(1), 1, 1)
	assert.ErrorIs(t, err, ErrClosed)
}

// TestDeviceParity checks, on the device, the weights against estimator.WeightsTransA, the kept
// set and the draws against package estimator for the same seed (bit for bit), and the estimate
// against the sketch's product in float64.
func TestDeviceParity(t *testing.T) {
	d := openDevice(t)
	shapes := []struct {
		name         string
		n, dIn, dOut int
	}{
		{"aligned", 5000, 96, 80},
		{"odd", 777, 33, 17},
		{"long", 600000, 4, 4}, // more than 2048 CDF blocks: the offsets in several chunks
	}
	for _, sh := range shapes {
		h, g := randomPair(11, sh.n, sh.dIn, sh.dOut)
		cpuW, err := estimator.WeightsTransA(h, g)
		require.NoError(t, err)
		type parityCase struct {
			name string
			opts Options
		}
		cases := []parityCase{
			{"wtacrs/k=0.3n", wtacrs(sh.n * 3 / 10)},
			{"wtacrs/k=0.1n", wtacrs(sh.n / 10)},
			{"wtacrs/fixed", wtacrsFixed(sh.n/10, sh.n/40)},
			{"wtacrs/k>n", wtacrs(sh.n + 5)},
			{"wtacrs/k=1", wtacrs(1)},
			{"crs/k=0.1n", crs(sh.n / 10)},
		}
		if sh.name == "long" { // rank counting is quadratic in k: keep k small
			cases = []parityCase{{"wtacrs/k=0.01n", wtacrs(sh.n / 100)}, {"crs/k=0.01n", crs(sh.n / 100)}}
		}
		for _, tc := range cases {
			t.Run(sh.name+"/"+tc.name, func(t *testing.T) {
				const seed, stream = 20231127, 5
				k := tc.opts.K
				got, tr, err := EstimateGradW(d, h, g, tc.opts, seed, stream)
				require.NoError(t, err)

				// Weights: float64 sums of float32 squares on the device against gonum's float32
				// dot products on the host: both within a few float32 roundings of the truth.
				require.Len(t, tr.Weights, sh.n)
				for i := range cpuW {
					require.InDelta(t, cpuW[i], tr.Weights[i], 1e-5*cpuW[i]+1e-30, "weight %d", i)
				}

				// The host model on the device's weights: the same kept set and draws, bit for bit.
				ref := hostTrace(t, tr.Weights, tc.opts, seed, stream)
				require.Equal(t, ref.Kept, tr.Kept, "kept set against the host model")
				require.Equal(t, ref.Draws, tr.Draws, "draws against the host model")
				require.Equal(t, ref.DrawTotal, tr.DrawTotal, "draw total")

				// Package estimator on the device's weights.
				if autoC(tc.opts, sh.n) {
					want, err := estimator.ChooseC(tr.Weights, k)
					require.NoError(t, err)
					require.Equal(t, want, len(tr.Kept), "|C| against estimator.ChooseC")
				}
				plan, sk := cpuTrace(t, tr.Weights, tc.opts, seed, stream)
				requireSameAsCPU(t, tr, plan, sk)
				t.Logf("|C| = %d, draws = %d, P_C = %.4f", len(tr.Kept), len(tr.Draws), plan.MassC())

				// The estimate against the sketch's product computed in float64 on the host.
				t.Logf("worst error / tolerance = %.3g", requireSketchProduct(t, got, h, g, sk, k))
			})
		}
		t.Run(sh.name+"/exact", func(t *testing.T) {
			dh, dg, dw := uploadPair(t, d, h, g)
			require.NoError(t, d.GradW(dw, dh, dg))
			got, err := dw.Download()
			require.NoError(t, err)
			want, err := matrix.ProductTransA(matrix.ToFloat64(h), matrix.ToFloat64(g))
			require.NoError(t, err)
			absTerms, err := matrix.ProductTransA(matrix.ToFloat64(abs32(h)), matrix.ToFloat64(abs32(g)))
			require.NoError(t, err)
			for i := range want.Data {
				require.LessOrEqual(t, math.Abs(float64(got.Data[i])-want.Data[i]), gemmTolerance(sh.n, absTerms.Data[i]), "entry %d", i)
			}
		})
	}
}

// TestDeviceBackward checks the exact ∇H = G Wᵀ of the approximate linear layer and that its ∇W
// is the estimator's.
func TestDeviceBackward(t *testing.T) {
	d := openDevice(t)
	const n, dIn, dOut, k = 300, 20, 12, 60
	h, g := randomPair(5, n, dIn, dOut)
	wt, _ := randomPair(6, dIn, dOut, 1)
	dh, dg, gradW := uploadPair(t, d, h, g)
	dw := upload(t, d, wt)
	gradH, gradW2 := alloc(t, d, n, dIn), alloc(t, d, dIn, dOut)
	e := newEstimator(t, d, Shape{N: n, DIn: dIn, DOut: dOut}, wtacrs(k))
	require.NoError(t, e.Backward(gradH, gradW, dh, dg, dw, 9, 1))
	require.NoError(t, e.Err())
	gotH, err := gradH.Download()
	require.NoError(t, err)
	w64 := matrix.ToFloat64(wt)
	want, err := matrix.Product(matrix.ToFloat64(g), matrix.Transpose(w64))
	require.NoError(t, err)
	absTerms, err := matrix.Product(matrix.ToFloat64(abs32(g)), matrix.Transpose(matrix.ToFloat64(abs32(wt))))
	require.NoError(t, err)
	for i := range want.Data {
		require.LessOrEqual(t, math.Abs(float64(gotH.Data[i])-want.Data[i]), gemmTolerance(dOut, absTerms.Data[i]), "∇H entry %d", i)
	}
	// Same seed, same stream: byte-identical ∇W.
	require.NoError(t, e.GradW(gradW2, dh, dg, 9, 1))
	a, err := gradW.Download()
	require.NoError(t, err)
	b, err := gradW2.Download()
	require.NoError(t, err)
	for i := range a.Data {
		require.Equal(t, math.Float32bits(a.Data[i]), math.Float32bits(b.Data[i]), "entry %d differs between two runs", i)
	}
}

// projection returns a_t = H[t,:]ᵀ U G[t,:] for every token: ⟨HᵀG, U⟩ = Σ_t a_t.
func projection(h, g matrix.Dense[float64], u []float64) []float64 {
	a := make([]float64, h.Rows)
	for t := range a {
		hr, gr := h.Row(t), g.Row(t)
		for i, hv := range hr {
			var s float64
			for j, gv := range gr {
				s += u[i*g.Cols+j] * gv
			}
			a[t] += hv * s
		}
	}
	return a
}

// TestDeviceUnbiased is a Monte Carlo check on the device: over R = 4000 streams, the mean of
// ⟨estimate, U⟩ for three fixed ±1 matrices U must be within 5.5 standard errors of ⟨HᵀG, U⟩,
// the standard error coming from the closed-form variance of the plan. Each assertion fails
// falsely with probability ≈ 3.8e-8 (two-sided normal tail at 5.5σ; the mean of 4000 draws is
// close to normal), 2.3e-7 for the six. The negative control, the published code's scaling of
// the sampled rows by (1−P_C)/(k−|C|) without 1/q, must be rejected by the same check.
func TestDeviceUnbiased(t *testing.T) {
	d := openDevice(t)
	const n, dIn, dOut, k, reps, zMax = 64, 8, 6, 12, 4000, 5.5
	h, g := randomPair(21, n, dIn, dOut)
	h64, g64 := matrix.ToFloat64(h), matrix.ToFloat64(g)
	exact, err := matrix.ProductTransA(h64, g64)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(8, 8))
	us := make([][]float64, 3)
	for p := range us {
		us[p] = make([]float64, dIn*dOut)
		for i := range us[p] {
			us[p][i] = float64(2*rng.IntN(2) - 1)
		}
	}
	for _, method := range []estimator.Method{estimator.MethodWTACRS, estimator.MethodCRS} {
		t.Run(method.String(), func(t *testing.T) {
			dh, dg, dw := uploadPair(t, d, h, g)
			e := newEstimator(t, d, Shape{N: n, DIn: dIn, DOut: dOut}, Options{Method: method, K: k})

			sum := make([]float64, len(us))
			sumBad := make([]float64, len(us))
			var plan *estimator.Plan
			var as [][]float64
			for r := 0; r < reps; r++ {
				require.NoError(t, e.GradW(dw, dh, dg, 77, uint64(r)))
				est, err := dw.Download()
				require.NoError(t, err)
				tr, err := e.Trace()
				require.NoError(t, err)
				if plan == nil {
					plan, err = estimator.NewPlan(method, tr.Weights, k, estimator.AutoC)
					require.NoError(t, err)
					for _, u := range us {
						as = append(as, projection(h64, g64, u))
					}
				}
				for p, u := range us {
					for i, v := range est.Data {
						sum[p] += float64(v) * u[i]
					}
					bad := 0.0
					for _, c := range tr.Kept {
						bad += as[p][c]
					}
					for _, i := range tr.Draws {
						bad += (1 - plan.MassC()) / float64(plan.Draws()) * as[p][i]
					}
					sumBad[p] += bad
				}
			}
			require.NoError(t, e.Err())
			worstBad := 0.0
			for p, u := range us {
				var truth, mean1, second float64
				for i, v := range exact.Data {
					truth += v * u[i]
				}
				for i, q := range plan.Probs() {
					mean1 += q * plan.Scale(i) * as[p][i]
					second += q * plan.Scale(i) * plan.Scale(i) * as[p][i] * as[p][i]
				}
				variance := float64(plan.Draws()) * (second - mean1*mean1)
				se := math.Sqrt(variance / reps)
				z := (sum[p]/reps - truth) / se
				zBad := (sumBad[p]/reps - truth) / se
				t.Logf("U%d: truth %.5g, mean %.5g, se %.3g, z = %.2f; negative control z = %.1f", p, truth, sum[p]/reps, se, z, zBad)
				assert.Less(t, math.Abs(z), zMax, "projection %d", p)
				worstBad = max(worstBad, math.Abs(zBad))
			}
			assert.Greater(t, worstBad, zMax, "the check must reject the unscaled estimator")
		})
	}
}

// TestDeviceErrors checks the error paths of the API on the device (checkAPIErrors, the same
// checks as TestAPIErrors without a GPU) and the NaN found by the norms kernel.
func TestDeviceErrors(t *testing.T) {
	d := openDevice(t)
	checkAPIErrors(t, d, newFakeDevice())

	// A NaN written behind Upload's check is found by the norms kernel, and the next clean call
	// clears the report.
	const n, dIn, dOut = 40, 4, 3
	h, g := randomPair(1, n, dIn, dOut)
	dh, dg, dw := uploadPair(t, d, h, g)
	e := newEstimator(t, d, Shape{N: n, DIn: dIn, DOut: dOut}, wtacrs(8))
	bad := append([]float32{}, h.Data...)
	bad[7] = float32(math.NaN())
	dbad := alloc(t, d, n, dIn)
	require.NoError(t, d.b.upload(dbad.ptr, bad))
	require.NoError(t, e.GradW(dw, dbad, dg, 1, 1))
	assert.ErrorIs(t, e.Err(), estimator.ErrNonFinite)
	require.NoError(t, e.GradW(dw, dh, dg, 1, 1))
	assert.NoError(t, e.Err())
}

// TestDeviceSetWeights samples from caller weights (Algorithm 1's cached norms): the device keeps
// and draws what package estimator does for those weights, and the estimate is the sketch's.
func TestDeviceSetWeights(t *testing.T) {
	d := openDevice(t)
	const n, dIn, dOut, k = 2000, 16, 8, 200
	h, g := randomPair(31, n, dIn, dOut)
	rng := rand.New(rand.NewPCG(5, 6))
	w := heavyWeights(rng, n)
	w[3] = 0 // a zero weight is never drawn
	dh, dg, dw := uploadPair(t, d, h, g)
	e := newEstimator(t, d, Shape{N: n, DIn: dIn, DOut: dOut}, wtacrs(k))
	require.NoError(t, e.SetWeights(w))
	require.NoError(t, e.GradWWithWeights(dw, dh, dg, 3, 8))
	tr, err := e.Trace()
	require.NoError(t, err)
	require.Equal(t, w, tr.Weights)
	plan, sk := cpuTrace(t, w, wtacrs(k), 3, 8)
	requireSameAsCPU(t, tr, plan, sk)
	require.NotContains(t, tr.Draws, 3)
	got, err := dw.Download()
	require.NoError(t, err)
	requireSketchProduct(t, got, h, g, sk, k)
}
