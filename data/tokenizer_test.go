package data

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPreTokenize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		keepCase bool
		want     []string
	}{
		{"And God saw the light, that it was good.", false, []string{"and", "god", "saw", "the", "light", ",", "that", "it", "was", "good", "."}},
		{"The LORD's house", true, []string{"The", "LORD", "'", "s", "house"}},
		{"  tabs\tand\nlines  ", false, []string{"tabs", "and", "lines"}},
		{"3,000 men (or more)!", false, []string{"3", ",", "000", "men", "(", "or", "more", ")", "!"}},
		{"café Ærø", false, []string{"café", "ærø"}},
		{"", false, nil},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, PreTokenize(tc.in, tc.keepCase), "%q", tc.in)
	}
}

func TestTrainTokenizer(t *testing.T) {
	t.Parallel()
	texts := []string{"b a a c", "a b d", "c c a"}
	// counts: a 4, c 3, b 2, d 1.
	tests := []struct {
		name string
		cfg  TokenizerConfig
		want []string
	}{
		{"all", TokenizerConfig{VocabSize: 100}, []string{"a", "c", "b", "d"}},
		{"capped", TokenizerConfig{VocabSize: NumSpecial + 2}, []string{"a", "c"}},
		{"min freq", TokenizerConfig{VocabSize: 100, MinFreq: 2}, []string{"a", "c", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := TrainTokenizer(texts, tc.cfg)
			require.NoError(t, err)
			require.Equal(t, NumSpecial+len(tc.want), tok.VocabSize())
			for i, s := range specialTokens {
				assert.Equal(t, s, tok.Token(i))
			}
			for i, w := range tc.want {
				assert.Equal(t, NumSpecial+i, tok.ID(w), w)
			}
		})
	}
	_, err := TrainTokenizer(texts, TokenizerConfig{VocabSize: NumSpecial})
	assert.ErrorIs(t, err, ErrRange)
	_, err = TrainTokenizer(texts, TokenizerConfig{MinFreq: -1})
	assert.ErrorIs(t, err, ErrRange)
	_, err = TrainTokenizer([]string{" ", ""}, TokenizerConfig{})
	assert.ErrorIs(t, err, ErrEmpty)
}

func TestTokenizerDeterministic(t *testing.T) {
	t.Parallel()
	ds, err := Bundled("train")
	require.NoError(t, err)
	var a, b bytes.Buffer
	for _, w := range []*bytes.Buffer{&a, &b} {
		tok, err := TrainTokenizer(ds.Texts(), TokenizerConfig{VocabSize: 3000})
		require.NoError(t, err)
		require.NoError(t, tok.WriteVocab(w))
	}
	assert.Equal(t, a.Bytes(), b.Bytes())
}

func TestEncodePair(t *testing.T) {
	t.Parallel()
	tok, err := TrainTokenizer([]string{"the cat sat on the mat .", "a dog ran"}, TokenizerConfig{})
	require.NoError(t, err)
	id := func(w string) int { return tok.ID(w) }

	e, err := tok.EncodePair("The cat sat.", "A dog ran fast", 12)
	require.NoError(t, err)
	assert.Equal(t, []int{ClsID, id("the"), id("cat"), id("sat"), id("."), SepID, id("a"), id("dog"), id("ran"), UnkID, SepID, PadID}, e.IDs)
	assert.Equal(t, []bool{true, true, true, true, true, true, true, true, true, true, true, false}, e.Mask)
	assert.Equal(t, []int{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0}, e.Segments)
	assert.Equal(t, 11, e.Len)
	assert.Zero(t, e.Truncated)

	// Longest first: s1 has 4 words, s2 has 4; 9 positions leave 6 words: s1 then s2 lose one each.
	e, err = tok.EncodePair("The cat sat.", "A dog ran fast", 9)
	require.NoError(t, err)
	assert.Equal(t, []int{ClsID, id("the"), id("cat"), id("sat"), SepID, id("a"), id("dog"), id("ran"), SepID}, e.IDs)
	assert.Equal(t, 2, e.Truncated)
	for _, m := range e.Mask {
		assert.True(t, m)
	}

	// Only the longer sentence is cut.
	e, err = tok.EncodePair("the cat sat on the mat", "a dog", 8)
	require.NoError(t, err)
	assert.Equal(t, "the cat sat a dog", tok.Decode(e.IDs))

	e, err = tok.EncodePair("", "", 3)
	require.NoError(t, err)
	assert.Equal(t, []int{ClsID, SepID, SepID}, e.IDs)

	_, err = tok.EncodePair("a", "b", 2)
	assert.ErrorIs(t, err, ErrRange)
}

