package model

import (
	"math/rand/v2"
	"testing"
)

var sinkMLMLoss float64

// benchmarkMLM times a forward and backward pass of a one-block model with an MLM head of the
// given vocabulary and width, predicting about 15% of batch×seq tokens.
func benchmarkMLM(b *testing.B, head MLMHead, vocab, dim, batch, seq int) {
	cfg := Config{Vocab: vocab, Dim: dim, Heads: 4, Blocks: 1, FFN: 4 * dim, MaxLen: seq, MLM: head}
	m, err := New[float32](cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := batch * seq
	bt := Batch{B: batch, S: seq, Tokens: make([]int, n), Mask: make([]bool, n), MLMTargets: make([]int, n)}
	for t := range bt.Tokens {
		bt.Tokens[t], bt.Mask[t], bt.MLMTargets[t] = rng.IntN(vocab), true, -1
		if rng.Float64() < 0.15 {
			bt.MLMTargets[t] = rng.IntN(vocab)
		}
	}
	b.ResetTimer()
	for range b.N {
		tape, err := m.Forward(bt, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Backward(tape, nil); err != nil {
			b.Fatal(err)
		}
		sinkMLMLoss = tape.MLMLoss
	}
}

func BenchmarkMLMTiedV8000D128(b *testing.B)   { benchmarkMLM(b, MLMTied, 8000, 128, 16, 64) }
func BenchmarkMLMUntiedV8000D128(b *testing.B) { benchmarkMLM(b, MLMUntied, 8000, 128, 16, 64) }
