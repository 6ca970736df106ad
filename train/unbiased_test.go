package train

import (
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
)

// capture is an exact hook that records one layer's input and output gradient.
type capture struct {
	layer int
	h, gz matrix.Dense[float64]
}

func (c *capture) Sketch(i int, h matrix.Dense[float64]) (*estimator.Sketch, error) {
	if i == c.layer {
		c.h = matrix.Dense[float64]{Rows: h.Rows, Cols: h.Cols, Data: slices.Clone(h.Data)}
	}
	return nil, nil
}

func (c *capture) Gradient(i int, gz matrix.Dense[float64]) error {
	if i == c.layer {
		c.gz = matrix.Dense[float64]{Rows: gz.Rows, Cols: gz.Cols, Data: slices.Clone(gz.Data)}
	}
	return nil
}

// publishedScale wraps the sampler and rescales the drawn rows as the published code does while
// its cache is empty: (1 − P_C) alone, without 1/((k−|C|)·p_j). Biased: the negative control.
type publishedScale struct{ *sampler[float64] }

func (p publishedScale) Sketch(i int, h matrix.Dense[float64]) (*estimator.Sketch, error) {
	sk, err := p.sampler.Sketch(i, h)
	if err != nil || sk == nil {
		return sk, err
	}
	plan := p.plan(i, h)
	for j, idx := range sk.Index {
		if !slices.Contains(sk.Kept, idx) {
			sk.Scale[j] = 1 - plan.MassC()
		}
	}
	return sk, nil
}

// plan rebuilds the plan the sampler used for layer i (it is deterministic).
func (s *sampler[T]) plan(i int, h matrix.Dense[T]) *estimator.Plan {
	b, _ := s.cachedNorms(i)
	w, err := estimator.WeightsFromNorms(estimator.RowNorms(h), b)
	if err != nil {
		panic(err)
	}
	k, err := estimator.Budget(s.kinds[i].Ratio, h.Rows)
	if err != nil {
		panic(err)
	}
	p, err := estimator.NewWTACRS(w, k)
	if err != nil {
		panic(err)
	}
	return p
}

// TestTrainingGradientUnbiasedColdCache checks, inside the model, that the weight gradient of a
// WTA-CRS layer with a cold cache (first epoch) has the exact gradient as its mean, over many
// steps' sketches of one batch with padding; and that the same check rejects the published
// code's cold-cache scaling.
func TestTrainingGradientUnbiasedColdCache(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig().WithAll(MethodWTACRS, 0.3)
	cfg.Dim, cfg.FFNDim, cfg.Blocks = 8, 16, 2
	const vocab, layer, trials = 20, 2, 2000 // layer 2: block 0's v
	b := paddedBatch(vocab)
	batch, seq := b.B, b.S
	m, err := model.New[float64](mustModelConfig(cfg, vocab, seq), 3)
	require.NoError(t, err)
	cap := &capture{layer: layer}
	tape, err := m.Forward(b, cap)
	require.NoError(t, err)
	m.ZeroGrad()
	require.NoError(t, m.Backward(tape, cap))
	w, _ := m.Linear(layer)
	exact := slices.Clone(w.G)

	indices := []int{0, 1, 2}
	run := func(biased bool) []float64 {
		mean := make([]float64, len(exact))
		for r := 0; r < trials; r++ {
			s := newSampler[float64](cfg, m, batch, seq) // a fresh, cold cache
			s.begin(r+1, 0, indices, b, nil)
			var h model.Hook[float64] = s
			if biased {
				h = publishedScale{s}
			}
			tp, err := m.Forward(b, h)
			require.NoError(t, err)
			m.ZeroGrad()
			require.NoError(t, m.Backward(tp, h))
			for j, g := range w.G {
				mean[j] += g / trials
			}
		}
		return mean
	}
	s := newSampler[float64](cfg, m, batch, seq)
	s.begin(1, 0, indices, b, nil)
	plan := s.plan(layer, cap.h)
	require.Greater(t, plan.Draws(), 0)
	z := func(mean []float64, a, c int) float64 {
		n := cap.h.Rows
		x, _ := matrix.NewDense[float64](1, n, nil)
		y, _ := matrix.NewDense[float64](n, 1, nil)
		for i := 0; i < n; i++ {
			x.Data[i], y.Data[i] = cap.h.At(i, a), cap.gz.At(i, c)
		}
		mo, err := estimator.ClosedForm(x, y, plan)
		require.NoError(t, err)
		require.Greater(t, mo.Variance, 0.0)
		return (mean[a*cfg.Dim+c] - exact[a*cfg.Dim+c]) / math.Sqrt(mo.Variance/trials)
	}
	entries := [][2]int{{0, 0}, {3, 5}, {7, 2}}
	mean := run(false)
	// Under unbiasedness each z is a standardised mean of 2000 i.i.d. bounded draws, close to
	// N(0,1): P(|z| > 6) ≈ 2e-9 per assertion, 3 assertions: false-failure ≈ 6e-9.
	for _, e := range entries {
		zu := z(mean, e[0], e[1])
		t.Logf("unbiased layer, entry %v: z = %.2f", e, zu)
		assert.Less(t, math.Abs(zu), 6.0, "entry %v", e)
	}
	// Negative control: the published cold-cache scaling is rejected by the same statistic on at
	// least one entry (its bias is many standard errors here).
	biased := run(true)
	worst := 0.0
	for _, e := range entries {
		worst = max(worst, math.Abs(z(biased, e[0], e[1])))
	}
	t.Logf("published cold-cache scaling: largest |z| = %.1f", worst)
	assert.Greater(t, worst, 6.0)
}
