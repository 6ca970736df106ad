package data

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBundledBalanced(t *testing.T) {
	t.Parallel()
	sizes := map[string]int{"train": 5000, "dev": 500}
	premises := map[string]map[string]bool{}
	for split, n := range sizes {
		ds, err := Bundled(split)
		require.NoError(t, err)
		require.True(t, ds.Labelled)
		require.Equal(t, n, ds.Len())
		assert.Equal(t, [NumLabels]int{n / 2, n / 2}, ds.LabelCounts(), "%s is balanced", split)
		premises[split] = map[string]bool{}
		for i, ex := range ds.Examples {
			assert.Equal(t, i, ex.Index)
			assert.NotEqual(t, ex.Sentence1, ex.Sentence2)
			premises[split][ex.Sentence1] = true
		}
	}
	for p := range premises["dev"] {
		assert.False(t, premises["train"][p], "premise in both splits: %q", p)
	}
	_, err := Bundled("test")
	assert.ErrorIs(t, err, ErrRange)
}

// The side files name the construction of each pair; its label must agree with the pair's.
func TestBundledKindsMatchLabels(t *testing.T) {
	t.Parallel()
	entail := map[string]bool{"clause": true, "synonym": true, "hypernym": true}
	known := map[string]bool{"antonym": true, "hyponym": true, "sister": true, "negation": true, "swap": true, "other": true}
	for _, split := range []string{"train", "dev"} {
		ds, err := Bundled(split)
		require.NoError(t, err)
		f, err := os.Open(filepath.Join("rte-synth", split+".meta.tsv"))
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		require.True(t, sc.Scan())
		i := 0
		for sc.Scan() {
			fields := strings.Split(sc.Text(), "\t")
			require.Len(t, fields, 4)
			k := fields[1]
			require.True(t, entail[k] || known[k], "unknown kind %q", k)
			want := NotEntailment
			if entail[k] {
				want = Entailment
			}
			assert.Equal(t, want, ds.Examples[i].Label, "%s line %d", split, i+2)
			i++
		}
		f.Close()
		assert.Equal(t, ds.Len(), i)
	}
}

func TestLoadBundled(t *testing.T) {
	t.Parallel()
	s, err := Load(Config{})
	require.NoError(t, err)
	assert.Equal(t, 5000, s.TrainEnc.N)
	assert.Equal(t, 500, s.DevEnc.N)
	assert.Equal(t, DefaultMaxLen, s.TrainEnc.SeqLen)
	assert.Zero(t, s.TrainEnc.Truncated, "bundled pairs fit in 128 tokens")
	assert.Zero(t, s.DevEnc.Truncated)
	assert.LessOrEqual(t, s.Tokenizer.VocabSize(), DefaultTokenizerConfig().VocabSize)
	// Every row starts with [CLS] and its mask is a prefix of trues.
	for i := range s.TrainEnc.N {
		row := s.TrainEnc.Mask[i*128 : (i+1)*128]
		assert.Equal(t, ClsID, s.TrainEnc.IDs[i*128])
		n := 0
		for n < len(row) && row[n] {
			n++
		}
		for _, m := range row[n:] {
			require.False(t, m)
		}
	}
}

func TestLoadFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vocab := filepath.Join(dir, "vocab.txt")
	s, err := Load(Config{Train: filepath.Join("testdata", "glue_train.tsv"), Dev: filepath.Join("testdata", "glue_train.tsv"), MaxLen: 16})
	require.NoError(t, err)
	assert.Equal(t, 3, s.TrainEnc.N)
	assert.Equal(t, 16, s.TrainEnc.SeqLen)
	assert.Equal(t, 2, s.TrainEnc.Truncated)
	require.NoError(t, s.Tokenizer.SaveVocab(vocab))
	s2, err := Load(Config{Train: filepath.Join("testdata", "glue_train.tsv"), Dev: filepath.Join("testdata", "glue_train.tsv"), MaxLen: 16, Vocab: vocab})
	require.NoError(t, err)
	assert.Equal(t, s.TrainEnc.IDs, s2.TrainEnc.IDs)

	tests := []struct {
		name string
		cfg  Config
		msg  string
	}{
		{"train only", Config{Train: "a.tsv"}, "both"},
		{"bad max len", Config{MaxLen: 2}, "max_len"},
		{"missing file", Config{Train: filepath.Join(dir, "none.tsv"), Dev: filepath.Join(dir, "none.tsv")}, "none.tsv"},
		{"unlabelled", Config{Train: filepath.Join("testdata", "glue_test.tsv"), Dev: filepath.Join("testdata", "glue_test.tsv")}, "no label column"},
	}
	for _, tc := range tests {
		_, err := Load(tc.cfg)
		require.Error(t, err, tc.name)
		assert.Contains(t, err.Error(), tc.msg, tc.name)
	}
}
