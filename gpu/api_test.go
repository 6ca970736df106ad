package gpu

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
)

// fakeBackend keeps matrices in host memory and queues nothing: a device for the checks of the
// API without a GPU. Its estimates leave ∇W untouched.
type fakeBackend struct {
	mem  map[uintptr][]float32
	next uintptr
}

func newFakeDevice() *Device {
	return &Device{b: &fakeBackend{mem: map[uintptr][]float32{}, next: 256}}
}

func (f *fakeBackend) name() string { return "fake" }
func (f *fakeBackend) info() string { return "fake device in host memory" }
func (f *fakeBackend) close() error { return nil }
func (f *fakeBackend) sync() error  { return nil }

func (f *fakeBackend) alloc(bytes int64) (uintptr, error) {
	p := f.next
	f.next += uintptr(bytes) + 256
	f.mem[p] = make([]float32, bytes/4)
	return p, nil
}

func (f *fakeBackend) free(p uintptr) error {
	if _, ok := f.mem[p]; !ok {
		return fmt.Errorf("%w: fake: free of %#x", ErrCUDA, p)
	}
	delete(f.mem, p)
	return nil
}

func (f *fakeBackend) upload(dst uintptr, src []float32) error {
	copy(f.mem[dst], src)
	return nil
}

func (f *fakeBackend) download(dst []float32, src uintptr) error {
	copy(dst, f.mem[src])
	return nil
}

func (f *fakeBackend) gemmTN(c, a, b uintptr, m, n, r int) error { return nil }
func (f *fakeBackend) gemmNT(c, a, b uintptr, m, n, r int) error { return nil }

func (f *fakeBackend) newSampler(s Shape, o Options) (sampler, error) {
	return &fakeSampler{w: make([]float64, s.N)}, nil
}

type fakeSampler struct{ w []float64 }

func (s *fakeSampler) gradW(dst, h, g uintptr, seed, stream uint64, norms bool) error { return nil }
func (s *fakeSampler) setWeights(w []float64) error                                   { copy(s.w, w); return nil }
func (s *fakeSampler) check() error                                                   { return nil }
func (s *fakeSampler) trace() (*Trace, error)                                         { return &Trace{Weights: slices.Clone(s.w)}, nil }
func (s *fakeSampler) free() error                                                    { return nil }
func (s *fakeSampler) setTiming(on bool)                                              {}
func (s *fakeSampler) stageTimes() map[string]time.Duration                           { return nil }

// TestAPIErrors runs the argument and state checks of the API on the fake device, without a GPU.
func TestAPIErrors(t *testing.T) {
	t.Parallel()
	checkAPIErrors(t, newFakeDevice(), newFakeDevice())
}

