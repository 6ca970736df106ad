package data

import (
	"fmt"
	"math/bits"

	"github.com/wtacrs/wtacrs/philox"
)

// MaskConfig sets BERT's corruption of the input for masked-language modelling: every maskable
// token is selected with probability Prob; a selected token becomes [MASK] with probability
// MaskFrac, a uniformly random word with probability RandomFrac, and stays itself otherwise
// (KeepFrac). There are no implicit defaults (0 is a meaningful fraction): start from
// [DefaultMaskConfig].
type MaskConfig struct {
	// Prob is the selection probability of a maskable token, in (0, 1]. BERT: 0.15.
	Prob float64 `toml:"prob"`
	// MaskFrac is the share of the selected tokens replaced by [MASK], in [0, 1]. BERT: 0.8.
	MaskFrac float64 `toml:"mask_frac"`
	// RandomFrac is the share of the selected tokens replaced by a random word, in [0, 1],
	// with MaskFrac+RandomFrac ≤ 1. BERT: 0.1.
	RandomFrac float64 `toml:"random_frac"`
}

// DefaultMaskConfig returns BERT's masking: 15% of the tokens selected, of which 80% become
// [MASK], 10% a random word and 10% stay as they are.
func DefaultMaskConfig() MaskConfig { return MaskConfig{Prob: 0.15, MaskFrac: 0.8, RandomFrac: 0.1} }

// KeepFrac returns the share of the selected tokens left unchanged, 1 − MaskFrac − RandomFrac.
func (c MaskConfig) KeepFrac() float64 { return 1 - c.MaskFrac - c.RandomFrac }

// Validate reports a field out of its range or NaN (every comparison with NaN is false) with
// an error wrapping ErrRange.
func (c MaskConfig) Validate() error {
	switch {
	case !(c.Prob > 0 && c.Prob <= 1):
		return fmt.Errorf("%w: mask prob %v, want (0, 1]", ErrRange, c.Prob)
	case !(c.MaskFrac >= 0 && c.MaskFrac <= 1):
		return fmt.Errorf("%w: mask_frac %v, want [0, 1]", ErrRange, c.MaskFrac)
	case !(c.RandomFrac >= 0 && c.RandomFrac <= 1):
		return fmt.Errorf("%w: random_frac %v, want [0, 1]", ErrRange, c.RandomFrac)
	case c.MaskFrac+c.RandomFrac > 1:
		return fmt.Errorf("%w: mask_frac %v + random_frac %v exceed 1", ErrRange, c.MaskFrac, c.RandomFrac)
	}
	return nil
}

// NoTarget marks the positions of a [Masked] batch that carry no prediction target.
const NoTarget = -1

// Masked is a batch corrupted for masked-language modelling.
type Masked struct {
	// Inputs are the corrupted token ids, one per position of the batch.
	Inputs []int
	// Targets hold, per position, the original id where the position was selected for
	// prediction and NoTarget elsewhere.
	Targets []int
	// Selected is the number of positions with a target.
	Selected int
}

// maskTag fills the high 32 bits of every counter of the masker ("MLM1" in ASCII), so its
// Philox blocks never meet those of the estimators, whose counters stay below 2³².
const maskTag = 0x4D4C4D31

// maxMaskPositions is the most positions one batch may have: 4·i+3 must fit 32 bits.
const maxMaskPositions = 1 << 30

// Masker corrupts batches for masked-language modelling ([Masker.Mask]). It is immutable and
// safe for concurrent use.
//
// # Maskable tokens
//
// A position is maskable when its mask entry is true and its id is a word, FirstWordID ≤ id <
// VocabSize: [PAD], [UNK], [CLS], [SEP] and [MASK] are never selected, nor is padding.
//
// # Random stream layout
//
// Every draw comes from Philox4x32-10 ([philox.Philox]) keyed by the masker's seed, with the
// step as the stream, so a step's draws depend on (seed, step) and the batch only: a run is
// reproducible bit for bit and resumes at any step without replaying the earlier ones. For
// position i of the batch (0 ≤ i < 2³⁰, row-major: token t of row r is i = r·S + t) and slot k
// in 0..3, the block of counter c = 0x4D4C4D31·2³² + 4i + k, stream = step and key = seed is
// computed exactly as [philox.Uniform] does (counter words (lo32(c), hi32(c), lo32(step),
// hi32(step)), key words (lo32(seed), hi32(seed))); its first two words give w = x0·2³² + x1
// and u = ⌊w / 2¹¹⌋ · 2⁻⁵³, which is philox.Uniform(seed, step, c).
//
//   - Slot 0, selection: a maskable position is selected when u < Prob.
//   - Slot 1, action of a selected position: [MASK] when u < MaskFrac, a random word when
//     u < MaskFrac+RandomFrac (the sum in float64), else the token is kept.
//   - Slot 2, the random word: FirstWordID + ⌊w·n / 2⁶⁴⌋ with n = VocabSize − FirstWordID
//     (uniform over the words up to 2⁻⁶⁴ per word; it may equal the original, as in BERT).
//   - Slot 3 of position 0, the guarantee: when a batch has m ≥ 1 maskable positions and slot 0
//     selected none, the j-th maskable position in index order, j = ⌊w·m / 2⁶⁴⌋ (0-based), is
//     selected, then handled by its own slots 1 and 2. A batch with any maskable token so
//     always has at least one target. This happens with probability (1−Prob)^m, below 10⁻⁴⁵
//     for BERT's 0.15 and a batch of 640 maskable tokens, and leaves the statistics unchanged
//     to that order.
//
// Selection is thus independent per token (as in the reference implementations that draw a
// Bernoulli mask), not a fixed count per sequence.
type Masker struct {
	cfg          MaskConfig
	seed         uint64
	maskID       int
	first, vocab int
}