func TestTokenizerRoundTrip(t *testing.T) {
	t.Parallel()
	ds, err := Bundled("dev")
	require.NoError(t, err)
	tok, err := TrainTokenizer(ds.Texts(), TokenizerConfig{VocabSize: 1 << 20})
	require.NoError(t, err)
	for _, ex := range ds.Examples {
		for _, s := range []string{ex.Sentence1, ex.Sentence2} {
			ids := tok.Tokenize(s)
			assert.NotContains(t, ids, UnkID, s)
			assert.Equal(t, strings.Join(PreTokenize(s, false), " "), tok.Decode(ids))
		}
	}
}

func TestVocabFile(t *testing.T) {
	t.Parallel()
	tok, err := TrainTokenizer([]string{"x y z z"}, TokenizerConfig{})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "vocab.txt")
	require.NoError(t, tok.SaveVocab(path))
	back, err := LoadVocab(path, false)
	require.NoError(t, err)
	assert.Equal(t, tok.tokens, back.tokens)

	bad := []struct{ in, msg string }{
		{"[PAD]\n[UNK]\n[SEP]\n[CLS]\nx\n", "line 3"},
		{"[PAD]\n[UNK]\n[CLS]\n[SEP]\nx\nx\n", "line 6 repeats"},
		{"[PAD]\n[UNK]\n[CLS]\n[SEP]\na b\n", "line 5"},
		{"[PAD]\n[UNK]\n[CLS]\n[SEP]\n", "need a word"},
	}
	for _, b := range bad {
		_, err := ReadVocab(strings.NewReader(b.in), false)
		require.Error(t, err, b.in)
		assert.Contains(t, err.Error(), b.msg)
	}
	_, err = LoadVocab(filepath.Join(t.TempDir(), "none"), false)
	assert.Error(t, err)
}

// Every committed result depends on today's vocabularies: the default rte-synth vocabularies are
// pinned by the SHA-256 of their vocab.txt, computed before [MASK] existed.
func TestVocabularyPinned(t *testing.T) {
	t.Parallel()
	ds, err := Bundled("train")
	require.NoError(t, err)
	for _, tc := range []struct {
		size, want int
		sum        string
	}{
		{0, 7006, "97f371e2a2fcf2a8596b0bda3a026021f593ab98054ab4d06211b7f8d06eb54c"},
		{3000, 3000, "df6979343c4a7c64a61d4d9ffd8cffe0faebb03771dca64f860ec359c42e45be"},
	} {
		tok, err := TrainTokenizer(ds.Texts(), TokenizerConfig{VocabSize: tc.size})
		require.NoError(t, err)
		h := sha256.New()
		require.NoError(t, tok.WriteVocab(h))
		assert.Equal(t, tc.want, tok.VocabSize())
		assert.Equal(t, tc.sum, hex.EncodeToString(h.Sum(nil)), "vocab_size %d", tc.size)
		assert.Equal(t, -1, tok.MaskID())
		assert.Equal(t, NumSpecial, tok.FirstWordID())
	}
}

