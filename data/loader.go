package data

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
)

// Encoded is a data set encoded to fixed-length rows. Row i (sample i) is example i of the
// source set; all slices are row-major with SeqLen entries per row (Labels and Index: one per row).
type Encoded struct {
	// Name is the source set's name (its file or split name), used in messages.
	Name string
	// N is the number of samples (rows) and SeqLen the fixed length of every row in tokens
	// (the maxLen it was encoded to, at least 3).
	N, SeqLen int
	// IDs are the token ids, N·SeqLen of them: each row [CLS] s1 [SEP] s2 [SEP] then [PAD]s.
	IDs []int
	// Mask is true on real tokens and false on padding, N·SeqLen entries.
	Mask []bool
	// Segments are the segment ids (0 for [CLS] s1 [SEP] and padding, 1 for s2 [SEP]),
	// N·SeqLen entries.
	Segments []int
	// Labels holds one label per sample; NoLabel for an unlabelled set.
	Labels []Label
	// Index holds, per sample, the file's index column of its example.
	Index []int
	// Truncated is the number of samples that lost tokens to truncation.
	Truncated int
}

// Encode encodes every example of d with tok to maxLen tokens. It returns an error wrapping
// ErrEmpty for an empty set and ErrRange for maxLen < 3.
func Encode(d *Dataset, tok *Tokenizer, maxLen int) (*Encoded, error) {
	if d == nil || len(d.Examples) == 0 {
		return nil, fmt.Errorf("%w: encode: no examples", ErrEmpty)
	}
	if maxLen < 3 {
		return nil, fmt.Errorf("%w: encode %s: max length %d, need at least 3", ErrRange, d.Name, maxLen)
	}
	n := len(d.Examples)
	e := &Encoded{Name: d.Name, N: n, SeqLen: maxLen, IDs: make([]int, n*maxLen),
		Mask: make([]bool, n*maxLen), Segments: make([]int, n*maxLen),
		Labels: make([]Label, n), Index: make([]int, n)}
	for i, ex := range d.Examples {
		enc, err := tok.EncodePair(ex.Sentence1, ex.Sentence2, maxLen)
		if err != nil {
			return nil, err
		}
		copy(e.IDs[i*maxLen:], enc.IDs)
		copy(e.Mask[i*maxLen:], enc.Mask)
		copy(e.Segments[i*maxLen:], enc.Segments)
		e.Labels[i], e.Index[i] = ex.Label, ex.Index
		if enc.Truncated > 0 {
			e.Truncated++
		}
	}
	return e, nil
}

// Minibatch is the examples of one optimiser step as the loader yields them (the model's own
// input is model.Batch): Size samples of SeqLen tokens, row-major: token t of row r is at
// r·SeqLen + t, which is also its pooled token index in the trainer.
type Minibatch struct {
	// Size is the number of samples (a loader's BatchSize, fewer in a final batch) and SeqLen
	// the tokens per sample, as in the Encoded set.
	Size, SeqLen int
	// Indices are the samples' rows in the Encoded set (0..N-1), stable across epochs: the key
	// of the gradient-norm cache.
	Indices []int
	// IDs are the token ids, Size·SeqLen of them, copied from the set's rows.
	IDs []int
	// Mask is true on real tokens and false on padding (Size·SeqLen entries): attention ignores
	// the padding and WTA-CRS gives it weight 0.
	Mask []bool
	// Segments are the segment ids of the tokens (0 or 1), Size·SeqLen entries.
	Segments []int
	// Labels holds one label per sample (NoLabel in an unlabelled set).
	Labels []Label
}

// Valid returns the number of non-padding tokens of the batch.
func (b *Minibatch) Valid() int {
	n := 0
	for _, m := range b.Mask {
		if m {
			n++
		}
	}
	return n
}

// LoaderConfig sets how a Loader batches a set.
type LoaderConfig struct {
	// BatchSize is the number of samples per batch, at least 1 (no default).
	BatchSize int `toml:"batch_size"`
	// Shuffle permutes the samples anew each epoch (see [Loader.Order]); false keeps the set's
	// order.
	Shuffle bool `toml:"shuffle"`
	// Seed seeds the permutation, together with the epoch; unused without Shuffle.
	Seed uint64 `toml:"seed"`
	// DropLast drops a final batch smaller than BatchSize; false keeps it.
	DropLast bool `toml:"drop_last"`
}

// Loader serves the batches of an Encoded set. It is immutable and safe for concurrent use.
type Loader struct {
	set *Encoded
	cfg LoaderConfig
}

