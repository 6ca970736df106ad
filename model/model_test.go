package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wtacrs/wtacrs/matrix"
	"gonum.org/v1/gonum/floats/scalar"
)

func randDense(rng *rand.Rand, r, c int) matrix.Dense[float64] {
	d := newDense[float64](r, c)
	for i := range d.Data {
		d.Data[i] = rng.NormFloat64()
	}
	return d
}

// dot returns Σ a⊙b, the scalar loss whose gradient with respect to a is b.
func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// checkGrad compares an analytic gradient with central differences of f over the entries of x.
func checkGrad(t *testing.T, name string, x []float64, analytic []float64, f func() float64) {
	t.Helper()
	const h = 1e-6
	for i := range x {
		old := x[i]
		x[i] = old + h
		up := f()
		x[i] = old - h
		down := f()
		x[i] = old
		num := (up - down) / (2 * h)
		if !scalar.EqualWithinAbsOrRel(num, analytic[i], 1e-6, 1e-5) {
			t.Errorf("%s[%d]: analytic %.10g, finite difference %.10g", name, i, analytic[i], num)
		}
	}
}

func TestLayerNormGradient(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	x, r := randDense(rng, 3, 5), randDense(rng, 3, 5)
	g, b := randDense(rng, 1, 5).Data, randDense(rng, 1, 5).Data
	loss := func() float64 { y, _, _ := layerNormForward(x, g, b); return dot(y.Data, r.Data) }
	_, xhat, inv := layerNormForward(x, g, b)
	dg, db := make([]float64, 5), make([]float64, 5)
	dx := layerNormBackward(r, xhat, inv, g, dg, db)
	checkGrad(t, "x", x.Data, dx.Data, loss)
	checkGrad(t, "g", g, dg, loss)
	checkGrad(t, "b", b, db, loss)
}

func TestGELUGradient(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	u, r := randDense(rng, 4, 6), randDense(rng, 4, 6)
	loss := func() float64 { return dot(gelu(u).Data, r.Data) }
	checkGrad(t, "u", u.Data, geluBackward(u, r).Data, loss)
	assert.InDelta(t, 0.8411920, gelu(matrix.Dense[float64]{Rows: 1, Cols: 1, Data: []float64{1}}).Data[0], 1e-6)
}

func TestAttentionGradient(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	const batch, seq, heads, d = 2, 4, 2, 6
	q, k, v := randDense(rng, batch*seq, d), randDense(rng, batch*seq, d), randDense(rng, batch*seq, d)
	r := randDense(rng, batch*seq, d)
	mask := []bool{true, true, true, false, true, true, false, false}
	loss := func() float64 { return dot(attentionForward(q, k, v, batch, seq, heads, mask).Data, r.Data) }
	dq, dk, dv := attentionBackward(q, k, v, mask, r, batch, seq, heads)
	checkGrad(t, "q", q.Data, dq.Data, loss)
	checkGrad(t, "k", k.Data, dk.Data, loss)
	checkGrad(t, "v", v.Data, dv.Data, loss)
	// Masked keys get exactly zero attention and zero key/value gradient.
	for bh := 0; bh < batch*heads; bh++ {
		b := bh / heads
		p := make([]float64, seq*seq)
		attentionProbs(q, k, b, bh%heads, seq, heads, mask, p)
		for i := 0; i < seq; i++ {
			var sum float64
			for j := 0; j < seq; j++ {
				sum += p[i*seq+j]
				if !mask[b*seq+j] {
					require.Zero(t, p[i*seq+j])
				}
			}
			require.InDelta(t, 1, sum, 1e-12)
		}
	}
	for j := 0; j < d; j++ {
		assert.Zero(t, dk.Data[3*d+j])
		assert.Zero(t, dv.Data[7*d+j])
	}
}

func TestCrossEntropyGradient(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	logits := randDense(rng, 3, 4)
	labels := []int{0, 3, 1}
	loss := func() float64 { l, _ := crossEntropy(logits, labels); return l }
	_, g := crossEntropy(logits, labels)
	checkGrad(t, "logits", logits.Data, g.Data, loss)
	uniform := matrix.Dense[float64]{Rows: 1, Cols: 2, Data: []float64{0, 0}}
	l, _ := crossEntropy(uniform, []int{1})
	assert.InDelta(t, math.Log(2), l, 1e-12)
}

