package data_test

import (
	"fmt"
	"strings"

	"github.com/wtacrs/wtacrs/data"
)

// Load the bundled set, then walk the first batch of an epoch. With the real GLUE RTE files,
// set Config.Train and Config.Dev to their train.tsv and dev.tsv.
func ExampleLoad() {
	s, err := data.Load(data.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	l, err := data.NewLoader(s.TrainEnc, data.LoaderConfig{BatchSize: 32, Shuffle: true, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	batches, err := l.Epoch(0)
	if err != nil {
		fmt.Println(err)
		return
	}
	b := batches[0]
	fmt.Println(s.TrainEnc.N, s.DevEnc.N, s.TrainEnc.SeqLen, l.NumBatches())
	fmt.Println(b.Size, len(b.IDs), len(b.Mask), len(b.Indices))
	fmt.Println(s.Train.LabelCounts(), s.Dev.LabelCounts())
	// Output:
	// 5000 500 128 157
	// 32 4096 4096 32
	// [2500 2500] [250 250]
}

func ExampleTokenizer_EncodePair() {
	tok, err := data.TrainTokenizer([]string{"And God saw the light, that it was good."}, data.TokenizerConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	e, err := tok.EncodePair("God saw the light.", "The light was good.", 16)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(e.IDs)
	fmt.Println(e.Segments)
	fmt.Println(e.Mask[:e.Len+1])
	fmt.Println(tok.Decode(e.IDs))
	// Output:
	// [2 7 11 13 10 5 3 13 10 14 8 5 3 0 0 0]
	// [0 0 0 0 0 0 0 1 1 1 1 1 1 0 0 0]
	// [true true true true true true true true true true true true true false]
	// god saw the light . the light was good .
}

// Pack a small corpus into rows for masked-language modelling, then corrupt a batch of them
// as BERT does. The draws of a step depend only on the seed and the step.
func ExampleMasker() {
	c, err := data.ParseCorpus(strings.NewReader(
		"In the beginning God created the heaven and the earth.\nAnd the earth was without form.\n\n"+
			"entity: that which is perceived or known\n"), "tiny.txt")
	if err != nil {
		fmt.Println(err)
		return
	}
	tok, err := data.TrainTokenizer(c.Texts(), data.TokenizerConfig{Mask: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	enc, err := data.EncodeCorpus(c, tok, 16)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(enc.N, "rows of", enc.SeqLen, "from documents", enc.Index)
	fmt.Println(tok.Decode(enc.IDs[:enc.SeqLen]))
	m, err := data.NewMasker(data.MaskConfig{Prob: 0.3, MaskFrac: 0.8, RandomFrac: 0.1}, tok, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := m.Mask(enc.IDs, enc.Mask, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.Decode(out.Inputs[:enc.SeqLen]))
	var targets []string
	for _, id := range out.Targets {
		if id != data.NoTarget {
			targets = append(targets, tok.Token(id))
		}
	}
	fmt.Println(out.Selected, "targets:", strings.Join(targets, " "))
	// Output:
	// 3 rows of 16 from documents [0 0 1]
	// in the beginning god created the heaven and the earth .
	// [MASK] [MASK] [MASK] god [MASK] the heaven and the earth [MASK]
	// 12 targets: in the beginning created . earth was entity : that which or
}
