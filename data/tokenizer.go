package data

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"

	"github.com/wtacrs/wtacrs/internal/inputfile"
)

// Special token ids, fixed for every vocabulary.
const (
	PadID = 0 // [PAD]
	UnkID = 1 // [UNK]
	ClsID = 2 // [CLS]
	SepID = 3 // [SEP]
)

// NumSpecial is the number of compulsory special tokens, which occupy ids 0..NumSpecial-1 of
// every vocabulary.
const NumSpecial = 4

// MaskToken is the optional special token of masked-language modelling. A vocabulary that has
// it holds it at id NumSpecial (4), right after the compulsory ones, and its words start at 5
// (see [TokenizerConfig.Mask] and [Tokenizer.MaskID]); a vocabulary without it is unchanged.
const MaskToken = "[MASK]"

var specialTokens = [NumSpecial]string{"[PAD]", "[UNK]", "[CLS]", "[SEP]"}

// DefaultMaxLen is the default encoded sequence length.
const DefaultMaxLen = 128

// TokenizerConfig sets how a vocabulary is built.
type TokenizerConfig struct {
	// VocabSize is the largest vocabulary, special tokens included; it must be at least
	// NumSpecial+1. Default 8192.
	VocabSize int `toml:"vocab_size"`
	// MinFreq drops words seen fewer times in the training text; it must be at least 1.
	// Default 1.
	MinFreq int `toml:"min_freq"`
	// KeepCase keeps letter case; the default lower-cases all text.
	KeepCase bool `toml:"keep_case"`
	// Mask reserves id NumSpecial for [MASK], for masked-language modelling; the words then
	// start at id NumSpecial+1 and VocabSize must be at least NumSpecial+2. The default (false)
	// builds the same vocabulary as before the option existed.
	Mask bool `toml:"mask"`
}

// DefaultTokenizerConfig returns the configuration whose values are used for the fields left
// zero.
func DefaultTokenizerConfig() TokenizerConfig { return TokenizerConfig{VocabSize: 8192, MinFreq: 1} }

func (c TokenizerConfig) withDefaults() TokenizerConfig {
	d := DefaultTokenizerConfig()
	if c.VocabSize == 0 {
		c.VocabSize = d.VocabSize
	}
	if c.MinFreq == 0 {
		c.MinFreq = d.MinFreq
	}
	return c
}

// Tokenizer maps text to token ids with a fixed word-level vocabulary. It is immutable and safe
// for concurrent use.
type Tokenizer struct {
	tokens   []string
	ids      map[string]int
	keepCase bool
	// mask reports whether tokens[NumSpecial] is [MASK].
	mask bool
}

// PreTokenize splits text into the tokenizer's words: maximal runs of letters, digits and marks,
// and every other non-space character as a token of its own. Letters are lower-cased unless
// keepCase.
func PreTokenize(text string, keepCase bool) []string {
	if !keepCase {
		text = strings.ToLower(text)
	}
	var out []string
	start := -1
	for i, r := range text {
		word := unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
		if word {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, text[start:i])
			start = -1
		}
		if !unicode.IsSpace(r) && unicode.IsGraphic(r) {
			out = append(out, string(r))
		}
	}
	if start >= 0 {
		out = append(out, text[start:])
	}
	return out
}

