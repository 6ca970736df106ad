package model

import (
	"fmt"
	"math"
	"slices"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/internal/gemm"
	"github.com/wtacrs/wtacrs/internal/parallel"
	"github.com/wtacrs/wtacrs/matrix"
)

// Product names one operand gradient of the two attention products of a block, per sequence b
// and head h: the scores S = QKᵀ/√d_h (then P = softmax(S)) and the context C = PV. Each
// gradient is a matrix product over a dimension whose pairs can be sampled (column-row
// sampling), keeping only the sampled pairs of the operand it needs:
//
//	ProductQ  ∇Q = ∇S·K/√d_h   pairs: key positions j;   keeps rows K_j;        weight ‖K_j‖·‖∇S[:,j]‖
//	ProductK  ∇K = ∇Sᵀ·Q/√d_h  pairs: query positions i; keeps rows Q_i;        weight ‖Q_i‖·‖∇S[i,:]‖
//	ProductP  ∇P = ∇C·Vᵀ       pairs: channels c of h;   keeps columns V[:,c];  weight ‖V[:,c]‖·‖∇C[:,c]‖
//	ProductV  ∇V = Pᵀ·∇C       pairs: query positions i; keeps rows P_i;        weight ‖P_i‖·‖∇C_i‖
//
// (∇S here is the gradient of the scaled scores, so the 1/√d_h is in it.) These are the
// products the published code samples (its "score" and "attout" sampling), with the same pairs.
type Product int

// The sampled attention products, in the order their sketches are drawn.
const (
	ProductQ Product = iota
	ProductK
	ProductP
	ProductV
	numProducts
)

var productNames = [numProducts]string{"scores.q", "scores.k", "context.p", "context.v"}

// String returns "scores.q", "scores.k", "context.p" or "context.v".
func (p Product) String() string {
	if p >= 0 && p < numProducts {
		return productNames[p]
	}
	return fmt.Sprintf("Product(%d)", int(p))
}

// Products returns the four products in order.
func Products() []Product { return []Product{ProductQ, ProductK, ProductP, ProductV} }

// AttentionHook, when the [Hook] given to Forward and Backward also implements it, chooses the
// backward of the attention products of every block. The pairs of product p of a batch of B
// sequences with H heads form B·H strata, stratum g = b·H + h, of size pairs each (the sequence
// length S, or d_h for ProductP), pair g·size + j.
type AttentionHook interface {
	// AttentionSampled reports whether the hook may sample product p of block; AttentionSketch
	// is called only for the products it may sample (their operand norms are computed only
	// then), and a block for which it samples none runs the exact attention.
	AttentionSampled(block int, p Product) bool
	// AttentionSketch is called in forward with the norm of the kept operand's side of every
	// pair (‖K_j‖, ‖Q_i‖, ‖V[:,c]‖ or ‖P_i‖; read-only) and returns a sketch over the
	// strata·size pairs, or nil for the exact product (its whole operand is then kept).
	AttentionSketch(block int, p Product, operandNorms []float64, strata, size int) (*estimator.Sketch, error)
	// AttentionGradient is called in backward, for a product that was sampled, with the norm of
	// the gradient's side of every pair (‖∇S[:,j]‖, ‖∇S[i,:]‖, ‖∇C[:,c]‖ or ‖∇C_i‖; read-only),
	// before the product's gradient is formed.
	AttentionGradient(block int, p Product, gradNorms []float64) error
}

// attnTape is what a block with sampled attention products keeps: the probabilities P (B·H
// strata of S×S, needed by the softmax backward) and, per sampled product, its sketch and the
// kept pairs of its operand, each multiplied by its scale.
type attnTape[T matrix.Float] struct {
	p      []T
	sk     [numProducts]*estimator.Sketch
	off    [numProducts][]int // the sketch entries of stratum g are off[g] ≤ e < off[g+1]
	kept   [numProducts][]T   // ProductQ: rows of K (d_h each); ProductK: rows of Q; ProductP: columns of V (S each); ProductV: none (rows of P)
	bb, ss int                // B and S
}

func (a *attnTape[T]) bytes() int {
	size := matrix.ElemSize[T]()
	n := len(a.p) * size
	for p, s := range a.sk {
		if s == nil {
			continue
		}
		n += len(s.Index)*8 + len(a.kept[p])*size
		if Product(p) == ProductV {
			n += len(s.Scale) * 8
		}
	}
	return n
}

