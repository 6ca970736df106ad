package data_test

import (
	"fmt"

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
