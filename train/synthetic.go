package train

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/wtacrs/wtacrs/data"
)

// SyntheticSplits returns a small, quickly learnable sentence-pair task for tests and
// benchmarks: the premise is 6–20 words drawn from 40 common words, and the hypothesis is 2–5
// words that all occur in the premise (entailment) or in which one word is replaced by one of 20
// words that never occur in premises (not entailment), the two labels equally likely. Same arguments, same data. nTrain, nDev ≥ 1 and maxLen ≥ 3.
func SyntheticSplits(nTrain, nDev int, seed uint64, maxLen int) (*data.Splits, error) {
	if nTrain < 1 || nDev < 1 {
		return nil, fmt.Errorf("%w: synthetic set of %d train and %d dev examples", ErrData, nTrain, nDev)
	}
	rng := rand.New(rand.NewPCG(seed, 0x73796e7468))
	words := make([]string, 60)
	for i := range words {
		words[i] = fmt.Sprintf("w%02d", i)
	}
	gen := func(n int, name string) *data.Dataset {
		d := &data.Dataset{Name: name, Labelled: true}
		for i := 0; i < n; i++ {
			plen := 6 + rng.IntN(15)
			prem := make([]string, plen)
			for j := range prem {
				prem[j] = words[rng.IntN(40)]
			}
			hlen := 2 + rng.IntN(4)
			hyp := make([]string, hlen)
			for j := range hyp {
				hyp[j] = prem[rng.IntN(plen)]
			}
			label := data.Entailment
			if rng.IntN(2) == 1 {
				label = data.NotEntailment
				hyp[rng.IntN(hlen)] = words[40+rng.IntN(20)]
			}
			d.Examples = append(d.Examples, data.Example{Index: i, Sentence1: strings.Join(prem, " "),
				Sentence2: strings.Join(hyp, " "), Label: label})
		}
		return d
	}
	s := &data.Splits{Train: gen(nTrain, "synthetic/train"), Dev: gen(nDev, "synthetic/dev")}
	var err error
	if s.Tokenizer, err = data.TrainTokenizer(s.Train.Texts(), data.TokenizerConfig{VocabSize: 128, MinFreq: 1}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrData, err)
	}
	if s.TrainEnc, err = data.Encode(s.Train, s.Tokenizer, maxLen); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrData, err)
	}
	if s.DevEnc, err = data.Encode(s.Dev, s.Tokenizer, maxLen); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrData, err)
	}
	return s, nil
}
