package main

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/data"
	"github.com/wtacrs/wtacrs/internal/wordnet"
)

// wnFixture is the hand-made WordNet database of package wordnet's tests.
var wnFixture = filepath.Join("..", "..", "internal", "wordnet", "testdata")

func testWordNet(t *testing.T) *wordnet.DB {
	t.Helper()
	wn, err := wordnet.Load(wnFixture)
	require.NoError(t, err)
	return wn
}

func TestTokensJoin(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"And God saw the light, that it was good.",
		"Rachel had stolen the images that were her father's.",
		"(for thou, even thou only, knowest the hearts;)",
	} {
		assert.Equal(t, s, join(tokens(s)))
	}
	assert.Equal(t, []string{"(", "for", "thou", ",", "only", ";", ")"}, tokens("(for thou, only;)"))
}

func TestClauses(t *testing.T) {
	t.Parallel()
	got := clauses("And God saw the light, that it was good: and God divided the light from the darkness. If ye love me, keep my words? Neither did Asher drive them out;")
	var s []string
	for _, c := range got {
		s = append(s, join(c))
	}
	assert.Equal(t, []string{"God saw the light, that it was good.", "God divided the light from the darkness."}, s)
}

func TestNegate(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"The lion was good.", "The lion was not good."},
		{"The tiger shall not slay the lion.", "The tiger shall slay the lion."},
		{"Lions roar loudly.", ""},
	}
	for _, tc := range tests {
		out, _, ok := negate(tokens(tc.in))
		assert.Equal(t, tc.want != "", ok, tc.in)
		if ok {
			assert.Equal(t, tc.want, join(out))
		}
	}
}

func TestSwap(t *testing.T) {
	t.Parallel()
	g := &generator{wn: testWordNet(t)}
	tests := []struct{ in, want string }{
		{"Then Moses smote Aaron in the city.", "Then Aaron smote Moses in the city."},
		{"He gave the lion to the city.", "He gave the city to the lion."},
		{"He said, Moses went.", ""},
	}
	for _, tc := range tests {
		out, _, ok := g.swap(tokens(tc.in))
		if tc.want == "" {
			assert.False(t, ok, tc.in)
			continue
		}
		require.True(t, ok, tc.in)
		assert.Equal(t, tc.want, join(out))
	}
}

func TestSubstitute(t *testing.T) {
	t.Parallel()
	g := &generator{wn: testWordNet(t)}
	rng := rand.New(rand.NewPCG(1, 1))
	c := tokens("He saw the lions in the city.")
	tests := []struct {
		k    kind
		want []string // every acceptable result
	}{
		{kindSynonym, []string{"He saw the kings of beasts in the city.", "He saw the lions in the metropolis."}},
		{kindHypernym, []string{"He saw the big cats in the city."}},
		{kindSister, []string{"He saw the tigers in the city."}},
		{kindHyponym, nil}, // Babylon is a proper name, and lion has no hyponym
		{kindAntonym, nil},
	}
	for _, tc := range tests {
		for range 10 {
			out, _, ok := g.substitute(c, tc.k, rng)
			if tc.want == nil {
				assert.False(t, ok, "%s: %q", tc.k, join(out))
				continue
			}
			require.True(t, ok, tc.k)
			assert.Contains(t, tc.want, join(out), tc.k)
		}
	}
	out, _, ok := g.substitute(tokens("They said the light was good."), kindAntonym, rng)
	require.True(t, ok)
	assert.Contains(t, []string{"They said the dark was good.", "They said the light was bad."}, join(out))
	out, _, ok = g.substitute(tokens("Thou shalt slay a tiger."), kindHypernym, rng)
	require.True(t, ok)
	assert.Contains(t, []string{"Thou shalt kill a tiger.", "Thou shalt slay a big cat."}, join(out))
}

func TestPluralize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"cat": "cats", "big cat": "big cats", "box": "boxes", "city": "cities", "day": "days", "church": "churches"} {
		assert.Equal(t, want, pluralize(in))
	}
}

