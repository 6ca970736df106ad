package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/data"
	"github.com/wtacrs/wtacrs/internal/kjv"
)

// wnFixture is the hand-made WordNet database of package wordnet's tests.
var wnFixture = filepath.Join("..", "..", "internal", "wordnet", "testdata")

// kjvFixture writes 60 chapters of 3 verses, the chapter named in each verse.
func kjvFixture(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for c := 1; c <= 60; c++ {
		for v := 1; v <= 3; v++ {
			fmt.Fprintf(&b, "Ex%d:%d And  Moses spake in chapter %d, verse %d.\n", c, v, c, v)
		}
	}
	path := filepath.Join(t.TempDir(), "kjv.txt")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return path
}

// devilText is a dictd text of three entries; devilIndex lists them alphabetically, with a
// dictfmt entry and a second headword for one entry.
const devilText = "00-database-info\nThe preface.\n\n" +
	"ZEAL, n.  A certain nervous disorder afflicting the young and\ninexperienced.\n\n" +
	"ABDICATION, n.  An act whereby a sovereign attests his sense of the\nhigh temperature of the throne.\n\n" +
	"    Poor _Isabella's_ Dead, whose abdication\n    Set all tongues wagging.\n" +
	"                                                                  G.J.\n\n" +
	"CANNON, n.  A cannon-\nshot and a cannon--\nball.\n"

func devilFixture(t *testing.T) string {
	t.Helper()
	off := func(s string) int { return strings.Index(devilText, s) }
	enc := func(v int) string {
		const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		if v == 0 {
			return "A"
		}
		s := ""
		for ; v > 0; v >>= 6 {
			s = string(digits[v&63]) + s
		}
		return s
	}
	entry := func(word string, from, to int) string {
		return word + "\t" + enc(from) + "\t" + enc(to-from) + "\n"
	}
	z, a, c := off("ZEAL"), off("ABDICATION"), off("CANNON")
	idx := entry("00databaseinfo", 0, z) + entry("abdication", a, c) + entry("cannon", c, len(devilText)) +
		entry("zeal", z, a) + entry("zeal, n.", z, a)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "devil.dict"), []byte(devilText), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "devil.index"), []byte(idx), 0o644))
	return filepath.Join(dir, "devil.dict")
}

func TestDevilDocuments(t *testing.T) {
	t.Parallel()
	docs, err := devilDocuments(devilFixture(t))
	require.NoError(t, err)
	want := []document{
		{srcDevil, "zeal", []string{"ZEAL, n. A certain nervous disorder afflicting the young and inexperienced."}},
		{srcDevil, "abdication", []string{"ABDICATION, n. An act whereby a sovereign attests his sense of the high temperature of the throne.",
			"Poor Isabella's Dead, whose abdication Set all tongues wagging."}},
		{srcDevil, "cannon", []string{"CANNON, n. A cannon-shot and a cannon-- ball."}},
	}
	assert.Equal(t, want, docs)
}

func TestB64(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]int{"A": 0, "B": 1, "/": 63, "BA": 64, "uA": 46 * 64, "BdqM": 1<<18 + 29<<12 + 42<<6 + 12} {
		got, err := b64(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, got, s)
	}
	for _, s := range []string{"", "A-", "AAAAAAAAA"} {
		_, err := b64(s)
		assert.Error(t, err, s)
	}
}

func TestWordNetDocuments(t *testing.T) {
	t.Parallel()
	docs, err := wordnetDocuments(options{wordnet: wnFixture, group: 2})
	require.NoError(t, err)
	require.NotEmpty(t, docs)
	assert.Equal(t, document{srcWordNet, "noun:00000100", []string{"lion, king of beasts: a large cat", "big cat, cat: a feline"}}, docs[0])
	last := docs[len(docs)-1]
	assert.Equal(t, document{srcWordNet, "adv:00000100", []string{"quickly: with speed", "she answered quickly", "run quickly", "slowly: without speed"}}, last)
	for _, d := range docs {
		assert.LessOrEqual(t, len(d.lines), 2*3, "at most two synsets per document")
	}
}

// readDocs reads a docs.tsv side file.
func readDocs(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	require.True(t, sc.Scan())
	assert.Equal(t, "doc\tsource\tref\tlines\twords", sc.Text())
	for sc.Scan() {
		rows = append(rows, strings.Split(sc.Text(), "\t"))
	}
	return rows
}

