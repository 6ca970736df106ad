package data

import (
	"bytes"
	"embed"
	"fmt"
)

//go:embed corpus/train.txt.gz corpus/dev.txt.gz
var corpusFS embed.FS

// BundledCorpusName is the name of the bundled pretraining corpus, and BundledCorpusDir its
// folder in the repository.
const (
	BundledCorpusName = "corpus"
	BundledCorpusDir  = "data/corpus"
)

// BundledCorpus returns a split ("train" or "dev", the held-out documents) of the bundled
// pretraining corpus, compiled into the package: King James Version chapters (without the
// chapters of rte-synth's dev premises), WordNet 3.0 glosses and examples and The Devil's
// Dictionary; docs/data.md describes it and cmd/gencorpus regenerates it. Any other split name
// returns an error wrapping ErrRange. Each call parses the text anew (about 15 MB for train).
func BundledCorpus(split string) (*Corpus, error) {
	if split != "train" && split != "dev" {
		return nil, fmt.Errorf("%w: bundled corpus split %q (want train or dev)", ErrRange, split)
	}
	b, err := corpusFS.ReadFile("corpus/" + split + ".txt.gz")
	if err != nil {
		return nil, fmt.Errorf("data: bundled corpus %s: %w", split, err)
	}
	return ParseCorpus(bytes.NewReader(b), BundledCorpusName+"/"+split+".txt.gz")
}
