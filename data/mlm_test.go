package data

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/philox"
)

// Statistical checks of the masker. Each draws a fixed seed's batches and compares counts with
// their binomial distribution through Bernstein's inequality (not a normal approximation): for
// a sum X of n independent indicators of probability p, σ² = np(1−p) and each term within 1 of
// its mean,
//
//	P(|X − np| ≥ t) ≤ 2·exp(−t² / (2(σ² + t/3))),
//
// so the band t = L/3 + √(L²/9 + 2Lσ²), L = ln(2/δ), fails with probability at most δ. Philox
// outputs are modelled as independent uniform numbers. The false-failure budget of one run:
//
//	TestMaskStatistics  selected fraction 1e-7, [MASK] share 1e-7, unchanged share 1e-7,
//	                    plus the at-least-one rule's departure from Bernoulli selection,
//	                    below 1e-12 (checked in the test)
//	TestMaskUniform     100 word bins 1e-7 together (1e-9 each), unchanged share 1e-8
//	negative controls   each check is also run on a biased control that it must reject; the
//	                    chance that one of the four passes is bounded in the same way and
//	                    asserted below 1e-9 each, 4e-9 together
//	total               ≤ 4.2e-7 < 1e-6

// bernsteinBand returns t with P(|X − np| ≥ t) ≤ delta for X ~ Binomial(n, p).
func bernsteinBand(n int, p, delta float64) float64 {
	l := math.Log(2 / delta)
	v := float64(n) * p * (1 - p)
	return l/3 + math.Sqrt(l*l/9+2*l*v)
}

// withinBand reports whether the count x of n trials agrees with probability p at false-failure
// probability delta.
func withinBand(x, n int, p, delta float64) bool {
	return math.Abs(float64(x)-float64(n)*p) < bernsteinBand(n, p, delta)
}

// falsePass bounds the probability that a count of n trials with true probability q lands in
// the band of p (at delta): Bernstein's bound on a deviation of |nq − np| − t from its mean.
func falsePass(n int, p, q, delta float64) float64 {
	d := math.Abs(float64(n)*(q-p)) - bernsteinBand(n, p, delta)
	if d <= 0 {
		return 1
	}
	v := float64(n) * q * (1 - q)
	return 2 * math.Exp(-d*d/(2*(v+d/3)))
}

// testBatch returns a B×S batch of the word tokenizer's ids: rows [CLS] words… [SEP] of random
// lengths, a few [UNK] and [MASK] among the words, padding (some of it holding word ids that
// must be ignored since their mask entry is false).
func testBatch(tok *Tokenizer, b, s int, seed uint64) (ids []int, valid []bool) {
	rng := rand.New(rand.NewPCG(seed, 1))
	ids, valid = make([]int, b*s), make([]bool, b*s)
	n := tok.VocabSize() - tok.FirstWordID()
	for r := range b {
		l := 3 + rng.IntN(s-2) // 3..s tokens
		row := ids[r*s : (r+1)*s]
		for t := range s {
			switch {
			case t == 0:
				row[t] = ClsID
			case t == l-1:
				row[t] = SepID
			case t >= l:
				row[t] = PadID
				if rng.IntN(4) == 0 {
					row[t] = tok.FirstWordID() + rng.IntN(n)
				}
			case rng.IntN(40) == 0:
				row[t] = UnkID
			case rng.IntN(60) == 0:
				row[t] = tok.MaskID()
			default:
				row[t] = tok.FirstWordID() + rng.IntN(n)
			}
			valid[r*s+t] = t < l
		}
	}
	return ids, valid
}

func maskableCount(tok *Tokenizer, ids []int, valid []bool) int {
	m := 0
	for i, id := range ids {
		if valid[i] && id >= tok.FirstWordID() {
			m++
		}
	}
	return m
}

func newTestMasker(t *testing.T, cfg MaskConfig, tok *Tokenizer, seed uint64) *Masker {
	t.Helper()
	m, err := NewMasker(cfg, tok, seed)
	require.NoError(t, err)
	return m
}

// maskCounts are the totals of many masked batches: maskable positions, selected positions, and
// among the selected those that became [MASK] and those left unchanged.
type maskCounts struct{ maskable, selected, masked, same int }

