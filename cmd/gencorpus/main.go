// Command gencorpus regenerates the bundled masked-language-modelling corpus of package data
// (data/corpus) from the King James Version of the Bible (Debian package bible-kjv-text, read
// through the bible program of package bible-kjv), WordNet 3.0's glosses and example sentences
// (Debian package wordnet-base) and Ambrose Bierce's The Devil's Dictionary (Debian package
// dict-devil).
//
//	gencorpus [-kjv verses.txt] [-wordnet /usr/share/wordnet] [-devil /usr/share/dictd/devil.dict.dz]
//	          [-out data/corpus] [-every 20] [-group 16] [-rte-seed 1] [-rte-dev-every 10]
//
// The corpus is plain UTF-8 text, one verse, gloss, example sentence or paragraph a line,
// documents separated by one blank line: a KJV chapter, a run of up to -group consecutive
// synsets of one WordNet lexicographer file, a dictionary entry. Every KJV chapter that holds
// premises of the rte-synth dev split (cmd/gendata with -seed -rte-seed and -dev-every
// -rte-dev-every) is left out, so pretraining never sees a dev premise. Of the documents of
// each source, in order, every -every-th goes to the corpus's own held-out split (dev.txt.gz),
// the rest to train.txt.gz; the side files {train,dev}.docs.tsv name each document's source,
// reference and size. The same inputs and options give byte-identical files. docs/data.md
// describes the corpus, its provenance and licences.
package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wtacrs/wtacrs/internal/atomicfile"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gencorpus:", err)
		os.Exit(2)
	}
}

var errUsage = errors.New("bad arguments")

type options struct {
	kjv, wordnet, devil, out string
	every, group             int
	rteSeed                  uint64
	rteDevEvery              int
}

// document is one document of the corpus: its lines, white space already collapsed.
type document struct {
	source, ref string
	lines       []string
}

// Source names, in output order.
const (
	srcKJV     = "kjv"
	srcDevil   = "devil"
	srcWordNet = "wordnet"
)

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gencorpus", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.kjv, "kjv", "", "verses, one a line as printed by `bible -f`; empty: run bible (Debian bible-kjv)")
	fs.StringVar(&o.wordnet, "wordnet", "/usr/share/wordnet", "WordNet 3.0 database folder (Debian wordnet-base)")
	fs.StringVar(&o.devil, "devil", "/usr/share/dictd/devil.dict.dz", "The Devil's Dictionary as a dictd database (Debian dict-devil); empty: leave it out")
	fs.StringVar(&o.out, "out", filepath.Join("data", "corpus"), "output folder")
	fs.IntVar(&o.every, "every", 20, "one document in this many, per source, goes to the held-out split")
	fs.IntVar(&o.group, "group", 16, "WordNet synsets per document")
	fs.Uint64Var(&o.rteSeed, "rte-seed", 1, "the -seed of cmd/gendata whose dev chapters are left out")
	fs.IntVar(&o.rteDevEvery, "rte-dev-every", 10, "the -dev-every of cmd/gendata whose dev chapters are left out")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if o.every < 2 || o.group < 1 || o.rteDevEvery < 2 {
		return fmt.Errorf("%w: need -every >= 2, -group >= 1 and -rte-dev-every >= 2", errUsage)
	}
	kjvDocs, left, err := kjvDocuments(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kjv: %d chapters left out as rte-synth dev chapters\n", left)
	sources := [][]document{kjvDocs}
	if o.devil != "" {
		d, err := devilDocuments(o.devil)
		if err != nil {
			return err
		}
		sources = append(sources, d)
	}
	wn, err := wordnetDocuments(o)
	if err != nil {
		return err
	}
	sources = append(sources, wn)
	var splits [2][]document // train, dev
	for _, docs := range sources {
		for k, d := range docs {
			s := 0
			if k%o.every == o.every-1 {
				s = 1
			}
			splits[s] = append(splits[s], d)
		}
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("gencorpus: %w", err)
	}
	for s, name := range []string{"train", "dev"} {
		if len(splits[s]) == 0 {
			return fmt.Errorf("gencorpus: %s split is empty", name)
		}
		if err := write(o.out, name, splits[s]); err != nil {
			return err
		}
		for _, line := range summary(splits[s]) {
			fmt.Fprintf(stdout, "%s: %s\n", name, line)
		}
	}
	return nil
}

// clean collapses each run of white space into one space and trims the ends.
func clean(s string) string { return strings.Join(strings.Fields(s), " ") }

// write writes NAME.txt.gz (the documents, each followed by a blank line, compressed by
// compress/gzip at its best level with an empty header: no name, no comment, modification time
// 0) and NAME.docs.tsv.
func write(dir, name string, docs []document) error {
	var text, meta bytes.Buffer
	meta.WriteString("doc\tsource\tref\tlines\twords\n")
	for i, d := range docs {
		words := 0
		for _, l := range d.lines {
			text.WriteString(l)
			text.WriteByte('\n')
			words += len(strings.Fields(l))
		}
		text.WriteByte('\n')
		fmt.Fprintf(&meta, "%d\t%s\t%s\t%d\t%d\n", i, d.source, d.ref, len(d.lines), words)
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("gencorpus: %w", err)
	}
	if _, err := zw.Write(text.Bytes()); err != nil {
		return fmt.Errorf("gencorpus: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("gencorpus: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, name+".txt.gz"), gz.Bytes()); err != nil {
		return fmt.Errorf("gencorpus: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, name+".docs.tsv"), meta.Bytes()); err != nil {
		return fmt.Errorf("gencorpus: %w", err)
	}
	return nil
}

// summary returns one line per source: its documents, lines and words.
func summary(docs []document) []string {
	type count struct{ docs, lines, words int }
	counts := map[string]*count{}
	for _, d := range docs {
		c := counts[d.source]
		if c == nil {
			c = &count{}
			counts[d.source] = c
		}
		c.docs++
		c.lines += len(d.lines)
		for _, l := range d.lines {
			c.words += len(strings.Fields(l))
		}
	}
	var out []string
	for _, s := range []string{srcKJV, srcDevil, srcWordNet} {
		if c := counts[s]; c != nil {
			out = append(out, s+": "+strconv.Itoa(c.docs)+" documents, "+strconv.Itoa(c.lines)+" lines, "+strconv.Itoa(c.words)+" words")
		}
	}
	return out
}
