package model

import (
	"math"

	"github.com/wtacrs/wtacrs/internal/gemm"
	"github.com/wtacrs/wtacrs/internal/parallel"
	"github.com/wtacrs/wtacrs/matrix"
)

func newDense[T matrix.Float](r, c int) matrix.Dense[T] {
	return matrix.Dense[T]{Rows: r, Cols: c, Data: make([]T, r*c)}
}

const lnEps = 1e-5

// layerNormForward normalises each row of x and applies gain g and bias b. It returns y, the
// normalised rows x̂ and the inverse standard deviations (what backward needs).
func layerNormForward[T matrix.Float](x matrix.Dense[T], g, b []T) (y, xhat matrix.Dense[T], inv []T) {
	n, d := x.Rows, x.Cols
	y, xhat, inv = newDense[T](n, d), newDense[T](n, d), make([]T, n)
	parallel.Chunks(n, d, elementwiseMinWork, func(lo, hi int) { layerNormRows(x, g, b, y, xhat, inv, lo, hi) })
	return y, xhat, inv
}

// layerNormRows is layerNormForward for rows lo ≤ i < hi, into y, xhat and inv.
func layerNormRows[T matrix.Float](x matrix.Dense[T], g, b []T, y, xhat matrix.Dense[T], inv []T, lo, hi int) {
	d := x.Cols
	for i := lo; i < hi; i++ {
		row := x.Row(i)
		var mean float64
		for _, v := range row {
			mean += float64(v)
		}
		mean /= float64(d)
		var vr float64
		for _, v := range row {
			dv := float64(v) - mean
			vr += dv * dv
		}
		is := 1 / math.Sqrt(vr/float64(d)+lnEps)
		inv[i] = T(is)
		xr, yr := xhat.Row(i), y.Row(i)
		for j, v := range row {
			h := T((float64(v) - mean) * is)
			xr[j] = h
			yr[j] = h*g[j] + b[j]
		}
	}
}

// layerNormBackward returns ∇x and adds to ∇g and ∇b (nil for frozen parameters: skipped).
func layerNormBackward[T matrix.Float](dy, xhat matrix.Dense[T], inv, g, dg, db []T) matrix.Dense[T] {
	n, d := dy.Rows, dy.Cols
	dx := newDense[T](n, d)
	for i := 0; i < n; i++ {
		dyr, xr, dxr := dy.Row(i), xhat.Row(i), dx.Row(i)
		var m1, m2 float64
		for j, v := range dyr {
			if dg != nil {
				dg[j] += v * xr[j]
				db[j] += v
			}
			dh := float64(v * g[j])
			m1 += dh
			m2 += dh * float64(xr[j])
		}
		m1 /= float64(d)
		m2 /= float64(d)
		is := float64(inv[i])
		for j, v := range dyr {
			dh := float64(v * g[j])
			dxr[j] = T(is * (dh - m1 - float64(xr[j])*m2))
		}
	}
	return dx
}

const geluC = 0.7978845608028654 // √(2/π)

// elementwiseMinWork is the number of elements from which an elementwise operation (GELU,
// LayerNorm) runs on several goroutines; each element is computed alone, so the results do not
// depend on the split.
const elementwiseMinWork = 1 << 15

// gelu returns the tanh approximation of GELU of every element, in a new matrix.
func gelu[T matrix.Float](u matrix.Dense[T]) matrix.Dense[T] {
	return geluTo(newDense[T](u.Rows, u.Cols), u)
}

// geluTo writes GELU of every element of u into dst (the same shape; it may be u) and returns
// dst.
func geluTo[T matrix.Float](dst, u matrix.Dense[T]) matrix.Dense[T] {
	parallel.Chunks(len(u.Data), 1, elementwiseMinWork, func(lo, hi int) {
		for i, v := range u.Data[lo:hi] {
			x := float64(v)
			dst.Data[lo+i] = T(0.5 * x * (1 + math.Tanh(geluC*(x+0.044715*x*x*x))))
		}
	})
	return dst
}

// geluBackward returns ∇u for ∇y, in a new matrix.
func geluBackward[T matrix.Float](u, dy matrix.Dense[T]) matrix.Dense[T] {
	return geluBackwardTo(newDense[T](u.Rows, u.Cols), u, dy)
}

// geluBackwardTo writes ∇u for ∇y into dst (the same shape; it may be dy) and returns dst.
func geluBackwardTo[T matrix.Float](dst, u, dy matrix.Dense[T]) matrix.Dense[T] {
	parallel.Chunks(len(u.Data), 1, elementwiseMinWork, func(lo, hi int) {
		for i, v := range u.Data[lo:hi] {
			x := float64(v)
			t := math.Tanh(geluC * (x + 0.044715*x*x*x))
			d := 0.5*(1+t) + 0.5*x*(1-t*t)*geluC*(1+3*0.044715*x*x)
			dst.Data[lo+i] = T(d) * dy.Data[lo+i]
		}
	})
	return dst
}

// attentionProbs writes into pb (S×S) the attention probabilities of sequence b, head h:
// softmax(QKᵀ/√d_h) over the unmasked keys. Forward and backward call it alike, so the
// probabilities backward recomputes are bit for bit those of forward.
func attentionProbs[T matrix.Float](q, k matrix.Dense[T], b, h, seq, heads int, mask []bool, pb []T) {
	d := q.Cols
	dh := d / heads
	scale := T(1 / math.Sqrt(float64(dh)))
	off := b*seq*d + h*dh
	gemm.Gemm(false, true, seq, seq, dh, scale, q.Data[off:], d, k.Data[off:], d, 0, pb, seq)
	m := mask[b*seq : (b+1)*seq]
	for i := 0; i < seq; i++ {
		row := pb[i*seq : (i+1)*seq]
		mx := math.Inf(-1)
		for j, x := range row {
			if m[j] && float64(x) > mx {
				mx = float64(x)
			}
		}
		var sum float64
		for j, x := range row {
			if !m[j] {
				row[j] = 0
				continue
			}
			e := math.Exp(float64(x) - mx)
			row[j] = T(e)
			sum += e
		}
		if sum > 0 {
			for j := range row {
				row[j] = T(float64(row[j]) / sum)
			}
		}
	}
}