func countMasks(t *testing.T, m *Masker, tok *Tokenizer, ids []int, valid []bool, steps int) maskCounts {
	t.Helper()
	var c maskCounts
	per := maskableCount(tok, ids, valid)
	for step := range steps {
		out, err := m.Mask(ids, valid, uint64(step))
		require.NoError(t, err)
		c.maskable += per
		c.selected += out.Selected
		for i, tg := range out.Targets {
			if tg == NoTarget {
				continue
			}
			switch out.Inputs[i] {
			case tok.MaskID():
				c.masked++
			case ids[i]:
				c.same++
			}
		}
	}
	return c
}

func TestMaskStatistics(t *testing.T) {
	t.Parallel()
	const delta, steps = 1e-7, 100
	tok := wordTokenizer(t)
	n := tok.VocabSize() - tok.FirstWordID()
	ids, valid := testBatch(tok, 32, 128, 11)
	per := maskableCount(tok, ids, valid)
	require.Greater(t, per, 1000)
	cfg := DefaultMaskConfig()
	// The at-least-one rule changes a step only when no token was selected.
	assert.Less(t, steps*math.Pow(1-cfg.Prob, float64(per)), 1e-12)

	c := countMasks(t, newTestMasker(t, cfg, tok, 5), tok, ids, valid, steps)
	pSame := cfg.KeepFrac() + cfg.RandomFrac/float64(n) // kept, or replaced by itself
	t.Logf("selected %d of %d (band ±%.0f), [MASK] %d and unchanged %d of %d (bands ±%.0f, ±%.0f)",
		c.selected, c.maskable, bernsteinBand(c.maskable, cfg.Prob, delta), c.masked, c.same, c.selected,
		bernsteinBand(c.selected, cfg.MaskFrac, delta), bernsteinBand(c.selected, pSame, delta))
	assert.True(t, withinBand(c.selected, c.maskable, cfg.Prob, delta), "selected %d of %d", c.selected, c.maskable)
	assert.True(t, withinBand(c.masked, c.selected, cfg.MaskFrac, delta), "[MASK] %d of %d", c.masked, c.selected)
	assert.True(t, withinBand(c.same, c.selected, pSame, delta), "unchanged %d of %d", c.same, c.selected)

	// Negative controls: the same checks reject a masker selecting 20%, and one splitting
	// 70/20/10.
	hi := cfg
	hi.Prob = 0.2
	ch := countMasks(t, newTestMasker(t, hi, tok, 5), tok, ids, valid, steps)
	assert.Less(t, falsePass(ch.maskable, cfg.Prob, hi.Prob, delta), 1e-9)
	assert.False(t, withinBand(ch.selected, ch.maskable, cfg.Prob, delta), "Prob 0.2 passes as 0.15")
	split := MaskConfig{Prob: 0.15, MaskFrac: 0.7, RandomFrac: 0.2}
	cs := countMasks(t, newTestMasker(t, split, tok, 5), tok, ids, valid, steps)
	assert.Less(t, falsePass(cs.selected, cfg.MaskFrac, split.MaskFrac, delta), 1e-9)
	assert.False(t, withinBand(cs.masked, cs.selected, cfg.MaskFrac, delta), "70% [MASK] passes as 80%")
	keep := MaskConfig{Prob: 0.15, MaskFrac: 0.8, RandomFrac: 0.05}
	ck := countMasks(t, newTestMasker(t, keep, tok, 5), tok, ids, valid, steps)
	qSame := keep.KeepFrac() + keep.RandomFrac/float64(n)
	assert.Less(t, falsePass(ck.selected, pSame, qSame, delta), 1e-9)
	assert.False(t, withinBand(ck.same, ck.selected, pSame, delta), "15% kept passes as 10%")
}

// replacementCounts tallies, over the selected positions, how often each word replaced a
// different original (bins) and how often a position kept its own id (same); trials[v] is the
// number of selected positions whose original is not v.
type replacementCounts struct {
	bins, trials []int
	same, total  int
}

func (r *replacementCounts) add(tok *Tokenizer, orig, input int) {
	first := tok.FirstWordID()
	r.total++
	for v := range r.trials {
		if first+v != orig {
			r.trials[v]++
		}
	}
	if input == orig {
		r.same++
	} else {
		r.bins[input-first]++
	}
}