// checkAPIErrors checks that every public call of d rejects bad arguments and calls out of order
// with the documented sentinel, before the device does any work; other is another device.
func checkAPIErrors(t *testing.T, d, other *Device) {
	const n, dIn, dOut = 40, 4, 3
	shape := Shape{N: n, DIn: dIn, DOut: dOut}
	t.Run("NewEstimator", func(t *testing.T) {
		tests := []struct {
			name  string
			shape Shape
			opts  Options
			want  error
		}{
			{"topk", shape, Options{Method: estimator.MethodTopK, K: 3}, ErrMethod},
			{"no method", shape, Options{K: 3}, ErrMethod},
			{"k=0", shape, crs(0), estimator.ErrBudget},
			{"k=2³¹", shape, crs(tooBig()), estimator.ErrBudget},
			{"C without FixedC", shape, Options{Method: estimator.MethodWTACRS, K: 3, C: 1}, estimator.ErrBudget},
			{"fixed C for crs", shape, Options{Method: estimator.MethodCRS, K: 3, FixedC: true, C: 1}, estimator.ErrBudget},
			{"C=k", shape, wtacrsFixed(3, 3), estimator.ErrBudget},
			{"C<0", shape, wtacrsFixed(3, -1), estimator.ErrBudget},
			{"C>n", Shape{N: 2, DIn: dIn, DOut: dOut}, wtacrsFixed(5, 3), estimator.ErrBudget},
			{"n=0", Shape{N: 0, DIn: dIn, DOut: dOut}, wtacrs(3), estimator.ErrShape},
			{"d_in=0", Shape{N: n, DIn: 0, DOut: dOut}, wtacrs(3), estimator.ErrShape},
			{"d_out=2³¹", Shape{N: n, DIn: dIn, DOut: tooBig()}, wtacrs(3), estimator.ErrShape},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e, err := d.NewEstimator(tt.shape, tt.opts)
				require.ErrorIs(t, err, tt.want)
				require.Nil(t, e)
			})
		}
	})

	t.Run("matrices", func(t *testing.T) {
		_, err := d.Alloc(0, 3)
		assert.ErrorIs(t, err, estimator.ErrShape)
		_, err = d.Alloc(3, tooBig())
		assert.ErrorIs(t, err, estimator.ErrShape)
		_, err = d.Upload(matrix.Dense[float32]{Rows: 2, Cols: 2, Data: []float32{1, 2, 3}})
		assert.ErrorIs(t, err, estimator.ErrShape)
		_, err = d.Upload(matrix.Dense[float32]{Rows: 1, Cols: 2, Data: []float32{1, float32(math.NaN())}})
		assert.ErrorIs(t, err, estimator.ErrNonFinite)
		two := matrix.Dense[float32]{Rows: 2, Cols: 1, Data: []float32{1, 1}}
		_, _, err = EstimateGradW(d, matrix.Dense[float32]{Rows: 2, Cols: 1, Data: []float32{1, float32(math.Inf(1))}}, two, crs(1), 1, 1)
		assert.ErrorIs(t, err, estimator.ErrNonFinite)
		_, _, err = EstimateGradW(d, matrix.Dense[float32]{Rows: 3, Cols: 1, Data: []float32{1, 1, 1}}, two, crs(1), 1, 1)
		assert.ErrorIs(t, err, estimator.ErrShape)
		_, _, err = EstimateGradW(d, two, two, Options{Method: estimator.MethodTopK, K: 1}, 1, 1)
		assert.ErrorIs(t, err, ErrMethod)

		m, err := d.Upload(two)
		require.NoError(t, err)
		r, c := m.Dims()
		assert.Equal(t, [2]int{2, 1}, [2]int{r, c})
		back, err := m.Download()
		require.NoError(t, err)
		assert.Equal(t, two, back)
		require.NoError(t, m.Free())
		assert.ErrorIs(t, m.Free(), ErrClosed)
		_, err = m.Download()
		assert.ErrorIs(t, err, ErrClosed)
	})

	t.Run("Estimator", func(t *testing.T) {
		h, g, dw := alloc(t, d, n, dIn), alloc(t, d, n, dOut), alloc(t, d, dIn, dOut)
		wrong, foreign := alloc(t, d, dOut, dIn), alloc(t, other, dIn, dOut)
		e, err := d.NewEstimator(shape, wtacrs(8))
		require.NoError(t, err)
		assert.Equal(t, shape, e.Shape())
		assert.Equal(t, wtacrs(8), e.Options())

		_, err = e.Trace()
		assert.ErrorIs(t, err, ErrState, "trace before any estimate")
		assert.ErrorIs(t, e.GradWWithWeights(dw, h, g, 1, 1), ErrState, "no weights held yet")
		assert.ErrorIs(t, e.GradW(wrong, h, g, 1, 1), estimator.ErrShape)
		assert.ErrorIs(t, e.GradW(dw, g, h, 1, 1), estimator.ErrShape)
		assert.ErrorIs(t, e.GradW(foreign, h, g, 1, 1), ErrDevice)
		assert.ErrorIs(t, d.GradW(wrong, h, g), estimator.ErrShape)
		assert.ErrorIs(t, d.GradW(foreign, h, g), ErrDevice)
		assert.ErrorIs(t, d.GradH(alloc(t, d, n, dOut), g, alloc(t, d, dIn, dOut)), estimator.ErrShape)
		assert.ErrorIs(t, e.Backward(alloc(t, d, n, dIn), dw, h, g, foreign, 1, 1), ErrDevice)

		weights := []struct {
			name string
			w    []float64
			want error
		}{
			{"short", make([]float64, n-1), estimator.ErrShape},
			{"NaN", append(make([]float64, n-1), math.NaN()), estimator.ErrNonFinite},
			{"Inf", append(make([]float64, n-1), math.Inf(1)), estimator.ErrNonFinite},
			{"infinite sum", append(make([]float64, n-2), math.MaxFloat64, math.MaxFloat64), estimator.ErrNonFinite},
			{"negative", append(make([]float64, n-1), -1), estimator.ErrNegative},
		}
		for _, tt := range weights {
			assert.ErrorIs(t, e.SetWeights(tt.w), tt.want, tt.name)
		}
		assert.ErrorIs(t, e.GradWWithWeights(dw, h, g, 1, 1), ErrState, "rejected weights are not held")
		require.NoError(t, e.SetWeights(make([]float64, n)))
		require.NoError(t, e.GradWWithWeights(dw, h, g, 1, 1))
		require.NoError(t, e.Err())
		_, err = e.Trace()
		require.NoError(t, err)

		gone := alloc(t, d, n, dOut)
		require.NoError(t, gone.Free())
		assert.ErrorIs(t, e.GradW(dw, h, gone, 1, 1), ErrClosed)
		require.NoError(t, e.Free())
		assert.ErrorIs(t, e.Free(), ErrClosed)
		assert.ErrorIs(t, e.GradW(dw, h, g, 1, 1), ErrClosed)
		_, err = e.Trace()
		assert.ErrorIs(t, err, ErrClosed)
	})
}