// forStrata runs f(worker, g) for every stratum g in [0, n) (a sequence and head of the
// attention) as [parallel.ForWorkers] does when the GEMM backend runs concurrent calls well, and
// in order on the calling goroutine (worker 0) when it does not (an OpenBLAS with threads of its
// own, see [gemm.Concurrent]): each stratum is computed alone, so the results are the same.
func forStrata(n int, f func(worker, g int)) {
	if gemm.Concurrent() {
		parallel.ForWorkers(n, f)
		return
	}
	for g := 0; g < n; g++ {
		f(0, g)
	}
}

// softmaxBackward turns ∇P (seq×seq, in ds) into the gradient of the scaled scores,
// ∇S = P ⊙ (∇P − rowsum(∇P ⊙ P)) times the 1/√d_h (scale) of the scores, in place; p is P.
func softmaxBackward[T matrix.Float](p, ds []T, seq int, scale T) {
	for i := 0; i < seq; i++ {
		pr, dr := p[i*seq:(i+1)*seq], ds[i*seq:(i+1)*seq]
		var dot float64
		for j, x := range pr {
			dot += float64(x) * float64(dr[j])
		}
		for j, x := range pr {
			dr[j] = T(float64(x)*(float64(dr[j])-dot)) * scale
		}
	}
}

// attentionForward computes multi-head self-attention context for q, k, v (n×d, n = B·S) with
// h heads: for each sequence and head, P = softmax(QKᵀ/√d_h) over unmasked keys, ctx = PV. P is
// not kept: backward recomputes it from q and k.
func attentionForward[T matrix.Float](q, k, v matrix.Dense[T], batch, seq, heads int, mask []bool) matrix.Dense[T] {
	d := q.Cols
	dh := d / heads
	ctx := newDense[T](q.Rows, d)
	scratch := make([][]T, parallel.Workers(batch*heads)) // one seq×seq buffer per worker
	forStrata(batch*heads, func(w, bh int) {
		b, h := bh/heads, bh%heads
		off := b*seq*d + h*dh
		if scratch[w] == nil {
			scratch[w] = make([]T, seq*seq)
		}
		pb := scratch[w]
		attentionProbs(q, k, b, h, seq, heads, mask, pb)
		gemm.Gemm(false, false, seq, dh, seq, 1, pb, seq, v.Data[off:], d, 0, ctx.Data[off:], d)
	})
	return ctx
}

// attentionBackward returns ∇q, ∇k, ∇v for ∇ctx, recomputing the probabilities.
func attentionBackward[T matrix.Float](q, k, v matrix.Dense[T], mask []bool, dctx matrix.Dense[T], batch, seq, heads int) (dq, dk, dv matrix.Dense[T]) {
	d := q.Cols
	dh := d / heads
	scale := T(1 / math.Sqrt(float64(dh)))
	dq, dk, dv = newDense[T](q.Rows, d), newDense[T](q.Rows, d), newDense[T](q.Rows, d)
	scratch := make([][]T, parallel.Workers(batch*heads)) // two seq×seq buffers per worker
	forStrata(batch*heads, func(w, bh int) {
		b, h := bh/heads, bh%heads
		off := b*seq*d + h*dh
		if scratch[w] == nil {
			scratch[w] = make([]T, 2*seq*seq)
		}
		pb, ds := scratch[w][:seq*seq], scratch[w][seq*seq:]
		attentionProbs(q, k, b, h, seq, heads, mask, pb)
		// ∇V = Pᵀ ∇ctx; ∇P = ∇ctx Vᵀ.
		gemm.Gemm(true, false, seq, dh, seq, 1, pb, seq, dctx.Data[off:], d, 0, dv.Data[off:], d)
		gemm.Gemm(false, true, seq, seq, dh, 1, dctx.Data[off:], d, v.Data[off:], d, 0, ds, seq)
		softmaxBackward(pb, ds, seq, scale)
		gemm.Gemm(false, false, seq, dh, seq, 1, ds, seq, k.Data[off:], d, 0, dq.Data[off:], d)
		gemm.Gemm(true, false, seq, dh, seq, 1, ds, seq, q.Data[off:], d, 0, dk.Data[off:], d)
	})
	return dq, dk, dv
}

// crossEntropy returns the mean cross-entropy of logits (B×C) against labels and its gradient.
func crossEntropy[T matrix.Float](logits matrix.Dense[T], labels []int) (float64, matrix.Dense[T]) {
	n, c := logits.Rows, logits.Cols
	grad := newDense[T](n, c)
	var loss float64
	for i := 0; i < n; i++ {
		row := logits.Row(i)
		mx := math.Inf(-1)
		for _, x := range row {
			mx = max(mx, float64(x))
		}
		var sum float64
		for _, x := range row {
			sum += math.Exp(float64(x) - mx)
		}
		lse := mx + math.Log(sum)
		loss += lse - float64(row[labels[i]])
		g := grad.Row(i)
		for j, x := range row {
			pj := math.Exp(float64(x) - lse)
			if j == labels[i] {
				pj--
			}
			g[j] = T(pj / float64(n))
		}
	}
	return loss / float64(n), grad
}

func add[T matrix.Float](dst, src matrix.Dense[T]) {
	for i, v := range src.Data {
		dst.Data[i] += v
	}
}
