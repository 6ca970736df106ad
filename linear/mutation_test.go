package linear_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/floats/scalar"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/linear"
	"github.com/wtacrs/wtacrs/matrix"
)

// TestRejectsDuplicateIndices pins the sketch check of Forward and BackwardAdd: a sketch that
// lists a pair twice (or out of order) is an ErrShape, not a pair counted twice.
func TestRejectsDuplicateIndices(t *testing.T) {
	t.Parallel()
	h, err := matrix.NewDense(3, 2, []float64{1, 4, 2, 5, 3, 6})
	require.NoError(t, err)
	w, err := matrix.NewDense(2, 2, []float64{1, 2, 3, 4})
	require.NoError(t, err)
	dup := &estimator.Sketch{M: 3, Index: []int{1, 1}, Scale: []float64{1, 1}}
	unordered := &estimator.Sketch{M: 3, Index: []int{2, 1}, Scale: []float64{1, 1}}
	good := &estimator.Sketch{M: 3, Index: []int{0, 2}, Scale: []float64{1, 2}}
	calls := []struct {
		name string
		call func(*estimator.Sketch) error
	}{
		{"Forward", func(s *estimator.Sketch) error { _, _, err := linear.Forward(h, w, nil, s); return err }},
		{"BackwardAdd", func(s *estimator.Sketch) error {
			saved := linear.Saved[float64]{N: 3, H: matrix.Dense[float64]{Rows: len(s.Index), Cols: 2, Data: make([]float64, 2*len(s.Index))},
				Index: s.Index}
			gz, _ := matrix.NewDense[float64](3, 2, nil)
			gw, _ := matrix.NewDense[float64](2, 2, nil)
			return linear.BackwardAdd(saved, w, gz, matrix.Dense[float64]{}, gw, nil)
		}},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.ErrorIs(t, tc.call(dup), estimator.ErrShape, "duplicate index")
			assert.ErrorIs(t, tc.call(unordered), estimator.ErrShape, "indices out of order")
			assert.NoError(t, tc.call(good), "a valid sketch")
		})
	}
}

// TestBackwardAddAccumulates pins the contract of linear.BackwardAdd: it adds to ∇W and ∇b
// (so that layers sharing a weight, or several calls, accumulate) and overwrites ∇H, for an exact
// and a sampled layer.
func TestBackwardAddAccumulates(t *testing.T) {
	t.Parallel()
	h, err := matrix.NewDense(5, 3, []float64{1, 2, 3, -1, 0.5, 2, 4, -3, 1, 0, 1, 1, 2, 2, -2})
	require.NoError(t, err)
	w, err := matrix.NewDense(3, 2, []float64{1, -1, 0.5, 2, 3, 1})
	require.NoError(t, err)
	gz, err := matrix.NewDense(5, 2, []float64{1, 0, -2, 1, 0.5, 0.5, 3, -1, 1, 2})
	require.NoError(t, err)
	wts, err := estimator.WeightsTransA(h, gz)
	require.NoError(t, err)
	plan, err := estimator.NewWTACRS(wts, 3)
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		sketch *estimator.Sketch
	}{{"exact", nil}, {"sampled", plan.Sample(4, 0)}} {
		_, saved, err := linear.Forward(h, w, nil, tc.sketch)
		require.NoError(t, err, tc.name)
		gh, gw, gb, err := linear.Backward(saved, w, gz)
		require.NoError(t, err, tc.name)

		priorW := []float64{10, -20, 30, -40, 50, -60}
		priorB := []float64{7, -8}
		accW := matrix.Dense[float64]{Rows: 3, Cols: 2, Data: slices.Clone(priorW)}
		accB := slices.Clone(priorB)
		accH := matrix.Dense[float64]{Rows: 5, Cols: 3, Data: make([]float64, 15)}
		for i := range accH.Data {
			accH.Data[i] = 99
		}
		for call := 1; call <= 2; call++ {
			require.NoError(t, linear.BackwardAdd(saved, w, gz, accH, accW, accB), tc.name)
			for e, v := range gw.Data {
				assert.True(t, scalar.EqualWithinAbsOrRel(accW.Data[e], priorW[e]+float64(call)*v, 1e-12, 1e-12),
					"%s, call %d: ∇W[%d] = %v, want %v", tc.name, call, e, accW.Data[e], priorW[e]+float64(call)*v)
			}
			for c, v := range gb {
				assert.True(t, scalar.EqualWithinAbsOrRel(accB[c], priorB[c]+float64(call)*v, 1e-12, 1e-12),
					"%s, call %d: ∇b[%d]", tc.name, call, c)
			}
			assert.True(t, floats.EqualApprox(gh.Data, accH.Data, 1e-12), "%s, call %d: ∇H is overwritten", tc.name, call)
		}
	}
}