// HostTrace validates its arguments as NewEstimator and SetWeights do.
func TestHostTraceErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		w    []float64
		opts Options
		want error
	}{
		{"no weights", nil, wtacrs(1), estimator.ErrShape},
		{"negative", []float64{1, -2}, wtacrs(1), estimator.ErrNegative},
		{"NaN", []float64{math.NaN(), 1}, crs(1), estimator.ErrNonFinite},
		{"k=0", []float64{1, 2}, wtacrs(0), estimator.ErrBudget},
		{"C>n", []float64{1, 2}, wtacrsFixed(5, 3), estimator.ErrBudget},
		{"method", []float64{1, 2}, Options{Method: estimator.MethodUniform, K: 1}, ErrMethod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr, err := HostTrace(tt.w, tt.opts, 1, 2)
			require.ErrorIs(t, err, tt.want)
			require.Nil(t, tr)
		})
	}
}

// The one rule for |C| (chooseMode), as the kernels, the host model and the emulation use it.
func TestChooseMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     Options
		n        int
		wantCand int
		wantMode int64
	}{
		{"crs", crs(5), 10, 0, chooseRule},
		{"wtacrs k<n", wtacrs(5), 10, 4, chooseRule},
		{"wtacrs k=n", wtacrs(10), 10, 10, choosePositive},
		{"wtacrs k>n", wtacrs(12), 10, 10, choosePositive},
		{"wtacrs k=1", wtacrs(1), 10, 0, chooseRule},
		{"fixed", wtacrsFixed(5, 3), 10, 3, chooseFixed},
		{"fixed 0", wtacrsFixed(5, 0), 10, 0, chooseFixed},
	}
	for _, tt := range tests {
		cand, mode := chooseMode(tt.opts, tt.n)
		assert.Equal(t, tt.wantCand, cand, tt.name)
		assert.Equal(t, tt.wantMode, mode, tt.name)
	}
}

// tooBig returns 2³¹, past every dimension and budget the device takes (on 32-bit platforms it
// wraps to a negative number, rejected as well).
func tooBig() int {
	n := math.MaxInt32
	return n + 1
}
