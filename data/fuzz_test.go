package data

import (
	"bytes"
	"errors"
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
