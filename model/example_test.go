package model_test

import (
	"fmt"
	"math"

	"github.com/wtacrs/wtacrs/model"
)

// A model with a tied masked-language-model head and no classification head predicts the
// tokens at the positions whose target is not -1. At initialisation the logits are nearly
// equal, so the loss is close to ln(Vocab).
func ExampleModel_Forward_mlm() {
	cfg := model.Config{Vocab: 50, Dim: 16, Heads: 2, Blocks: 1, FFN: 32, MaxLen: 8, MLM: model.MLMTied}
	m, err := model.New[float64](cfg, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	const mask = 3 // the id the caller uses in place of a predicted token
	b := model.Batch{B: 1, S: 6,
		Tokens:     []int{1, 17, mask, 23, mask, 0},
		Mask:       []bool{true, true, true, true, true, false},
		MLMTargets: []int{-1, -1, 42, -1, 8, -1},
	}
	tape, err := m.Forward(b, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("predicted %d, loss %.2f, ln(Vocab) %.2f\n", tape.MLMPredicted, tape.MLMLoss, math.Log(50))
	if err := m.Backward(tape, nil); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("tied embedding gets gradient:", m.Param("tok_emb").G[42*cfg.Dim] != 0)
	// Output:
	// predicted 2, loss 3.95, ln(Vocab) 3.91
	// tied embedding gets gradient: true
}