// NewLoader returns a loader over set. BatchSize must be at least 1 (ErrRange); the set must be
// non-empty (ErrEmpty), and with DropLast it must hold at least one full batch (ErrRange).
func NewLoader(set *Encoded, cfg LoaderConfig) (*Loader, error) {
	if set == nil || set.N == 0 {
		return nil, fmt.Errorf("%w: loader: empty set", ErrEmpty)
	}
	if cfg.BatchSize < 1 {
		return nil, fmt.Errorf("%w: loader %s: batch_size %d, need at least 1", ErrRange, set.Name, cfg.BatchSize)
	}
	if err := set.check(); err != nil {
		return nil, err
	}
	if cfg.DropLast && set.N < cfg.BatchSize {
		return nil, fmt.Errorf("%w: loader %s: %d samples, fewer than one batch of %d with drop_last", ErrRange, set.Name, set.N, cfg.BatchSize)
	}
	return &Loader{set: set, cfg: cfg}, nil
}

// Set returns the loader's encoded set.
func (l *Loader) Set() *Encoded { return l.set }

// NumBatches returns the number of batches of one epoch.
func (l *Loader) NumBatches() int {
	if l.cfg.DropLast {
		return l.set.N / l.cfg.BatchSize
	}
	return (l.set.N + l.cfg.BatchSize - 1) / l.cfg.BatchSize
}

// Order returns the sample order of an epoch (epoch ≥ 0, else ErrRange): the identity without
// Shuffle, otherwise a Fisher–Yates permutation driven by PCG seeded with (Seed, epoch). With
// DropLast the samples past the last full batch are left out of that epoch.
func (l *Loader) Order(epoch int) ([]int, error) {
	if epoch < 0 {
		return nil, fmt.Errorf("%w: loader: epoch %d is negative", ErrRange, epoch)
	}
	n := l.set.N
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if l.cfg.Shuffle {
		src := rand.NewPCG(l.cfg.Seed, uint64(epoch)^0x9e3779b97f4a7c15)
		for i := n - 1; i > 0; i-- {
			j := int(boundedUint64(src, uint64(i+1)))
			order[i], order[j] = order[j], order[i]
		}
	}
	if l.cfg.DropLast {
		order = order[:l.NumBatches()*l.cfg.BatchSize]
	}
	return order, nil
}

// boundedUint64 returns a uniform integer in [0, n) by Lemire's multiply-and-reject method, so
// the permutation does not depend on the standard library's choice of method.
func boundedUint64(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}

// Epoch returns the batches of an epoch (epoch ≥ 0), in order. Every sample appears exactly once
// (once at most with DropLast). The batches own their slices.
func (l *Loader) Epoch(epoch int) ([]Minibatch, error) {
	order, err := l.Order(epoch)
	if err != nil {
		return nil, err
	}
	out := make([]Minibatch, 0, l.NumBatches())
	for start := 0; start < len(order); start += l.cfg.BatchSize {
		end := min(start+l.cfg.BatchSize, len(order))
		out = append(out, l.set.gather(order[start:end]))
	}
	return out, nil
}

// check reports an Encoded whose slices disagree with N and SeqLen (ErrFormat).
func (e *Encoded) check() error {
	if e.SeqLen < 1 || e.N < 0 {
		return fmt.Errorf("%w: encoded set %s: N %d, SeqLen %d", ErrFormat, e.Name, e.N, e.SeqLen)
	}
	n := e.N * e.SeqLen
	if len(e.IDs) != n || len(e.Mask) != n || len(e.Segments) != n || len(e.Labels) != e.N || len(e.Index) != e.N {
		return fmt.Errorf("%w: encoded set %s: %d×%d needs %d ids, mask and segments and %d labels and indices; have %d, %d, %d, %d, %d",
			ErrFormat, e.Name, e.N, e.SeqLen, n, e.N, len(e.IDs), len(e.Mask), len(e.Segments), len(e.Labels), len(e.Index))
	}
	return nil
}

// Gather returns the batch of the given sample rows, in the order given, copying them. A row
// outside [0, N) returns an error wrapping ErrRange.
func (e *Encoded) Gather(rows []int) (Minibatch, error) {
	if err := e.check(); err != nil {
		return Minibatch{}, err
	}
	for _, r := range rows {
		if r < 0 || r >= e.N {
			return Minibatch{}, fmt.Errorf("%w: gather from %s: row %d outside [0, %d)", ErrRange, e.Name, r, e.N)
		}
	}
	return e.gather(rows), nil
}

// gather is Gather for rows known to be valid.
func (e *Encoded) gather(rows []int) Minibatch {
	s := e.SeqLen
	b := Minibatch{Size: len(rows), SeqLen: s, Indices: append([]int(nil), rows...),
		IDs: make([]int, len(rows)*s), Mask: make([]bool, len(rows)*s),
		Segments: make([]int, len(rows)*s), Labels: make([]Label, len(rows))}
	for r, i := range rows {
		copy(b.IDs[r*s:(r+1)*s], e.IDs[i*s:(i+1)*s])
		copy(b.Mask[r*s:(r+1)*s], e.Mask[i*s:(i+1)*s])
		copy(b.Segments[r*s:(r+1)*s], e.Segments[i*s:(i+1)*s])
		b.Labels[r] = e.Labels[i]
	}
	return b
}
