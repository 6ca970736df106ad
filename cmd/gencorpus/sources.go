package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/wtacrs/wtacrs/internal/kjv"
	"github.com/wtacrs/wtacrs/internal/wordnet"
)

// kjvDocuments returns the KJV chapters in order, one document each with one verse a line,
// leaving out the chapters that rte-synth sends to its dev split; it also returns how many
// chapters it left out.
func kjvDocuments(o options) ([]document, int, error) {
	verses, err := kjv.Read(o.kjv)
	if err != nil {
		return nil, 0, fmt.Errorf("gencorpus: %w", err)
	}
	var docs []document
	left := 0
	for i, v := range verses {
		first := i == 0 || v.Book != verses[i-1].Book || v.Chapter != verses[i-1].Chapter
		dev := kjv.DevChapter(o.rteSeed, v.Book, v.Chapter, o.rteDevEvery)
		if first && dev {
			left++
		}
		if dev {
			continue
		}
		if first {
			docs = append(docs, document{source: srcKJV, ref: v.ChapterRef()})
		}
		if line := clean(v.Text); line != "" {
			d := &docs[len(docs)-1]
			d.lines = append(d.lines, line)
		}
	}
	return docs, left, nil
}

// wordnetPOS is the order in which the data files are read.
var wordnetPOS = []wordnet.POS{'n', 'v', 'a', 'r'}

// wordnetDocuments returns WordNet's synsets as documents of up to o.group consecutive synsets
// of one data file and lexicographer file, in file order. A synset gives the line
// "lemma, lemma…: definition" (compounds with spaces) and one line per example sentence.
func wordnetDocuments(o options) ([]document, error) {
	var docs []document
	for _, p := range wordnetPOS {
		name := wordnet.Files[p]
		ss, err := wordnet.ReadData(filepath.Join(o.wordnet, "data."+name))
		if err != nil {
			return nil, fmt.Errorf("gencorpus: %w", err)
		}
		n := 0 // synsets in the current document
		for i, s := range ss {
			if i == 0 || n == o.group || s.LexFile != ss[i-1].LexFile {
				docs = append(docs, document{source: srcWordNet, ref: fmt.Sprintf("%s:%08d", name, s.Offset)})
				n = 0
			}
			n++
			d := &docs[len(docs)-1]
			def, examples := wordnet.SplitGloss(s.Gloss)
			lemmas := make([]string, len(s.Words))
			for j, w := range s.Words {
				lemmas[j] = strings.ReplaceAll(w, "_", " ")
			}
			if def = clean(def); def != "" {
				d.lines = append(d.lines, strings.Join(lemmas, ", ")+": "+def)
			}
			for _, ex := range examples {
				if ex = clean(ex); ex != "" {
					d.lines = append(d.lines, ex)
				}
			}
		}
	}
	// A document whose synsets had no gloss at all carries nothing.
	out := docs[:0]
	for _, d := range docs {
		if len(d.lines) > 0 {
			out = append(out, d)
		}
	}
	return out, nil
}
