package data

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadBundledCorpus parses both splits of the bundled corpus once for the tests that read them.
var loadBundledCorpus = sync.OnceValues(func() (map[string]*Corpus, error) {
	out := map[string]*Corpus{}
	for _, s := range []string{"train", "dev"} {
		c, err := BundledCorpus(s)
		if err != nil {
			return nil, err
		}
		out[s] = c
	}
	return out, nil
})

func bundledCorpus(t *testing.T) map[string]*Corpus {
	t.Helper()
	c, err := loadBundledCorpus()
	require.NoError(t, err)
	return c
}

// docRows reads data/corpus/SPLIT.docs.tsv: source, ref, lines, words per document.
func docRows(t *testing.T, split string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("corpus", split+".docs.tsv"))
	require.NoError(t, err)
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	require.True(t, sc.Scan())
	for sc.Scan() {
		r := strings.Split(sc.Text(), "\t")
		require.Len(t, r, 5)
		rows = append(rows, r[1:])
	}
	require.NoError(t, sc.Err())
	return rows
}

// The counts of docs/data.md, per split and source: documents, lines, words.
func TestBundledCorpusCounts(t *testing.T) {
	t.Parallel()
	corpora := bundledCorpus(t)
	want := map[string]map[string][3]int{
		"train": {"kjv": {1009, 26509, 673454}, "devil": {950, 1372, 57401}, "wordnet": {7008, 156958, 1656982}},
		"dev":   {"kjv": {53, 1416, 35363}, "devil": {49, 88, 2681}, "wordnet": {368, 8230, 85743}},
	}
	for split, c := range corpora {
		rows := docRows(t, split)
		require.Len(t, c.Docs, len(rows))
		got := map[string][3]int{}
		for i, r := range rows {
			words := 0
			for _, l := range c.Docs[i] {
				words += len(strings.Fields(l))
			}
			assert.Equal(t, r[2], strconv.Itoa(len(c.Docs[i])), "%s document %d", split, i)
			assert.Equal(t, r[3], strconv.Itoa(words), "%s document %d", split, i)
			g := got[r[0]]
			got[r[0]] = [3]int{g[0] + 1, g[1] + len(c.Docs[i]), g[2] + words}
		}
		assert.Equal(t, want[split], got, split)
	}
	_, err := BundledCorpus("test")
	assert.ErrorIs(t, err, ErrRange)
}

var chapterOf = regexp.MustCompile(`^([1-3]?[A-Za-z]+\d+):\d+$`)

// Pretraining never sees a premise of the rte-synth dev split: no corpus line is one, and no
// chapter of one is a corpus document.
func TestBundledCorpusExcludesDevPremises(t *testing.T) {
	t.Parallel()
	corpora := bundledCorpus(t)
	dev, err := Bundled("dev")
	require.NoError(t, err)
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	premises := map[string]bool{}
	for _, ex := range dev.Examples {
		premises[norm(ex.Sentence1)] = true
	}
	devChapters := map[string]bool{}
	f, err := os.Open(filepath.Join("rte-synth", "dev.meta.tsv"))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	require.True(t, sc.Scan())
	for sc.Scan() {
		ref := strings.Split(sc.Text(), "\t")[2]
		m := chapterOf.FindStringSubmatch(ref)
		require.NotNil(t, m, ref)
		devChapters[m[1]] = true
	}
	require.Len(t, premises, 500)
	require.NotEmpty(t, devChapters)
	// The negative control: the same line check finds the train premises, which may stay.
	train, err := Bundled("train")
	require.NoError(t, err)
	trainPremises := map[string]bool{}
	for _, ex := range train.Examples {
		trainPremises[norm(ex.Sentence1)] = true
	}
	foundTrain := 0
	kjvDocs := 0
	for split, c := range corpora {
		for i, r := range docRows(t, split) {
			if r[0] == "kjv" {
				kjvDocs++
				assert.False(t, devChapters[r[1]], "rte-synth dev chapter %s in corpus %s", r[1], split)
			}
			for _, l := range c.Docs[i] {
				assert.False(t, premises[l], "rte-synth dev premise in corpus %s: %q", split, l)
				if trainPremises[l] {
					foundTrain++
					delete(trainPremises, l)
				}
			}
		}
	}
	assert.Equal(t, 1189-127, kjvDocs, "the KJV's 1,189 chapters but 127 rte-synth dev chapters")
	assert.Equal(t, 5000, foundTrain, "every train premise is a corpus line: the check can see premises")
}
