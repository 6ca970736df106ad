package kjv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	vs, err := Parse(strings.NewReader("Ge1:1 In the beginning God created the heaven and the earth.\n\n2Ki10:3 Look even out.\n"), "x")
	require.NoError(t, err)
	require.Len(t, vs, 2)
	assert.Equal(t, Verse{Book: "Ge", Chapter: 1, Verse: 1, Text: "In the beginning God created the heaven and the earth."}, vs[0])
	assert.Equal(t, "2Ki10:3", vs[1].Ref())
	assert.Equal(t, "2Ki10", vs[1].ChapterRef())
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, msg string }{
		{"Ge1:1 In the beginning.\nnot a verse\n", "x:2: not a verse line"},
		{"\n\n", "x: no verses"},
		{"Ge1:1 " + strings.Repeat("a", maxLine), "x:1: bufio.Scanner: token too long"},
		{"Ge1:99999999999999999999 overflow\n", "x:1: verse reference out of range"},
	}
	for _, tc := range tests {
		_, err := Parse(strings.NewReader(tc.in), "x")
		require.ErrorIs(t, err, ErrFormat, tc.msg)
		assert.ErrorContains(t, err, tc.msg)
	}
}

func TestRead(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "v.txt")
	require.NoError(t, os.WriteFile(p, []byte("Ex3:4 And he said, Moses.\n"), 0o644))
	vs, err := Read(p)
	require.NoError(t, err)
	assert.Equal(t, "Ex3:4", vs[0].Ref())
	_, err = Read(t.TempDir())
	assert.ErrorContains(t, err, "a directory")
}

// The rule is pinned: the committed rte-synth dev split and the corpus built without its
// chapters both depend on it.
func TestDevChapter(t *testing.T) {
	t.Parallel()
	var dev []string
	for _, b := range []string{"Ge", "Ex", "Ps"} {
		for c := 1; c <= 40; c++ {
			if DevChapter(1, b, c, 10) {
				dev = append(dev, fmt.Sprintf("%s%d", b, c))
			}
		}
	}
	assert.Equal(t, []string{"Ge11", "Ge20", "Ge39", "Ex7", "Ex12", "Ex21", "Ex34", "Ps5", "Ps10", "Ps21"}, dev)
	assert.False(t, DevChapter(2, "Ge", 11, 10), "the seed changes the chapters")
	assert.True(t, DevChapter(7, "Ge", 1, 1), "every 1: all chapters")
	assert.True(t, DevChapter(7, "Ge", 1, 0), "every below 1 is read as 1")
}