// uniformBins reports whether every bin agrees with 1/n at delta/n each.
func (r *replacementCounts) uniformBins(delta float64) bool {
	n := len(r.bins)
	for v := range r.bins {
		if !withinBand(r.bins[v], r.trials[v], 1/float64(n), delta/float64(n)) {
			return false
		}
	}
	return true
}

func TestMaskUniform(t *testing.T) {
	t.Parallel()
	const delta, steps = 1e-7, 100
	tok := wordTokenizer(t)
	n := tok.VocabSize() - tok.FirstWordID()
	ids, valid := testBatch(tok, 32, 128, 12)
	// Every maskable token is selected and replaced by a random word.
	m := newTestMasker(t, MaskConfig{Prob: 1, MaskFrac: 0, RandomFrac: 1}, tok, 9)
	got := replacementCounts{bins: make([]int, n), trials: make([]int, n)}
	control := replacementCounts{bins: make([]int, n), trials: make([]int, n)}
	// The negative control replaces with word 0 half again as likely as any other.
	weights := make([]float64, n)
	for v := range weights {
		weights[v] = 1
	}
	weights[0] = 1.5
	rng := rand.New(rand.NewPCG(9, 9))
	skewed := func() int {
		u := rng.Float64() * (float64(n) + 0.5)
		for v, w := range weights {
			if u < w {
				return v
			}
			u -= w
		}
		return n - 1
	}
	for step := range steps {
		out, err := m.Mask(ids, valid, uint64(step))
		require.NoError(t, err)
		require.Equal(t, maskableCount(tok, ids, valid), out.Selected)
		for i, tg := range out.Targets {
			if tg == NoTarget {
				continue
			}
			require.GreaterOrEqual(t, out.Inputs[i], tok.FirstWordID())
			got.add(tok, tg, out.Inputs[i])
			control.add(tok, tg, tok.FirstWordID()+skewed())
		}
	}
	t.Logf("%d replacements, word 0: %d of %d trials (band ±%.0f), control's word 0: %d", got.total, got.bins[0], got.trials[0],
		bernsteinBand(got.trials[0], 1/float64(n), delta/float64(n)), control.bins[0])
	assert.True(t, got.uniformBins(delta), "replacements not uniform: %v", got.bins)
	assert.True(t, withinBand(got.same, got.total, 1/float64(n), 1e-8), "replaced by itself %d of %d", got.same, got.total)
	// The control's word 0 lands in its band with probability below 1e-9, so the check rejects it.
	assert.Less(t, falsePass(control.trials[0], 1/float64(n), 1.5/(float64(n)+0.5), delta/float64(n)), 1e-9)
	assert.False(t, control.uniformBins(delta), "a skewed replacement passes as uniform")
}

// The invariants hold at every position of every step, for several configurations.
func TestMaskInvariants(t *testing.T) {
	t.Parallel()
	tok := wordTokenizer(t)
	ids, valid := testBatch(tok, 8, 64, 13)
	orig := append([]int(nil), ids...)
	origValid := append([]bool(nil), valid...)
	for _, cfg := range []MaskConfig{DefaultMaskConfig(), {Prob: 1, MaskFrac: 1}, {Prob: 1, RandomFrac: 1}, {Prob: 0.5}} {
		m := newTestMasker(t, cfg, tok, 1)
		assert.Equal(t, cfg, m.Config())
		for step := range 30 {
			out, err := m.Mask(ids, valid, uint64(step))
			require.NoError(t, err)
			require.Len(t, out.Inputs, len(ids))
			require.Len(t, out.Targets, len(ids))
			sel := 0
			for i, tg := range out.Targets {
				maskable := valid[i] && ids[i] >= tok.FirstWordID()
				if tg == NoTarget {
					assert.Equal(t, ids[i], out.Inputs[i], "an unselected position is unchanged")
					continue
				}
				sel++
				require.True(t, maskable, "position %d (id %d, valid %v) selected", i, ids[i], valid[i])
				assert.Equal(t, ids[i], tg, "the target is the original")
				in := out.Inputs[i]
				assert.True(t, in == tok.MaskID() || in >= tok.FirstWordID() && in < tok.VocabSize(), "input %d", in)
				if cfg.MaskFrac == 1 {
					assert.Equal(t, tok.MaskID(), in)
				}
				if cfg.MaskFrac == 0 && cfg.RandomFrac == 0 {
					assert.Equal(t, ids[i], in)
				}
			}
			assert.Equal(t, sel, out.Selected)
			if cfg.Prob == 1 {
				assert.Equal(t, maskableCount(tok, ids, valid), sel)
			}
		}
	}
	assert.Equal(t, orig, ids, "ids are not changed")
	assert.Equal(t, origValid, valid, "valid is not changed")
}