func tinyConfig() Config {
	return Config{Vocab: 11, Dim: 8, Heads: 2, Blocks: 2, FFN: 12, MaxLen: 6, Classes: 2, Segments: 2}
}

func tinyBatch() Batch {
	return Batch{B: 2, S: 5,
		Tokens:   []int{1, 4, 7, 2, 0, 1, 9, 3, 0, 0},
		Mask:     []bool{true, true, true, true, false, true, true, true, false, false},
		Segments: []int{0, 0, 1, 1, 0, 0, 0, 1, 0, 0},
		Labels:   []int{1, 0}}
}

// TestModelGradient checks every parameter of the whole model against central differences.
func TestModelGradient(t *testing.T) {
	t.Parallel()
	m, err := New[float64](tinyConfig(), 3)
	require.NoError(t, err)
	// Non-trivial LayerNorm parameters and biases so that every path carries gradient.
	rng := rand.New(rand.NewPCG(9, 10))
	for _, p := range m.Params {
		for i := range p.W.Data {
			p.W.Data[i] += 0.3 * rng.NormFloat64()
		}
	}
	b := tinyBatch()
	tape, err := m.Forward(b, nil)
	require.NoError(t, err)
	m.ZeroGrad()
	require.NoError(t, m.Backward(tape, nil))
	loss := func() float64 {
		tp, err := m.Forward(b, nil)
		require.NoError(t, err)
		return tp.Loss
	}
	for _, p := range m.Params {
		checkGrad(t, p.Name, p.W.Data, p.G, loss)
	}
}

// TestRecomputeSameGradients checks that recomputing q, k, v and the feed-forward
// pre-activations in backward gives the gradients of the stored path bit for bit.
func TestRecomputeSameGradients(t *testing.T) {
	t.Parallel()
	var grads [2][][]float32
	for i, rc := range []bool{false, true} {
		cfg := tinyConfig()
		cfg.Recompute = rc
		m, err := New[float32](cfg, 5)
		require.NoError(t, err)
		tape, err := m.Forward(tinyBatch(), nil)
		require.NoError(t, err)
		require.NoError(t, m.Backward(tape, nil))
		for _, p := range m.Params {
			grads[i] = append(grads[i], p.G)
		}
		if rc {
			assert.Nil(t, tape.blocks[0].q.Data)
		}
	}
	assert.Equal(t, grads[0], grads[1])
}

func TestPaddingDoesNotChangeOutput(t *testing.T) {
	t.Parallel()
	m, err := New[float64](tinyConfig(), 4)
	require.NoError(t, err)
	b := tinyBatch()
	t1, err := m.Forward(b, nil)
	require.NoError(t, err)
	b.Tokens = []int{1, 4, 7, 2, 10, 1, 9, 3, 5, 6}
	t2, err := m.Forward(b, nil)
	require.NoError(t, err)
	assert.Equal(t, t1.Logits.Data, t2.Logits.Data)
}

func TestBatchValidation(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig()
	good := tinyBatch()
	tests := []struct {
		name string
		edit func(b *Batch)
	}{
		{"token out of vocabulary", func(b *Batch) { b.Tokens = append([]int{11}, b.Tokens[1:]...) }},
		{"negative token", func(b *Batch) { b.Tokens = append([]int{-1}, b.Tokens[1:]...) }},
		{"too long", func(b *Batch) { b.S = 7 }},
		{"mask length", func(b *Batch) { b.Mask = b.Mask[:3] }},
		{"cls masked", func(b *Batch) { b.Mask = append([]bool{false}, b.Mask[1:]...) }},
		{"label range", func(b *Batch) { b.Labels = []int{0, 2} }},
		{"segment range", func(b *Batch) { b.Segments = []int{0, 0, 2, 0, 0, 0, 0, 0, 0, 0} }},
		{"label count", func(b *Batch) { b.Labels = []int{0} }},
	}
	require.NoError(t, good.Validate(cfg))
	for _, tc := range tests {
		b := tinyBatch()
		tc.edit(&b)
		assert.ErrorIs(t, b.Validate(cfg), ErrInput, tc.name)
	}
	_, err := New[float32](Config{Vocab: 5, Dim: 6, Heads: 4, Blocks: 1, FFN: 1, MaxLen: 2, Classes: 2}, 1)
	assert.ErrorIs(t, err, ErrConfig)
}
