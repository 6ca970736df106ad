package data

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/internal/inputfile"
)

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, err := zw.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return b.Bytes()
}

func TestParseCorpus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     [][]string
	}{
		{"one document", "a b\nc\n", [][]string{{"a b", "c"}}},
		{"no final newline", "a b\nc", [][]string{{"a b", "c"}}},
		{"documents", "a\n\nb\nc\n\n", [][]string{{"a"}, {"b", "c"}}},
		{"blank runs", "\n \n\ta\n\n\n  \nb\n\n", [][]string{{"a"}, {"b"}}},
		{"trimmed", "  a  b \t\n", [][]string{{"a  b"}}},
		{"crlf and bom", "\ufeffa\r\n\r\nb\r\n", [][]string{{"a"}, {"b"}}},
		{"utf-8", "café ærø\n", [][]string{{"café ærø"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseCorpus(strings.NewReader(tc.in), "x.txt")
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.Docs)
			assert.Equal(t, "x.txt", c.Name)
			z, err := ParseCorpus(bytes.NewReader(gz(t, tc.in)), "x.txt.gz")
			require.NoError(t, err, "gzip-compressed")
			assert.Equal(t, tc.want, z.Docs)
		})
	}
	c, err := ParseCorpus(strings.NewReader("a b\nc\n\nd\n"), "x")
	require.NoError(t, err)
	assert.Equal(t, 3, c.Lines())
	assert.Equal(t, []string{"a b", "c", "d"}, c.Texts())
}

func TestParseCorpusErrors(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", MaxCorpusLine+1)
	corrupt := gz(t, "some text\n")
	corrupt = corrupt[:len(corrupt)-6] // truncated trailer
	tests := []struct {
		name string
		in   []byte
		file string
		err  error
		msg  string
	}{
		{"invalid utf-8", []byte("ok\nbad \xff\n"), "x.txt", ErrFormat, "x.txt line 2 is not valid UTF-8"},
		{"nul", []byte("ok\n\nbad\x00\n"), "x.txt", ErrFormat, "x.txt line 3: a '\\x00' byte"},
		{"carriage return", []byte("bad\rline\n"), "x.txt", ErrFormat, "x.txt line 1: a '\\r' byte"},
		{"long line", []byte("ok\n" + long + "\n"), "x.txt", ErrFormat, "x.txt line 2 is longer than 1048576 bytes"},
		{"long last line", []byte(long), "x.txt", ErrFormat, "x.txt line 1 is longer than"},
		{"not gzip", []byte("plain\n"), "x.txt.gz", ErrFormat, "named .gz but not gzip-compressed"},
		{"corrupt gzip", corrupt, "x.txt.gz", ErrFormat, "x.txt.gz line 2: unexpected EOF"},
		{"gzip header only", []byte{0x1f, 0x8b, 8}, "x", ErrFormat, "x: unexpected EOF"},
		{"empty", nil, "x.txt", ErrEmpty, "x.txt: no text"},
		{"blank", []byte("\n \r\n\n"), "x.txt", ErrEmpty, "no text"},
		{"empty gzip", gz(t, ""), "x.txt.gz", ErrEmpty, "no text"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseCorpus(bytes.NewReader(tc.in), tc.file)
			require.ErrorIs(t, err, tc.err)
			assert.ErrorContains(t, err, tc.msg)
		})
	}
	_, err := parseCorpus(bytes.NewReader(gz(t, strings.Repeat("ab\n", 100))), "bomb.gz", 299)
	require.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, "bomb.gz holds more than 299 bytes of text")
	_, err = parseCorpus(bytes.NewReader(gz(t, strings.Repeat("ab\n", 100))), "fits.gz", 300)
	assert.NoError(t, err)
}

func TestLoadCorpus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plain := filepath.Join(dir, "c.txt")
	require.NoError(t, os.WriteFile(plain, []byte("a\n\nb\n"), 0o644))
	packed := filepath.Join(dir, "c.txt.gz")
	require.NoError(t, os.WriteFile(packed, gz(t, "a\n\nb\n"), 0o644))
	for _, p := range []string{plain, packed} {
		c, err := LoadCorpus(p)
		require.NoError(t, err, p)
		assert.Equal(t, [][]string{{"a"}, {"b"}}, c.Docs)
		assert.Equal(t, p, c.Name)
	}
	misnamed := filepath.Join(dir, "misnamed.txt")
	require.NoError(t, os.WriteFile(misnamed, gz(t, "a\n"), 0o644))
	c, err := LoadCorpus(misnamed)
	require.NoError(t, err, "the magic bytes, not the name, say it is compressed")
	assert.Equal(t, [][]string{{"a"}}, c.Docs)
	_, err = LoadCorpus(dir)
	require.ErrorIs(t, err, inputfile.ErrUnreadable)
	assert.ErrorContains(t, err, "a directory")
	_, err = LoadCorpus(filepath.Join(dir, "none.txt"))
	assert.ErrorIs(t, err, inputfile.ErrUnreadable)
}

// wordTokenizer is a tokenizer with [MASK] and the words w0…w99.
func wordTokenizer(t testing.TB) *Tokenizer {
	t.Helper()
	toks := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", MaskToken}
	for i := range 100 {
		toks = append(toks, "w"+string(rune('0'+i/10))+string(rune('0'+i%10)))
	}
	tok, err := NewTokenizer(toks, false)
	require.NoError(t, err)
	return tok
}