// The stream layout documented on Masker, recomputed from philox.Uniform and philox.Philox,
// gives Mask's output draw for draw; a step's draws depend on (seed, step) only.
func TestMaskStreamLayout(t *testing.T) {
	t.Parallel()
	tok := wordTokenizer(t)
	ids, valid := testBatch(tok, 4, 32, 14)
	cfg := DefaultMaskConfig()
	var seed uint64 = 0x1234_5678_9abc_def0
	m := newTestMasker(t, cfg, tok, seed)
	n := uint64(tok.VocabSize() - tok.FirstWordID())
	for _, step := range []uint64{0, 1, 7, 1 << 40} {
		out, err := m.Mask(ids, valid, step)
		require.NoError(t, err)
		for i, id := range ids {
			ctr := func(k int) uint64 { return 0x4D4C4D31<<32 | uint64(4*i+k) }
			want, target := id, NoTarget
			if valid[i] && id >= tok.FirstWordID() && philox.Uniform(seed, step, ctr(0)) < cfg.Prob {
				target = id
				switch u := philox.Uniform(seed, step, ctr(1)); {
				case u < cfg.MaskFrac:
					want = tok.MaskID()
				case u < cfg.MaskFrac+cfg.RandomFrac:
					c := ctr(2)
					x := philox.Philox([4]uint32{uint32(c), uint32(c >> 32), uint32(step), uint32(step >> 32)}, [2]uint32{uint32(seed), uint32(seed >> 32)})
					hi, _ := bits.Mul64(uint64(x[0])<<32|uint64(x[1]), n)
					want = tok.FirstWordID() + int(hi)
				}
			}
			require.Equal(t, target, out.Targets[i], "step %d position %d", step, i)
			require.Equal(t, want, out.Inputs[i], "step %d position %d", step, i)
		}
	}
}

func TestMaskDeterministic(t *testing.T) {
	t.Parallel()
	tok := wordTokenizer(t)
	ids, valid := testBatch(tok, 4, 32, 15)
	a := newTestMasker(t, DefaultMaskConfig(), tok, 3)
	b := newTestMasker(t, DefaultMaskConfig(), tok, 3)
	other := newTestMasker(t, DefaultMaskConfig(), tok, 4)
	var outs []Masked
	for step := range uint64(5) {
		x, err := a.Mask(ids, valid, step)
		require.NoError(t, err)
		outs = append(outs, x)
	}
	// Resuming at step 3 with a fresh masker gives step 3's draws: no state is carried.
	y, err := b.Mask(ids, valid, 3)
	require.NoError(t, err)
	assert.Equal(t, outs[3], y)
	for i := 1; i < len(outs); i++ {
		assert.NotEqual(t, outs[i-1].Targets, outs[i].Targets, "steps %d and %d", i-1, i)
	}
	z, err := other.Mask(ids, valid, 3)
	require.NoError(t, err)
	assert.NotEqual(t, outs[3].Targets, z.Targets, "another seed")
	// Pinned draws: a change of the stream layout changes these.
	small := []int{ClsID, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, SepID, PadID}
	smallValid := []bool{true, true, true, true, true, true, true, true, true, true, true, true, true, false}
	p := newTestMasker(t, MaskConfig{Prob: 0.5, MaskFrac: 0.5, RandomFrac: 0.25}, tok, 1)
	got, err := p.Mask(small, smallValid, 2)
	require.NoError(t, err)
	assert.Equal(t, pinnedInputs, got.Inputs)
	assert.Equal(t, pinnedTargets, got.Targets)
}

var (
	pinnedInputs  = []int{2, 5, 4, 4, 8, 9, 10, 21, 12, 13, 14, 42, 3, 0}
	pinnedTargets = []int{-1, -1, 6, 7, 8, -1, -1, 11, -1, 13, -1, 15, -1, -1}
)

