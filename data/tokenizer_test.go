package data

import (
	"bytes"
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
		{"[PAD]\n[UNK]\n[CLS]\n[SEP]\n", "need more than"},
	}
	for _, b := range bad {
		_, err := ReadVocab(strings.NewReader(b.in), false)
		require.Error(t, err, b.in)
		assert.Contains(t, err.Error(), b.msg)
	}
	_, err = LoadVocab(filepath.Join(t.TempDir(), "none"), false)
	assert.Error(t, err)
}