// TrainTokenizer builds a vocabulary from texts: the special tokens ([MASK] too with cfg.Mask),
// then the words seen at least cfg.MinFreq times, most frequent first (ties in byte order), up
// to cfg.VocabSize tokens in all. Zero fields of cfg take their defaults. It returns an error
// wrapping ErrRange for a bad config and ErrEmpty when texts hold no word.
func TrainTokenizer(texts []string, cfg TokenizerConfig) (*Tokenizer, error) {
	cfg = cfg.withDefaults()
	reserved := specialTokens[:]
	if cfg.Mask {
		reserved = append(reserved[:NumSpecial:NumSpecial], MaskToken)
	}
	if cfg.VocabSize <= len(reserved) {
		return nil, fmt.Errorf("%w: vocab_size %d must exceed %d", ErrRange, cfg.VocabSize, len(reserved))
	}
	if cfg.MinFreq < 1 {
		return nil, fmt.Errorf("%w: min_freq %d must be at least 1", ErrRange, cfg.MinFreq)
	}
	counts := map[string]int{}
	for _, t := range texts {
		for _, w := range PreTokenize(t, cfg.KeepCase) {
			counts[w]++
		}
	}
	for _, s := range specialTokens {
		delete(counts, s)
	}
	delete(counts, MaskToken)
	if len(counts) == 0 {
		return nil, fmt.Errorf("%w: no words to build a vocabulary from", ErrEmpty)
	}
	words := make([]string, 0, len(counts))
	for w, c := range counts {
		if c >= cfg.MinFreq {
			words = append(words, w)
		}
	}
	slices.SortFunc(words, func(a, b string) int {
		if c := cmp.Compare(counts[b], counts[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	if n := cfg.VocabSize - len(reserved); len(words) > n {
		words = words[:n]
	}
	return newTokenizer(append(reserved, words...), cfg.KeepCase)
}

// NewTokenizer returns the tokenizer of an explicit vocabulary, token i having id i (as
// [Tokenizer.Tokens] returns it, or a checkpoint stores it). The first NumSpecial tokens must be
// [PAD] [UNK] [CLS] [SEP]; [MASK], if present, must be token NumSpecial; at least one word must
// follow; tokens must be unique, non-empty and free of white space. keepCase must be the case
// setting the vocabulary was built with. Errors name the 1-based position ("vocabulary line")
// and wrap ErrFormat, or ErrEmpty for a vocabulary without a word. tokens is copied.
func NewTokenizer(tokens []string, keepCase bool) (*Tokenizer, error) {
	if err := hasWord(tokens); err != nil {
		return nil, err
	}
	return newTokenizer(slices.Clone(tokens), keepCase)
}

// hasWord reports a vocabulary with no token after the special ones (ErrEmpty).
func hasWord(tokens []string) error {
	if len(tokens) <= NumSpecial || len(tokens) == NumSpecial+1 && tokens[NumSpecial] == MaskToken {
		return fmt.Errorf("%w: vocabulary has %d tokens, need a word after the special tokens", ErrEmpty, len(tokens))
	}
	return nil
}

// newTokenizer validates tokens (see NewTokenizer) and keeps them without copying.
func newTokenizer(tokens []string, keepCase bool) (*Tokenizer, error) {
	t := &Tokenizer{tokens: tokens, ids: make(map[string]int, len(tokens)), keepCase: keepCase}
	for i, s := range tokens {
		if i < NumSpecial && s != specialTokens[i] {
			return nil, fmt.Errorf("%w: vocabulary line %d is %q, want %q", ErrFormat, i+1, s, specialTokens[i])
		}
		if s == MaskToken {
			if i != NumSpecial {
				return nil, fmt.Errorf("%w: vocabulary line %d is %q, which may only be line %d", ErrFormat, i+1, s, NumSpecial+1)
			}
			t.mask = true
		}
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return nil, fmt.Errorf("%w: vocabulary line %d: empty token or token with white space", ErrFormat, i+1)
		}
		if j, dup := t.ids[s]; dup {
			return nil, fmt.Errorf("%w: vocabulary line %d repeats token %q of line %d", ErrFormat, i+1, s, j+1)
		}
		t.ids[s] = i
	}
	return t, nil
}

// VocabSize returns the number of tokens, special tokens included.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// MaskID returns the id of [MASK] (NumSpecial), or -1 when the vocabulary has no [MASK].
func (t *Tokenizer) MaskID() int {
	if t.mask {
		return NumSpecial
	}
	return -1
}

// FirstWordID returns the id of the first word: NumSpecial, or NumSpecial+1 with [MASK]. The
// ids from it to VocabSize()-1 are the words; those below it are special tokens.
func (t *Tokenizer) FirstWordID() int {
	if t.mask {
		return NumSpecial + 1
	}
	return NumSpecial
}

// Tokens returns a copy of the vocabulary, token i having id i: the input of [NewTokenizer].
func (t *Tokenizer) Tokens() []string { return slices.Clone(t.tokens) }

// KeepCase reports whether the tokenizer keeps letter case.
func (t *Tokenizer) KeepCase() bool { return t.keepCase }

// ID returns the id of a token, or UnkID when it is not in the vocabulary. The token is used as
// given (not lower-cased).
func (t *Tokenizer) ID(token string) int {
	if id, ok := t.ids[token]; ok {
		return id
	}
	return UnkID
}

// Token returns the token of an id, or "[UNK]" for an id outside [0, VocabSize).
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.tokens) {
		return specialTokens[UnkID]
	}
	return t.tokens[id]
}

// Tokenize returns the ids of the words of text, without special tokens.
func (t *Tokenizer) Tokenize(text string) []int {
	words := PreTokenize(text, t.keepCase)
	ids := make([]int, len(words))
	for i, w := range words {
		ids[i] = t.ID(w)
	}
	return ids
}

// Decode joins the tokens of ids with single spaces, skipping [PAD], [CLS] and [SEP].
func (t *Tokenizer) Decode(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		if id == PadID || id == ClsID || id == SepID {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.Token(id))
	}
	return b.String()
}

