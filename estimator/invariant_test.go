package estimator_test

import (
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
)

// This file pins the invariants that live in the types of the package: a plan cannot be changed
// through what it hands out or through the weights it was built from, a plan with other scales
// is a new plan, and a sketch shares no storage with its plan.

// invariantCase is a 2×6 by 6×2 product with a heavy pair, a pair of weight zero and pairs of
// equal weight, and its weights.
func invariantCase(t *testing.T) (x, y matrix.Dense[float64], w []float64) {
	t.Helper()
	var err error
	x, err = matrix.NewDense(2, 6, []float64{9, 1, 0, 2, 2, 0.5, -8, 1, 0, 2, 2, -0.5})
	require.NoError(t, err)
	y, err = matrix.NewDense(6, 2, []float64{3, 1, 1, -1, 4, 4, 1, 1, -1, 1, 2, 0.5})
	require.NoError(t, err)
	w, err = estimator.Weights(x, y)
	require.NoError(t, err)
	return x, y, w
}

// invariantPlan returns a fresh invariantCase and the plan of method m over its weights w with
// budget 3 (|C| by the rule).
func invariantPlan(t *testing.T, m estimator.Method) (x, y matrix.Dense[float64], w []float64, p *estimator.Plan) {
	t.Helper()
	x, y, w = invariantCase(t)
	p, err := estimator.NewPlan(m, w, 3, estimator.AutoC)
	require.NoError(t, err)
	return x, y, w, p
}

// planState is everything a plan's accessors show, with one sketch and the closed form.
type planState struct {
	method                estimator.Method
	m, k, draws           int
	kept                  []int
	massC                 float64
	probs, scales, weight []float64
	prob, scale           []float64 // Prob(i) and Scale(i) for every i
	sketch                *estimator.Sketch
	merged                *estimator.Sketch
	moments               estimator.Moments
}

func stateOf(t *testing.T, x, y matrix.Dense[float64], p *estimator.Plan) planState {
	t.Helper()
	s := planState{method: p.Method(), m: p.M(), k: p.K(), draws: p.Draws(), kept: p.Kept(),
		massC: p.MassC(), probs: p.Probs(), scales: p.Scales(), weight: p.Weights(),
		sketch: p.Sample(11, 3), merged: p.SampleMerged(11, 3)}
	for i := range p.M() {
		s.prob = append(s.prob, p.Prob(i))
		s.scale = append(s.scale, p.Scale(i))
	}
	if p.Method() != estimator.MethodNoReplacement || p.M() <= estimator.MaxEnumeratedPairs {
		var err error
		s.moments, err = estimator.ClosedForm(x, y, p)
		require.NoError(t, err)
	}
	return s
}

// scribble overwrites every entry of v.
func scribble[T int | float64](v []T) {
	for i := range v {
		v[i] = -7
	}
}

// TestPlanHandsOutCopies: writing into every slice a plan returns, into the weights it was built
// from and into its sketches leaves the plan, its later sketches and its closed form unchanged.
func TestPlanHandsOutCopies(t *testing.T) {
	t.Parallel()
	for _, m := range estimator.Methods() {
		t.Run(m.String(), func(t *testing.T) {
			t.Parallel()
			x, y, w, p := invariantPlan(t, m)
			before := stateOf(t, x, y, p)
			scribble(w)
			scribble(p.Kept())
			scribble(p.Probs())
			scribble(p.Scales())
			scribble(p.Weights())
			for _, s := range []*estimator.Sketch{p.Sample(11, 3), p.SampleMerged(11, 3)} {
				scribble(s.Kept)
				scribble(s.Draws)
				scribble(s.Index)
				scribble(s.Scale)
			}
			assert.Equal(t, before, stateOf(t, x, y, p))
		})
	}
}

// TestSketchKeptIsNotPlanStorage: a sketch's Kept equals the plan's kept pairs but is its own
// copy, different for every sketch.
func TestSketchKeptIsNotPlanStorage(t *testing.T) {
	t.Parallel()
	_, _, w := invariantCase(t)
	p, err := estimator.NewWTACRSFixed(w, 4, 2)
	require.NoError(t, err)
	want := p.Kept()
	require.Len(t, want, 2)
	a, b := p.Sample(1, 0), p.SampleMerged(1, 0)
	assert.Equal(t, want, a.Kept)
	assert.Equal(t, want, b.Kept)
	a.Kept[0] = 5
	assert.Equal(t, want, p.Kept(), "the plan's kept pairs")
	assert.Equal(t, want, b.Kept, "another sketch")
	assert.Equal(t, want, p.Sample(1, 0).Kept, "a later sketch")
}