func TestWeightedOrder(t *testing.T) {
	t.Parallel()
	// firstShare is the share of n orders whose first kind is kindPlain.
	firstShare := func(ks []weighted, n int) float64 {
		rng := rand.New(rand.NewPCG(2, 2))
		c := 0
		for range n {
			o := weightedOrder(ks, rng)
			require.Len(t, o, len(ks))
			if o[0] == kindPlain {
				c++
			}
		}
		return float64(c) / float64(n)
	}
	const n = 40000
	// kindPlain comes first with probability 0.3: sd = sqrt(0.3·0.7/n) ≈ 0.00229; the band
	// ±0.0126 is 5.5 sd (two-sided false-failure probability 4e-8).
	assert.InDelta(t, 0.3, firstShare(entailKinds, n), 0.0126)
	// Negative control: equal weights put kindPlain first with probability 1/3 (sd 0.00236);
	// the band's edge 0.3126 is 8.8 sd below it, so the check rejects it (false pass < 1e-17).
	equal := []weighted{{kindPlain, 1}, {kindSynonym, 1}, {kindHypernym, 1}}
	assert.Greater(t, math.Abs(firstShare(equal, n)-0.3), 0.0126)
}

// corpusFixture writes a corpus of 40 chapters of 10 verses built from the fixture's words.
func corpusFixture(t *testing.T) string {
	t.Helper()
	names := []string{"Moses", "Aaron", "Joshua", "Caleb", "Miriam"}
	var b strings.Builder
	for c := 1; c <= 40; c++ {
		for v := 1; v <= 10; v++ {
			a, z := names[(c+v)%5], names[(c+2*v+1)%5]
			fmt.Fprintf(&b, "Ex%d:%d And %s saw %d lions in the city of %s; and the light was good, and %s did slay a tiger on day %d.\n", c, v, a, c, z, z, v)
		}
	}
	path := filepath.Join(t.TempDir(), "corpus.txt")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return path
}

func TestRun(t *testing.T) {
	t.Parallel()
	corpus := corpusFixture(t)
	var outs [2]string
	for i := range outs {
		outs[i] = t.TempDir()
		var stdout, stderr bytes.Buffer
		err := run([]string{"-wordnet", wnFixture, "-corpus", corpus, "-out", outs[i],
			"-train", "40", "-dev", "10", "-dev-every", "4", "-seed", "3"}, &stdout, &stderr)
		require.NoError(t, err, stderr.String())
		assert.Contains(t, stdout.String(), "train: 40 pairs")
	}
	for _, f := range []string{"train.tsv", "dev.tsv", "train.meta.tsv", "dev.meta.tsv"} {
		a, err := os.ReadFile(filepath.Join(outs[0], f))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(outs[1], f))
		require.NoError(t, err)
		assert.Equal(t, a, b, "%s is reproducible", f)
	}
	for split, n := range map[string]int{"train": 40, "dev": 10} {
		ds, err := data.ReadTSV(filepath.Join(outs[0], split+".tsv"))
		require.NoError(t, err)
		assert.Equal(t, n, ds.Len())
		assert.Equal(t, [2]int{n / 2, n / 2}, ds.LabelCounts())
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	corpus := corpusFixture(t)
	bad := filepath.Join(t.TempDir(), "bad.txt")
	require.NoError(t, os.WriteFile(bad, []byte("Ge1:1 In the beginning.\nnot a verse\n"), 0o644))
	wn := wnFixture
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"-train", "3"}, "even"},
		{[]string{"-wordnet", wn, "-corpus", bad}, "bad.txt:2: not a verse line"},
		{[]string{"-wordnet", wn, "-corpus", corpus, "-train", "4000", "-out", t.TempDir()}, "only"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"-nosuchflag"}, "not defined"},
	}
	for _, tc := range tests {
		var stderr bytes.Buffer
		err := run(tc.args, &bytes.Buffer{}, &stderr)
		require.Error(t, err, tc.args)
		assert.Contains(t, err.Error()+stderr.String(), tc.msg, tc.args)
	}
}