// Encoding is one encoded pair of fixed length.
type Encoding struct {
	// IDs are the maxLen token ids: [CLS] s1 [SEP] s2 [SEP] [PAD]...
	IDs []int
	// Mask is true on real tokens, false on padding.
	Mask []bool
	// Segments are the segment ids: 0 for [CLS] s1 [SEP], 1 for s2 [SEP], 0 on padding.
	Segments []int
	// Len is the number of real tokens, at most maxLen.
	Len int
	// Truncated is the number of word tokens removed to fit maxLen.
	Truncated int
}

// EncodePair encodes s1 and s2 as [CLS] s1 [SEP] s2 [SEP], removing tokens from the end of the
// longer sentence (s1 on ties) until the pair fits maxLen, then padding with [PAD] to exactly
// maxLen. maxLen must be at least 3; otherwise the error wraps ErrRange.
func (t *Tokenizer) EncodePair(s1, s2 string, maxLen int) (Encoding, error) {
	if maxLen < 3 {
		return Encoding{}, fmt.Errorf("%w: max length %d, need at least 3", ErrRange, maxLen)
	}
	a, b := t.Tokenize(s1), t.Tokenize(s2)
	trunc := 0
	for len(a)+len(b)+3 > maxLen {
		if len(a) >= len(b) {
			a = a[:len(a)-1]
		} else {
			b = b[:len(b)-1]
		}
		trunc++
	}
	e := Encoding{IDs: make([]int, maxLen), Mask: make([]bool, maxLen), Segments: make([]int, maxLen), Truncated: trunc}
	e.fill(a, b)
	return e, nil
}

func (e *Encoding) fill(a, b []int) {
	p := 0
	put := func(id, seg int) {
		e.IDs[p], e.Mask[p], e.Segments[p] = id, true, seg
		p++
	}
	put(ClsID, 0)
	for _, id := range a {
		put(id, 0)
	}
	put(SepID, 0)
	for _, id := range b {
		put(id, 1)
	}
	put(SepID, 1)
	e.Len = p
	for ; p < len(e.IDs); p++ {
		e.IDs[p], e.Mask[p], e.Segments[p] = PadID, false, 0
	}
}

// WriteVocab writes the vocabulary, one token per line in id order (the BERT vocab.txt layout).
func (t *Tokenizer) WriteVocab(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, s := range t.tokens {
		bw.WriteString(s)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// SaveVocab writes the vocabulary to path atomically.
func (t *Tokenizer) SaveVocab(path string) error {
	return writeAtomic(path, t.WriteVocab)
}

// ReadVocab reads a vocabulary written by WriteVocab. The first four lines must be the special
// tokens in id order; a fifth line "[MASK]" gives the vocabulary its mask token (which no other
// line may be); tokens must be unique and free of white space. Errors name the line and wrap
// ErrFormat, or ErrEmpty for a vocabulary without a word.
func ReadVocab(r io.Reader, keepCase bool) (*Tokenizer, error) {
	sc := bufio.NewScanner(r)
	var tokens []string
	for sc.Scan() {
		tokens = append(tokens, strings.TrimSuffix(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: vocabulary: %v", ErrFormat, err)
	}
	if err := hasWord(tokens); err != nil {
		return nil, err
	}
	return newTokenizer(tokens, keepCase)
}

// LoadVocab reads a vocabulary file written by SaveVocab; errors name the file.
func LoadVocab(path string, keepCase bool) (*Tokenizer, error) {
	f, _, err := inputfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	t, err := ReadVocab(f, keepCase)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}
