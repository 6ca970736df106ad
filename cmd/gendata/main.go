// Command gendata regenerates the bundled RTE-format data set of package data (data/rte-synth)
// from the King James Version of the Bible (public domain, Debian package bible-kjv-text, read
// through the bible program of package bible-kjv) and WordNet 3.0 (Debian package wordnet-base).
//
//	gendata [-wordnet /usr/share/wordnet] [-corpus kjv.txt] [-out data/rte-synth] [-seed 1]
//	        [-train 5000] [-dev 500] [-min-words 6] [-max-words 28] [-min-count 30]
//
// Each premise is a verse; each hypothesis is a clause of it, kept as it is or with one word
// replaced by a WordNet synonym or hypernym (entailment), or with an antonym, hyponym or
// co-hyponym substitution, an inserted or removed "not", two names or nouns swapped, or a clause
// of a nearby verse instead (not_entailment). Train and dev premises come from disjoint chapters.
// Both splits are exactly balanced. The same inputs and seed give byte-identical files.
// docs/data.md describes the data set, its provenance and licences.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wtacrs/wtacrs/data"
	"github.com/wtacrs/wtacrs/internal/atomicfile"
	"github.com/wtacrs/wtacrs/internal/kjv"
	"github.com/wtacrs/wtacrs/internal/wordnet"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(2)
	}
}

type options struct {
	wordnet, corpus, out string
	seed                 uint64
	train, dev           int
	minWords, maxWords   int
	minCount             int
	devEvery             int
}

type generator struct {
	wn *wordnet.DB
	// freq counts the lower-cased words of the whole corpus; with minCount > 0 only words seen
	// at least minCount times are replaced, so that the same substitutions recur across pairs
	// and splits and a model trained from scratch can learn them.
	freq     map[string]int
	minCount int
}

var errUsage = errors.New("gendata: bad arguments")

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gendata", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.wordnet, "wordnet", "/usr/share/wordnet", "WordNet 3.0 database folder (Debian wordnet-base)")
	fs.StringVar(&o.corpus, "corpus", "", "verses, one a line as printed by `bible -f`; empty: run bible (Debian bible-kjv)")
	fs.StringVar(&o.out, "out", filepath.Join("data", "rte-synth"), "output folder")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed")
	fs.IntVar(&o.train, "train", 5000, "train pairs (even)")
	fs.IntVar(&o.dev, "dev", 500, "dev pairs (even)")
	fs.IntVar(&o.minWords, "min-words", 6, "shortest premise, in words")
	fs.IntVar(&o.maxWords, "max-words", 28, "longest premise, in words")
	fs.IntVar(&o.minCount, "min-count", 30, "replace only words seen at least this often in the corpus (0: any)")
	fs.IntVar(&o.devEvery, "dev-every", 10, "one chapter in this many goes to dev")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if o.train < 2 || o.train%2 != 0 || o.dev < 2 || o.dev%2 != 0 {
		return fmt.Errorf("%w: -train %d and -dev %d must be even and positive", errUsage, o.train, o.dev)
	}
	if o.minWords < 1 || o.maxWords < o.minWords || o.devEvery < 2 || o.minCount < 0 {
		return fmt.Errorf("%w: need 1 <= -min-words <= -max-words, -dev-every >= 2 and -min-count >= 0", errUsage)
	}
	wn, err := wordnet.Load(o.wordnet)
	if err != nil {
		return err
	}
	verses, err := kjv.Read(o.corpus)
	if err != nil {
		return err
	}
	g := &generator{wn: wn, freq: map[string]int{}, minCount: o.minCount}
	for _, v := range verses {
		for _, t := range tokens(v.Text) {
			g.freq[strings.ToLower(t)]++
		}
	}
	trainPool, devPool := split(verses, o)
	for _, s := range []struct {
		name string
		pool []kjv.Verse
		n    int
		// stream separates the random streams of the two splits.
		stream uint64
	}{{"train", trainPool, o.train, 1}, {"dev", devPool, o.dev, 2}} {
		pairs, err := g.generate(s.pool, s.n, rand.New(rand.NewPCG(o.seed, s.stream)))
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if err := write(o.out, s.name, pairs); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d pairs from %d candidate verses; %s\n", s.name, len(pairs), len(s.pool), summary(pairs))
	}
	return nil
}

// split keeps the verses of the wanted length and sends whole chapters to dev or train by a
// seeded hash of the chapter (kjv.DevChapter), so no nearby verse is shared between the splits. A verse text that
// recurs in a train chapter (formulas such as "And the LORD spake unto Moses, saying,") is left
// out of dev, so no premise is shared either.
func split(verses []kjv.Verse, o options) (train, dev []kjv.Verse) {
	var inDev []bool
	inTrain := map[string]bool{}
	for _, v := range verses {
		d := kjv.DevChapter(o.seed, v.Book, v.Chapter, o.devEvery)
		inDev = append(inDev, d)
		if !d {
			inTrain[v.Text] = true
		}
	}
	for i, v := range verses {
		n := len(strings.Fields(v.Text))
		if n < o.minWords || n > o.maxWords {
			continue
		}
		if !inDev[i] {
			train = append(train, v)
		} else if !inTrain[v.Text] {
			dev = append(dev, v)
		}
	}
	return train, dev
}

// generate makes n pairs, half of each label, visiting the pool's verses in a random order and
// using each premise text at most once.
func (g *generator) generate(pool []kjv.Verse, n int, rng *rand.Rand) ([]pair, error) {
	order := rng.Perm(len(pool))
	var out []pair
	seen := map[string]bool{}
	counts := [2]int{}
	for _, k := range order {
		if len(out) == n {
			break
		}
		entail := counts[0] <= counts[1]
		if entail && counts[0] == n/2 || !entail && counts[1] == n/2 {
			entail = !entail
		}
		if seen[pool[k].Text] {
			continue
		}
		p, ok := g.makePair(pool, k, entail, rng)
		if !ok {
			continue
		}
		seen[p.premise] = true
		if entail {
			counts[0]++
		} else {
			counts[1]++
		}
		out = append(out, p)
	}
	if len(out) < n {
		return nil, fmt.Errorf("only %d pairs from %d verses, %d wanted", len(out), len(pool), n)
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out, nil
}

func write(dir, name string, pairs []pair) error {
	ds := &data.Dataset{Name: name, Labelled: true}
	var meta strings.Builder
	meta.WriteString("index\tkind\tref\tnote\n")
	for i, p := range pairs {
		l := data.NotEntailment
		if p.entail {
			l = data.Entailment
		}
		ds.Examples = append(ds.Examples, data.Example{Index: i, Sentence1: p.premise, Sentence2: p.hypothesis, Label: l})
		meta.WriteString(strconv.Itoa(i) + "\t" + string(p.kind) + "\t" + p.ref + "\t" + p.note + "\n")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gendata: %w", err)
	}
	if err := data.WriteTSVFile(filepath.Join(dir, name+".tsv"), ds); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, name+".meta.tsv"), []byte(meta.String()))
}

func writeFileAtomic(path string, b []byte) error {
	if err := atomicfile.WriteFile(path, b); err != nil {
		return fmt.Errorf("gendata: %w", err)
	}
	return nil
}

func summary(pairs []pair) string {
	counts := map[kind]int{}
	for _, p := range pairs {
		counts[p.kind]++
	}
	var parts []string
	for _, k := range []kind{kindPlain, kindSynonym, kindHypernym, kindAntonym, kindHyponym, kindSister, kindNegation, kindSwap, kindOther} {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}