// needs reports whether the exact operand of the backward is still needed: K for an exact
// ProductQ, Q for ProductK, V for ProductP.
func (a *attnTape[T]) needsQKV() bool {
	return a == nil || a.sk[ProductQ] == nil || a.sk[ProductK] == nil || a.sk[ProductP] == nil
}

// headNorms returns ‖X[b·S+i, h·d_h:(h+1)·d_h]‖ for stratum g = b·H + h and position i, at
// g·S + i.
func headNorms[T matrix.Float](x matrix.Dense[T], batch, seq, heads int) []float64 {
	d := x.Cols
	dh := d / heads
	out := make([]float64, batch*heads*seq)
	for b := 0; b < batch; b++ {
		for h := 0; h < heads; h++ {
			g := b*heads + h
			for i := 0; i < seq; i++ {
				out[g*seq+i] = norm(x.Data[(b*seq+i)*d+h*dh : (b*seq+i)*d+(h+1)*dh])
			}
		}
	}
	return out
}

// channelNorms returns ‖X[b·S:(b+1)·S, h·d_h + c]‖ at g·d_h + c.
func channelNorms[T matrix.Float](x matrix.Dense[T], batch, seq, heads int) []float64 {
	d := x.Cols
	dh := d / heads
	out := make([]float64, batch*heads*dh)
	for b := 0; b < batch; b++ {
		for h := 0; h < heads; h++ {
			g := b*heads + h
			for c := 0; c < dh; c++ {
				var s float64
				for i := 0; i < seq; i++ {
					v := float64(x.Data[(b*seq+i)*d+h*dh+c])
					s += v * v
				}
				out[g*dh+c] = math.Sqrt(s)
			}
		}
	}
	return out
}

func norm[T matrix.Float](v []T) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// sketchOffsets returns off with off[g] the first entry of s.Index in stratum g (of size pairs)
// for g = 0..strata.
func sketchOffsets(s *estimator.Sketch, strata, size int) []int {
	off := make([]int, strata+1)
	for g := 0; g <= strata; g++ {
		off[g], _ = slices.BinarySearch(s.Index, g*size)
	}
	return off
}

// gatherColumns writes into dst (rows×len(idx), row-major) the columns idx[e] − base of the
// rows×? matrix src with row stride ld.
func gatherColumns[T matrix.Float](dst, src []T, ld, rows int, idx []int, base int) {
	r := len(idx)
	for e, c := range idx {
		c -= base
		for i := 0; i < rows; i++ {
			dst[i*r+e] = src[i*ld+c]
		}
	}
}

