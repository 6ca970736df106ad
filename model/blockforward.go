package model

import (
	"fmt"
	"slices"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/linear"
	"github.com/wtacrs/wtacrs/matrix"
)

// linearForward runs linear layer i (with its LoRA adapter, if any) on h and returns its output,
// what its backward needs, and the sketch the hook drew for it (nil for exact).
func (m *Model[T]) linearForward(i int, h matrix.Dense[T], hook Hook[T]) (matrix.Dense[T], linear.Saved[T], loraSaved[T], *estimator.Sketch, error) {
	w, bias := m.Linear(i)
	ad := m.adapter(i)
	fail := func(err error) (matrix.Dense[T], linear.Saved[T], loraSaved[T], *estimator.Sketch, error) {
		return matrix.Dense[T]{}, linear.Saved[T]{}, loraSaved[T]{}, nil, fmt.Errorf("model: layer %d: %w", i, err)
	}
	var s *estimator.Sketch
	if hook != nil && (ad != nil || !w.Frozen) {
		var err error
		if s, err = hook.Sketch(i, h); err != nil {
			return matrix.Dense[T]{}, linear.Saved[T]{}, loraSaved[T]{}, nil, err
		}
	}
	baseSketch := s
	if ad != nil {
		baseSketch = nil
	}
	z, saved, err := linear.Forward(h, w.W, bias.W.Data, baseSketch)
	if err != nil {
		return fail(err)
	}
	if w.Frozen {
		saved = linear.Saved[T]{N: h.Rows} // no weight gradient: nothing kept
	}
	if ad == nil {
		return z, saved, loraSaved[T]{}, s, nil
	}
	var ls loraSaved[T]
	u, sa, err := linear.Forward(h, ad.a.W, nil, s)
	if err != nil {
		return fail(err)
	}
	v, sb, err := linear.Forward(u, ad.b.W, nil, nil)
	if err != nil {
		return fail(err)
	}
	ls.a, ls.b = sa, sb
	for j, x := range v.Data {
		z.Data[j] += ad.scale * x
	}
	return z, saved, ls, s, nil
}

// keep records in bt what layer k keeps for backward (sv, and ls with an adapter), drawn under
// sketch s: with Config.ReuseLayerNorm, for a layer reading a LayerNorm output, only the shape,
// the indices and the scales, since backward re-forms the rows from x̂.
func (m *Model[T]) keep(bt *blockTape[T], k Kind, sv linear.Saved[T], ls loraSaved[T], s *estimator.Sketch) {
	p := k.Position()
	if m.Cfg.ReuseLayerNorm && readsLayerNorm(k) {
		sv.H.Data, ls.a.H.Data = nil, nil
		bt.reformed[p] = true
		if s != nil {
			bt.scale[p] = make([]T, len(s.Scale))
			for j, c := range s.Scale {
				bt.scale[p][j] = T(c)
			}
		}
	}
	bt.lin[p], bt.ad[p] = sv, ls
}

// readsLayerNorm reports whether layers of kind k read a LayerNorm output (q, k, v, ffn_in).
func readsLayerNorm(k Kind) bool { return k != Output && k != FFNOut }

// blockForward runs block l on x (n×d), which it updates in place to the block's output, and
// fills bt with what the block's backward needs.
func (m *Model[T]) blockForward(l int, x matrix.Dense[T], b Batch, hook Hook[T], bt *blockTape[T]) error {
	bl := &m.blocks[l]
	var err error
	var y matrix.Dense[T]
	y, bt.xhat1, bt.inv1 = layerNormForward(x, bl.ln1g.W.Data, bl.ln1b.W.Data)
	layer := func(k Kind, h matrix.Dense[T]) (matrix.Dense[T], error) {
		z, sv, ls, s, err := m.linearForward(LayerID{Block: l, Kind: k}.Index(), h, hook)
		if err != nil {
			return z, err
		}
		m.keep(bt, k, sv, ls, s)
		return z, nil
	}
	ah, sampledAttention := hook.(AttentionHook)
	sampledAttention = sampledAttention && samplesAttention(ah, l)
	var ctx matrix.Dense[T]
	if _, ok := m.chunkable(l, bt, b, hook); ok && m.Cfg.Recompute && !sampledAttention {
		if ctx, err = m.chunkedAttentionForward(l, y, b, hook, bt); err != nil {
			return err
		}
	} else if err = m.wholeQKV(bt, y, layer); err != nil {
		return err
	}
	switch {
	case ctx.Data != nil:
	case sampledAttention:
		if ctx, bt.attn, err = sampledAttentionForward(ah, l, bt.q, bt.k, bt.v, b.B, b.S, m.Cfg.Heads, b.Mask); err != nil {
			return err
		}
	default:
		ctx = attentionForward(bt.q, bt.k, bt.v, b.B, b.S, m.Cfg.Heads, b.Mask)
	}
	if m.Cfg.Recompute || !bt.attn.needsQKV() {
		// Backward forms them again (or does not read them): release them before the rest.
		bt.q, bt.k, bt.v = matrix.Dense[T]{}, matrix.Dense[T]{}, matrix.Dense[T]{}
	}
	var o matrix.Dense[T]
	if o, err = layer(Output, ctx); err != nil {
		return err
	}
	add(x, o)
	y, bt.xhat2, bt.inv2 = layerNormForward(x, bl.ln2g.W.Data, bl.ln2b.W.Data)
	if nh, ok := m.chunkable(l, bt, b, hook); ok && m.adapter(LayerID{Block: l, Kind: FFNIn}.Index()) == nil && m.adapter(LayerID{Block: l, Kind: FFNOut}.Index()) == nil {
		return m.chunkedFFNForward(l, x, y, b, nh, bt)
	}
	if bt.u, err = layer(FFNIn, y); err != nil {
		return err
	}
	// With recomputation the pre-activation is not kept: GELU overwrites it, so that one
	// n×f buffer rather than two is live (a sampled ffn_out keeps only some rows of it).
	var a matrix.Dense[T]
	if m.Cfg.Recompute {
		a, bt.u = geluTo(bt.u, bt.u), matrix.Dense[T]{}
	} else {
		a = gelu(bt.u)
	}
	var f matrix.Dense[T]
	if f, err = layer(FFNOut, a); err != nil {
		return err
	}
	add(x, f)
	return nil
}

