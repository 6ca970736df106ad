package data

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseTSV: no input makes the reader panic; every error wraps a package sentinel; an
// accepted set writes back and reads back to the same examples, and tokenizes and encodes.
func FuzzParseTSV(f *testing.F) {
	for _, s := range []string{
		"index\tsentence1\tsentence2\tlabel\n0\tA man runs.\tA person moves.\tentailment\n1\tIt rains.\tIt is dry.\tnot_entailment\n",
		"index\tsentence1\tsentence2\n0\ta\tb\n",
		"\ufeffindex\tsentence1\tsentence2\tlabel\r\n7\tx\ty\tentailment\r\n\r\n",
		"label\tsentence2\tsentence1\tindex\nentailment\tb\ta\t3\n",
		"index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n",
		"index\tsentence1\tsentence2\tlabel\n0\ta\tb\n",
		"index\tindex\n", "", "\n\n", "index\tsentence1\tsentence2\tlabel\nx\ta\tb\tentailment\n",
		"index\tsentence1\tsentence2\tlabel\n1\ta\tb\tentailment\n1\tc\td\tentailment\n",
		"index\tsentence1\tsentence2\tlabel\n0\t\xff\xfe\tb\tentailment\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ds, err := ParseTSV(bytes.NewReader(in), "fuzz.tsv")
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrEmpty) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteTSV(&buf, ds); err != nil {
			t.Fatalf("accepted set does not write back: %v", err)
		}
		again, err := ParseTSV(&buf, "again.tsv")
		if err != nil {
			t.Fatalf("written set does not read back: %v\n%q", err, buf.String())
		}
		if len(again.Examples) != len(ds.Examples) || again.Labelled != ds.Labelled {
			t.Fatalf("read back %d examples (labelled %v), want %d (%v)", len(again.Examples), again.Labelled, len(ds.Examples), ds.Labelled)
		}
		for i, e := range ds.Examples {
			a := again.Examples[i]
			if a.Index != e.Index || a.Sentence1 != e.Sentence1 || a.Sentence2 != e.Sentence2 || a.Label != e.Label {
				t.Fatalf("example %d read back as %+v, want %+v", i, a, e)
			}
		}
		tok, err := TrainTokenizer(ds.Texts(), TokenizerConfig{VocabSize: 64, MinFreq: 1})
		if err != nil {
			return
		}
		enc, err := Encode(ds, tok, 8)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrRange) && !errors.Is(err, ErrEmpty) {
				t.Fatalf("encode error wraps no sentinel: %v", err)
			}
			return
		}
		if enc.N != len(ds.Examples) || len(enc.IDs) != enc.N*enc.SeqLen {
			t.Fatalf("encoded %d examples of %d ids, want %d", enc.N, len(enc.IDs), len(ds.Examples))
		}
		for _, id := range enc.IDs {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("token id %d outside the vocabulary of %d", id, tok.VocabSize())
			}
		}
	})
}

// FuzzParseCorpus: no input makes the corpus reader panic; every error wraps a package sentinel;
// an accepted corpus has trimmed, non-empty lines, writes back (lines, blank line between
// documents) to the same documents, and encodes.
func FuzzParseCorpus(f *testing.F) {
	for _, s := range []string{"a b\nc\n\nd\n", "\ufeffx\r\n\r\ny", "", "\n\n", "\xff\n", "a\x00b", "a\rb",
		"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"} {
		f.Add([]byte(s))
	}
	tok, err := TrainTokenizer([]string{"a b c d x y"}, TokenizerConfig{Mask: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseCorpus(bytes.NewReader(in), "fuzz.txt")
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrEmpty) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		for _, d := range c.Docs {
			if len(d) == 0 {
				t.Fatal("empty document")
			}
			for _, l := range d {
				if l == "" || strings.TrimSpace(l) != l {
					t.Fatalf("line %q not trimmed", l)
				}
				buf.WriteString(l + "\n")
			}
			buf.WriteString("\n")
		}
		again, err := ParseCorpus(&buf, "again.txt")
		if err != nil || !reflect.DeepEqual(again.Docs, c.Docs) {
			t.Fatalf("corpus does not read back: %v", err)
		}
		if _, err := EncodeCorpus(c, tok, 5); err != nil && !errors.Is(err, ErrEmpty) {
			t.Fatalf("encode: %v", err)
		}
	})
}