// sampledAttentionForward runs attention for block l asking ah for the sketches of its
// products. It returns the context and, when some product is sampled, the tape of the sampled
// backward (nil when every product is exact: the exact backward recomputes P).
func sampledAttentionForward[T matrix.Float](ah AttentionHook, l int, q, k, v matrix.Dense[T], batch, seq, heads int, mask []bool) (matrix.Dense[T], *attnTape[T], error) {
	d := q.Cols
	dh := d / heads
	strata := batch * heads
	at := &attnTape[T]{bb: batch, ss: seq}
	var err error
	ask := func(p Product, norms func() []float64, size int) error {
		if !ah.AttentionSampled(l, p) {
			return nil
		}
		s, err := ah.AttentionSketch(l, p, norms(), strata, size)
		if err != nil {
			return err
		}
		if s != nil {
			if err := s.Validate(strata * size); err != nil {
				return fmt.Errorf("model: block %d attention %v: %w", l, p, err)
			}
			at.sk[p], at.off[p] = s, sketchOffsets(s, strata, size)
		}
		return nil
	}
	if err = ask(ProductQ, func() []float64 { return headNorms(k, batch, seq, heads) }, seq); err != nil {
		return matrix.Dense[T]{}, nil, err
	}
	if err = ask(ProductK, func() []float64 { return headNorms(q, batch, seq, heads) }, seq); err != nil {
		return matrix.Dense[T]{}, nil, err
	}
	if err = ask(ProductP, func() []float64 { return channelNorms(v, batch, seq, heads) }, dh); err != nil {
		return matrix.Dense[T]{}, nil, err
	}
	at.p = make([]T, strata*seq*seq)
	ctx := newDense[T](q.Rows, d)
	forStrata(strata, func(_, g int) {
		b, h := g/heads, g%heads
		off := b*seq*d + h*dh
		pb := at.p[g*seq*seq : (g+1)*seq*seq]
		attentionProbs(q, k, b, h, seq, heads, mask, pb)
		gemm.Gemm(false, false, seq, dh, seq, 1, pb, seq, v.Data[off:], d, 0, ctx.Data[off:], d)
	})
	rowNorms := func() []float64 {
		pn := make([]float64, strata*seq)
		for r := range pn {
			pn[r] = norm(at.p[r*seq : (r+1)*seq])
		}
		return pn
	}
	if err = ask(ProductV, rowNorms, seq); err != nil {
		return matrix.Dense[T]{}, nil, err
	}
	if at.sk == [numProducts]*estimator.Sketch{} {
		return ctx, nil, nil
	}
	// Keep the sampled pairs of K, Q and V, scaled.
	for _, pr := range []struct {
		p Product
		x matrix.Dense[T]
	}{{ProductQ, k}, {ProductK, q}} {
		s := at.sk[pr.p]
		if s == nil {
			continue
		}
		rows := make([]T, len(s.Index)*dh)
		for e, idx := range s.Index {
			g, i := idx/seq, idx%seq
			b, h := g/heads, g%heads
			src := pr.x.Data[(b*seq+i)*d+h*dh : (b*seq+i)*d+(h+1)*dh]
			sc := s.Scale[e]
			for c, x := range src {
				rows[e*dh+c] = T(float64(x) * sc)
			}
		}
		at.kept[pr.p] = rows
	}
	if s := at.sk[ProductP]; s != nil {
		cols := make([]T, len(s.Index)*seq)
		for e, idx := range s.Index {
			g, c := idx/dh, idx%dh
			b, h := g/heads, g%heads
			sc := s.Scale[e]
			for i := 0; i < seq; i++ {
				cols[e*seq+i] = T(float64(v.Data[(b*seq+i)*d+h*dh+c]) * sc)
			}
		}
		at.kept[ProductP] = cols
	}
	return ctx, at, nil
}