// wholeQKV runs the q, k and v layers of a block on y through layer, into bt.
func (m *Model[T]) wholeQKV(bt *blockTape[T], y matrix.Dense[T], layer func(Kind, matrix.Dense[T]) (matrix.Dense[T], error)) error {
	var err error
	if bt.q, err = layer(Query, y); err != nil {
		return err
	}
	if bt.k, err = layer(Key, y); err != nil {
		return err
	}
	bt.v, err = layer(Value, y)
	return err
}

// recordingHook passes Sketch and Gradient to Hook and keeps a copy of every sketch it returns,
// so that a checkpointed block's rerun draws nothing new.
type recordingHook[T matrix.Float] struct {
	Hook[T]
	ck *blockCheckpoint[T]
}

func (r *recordingHook[T]) Sketch(i int, h matrix.Dense[T]) (*estimator.Sketch, error) {
	s, err := r.Hook.Sketch(i, h)
	if s != nil {
		r.ck.sketches[LayerOf(i).Kind.Position()] = cloneSketch(s)
	}
	return s, err
}

// replayHook returns the sketches a recordingHook kept; its Gradient does nothing (a rerun's
// forward does not call it).
type replayHook[T matrix.Float] struct{ ck *blockCheckpoint[T] }

func (r replayHook[T]) Sketch(i int, _ matrix.Dense[T]) (*estimator.Sketch, error) {
	return r.ck.sketches[LayerOf(i).Kind.Position()], nil
}

func (replayHook[T]) Gradient(int, matrix.Dense[T]) error { return nil }

func cloneSketch(s *estimator.Sketch) *estimator.Sketch {
	return &estimator.Sketch{M: s.M, Kept: slices.Clone(s.Kept), Draws: slices.Clone(s.Draws), Index: slices.Clone(s.Index), Scale: slices.Clone(s.Scale)}
}

// rerunBlock refills the tape of checkpointed block l by running its forward again from the
// input forward kept, with the sketches forward drew.
func (m *Model[T]) rerunBlock(l int, b Batch, bt *blockTape[T]) error {
	ck := bt.ckpt
	x := matrix.Dense[T]{Rows: ck.x.Rows, Cols: ck.x.Cols, Data: slices.Clone(ck.x.Data)}
	*bt = blockTape[T]{ckpt: ck}
	if err := m.blockForward(l, x, b, replayHook[T]{ck: ck}, bt); err != nil {
		return fmt.Errorf("model: rerun of checkpointed block %d: %w", l, err)
	}
	return nil
}

// layerNormOutput returns x̂·g + b, row by row, computed as layerNormForward computes y.
func layerNormOutput[T matrix.Float](xhat matrix.Dense[T], g, b []T) matrix.Dense[T] {
	y := newDense[T](xhat.Rows, xhat.Cols)
	for i := 0; i < xhat.Rows; i++ {
		yr := y.Row(i)
		for j, h := range xhat.Row(i) {
			yr[j] = h*g[j] + b[j]
		}
	}
	return y
}

// reform returns s with its rows re-formed from the LayerNorm output y (all of them for an exact
// layer) or from x̂, g and b (the kept rows times their scales), as forward saw them.
func reform[T matrix.Float](s linear.Saved[T], scale []T, y func() matrix.Dense[T], xhat matrix.Dense[T], g, b []T) linear.Saved[T] {
	if s.H.Rows == 0 || s.H.Data != nil {
		return s // nothing kept (frozen), or rows kept
	}
	if s.Index == nil {
		s.H = y()
		return s
	}
	s.H = newDense[T](len(s.Index), xhat.Cols)
	for j, t := range s.Index {
		reformRow(s.H.Row(j), xhat.Row(t), g, b, scale[j])
	}
	return s
}

// reformRow writes into dst the LayerNorm output row x̂·g + b times c, rounded as forward's
// gather of that row rounds it.
func reformRow[T matrix.Float](dst, xhat, g, b []T, c T) {
	for i, h := range xhat {
		dst[i] = (h*g[i] + b[i]) * c
	}
}

// lazyLayerNorm returns a function that forms x̂·g + b on its first call and returns the same
// matrix on every later one.
func lazyLayerNorm[T matrix.Float](xhat matrix.Dense[T], g, b []T) func() matrix.Dense[T] {
	var y matrix.Dense[T]
	return func() matrix.Dense[T] {
		if y.Data == nil {
			y = layerNormOutput(xhat, g, b)
		}
		return y
	}
}