func TestEncodeCorpus(t *testing.T) {
	t.Parallel()
	tok := wordTokenizer(t)
	w := func(ns ...int) []int { // the ids of words w<n>
		out := make([]int, len(ns))
		for i, n := range ns {
			out[i] = tok.FirstWordID() + n
		}
		return out
	}
	row := func(body []int, maxLen int) []int {
		r := append(append([]int{ClsID}, body...), SepID)
		for len(r) < maxLen {
			r = append(r, PadID)
		}
		return r
	}
	cat := func(xs ...[]int) []int {
		var out []int
		for _, x := range xs {
			out = append(out, x...)
		}
		return out
	}
	tests := []struct {
		name   string
		docs   [][]string
		maxLen int
		rows   [][]int
		index  []int
	}{
		{"lines packed", [][]string{{"w00 w01", "w02", "w03 w04"}}, 8, [][]int{row(w(0, 1, 2, 3, 4), 8)}, []int{0}},
		{"a line that does not fit starts a row", [][]string{{"w00 w01 w02", "w03 w04 w05 w06"}}, 6,
			[][]int{row(w(0, 1, 2), 6), row(w(3, 4, 5, 6), 6)}, []int{0, 0}},
		{"exact fit", [][]string{{"w00 w01", "w02 w03"}}, 6, [][]int{row(w(0, 1, 2, 3), 6)}, []int{0}},
		{"documents never share a row", [][]string{{"w00"}, {"w01"}}, 8, [][]int{row(w(0), 8), row(w(1), 8)}, []int{0, 1}},
		{"a long line is cut, its tail joined by the next", [][]string{{"w00 w01 w02 w03 w04 w05 w06", "w07"}}, 5,
			[][]int{row(w(0, 1, 2), 5), row(w(3, 4, 5), 5), row(w(6, 7), 5)}, []int{0, 0, 0}},
		{"a long line after a short one", [][]string{{"w00", "w01 w02 w03 w04"}}, 5,
			[][]int{row(w(0), 5), row(w(1, 2, 3), 5), row(w(4), 5)}, []int{0, 0, 0}},
		{"punctuation and unknown words count", [][]string{{"w00, zz."}}, 7, [][]int{row([]int{w(0)[0], tok.ID(","), UnkID, tok.ID(".")}, 7)}, []int{0}},
		{"a document without tokens gives no row", [][]string{{"w00"}, {"   "}, {"w01"}}, 3, [][]int{row(w(0), 3), row(w(1), 3)}, []int{0, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := EncodeCorpus(&Corpus{Name: "c", Docs: tc.docs}, tok, tc.maxLen)
			require.NoError(t, err)
			require.NoError(t, e.check())
			assert.Equal(t, len(tc.rows), e.N)
			assert.Equal(t, tc.maxLen, e.SeqLen)
			assert.Equal(t, cat(tc.rows...), e.IDs)
			assert.Equal(t, tc.index, e.Index)
			assert.Equal(t, "c", e.Name)
			assert.Zero(t, e.Truncated)
			for i, id := range e.IDs {
				assert.Equal(t, id != PadID, e.Mask[i], "mask at %d", i)
				assert.Zero(t, e.Segments[i])
			}
			for _, l := range e.Labels {
				assert.Equal(t, NoLabel, l)
			}
		})
	}
	_, err := EncodeCorpus(&Corpus{Docs: [][]string{{"a"}}}, tok, 2)
	assert.ErrorIs(t, err, ErrRange)
	_, err = EncodeCorpus(&Corpus{Docs: [][]string{{"  "}}}, tok, 8)
	assert.ErrorIs(t, err, ErrEmpty)
	_, err = EncodeCorpus(nil, tok, 8)
	assert.ErrorIs(t, err, ErrEmpty)
}

// The encoded corpus serves batches through the ordinary loader, every row once per epoch.
func TestEncodeCorpusLoader(t *testing.T) {
	t.Parallel()
	tok := wordTokenizer(t)
	var docs [][]string
	for d := range 30 {
		var lines []string
		for l := range d % 7 {
			lines = append(lines, strings.Repeat("w"+string(rune('0'+l))+"3 ", d%5+1))
		}
		if len(lines) > 0 {
			docs = append(docs, lines)
		}
	}
	e, err := EncodeCorpus(&Corpus{Name: "c", Docs: docs}, tok, 6)
	require.NoError(t, err)
	again, err := EncodeCorpus(&Corpus{Name: "c", Docs: docs}, tok, 6)
	require.NoError(t, err)
	assert.Equal(t, e, again, "deterministic")
	l, err := NewLoader(e, LoaderConfig{BatchSize: 4, Shuffle: true, Seed: 3})
	require.NoError(t, err)
	batches, err := l.Epoch(0)
	require.NoError(t, err)
	seen := map[int]bool{}
	for _, b := range batches {
		for r, i := range b.Indices {
			assert.False(t, seen[i])
			seen[i] = true
			assert.Equal(t, e.IDs[i*6:(i+1)*6], b.IDs[r*6:(r+1)*6])
			assert.Equal(t, NoLabel, b.Labels[r])
		}
	}
	assert.Len(t, seen, e.N)
}