// sampledAttentionBackward returns ∇q, ∇k, ∇v for ∇ctx from the tape of a sampled block; q, k
// and v are read only for the products that are exact (they may be empty otherwise).
func sampledAttentionBackward[T matrix.Float](ah AttentionHook, l int, at *attnTape[T], q, k, v, dctx matrix.Dense[T], heads int) (dq, dk, dv matrix.Dense[T], err error) {
	batch, seq := at.bb, at.ss
	d := dctx.Cols
	dh := d / heads
	strata := batch * heads
	scale := T(1 / math.Sqrt(float64(dh)))
	n := dctx.Rows
	dq, dk, dv = newDense[T](n, d), newDense[T](n, d), newDense[T](n, d)
	ds := make([]T, strata*seq*seq) // ∇S of every stratum, needed for the norms before ∇Q and ∇K
	// The gradient norms of the context products first (∇C is exact).
	if at.sk[ProductP] != nil {
		if err := ah.AttentionGradient(l, ProductP, channelNorms(dctx, batch, seq, heads)); err != nil {
			return dq, dk, dv, err
		}
	}
	if at.sk[ProductV] != nil {
		if err := ah.AttentionGradient(l, ProductV, headNorms(dctx, batch, seq, heads)); err != nil {
			return dq, dk, dv, err
		}
	}
	type scratch struct{ a, b []T }
	work := make([]scratch, parallel.Workers(strata))
	buf := func(w int, na, nb int) ([]T, []T) {
		s := &work[w]
		if cap(s.a) < na {
			s.a = make([]T, na)
		}
		if cap(s.b) < nb {
			s.b = make([]T, nb)
		}
		return s.a[:na], s.b[:nb]
	}
	forStrata(strata, func(w, g int) {
		b, h := g/heads, g%heads
		off := b*seq*d + h*dh
		pg := at.p[g*seq*seq : (g+1)*seq*seq]
		dsg := ds[g*seq*seq : (g+1)*seq*seq]
		// ∇V = Pᵀ∇C.
		if s := at.sk[ProductV]; s != nil {
			lo, hi := at.off[ProductV][g], at.off[ProductV][g+1]
			r := hi - lo
			pr, cr := buf(w, r*seq, r*dh)
			for e := lo; e < hi; e++ {
				i := s.Index[e] - g*seq
				sc := s.Scale[e]
				for j, x := range pg[i*seq : (i+1)*seq] {
					pr[(e-lo)*seq+j] = T(float64(x) * sc)
				}
				copy(cr[(e-lo)*dh:(e-lo+1)*dh], dctx.Data[off+i*d:off+i*d+dh])
			}
			if r > 0 {
				gemm.Gemm(true, false, seq, dh, r, 1, pr, seq, cr, dh, 0, dv.Data[off:], d)
			}
		} else {
			gemm.Gemm(true, false, seq, dh, seq, 1, pg, seq, dctx.Data[off:], d, 0, dv.Data[off:], d)
		}
		// ∇P = ∇C Vᵀ, into dsg.
		if s := at.sk[ProductP]; s != nil {
			lo, hi := at.off[ProductP][g], at.off[ProductP][g+1]
			r := hi - lo
			cr, _ := buf(w, seq*r, 0)
			gatherColumns(cr, dctx.Data[off:], d, seq, s.Index[lo:hi], g*dh)
			if r > 0 {
				gemm.Gemm(false, false, seq, seq, r, 1, cr, r, at.kept[ProductP][lo*seq:], seq, 0, dsg, seq)
			} else {
				clear(dsg)
			}
		} else {
			gemm.Gemm(false, true, seq, seq, dh, 1, dctx.Data[off:], d, v.Data[off:], d, 0, dsg, seq)
		}
		softmaxBackward(pg, dsg, seq, scale)
	})
	if at.sk[ProductQ] != nil {
		cn := make([]float64, strata*seq)
		for g := 0; g < strata; g++ {
			dsg := ds[g*seq*seq : (g+1)*seq*seq]
			for j := 0; j < seq; j++ {
				var s float64
				for i := 0; i < seq; i++ {
					x := float64(dsg[i*seq+j])
					s += x * x
				}
				cn[g*seq+j] = math.Sqrt(s)
			}
		}
		if err := ah.AttentionGradient(l, ProductQ, cn); err != nil {
			return dq, dk, dv, err
		}
	}
	if at.sk[ProductK] != nil {
		rn := make([]float64, strata*seq)
		for r := range rn {
			rn[r] = norm(ds[r*seq : (r+1)*seq])
		}
		if err := ah.AttentionGradient(l, ProductK, rn); err != nil {
			return dq, dk, dv, err
		}
	}
	forStrata(strata, func(w, g int) {
		b, h := g/heads, g%heads
		off := b*seq*d + h*dh
		dsg := ds[g*seq*seq : (g+1)*seq*seq]
		// ∇Q = ∇S K.
		if s := at.sk[ProductQ]; s != nil {
			lo, hi := at.off[ProductQ][g], at.off[ProductQ][g+1]
			r := hi - lo
			cr, _ := buf(w, seq*r, 0)
			gatherColumns(cr, dsg, seq, seq, s.Index[lo:hi], g*seq)
			if r > 0 {
				gemm.Gemm(false, false, seq, dh, r, 1, cr, r, at.kept[ProductQ][lo*dh:], dh, 0, dq.Data[off:], d)
			}
		} else {
			gemm.Gemm(false, false, seq, dh, seq, 1, dsg, seq, k.Data[off:], d, 0, dq.Data[off:], d)
		}
		// ∇K = ∇Sᵀ Q.
		if s := at.sk[ProductK]; s != nil {
			lo, hi := at.off[ProductK][g], at.off[ProductK][g+1]
			r := hi - lo
			rr, _ := buf(w, r*seq, 0)
			for e := lo; e < hi; e++ {
				i := s.Index[e] - g*seq
				copy(rr[(e-lo)*seq:(e-lo+1)*seq], dsg[i*seq:(i+1)*seq])
			}
			if r > 0 {
				gemm.Gemm(true, false, seq, dh, r, 1, rr, seq, at.kept[ProductK][lo*dh:], dh, 0, dk.Data[off:], d)
			}
		} else {
			gemm.Gemm(true, false, seq, dh, seq, 1, dsg, seq, q.Data[off:], d, 0, dk.Data[off:], d)
		}
	})
	return dq, dk, dv, nil
}
