package wordnet

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testDB(t *testing.T) *DB {
	t.Helper()
	db, err := Load("testdata")
	require.NoError(t, err)
	return db
}

func TestLoad(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	assert.Equal(t, "lion", db.Lemma("lions", 'n'))
	assert.Equal(t, "tiger", db.Lemma("tigers", 'n'))
	assert.Equal(t, "city", db.Lemma("cities", 'n'))
	assert.Equal(t, "", db.Lemma("slays", 'v'))
	assert.True(t, db.Known("slay", 'v'))
	assert.False(t, db.Known("slays", 'v'))
	lion := db.First("lion", 'n')
	require.NotNil(t, lion)
	assert.Equal(t, []string{"lion", "king_of_beasts"}, lion.Words)
	assert.Equal(t, 100, lion.Offset)
	assert.Equal(t, 5, lion.LexFile)
	assert.Equal(t, "a large cat", lion.Gloss)
	assert.Equal(t, []string{"bad"}, db.Antonyms("good", 'a'))
	assert.Equal(t, []string{"dark"}, db.Antonyms("light", 'n'))
	assert.Empty(t, db.Antonyms("beneficial", 'a'), "antonymy is between words, not synsets")
	assert.Equal(t, []string{"great"}, db.First("great", 'a').Words, "position marker stripped")
	hyper := db.Related("lion", 'n', "@")
	require.Len(t, hyper, 1)
	assert.Equal(t, "big_cat", hyper[0].Words[0])
	assert.Nil(t, db.First("unicorn", 'n'))
}

func TestReadDataOrder(t *testing.T) {
	t.Parallel()
	ss, err := ReadData(filepath.Join("testdata", "data.noun"))
	require.NoError(t, err)
	require.NotEmpty(t, ss)
	for i := 1; i < len(ss); i++ {
		assert.Less(t, ss[i-1].Offset, ss[i].Offset, "file order")
	}
}

func TestLoadMalformed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, f := range []string{"data.noun", "data.verb", "data.adj", "index.noun", "index.verb", "index.adj", "noun.exc", "verb.exc", "adj.exc"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data.verb"), []byte("00000700 41 v zz slay 0 000 | bad count\n"), 0o644))
	_, err := Load(dir)
	require.ErrorIs(t, err, ErrFormat)
	assert.Contains(t, err.Error(), "data.verb:1: word count")
	_, err = Load(t.TempDir())
	assert.ErrorContains(t, err, "no such file")
	for _, line := range []string{
		"00000700",
		"x 41 v 01 slay 0 000",
		"00000700 x v 01 slay 0 000",
		"00000700 41 v 02 slay 0",
		"00000700 41 v 01 slay 0",
		"00000700 41 v 01 slay 0 x",
		"00000700 41 v 01 slay 0 001 @ 1",
		"00000700 41 v 01 slay 0 001 @ x v 0000",
		"00000700 41 v 01 slay 0 001 @ 1 v zz",
	} {
		_, err := parseSynset(line)
		assert.Error(t, err, line)
	}
}

func TestSplitGloss(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, def string
		ex      []string
	}{
		{"a large cat", "a large cat", nil},
		{`use dental floss to clean; "floss your teeth after every meal"  `, "use dental floss to clean", []string{"floss your teeth after every meal"}},
		{`apply powder to; "She powdered her nose"; "The King wears a powdered wig"`, "apply powder to", []string{"She powdered her nose", "The King wears a powdered wig"}},
		{`marked by little heed; "We know now that it is bad economics"--Franklin D. Roosevelt; "heedless of danger"`, "marked by little heed", []string{"We know now that it is bad economics", "heedless of danger"}},
		{`(usually followed by ` + "`to'" + `) able; "able to swim"`, "(usually followed by `to') able", []string{"able to swim"}},
		{`a word; another sense; "the "so-called" word"`, "a word; another sense", []string{`the "so-called" word`}},
		{`"only an example"`, "", []string{"only an example"}},
		{`defined; "unclosed`, "defined", nil},
		{`defined;`, "defined", nil},
		{"", "", nil},
	}
	for _, tc := range tests {
		def, ex := SplitGloss(tc.in)
		assert.Equal(t, tc.def, def, tc.in)
		assert.Equal(t, tc.ex, ex, tc.in)
	}
}
