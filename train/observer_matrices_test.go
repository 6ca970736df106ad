package train

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/model"
)

// matrixRecorder observes block 0 at steps 1 and 2 and asks for the matrices at step 1 only.
type matrixRecorder struct{ recorder }

func (r *matrixRecorder) Wants(step int, l model.LayerID) bool { return step <= 2 && l.Block == 0 }
func (r *matrixRecorder) WantsMatrices(step int, l model.LayerID) bool {
	return step == 1 && l.Kind != model.FFNIn
}

// A MatrixObserver receives H and ∇Z of the layers and steps it asks for, in float64, whose
// row norms are the observation's norms; q, k and v share one H; other steps, layers and
// observers get none.
func TestObserverMatrices(t *testing.T) {
	t.Parallel()
	opt := tinyData(t)
	c := tinyConfig()
	c.Epochs = 1
	c.Layers = map[model.Kind]KindConfig{"q": {Method: MethodWTACRS, Ratio: 0.2}, "ffn_out": {Method: MethodWTACRS, Ratio: 0.3}}
	rec := &matrixRecorder{}
	opt.Observer = rec
	_, err := Run(context.Background(), c, *opt)
	require.NoError(t, err)
	require.Len(t, rec.obs, 2*model.LinearPerBlock)
	byKind := map[model.Kind]Observation{}
	for _, o := range rec.obs {
		n := len(o.Valid)
		if o.Step != 1 || o.Layer.Kind == model.FFNIn {
			assert.Zero(t, o.H.Rows, "%v step %d", o.Layer, o.Step)
			assert.Nil(t, o.GradZ.Data, "%v step %d", o.Layer, o.Step)
			continue
		}
		byKind[o.Layer.Kind] = o
		require.Equal(t, n, o.H.Rows, o.Layer)
		require.Equal(t, n, o.GradZ.Rows, o.Layer)
		d := c.Dim
		if o.Layer.Kind == model.FFNOut {
			d = c.FFNDim
		}
		assert.Equal(t, d, o.H.Cols, o.Layer)
		// The norms were taken of the float32 matrices: they agree with the float64 copies' to
		// float32 rounding over d terms (relative d·2⁻²⁴ < 1e-5 for d ≤ 64).
		for t2, v := range estimator.RowNorms(o.H) {
			assert.InDelta(t, o.ActNorms[t2], v, 1e-5*max(v, 1e-30), "%v ‖H_%d‖", o.Layer, t2)
		}
		for t2, v := range estimator.RowNorms(o.GradZ) {
			assert.InDelta(t, o.GradNorms[t2], v, 1e-5*max(v, 1e-30), "%v ‖∇Z_%d‖", o.Layer, t2)
		}
	}
	require.Len(t, byKind, model.LinearPerBlock-1)
	q, k, v, out := byKind[model.Query], byKind[model.Key], byKind[model.Value], byKind[model.Output]
	assert.Same(t, &q.H.Data[0], &k.H.Data[0], "q and k share their input")
	assert.Same(t, &q.H.Data[0], &v.H.Data[0], "q and v share their input")
	assert.NotSame(t, &q.H.Data[0], &out.H.Data[0], "o has its own input")

	// A plain Observer gets norms only.
	plain := &recorder{want: map[int]bool{1: true}}
	opt.Observer = plain
	_, err = Run(context.Background(), c, *opt)
	require.NoError(t, err)
	require.NotEmpty(t, plain.obs)
	for _, o := range plain.obs {
		assert.Zero(t, o.H.Rows)
		assert.Zero(t, o.GradZ.Rows)
	}
}