func TestMaskAtLeastOne(t *testing.T) {
	t.Parallel()
	tok := wordTokenizer(t)
	m := newTestMasker(t, MaskConfig{Prob: 1e-12, MaskFrac: 1}, tok, 2)
	// One maskable token among specials and padding: it is always the target.
	ids := []int{ClsID, UnkID, 17, tok.MaskID(), SepID, 20, PadID}
	valid := []bool{true, true, true, true, true, false, false}
	for step := range uint64(20) {
		out, err := m.Mask(ids, valid, step)
		require.NoError(t, err)
		require.Equal(t, 1, out.Selected)
		assert.Equal(t, []int{NoTarget, NoTarget, 17, NoTarget, NoTarget, NoTarget, NoTarget}, out.Targets)
		assert.Equal(t, tok.MaskID(), out.Inputs[2])
	}
	// Several: one each step, each of them in turn.
	ids = []int{ClsID, 10, 11, 12, SepID}
	valid = []bool{true, true, true, true, true}
	seen := map[int]int{}
	for step := range uint64(60) {
		out, err := m.Mask(ids, valid, step)
		require.NoError(t, err)
		require.Equal(t, 1, out.Selected)
		for i, tg := range out.Targets {
			if tg != NoTarget {
				seen[i]++
			}
		}
	}
	assert.Len(t, seen, 3, "every maskable position gets chosen: %v", seen)
	// None maskable: no target and no error.
	out, err := m.Mask([]int{ClsID, UnkID, SepID, 30}, []bool{true, true, true, false}, 0)
	require.NoError(t, err)
	assert.Zero(t, out.Selected)
	out, err = m.Mask(nil, nil, 0)
	require.NoError(t, err)
	assert.Zero(t, out.Selected)
}

func TestMaskConfigValidate(t *testing.T) {
	t.Parallel()
	assert.NoError(t, DefaultMaskConfig().Validate())
	assert.InDelta(t, 0.1, DefaultMaskConfig().KeepFrac(), 1e-15)
	for _, ok := range []MaskConfig{{Prob: 1, MaskFrac: 1}, {Prob: 1e-9}, {Prob: 0.5, RandomFrac: 1}} {
		assert.NoError(t, ok.Validate(), "%+v", ok)
	}
	nan := math.NaN()
	for _, bad := range []MaskConfig{{}, {Prob: -0.1}, {Prob: 1.5}, {Prob: nan}, {Prob: 0.1, MaskFrac: -0.1},
		{Prob: 0.1, MaskFrac: nan}, {Prob: 0.1, RandomFrac: 1.1}, {Prob: 0.1, RandomFrac: nan}, {Prob: 0.1, MaskFrac: 0.8, RandomFrac: 0.3}} {
		assert.ErrorIs(t, bad.Validate(), ErrRange, "%+v", bad)
	}
}

func TestNewMaskerErrors(t *testing.T) {
	t.Parallel()
	tok := wordTokenizer(t)
	_, err := NewMasker(MaskConfig{}, tok, 1)
	assert.ErrorIs(t, err, ErrRange)
	plain, err := NewTokenizer([]string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "x"}, false)
	require.NoError(t, err)
	_, err = NewMasker(DefaultMaskConfig(), plain, 1)
	require.ErrorIs(t, err, ErrRange)
	assert.ErrorContains(t, err, "[MASK]")
	_, err = NewMasker(DefaultMaskConfig(), nil, 1)
	assert.ErrorIs(t, err, ErrRange)
	m := newTestMasker(t, DefaultMaskConfig(), tok, 1)
	for _, tc := range []struct {
		ids   []int
		valid []bool
		msg   string
	}{
		{[]int{ClsID, 5}, []bool{true}, "2 ids but 1 mask entries"},
		{[]int{ClsID, -1}, []bool{true, true}, "id -1 at position 1"},
		{[]int{ClsID, tok.VocabSize()}, []bool{true, false}, "outside [0, 105)"},
	} {
		_, err := m.Mask(tc.ids, tc.valid, 0)
		require.ErrorIs(t, err, ErrRange)
		assert.ErrorContains(t, err, tc.msg)
	}
}