func TestRun(t *testing.T) {
	t.Parallel()
	verses, devil := kjvFixture(t), devilFixture(t)
	var outs [2]string
	for i := range outs {
		outs[i] = t.TempDir()
		var stdout, stderr bytes.Buffer
		err := run([]string{"-kjv", verses, "-wordnet", wnFixture, "-devil", devil, "-out", outs[i],
			"-every", "3", "-group", "2", "-rte-seed", "1", "-rte-dev-every", "4"}, &stdout, &stderr)
		require.NoError(t, err, stderr.String())
		assert.Contains(t, stdout.String(), "train: kjv: ")
	}
	for _, f := range []string{"train.txt.gz", "dev.txt.gz", "train.docs.tsv", "dev.docs.tsv"} {
		a, err := os.ReadFile(filepath.Join(outs[0], f))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(outs[1], f))
		require.NoError(t, err)
		assert.Equal(t, a, b, "%s is reproducible", f)
		if strings.HasSuffix(f, ".gz") {
			// gzip header: ID1 ID2 CM FLG MTIME(4) XFL OS, with no name, no comment and
			// modification time 0.
			assert.Equal(t, []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0}, a[:8], "%s has a fixed header", f)
		}
	}
	// Every rte-synth dev chapter is left out of both splits; of the others, in order, every
	// third goes to the held-out split.
	split := map[string]string{} // KJV chapter -> split
	for _, name := range []string{"train", "dev"} {
		c, err := data.LoadCorpus(filepath.Join(outs[0], name+".txt.gz"))
		require.NoError(t, err)
		rows := readDocs(t, filepath.Join(outs[0], name+".docs.tsv"))
		require.Len(t, c.Docs, len(rows), "one side-file row per document")
		for i, r := range rows {
			require.Len(t, r, 5)
			assert.Equal(t, strconv.Itoa(i), r[0])
			assert.Equal(t, strconv.Itoa(len(c.Docs[i])), r[3], "lines of %s", r[2])
			words := 0
			for _, l := range c.Docs[i] {
				words += len(strings.Fields(l))
			}
			assert.Equal(t, strconv.Itoa(words), r[4], "words of %s", r[2])
			if r[1] == srcKJV {
				split[r[2]] = name
				assert.Equal(t, "And Moses spake in chapter "+strings.TrimPrefix(r[2], "Ex")+", verse 1.", c.Docs[i][0], "white space collapsed")
			}
		}
	}
	kept, left := 0, 0
	for ch := 1; ch <= 60; ch++ {
		ref := "Ex" + strconv.Itoa(ch)
		if kjv.DevChapter(1, "Ex", ch, 4) {
			left++
			assert.Empty(t, split[ref], "rte-synth dev chapter %s in the corpus", ref)
			continue
		}
		want := "train"
		if kept%3 == 2 {
			want = "dev"
		}
		assert.Equal(t, want, split[ref], "chapter %s", ref)
		kept++
	}
	assert.Positive(t, left, "the fixture has rte-synth dev chapters")
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	verses := kjvFixture(t)
	bad := filepath.Join(t.TempDir(), "bad.txt")
	require.NoError(t, os.WriteFile(bad, []byte("Ge1:1 In the beginning.\nnot a verse\n"), 0o644))
	notDict := filepath.Join(t.TempDir(), "devil.txt")
	require.NoError(t, os.WriteFile(notDict, []byte("x"), 0o644))
	noIndex := filepath.Join(t.TempDir(), "devil.dict")
	require.NoError(t, os.WriteFile(noIndex, []byte("x"), 0o644))
	badIndex := filepath.Join(t.TempDir(), "devil.dict")
	require.NoError(t, os.WriteFile(badIndex, []byte("short text"), 0o644))
	require.NoError(t, os.WriteFile(strings.TrimSuffix(badIndex, ".dict")+".index", []byte("word\tA\tZZ\n"), 0o644))
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"-every", "1"}, "-every >= 2"},
		{[]string{"-group", "0"}, "-group >= 1"},
		{[]string{"-kjv", bad, "-wordnet", wnFixture, "-devil", ""}, "bad.txt:2: not a verse line"},
		{[]string{"-kjv", verses, "-wordnet", t.TempDir(), "-devil", ""}, "data.noun"},
		{[]string{"-kjv", verses, "-wordnet", wnFixture, "-devil", notDict}, "ends in .dict or .dict.dz"},
		{[]string{"-kjv", verses, "-wordnet", wnFixture, "-devil", noIndex}, "devil.index"},
		{[]string{"-kjv", verses, "-wordnet", wnFixture, "-devil", badIndex}, "devil.index:1: range"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"-nosuchflag"}, "not defined"},
	}
	for _, tc := range tests {
		var stderr bytes.Buffer
		err := run(append(tc.args, "-out", t.TempDir()), &bytes.Buffer{}, &stderr)
		require.Error(t, err, tc.args)
		assert.Contains(t, err.Error()+stderr.String(), tc.msg, tc.args)
	}
}