// NewMasker returns a masker for batches of tok's ids. cfg must be valid (see
// [MaskConfig.Validate]) and tok must have [MASK] (TokenizerConfig.Mask) and at least one word;
// otherwise the error wraps ErrRange.
func NewMasker(cfg MaskConfig, tok *Tokenizer, seed uint64) (*Masker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if tok == nil || tok.MaskID() < 0 {
		return nil, fmt.Errorf("%w: masking needs a tokenizer with %s (TokenizerConfig.Mask)", ErrRange, MaskToken)
	}
	if tok.VocabSize() <= tok.FirstWordID() {
		return nil, fmt.Errorf("%w: masking needs a vocabulary with a word", ErrRange)
	}
	return &Masker{cfg: cfg, seed: seed, maskID: tok.MaskID(), first: tok.FirstWordID(), vocab: tok.VocabSize()}, nil
}

// Config returns the masker's configuration.
func (m *Masker) Config() MaskConfig { return m.cfg }

// word returns w of the masker's stream layout for position i, slot k of a step.
func (m *Masker) word(step uint64, i, k int) uint64 {
	c := uint64(maskTag)<<32 | uint64(4*i+k)
	x := philox.Philox([4]uint32{uint32(c), uint32(c >> 32), uint32(step), uint32(step >> 32)},
		[2]uint32{uint32(m.seed), uint32(m.seed >> 32)})
	return uint64(x[0])<<32 | uint64(x[1])
}

// uniform returns u of the stream layout for position i, slot k of a step.
func (m *Masker) uniform(step uint64, i, k int) float64 {
	return float64(m.word(step, i, k)>>11) * 0x1p-53
}

// below returns ⌊w·n / 2⁶⁴⌋, in [0, n).
func below(w uint64, n int) int {
	hi, _ := bits.Mul64(w, uint64(n))
	return int(hi)
}

// Mask corrupts the batch of token ids (ids, with valid true on real tokens, as a Minibatch's IDs
// and Mask) for the given step, following the stream layout of [Masker]; ids and valid are not
// changed, and Inputs and Targets are new slices. The lengths of ids and valid must agree and be
// at most 2³⁰, and every id must lie in [0, VocabSize); otherwise the error wraps ErrRange.
func (m *Masker) Mask(ids []int, valid []bool, step uint64) (Masked, error) {
	if len(ids) != len(valid) {
		return Masked{}, fmt.Errorf("%w: mask: %d ids but %d mask entries", ErrRange, len(ids), len(valid))
	}
	if len(ids) > maxMaskPositions {
		return Masked{}, fmt.Errorf("%w: mask: %d positions, at most %d", ErrRange, len(ids), maxMaskPositions)
	}
	maskable := 0
	for i, id := range ids {
		if id < 0 || id >= m.vocab {
			return Masked{}, fmt.Errorf("%w: mask: id %d at position %d outside [0, %d)", ErrRange, id, i, m.vocab)
		}
		if valid[i] && id >= m.first {
			maskable++
		}
	}
	out := Masked{Inputs: make([]int, len(ids)), Targets: make([]int, len(ids))}
	copy(out.Inputs, ids)
	for i := range out.Targets {
		out.Targets[i] = NoTarget
	}
	for i, id := range ids {
		if valid[i] && id >= m.first && m.uniform(step, i, 0) < m.cfg.Prob {
			m.corrupt(&out, step, i)
		}
	}
	if out.Selected == 0 && maskable > 0 {
		j := below(m.word(step, 0, 3), maskable)
		for i, id := range ids {
			if valid[i] && id >= m.first {
				if j == 0 {
					m.corrupt(&out, step, i)
					break
				}
				j--
			}
		}
	}
	return out, nil
}

// corrupt selects position i: its target is its id, its input [MASK], a random word or itself.
func (m *Masker) corrupt(out *Masked, step uint64, i int) {
	out.Targets[i] = out.Inputs[i]
	out.Selected++
	switch u := m.uniform(step, i, 1); {
	case u < m.cfg.MaskFrac:
		out.Inputs[i] = m.maskID
	case u < m.cfg.MaskFrac+m.cfg.RandomFrac:
		out.Inputs[i] = m.first + below(m.word(step, i, 2), m.vocab-m.first)
	}
}
