package model

import (
	"fmt"
	"math"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/internal/gemm"
	"github.com/wtacrs/wtacrs/internal/parallel"
	"github.com/wtacrs/wtacrs/linear"
	"github.com/wtacrs/wtacrs/matrix"
)

// mlmParams are the parameters of the masked-language-model head.
type mlmParams[T matrix.Float] struct {
	denseW, denseB *Param[T] // transform d×d and its bias
	lnG, lnB       *Param[T] // LayerNorm after the GELU
	outW           *Param[T] // d×Vocab output weights; nil when tied to the token embedding
	bias           *Param[T] // 1×Vocab output bias
}

// mlmTape is what the MLM head keeps for backward, for the p predicted rows only.
type mlmTape[T matrix.Float] struct {
	rows        []int           // pooled index of each predicted token, increasing
	xhatF       matrix.Dense[T] // final LayerNorm of the gathered rows, p×d
	invF        []T
	dense       linear.Saved[T] // the transform's input
	z           matrix.Dense[T] // the transform's output, before the GELU
	xhat        matrix.Dense[T] // the head's LayerNorm
	inv         []T
	h           matrix.Dense[T] // the head's LayerNorm output, fed to the vocabulary projection
	dLogits     matrix.Dense[T] // p×Vocab gradient of the MLM loss with respect to the logits
	targetOfRow []int
}

// mlmMinWork is the number of logits from which the softmax runs on several goroutines.
const mlmMinWork = 1 << 15

// mlmForward runs the MLM head on the rows of the last block's output x whose target is not -1
// (gathered first, so that the cost is that of the predicted rows only):
//
//	y = LN_f(x_t), h = LN_mlm(GELU(y·W_d + b_d)), logits = h·Eᵀ + b (tied) or h·W_out + b,
//
// and records the mean cross-entropy, the counts and what backward needs on the tape.
func (m *Model[T]) mlmForward(x matrix.Dense[T], targets []int, tape *Tape[T]) error {
	mt := &mlmTape[T]{}
	for t, y := range targets {
		if y >= 0 {
			mt.rows = append(mt.rows, t)
			mt.targetOfRow = append(mt.targetOfRow, y)
		}
	}
	tape.mlm = mt
	p := len(mt.rows)
	tape.MLMPredicted = p
	if p == 0 {
		return nil
	}
	hp, d, v := m.mlm, m.Cfg.Dim, m.Cfg.Vocab
	g := newDense[T](p, d)
	for i, t := range mt.rows {
		copy(g.Row(i), x.Row(t))
	}
	var y matrix.Dense[T]
	y, mt.xhatF, mt.invF = layerNormForward(g, m.lnfg.W.Data, m.lnfb.W.Data)
	var err error
	if mt.z, mt.dense, err = linear.Forward(y, hp.denseW.W, hp.denseB.W.Data, nil); err != nil {
		return fmt.Errorf("model: MLM transform: %w", err)
	}
	mt.h, mt.xhat, mt.inv = layerNormForward(gelu(mt.z), hp.lnG.W.Data, hp.lnB.W.Data)
	logits := newDense[T](p, v)
	for i := 0; i < p; i++ {
		copy(logits.Row(i), hp.bias.W.Data)
	}
	if hp.outW == nil {
		gemm.Gemm(false, true, p, v, d, 1, mt.h.Data, d, m.tok.W.Data, d, 1, logits.Data, v)
	} else {
		gemm.Gemm(false, false, p, v, d, 1, mt.h.Data, d, hp.outW.W.Data, v, 1, logits.Data, v)
	}
	if matrix.HasNonFinite(logits.Data) {
		return fmt.Errorf("%w: non-finite MLM logit", estimator.ErrNonFinite)
	}
	tape.MLMLoss, tape.MLMCorrect = softmaxCrossEntropy(logits, mt.targetOfRow)
	mt.dLogits = logits
	return nil
}

// mlmBackward adds to dx (n×d) the gradient of the MLM loss with respect to the last block's
// output and adds the gradients of the MLM head, of the final LayerNorm and, when tied, of
// the token embedding.
func (m *Model[T]) mlmBackward(mt *mlmTape[T], dx matrix.Dense[T]) error {
	p := len(mt.rows)
	if p == 0 {
		return nil
	}
	hp, d, v := m.mlm, m.Cfg.Dim, m.Cfg.Vocab
	dl := mt.dLogits
	for i := 0; i < p; i++ {
		for j, g := range dl.Row(i) {
			hp.bias.G[j] += g
		}
	}
	dh := newDense[T](p, d)
	if hp.outW == nil {
		// logits = h Eᵀ: ∇h = ∇L E, ∇E += ∇Lᵀ h.
		gemm.Gemm(false, false, p, d, v, 1, dl.Data, v, m.tok.W.Data, d, 0, dh.Data, d)
		gemm.Gemm(true, false, v, d, p, 1, dl.Data, v, mt.h.Data, d, 1, m.tok.G, d)
	} else {
		// logits = h W: ∇h = ∇L Wᵀ, ∇W += hᵀ ∇L.
		gemm.Gemm(false, true, p, d, v, 1, dl.Data, v, hp.outW.W.Data, v, 0, dh.Data, d)
		gemm.Gemm(true, false, d, v, p, 1, mt.h.Data, d, dl.Data, v, 1, hp.outW.G, v)
	}
	da := layerNormBackward(dh, mt.xhat, mt.inv, hp.lnG.W.Data, hp.lnG.G, hp.lnB.G)
	dz := geluBackward(mt.z, da)
	dy := newDense[T](p, d)
	gw := matrix.Dense[T]{Rows: d, Cols: d, Data: hp.denseW.G}
	if err := linear.BackwardAdd(mt.dense, hp.denseW.W, dz, dy, gw, hp.denseB.G); err != nil {
		return fmt.Errorf("model: MLM transform: %w", err)
	}
	dg := layerNormBackward(dy, mt.xhatF, mt.invF, m.lnfg.W.Data, m.lnfg.G, m.lnfb.G)
	for i, t := range mt.rows {
		row := dx.Row(t)
		for j, g := range dg.Row(i) {
			row[j] += g
		}
	}
	return nil
}

// softmaxCrossEntropy returns the mean over the rows of logits (p×V, finite) of the
// cross-entropy −log softmax(row)[target] and the number of rows whose first highest logit is
// the target, and overwrites logits with the gradient of that mean. The log-softmax subtracts
// each row's maximum before exponentiating, so no finite logit overflows.
func softmaxCrossEntropy[T matrix.Float](logits matrix.Dense[T], targets []int) (loss float64, correct int) {
	p := logits.Rows
	losses := make([]float64, p)
	hits := make([]bool, p)
	scale := 1 / float64(p)
	parallel.Chunks(p, logits.Cols, mlmMinWork, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row, y := logits.Row(i), targets[i]
			arg, mx := 0, float64(row[0])
			for j, x := range row {
				if float64(x) > mx {
					arg, mx = j, float64(x)
				}
			}
			hits[i] = arg == y
			target := float64(row[y])
			var sum float64
			for j, x := range row {
				e := math.Exp(float64(x) - mx)
				row[j] = T(e)
				sum += e
			}
			losses[i] = mx + math.Log(sum) - target
			for j, e := range row {
				g := float64(e) / sum
				if j == y {
					g--
				}
				row[j] = T(g * scale)
			}
		}
	})
	for i, l := range losses {
		loss += l
		if hits[i] {
			correct++
		}
	}
	return loss * scale, correct
}