// TestPlanProbAndScaleMatchTheirSlices: Prob(i) and Scale(i) read the entries of Probs and
// Scales; Prob is 0 for the methods without per-pair probabilities (Probs nil), and both panic
// outside [0, M()).
func TestPlanProbAndScaleMatchTheirSlices(t *testing.T) {
	t.Parallel()
	for _, m := range estimator.Methods() {
		_, _, _, p := invariantPlan(t, m)
		probs, scales := p.Probs(), p.Scales()
		require.Len(t, scales, p.M(), "%v", m)
		if m == estimator.MethodTopK || m == estimator.MethodNoReplacement {
			assert.Nil(t, probs, "%v", m)
		} else {
			require.Len(t, probs, p.M(), "%v", m)
		}
		for i := range p.M() {
			if probs != nil {
				assert.Equal(t, probs[i], p.Prob(i), "%v: pair %d", m, i)
			} else {
				assert.Zero(t, p.Prob(i), "%v: pair %d", m, i)
			}
			assert.Equal(t, scales[i], p.Scale(i), "%v: pair %d", m, i)
		}
		for _, i := range []int{-1, p.M()} {
			assert.Panics(t, func() { p.Prob(i) }, "%v: Prob(%d)", m, i)
			assert.Panics(t, func() { p.Scale(i) }, "%v: Scale(%d)", m, i)
		}
	}
}

// TestWithScaleRejectsBadScales: a scale vector of the wrong length, with a NaN, ±Inf or a
// negative factor is refused with its sentinel, and the plan is unchanged.
func TestWithScaleRejectsBadScales(t *testing.T) {
	t.Parallel()
	x, y, w := invariantCase(t)
	p, err := estimator.NewWTACRS(w, 3)
	require.NoError(t, err)
	before := stateOf(t, x, y, p)
	with := func(i int, v float64) []float64 {
		s := p.Scales()
		s[i] = v
		return s
	}
	for _, tc := range []struct {
		name  string
		scale []float64
		want  error
	}{
		{"nil", nil, estimator.ErrShape},
		{"short", p.Scales()[1:], estimator.ErrShape},
		{"long", append(p.Scales(), 1), estimator.ErrShape},
		{"NaN", with(2, math.NaN()), estimator.ErrNonFinite},
		{"+Inf", with(0, math.Inf(1)), estimator.ErrNonFinite},
		{"-Inf", with(5, math.Inf(-1)), estimator.ErrNonFinite},
		{"negative", with(3, -0.5), estimator.ErrNegative},
	} {
		q, err := p.WithScale(tc.scale)
		assert.ErrorIs(t, err, tc.want, tc.name)
		assert.Nil(t, q, tc.name)
	}
	assert.Equal(t, before, stateOf(t, x, y, p))
}

// TestWithScaleIsACopy: the plan WithScale returns draws the same pairs with the given factors
// (the kept pairs still get 1), its closed form follows them, later writes into the argument do
// not reach it, and the original plan is unchanged. With the plan's own scales it is the same
// estimator bit for bit.
func TestWithScaleIsACopy(t *testing.T) {
	t.Parallel()
	for _, m := range estimator.Methods() {
		t.Run(m.String(), func(t *testing.T) {
			t.Parallel()
			x, y, _, p := invariantPlan(t, m)
			before := stateOf(t, x, y, p)

			same, err := p.WithScale(p.Scales())
			require.NoError(t, err)
			assert.Equal(t, before, stateOf(t, x, y, same), "the plan's own scales")

			scale := p.Scales()
			for i := range scale {
				scale[i] = 0.25 + float64(i)
			}
			q, err := p.WithScale(scale)
			require.NoError(t, err)
			want := slices.Clone(scale)
			scribble(scale)
			assert.Equal(t, want, q.Scales(), "the copy keeps its own scales")
			assert.Equal(t, before, stateOf(t, x, y, p), "the original")

			got := stateOf(t, x, y, q)
			assert.Equal(t, before.method, got.method)
			assert.Equal(t, before.kept, got.kept)
			assert.Equal(t, before.probs, got.probs)
			assert.Equal(t, before.draws, got.draws)
			assert.Equal(t, before.weight, got.weight)
			for _, pair := range []struct{ old, new *estimator.Sketch }{{before.sketch, got.sketch}, {before.merged, got.merged}} {
				require.Equal(t, pair.old.Index, pair.new.Index, "the same pairs")
				require.Equal(t, pair.old.Draws, pair.new.Draws, "the same draws")
				for j, i := range pair.new.Index {
					n := 0.0 // the number of draws of pair i
					for _, d := range pair.new.Draws {
						if d == i {
							n++
						}
					}
					if slices.Contains(got.kept, i) {
						assert.Equal(t, 1.0, pair.new.Scale[j], "kept pair %d", i)
					} else if pair.new.Draws != nil {
						assert.InDelta(t, n*want[i], pair.new.Scale[j], 1e-12, "pair %d drawn %v times", i, n)
					}
				}
			}
			if m == estimator.MethodTopK {
				assert.Equal(t, before.moments, got.moments, "top-k scales nothing")
			} else {
				assert.NotEqual(t, before.moments.Mean, got.moments.Mean, "the closed form follows the scales")
			}
		})
	}
}