func TestMaskToken(t *testing.T) {
	t.Parallel()
	texts := []string{"b a a c", "a b d", "c c a [MASK]"}
	plain, err := TrainTokenizer(texts, TokenizerConfig{VocabSize: 8})
	require.NoError(t, err)
	tok, err := TrainTokenizer(texts, TokenizerConfig{VocabSize: 8, Mask: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "c", "b"}, tok.Tokens())
	assert.Equal(t, 4, tok.MaskID())
	assert.Equal(t, 5, tok.FirstWordID())
	assert.Equal(t, 4, tok.ID(MaskToken))
	assert.Equal(t, plain.Tokens()[NumSpecial:7], tok.Tokens()[NumSpecial+1:], "the same words, one id later")
	assert.Equal(t, []int{5, 1, 6}, tok.Tokenize("a mask c"), "the text [MASK] is never the token")
	assert.Equal(t, "a [MASK] c", tok.Decode([]int{ClsID, 5, 4, 6, SepID, PadID}))

	var buf bytes.Buffer
	require.NoError(t, tok.WriteVocab(&buf))
	assert.True(t, strings.HasPrefix(buf.String(), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n"))
	back, err := ReadVocab(&buf, false)
	require.NoError(t, err)
	assert.Equal(t, tok.Tokens(), back.Tokens())
	assert.Equal(t, 4, back.MaskID())
	path := filepath.Join(t.TempDir(), "vocab.txt")
	require.NoError(t, tok.SaveVocab(path))
	back, err = LoadVocab(path, false)
	require.NoError(t, err)
	assert.Equal(t, 4, back.MaskID())

	_, err = TrainTokenizer(texts, TokenizerConfig{VocabSize: NumSpecial + 1, Mask: true})
	assert.ErrorIs(t, err, ErrRange, "no room for a word")
}

func TestNewTokenizer(t *testing.T) {
	t.Parallel()
	words := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "The", "cat"}
	tok, err := NewTokenizer(words, true)
	require.NoError(t, err)
	words[5] = "changed"
	assert.Equal(t, "The", tok.Token(5), "the input is copied")
	assert.Equal(t, []int{5, 6, UnkID}, tok.Tokenize("The cat the"))
	assert.True(t, tok.KeepCase())
	assert.Equal(t, 4, tok.MaskID())
	out := tok.Tokens()
	out[6] = "dog"
	assert.Equal(t, "cat", tok.Token(6), "Tokens returns a copy")
	again, err := NewTokenizer(tok.Tokens(), true)
	require.NoError(t, err)
	assert.Equal(t, tok.Tokens(), again.Tokens())
	noMask, err := NewTokenizer([]string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "x"}, false)
	require.NoError(t, err)
	assert.Equal(t, -1, noMask.MaskID())

	sp := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]"}
	tests := []struct {
		name   string
		tokens []string
		err    error
		msg    string
	}{
		{"nil", nil, ErrEmpty, "need a word"},
		{"specials only", sp, ErrEmpty, "need a word"},
		{"specials and mask only", append(sp[:4:4], "[MASK]"), ErrEmpty, "need a word"},
		{"special order", []string{"[PAD]", "[CLS]", "[UNK]", "[SEP]", "x"}, ErrFormat, "line 2"},
		{"mask elsewhere", append(sp[:4:4], "x", "[MASK]"), ErrFormat, "line 6 is \"[MASK]\", which may only be line 5"},
		{"duplicate", append(sp[:4:4], "x", "y", "x"), ErrFormat, "line 7 repeats"},
		{"empty token", append(sp[:4:4], ""), ErrFormat, "line 5"},
		{"white space", append(sp[:4:4], "a\tb"), ErrFormat, "line 5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewTokenizer(tc.tokens, false)
			require.ErrorIs(t, err, tc.err)
			assert.ErrorContains(t, err, tc.msg)
		})
	}
	_, err = ReadVocab(strings.NewReader("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"), false)
	assert.ErrorIs(t, err, ErrEmpty)
	_, err = ReadVocab(strings.NewReader("[PAD]\n[UNK]\n[CLS]\n[SEP]\nx\n[MASK]\n"), false)
	assert.ErrorIs(t, err, ErrFormat)
}
