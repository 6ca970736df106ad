package model

import (
	"fmt"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/internal/gemm"
	"github.com/wtacrs/wtacrs/linear"
	"github.com/wtacrs/wtacrs/matrix"
)

// NormHook is a [Hook] that can work from row norms alone, so that a block can run over groups
// of sequences without forming any n×f activation or n×d_out gradient whole
// ([Config.ChunkTokens]): the sketch of ffn_out from ‖H_t‖, and every layer's Gradient from
// ‖∇Z_t‖.
type NormHook[T matrix.Float] interface {
	Hook[T]
	// NeedsRows reports whether Sketch must see layer i's H, or Gradient its ∇Z, whole in this
	// pass (to record them, say); the block then runs whole.
	NeedsRows(linear int) bool
	// Sampled reports whether Sketch may return a sketch for layer i in this pass (false: it
	// returns nil, the layer is exact).
	Sampled(linear int) bool
	// SketchNorms is Sketch given ‖H_t‖ for every row t (n entries, read-only) in place of H.
	SketchNorms(linear int, norms []float64) (*estimator.Sketch, error)
	// GradientNorms is Gradient given ‖∇Z_t‖ for every row t (n entries, read-only; for an
	// adapted layer the norms of its A product's output gradient, as for Gradient). In a
	// grouped backward it is called once per layer and pass, after the groups of the block.
	GradientNorms(linear int, norms []float64) error
}

// rows returns rows lo ≤ i < hi of a as a matrix sharing its storage.
func rows[T matrix.Float](a matrix.Dense[T], lo, hi int) matrix.Dense[T] {
	return matrix.Dense[T]{Rows: hi - lo, Cols: a.Cols, Data: a.Data[lo*a.Cols : hi*a.Cols]}
}

// chunkProduct is one product H·W of a layer whose backward runs by row groups: its weight
// gradient is accumulated group by group from the saved rows of the group.
type chunkProduct[T matrix.Float] struct {
	w        matrix.Dense[T] // d_in×d_out
	gw       matrix.Dense[T] // the weight gradient accumulator; empty for a frozen weight
	saved    linear.Saved[T] // as forward kept it (rows may be to re-form)
	scale    []T             // with reform: the scales of the kept rows
	reform   bool            // the rows of H are re-formed from x̂ (Config.ReuseLayerNorm)
	xhat     matrix.Dense[T] // with reform: the LayerNorm's normalised rows, gain and bias
	g, b     []T
	next     int // the first kept row not yet used (sampled)
	gathered []T // scratch for the gathered gradient rows of a group
	formed   []T // with reform: scratch for the re-formed input rows of a group
}

// addWeightGrad adds to the weight gradient the contribution of rows lo ≤ t < hi, whose output
// gradient is gz (hi−lo rows): Hᵀ∇Z over the group (exact), or H'ᵀ∇Z over the kept rows of
// the group (sampled).
func (p *chunkProduct[T]) addWeightGrad(lo, hi int, gz matrix.Dense[T]) {
	if p.gw.Data == nil {
		return
	}
	din, dout := p.w.Rows, p.w.Cols
	if p.saved.Index == nil {
		var h matrix.Dense[T]
		if p.reform {
			h = p.scratch(hi-lo, din)
			for j := range h.Rows {
				reformRow(h.Row(j), p.xhat.Row(lo+j), p.g, p.b, 1)
			}
		} else {
			h = rows(p.saved.H, lo, hi)
		}
		gemm.Gemm(true, false, din, dout, hi-lo, 1, h.Data, max(1, din), gz.Data, max(1, dout), 1, p.gw.Data, max(1, dout))
		return
	}
	j0 := p.next
	for p.next < len(p.saved.Index) && p.saved.Index[p.next] < hi {
		p.next++
	}
	r := p.next - j0
	if r == 0 {
		return
	}
	if cap(p.gathered) < r*dout {
		p.gathered = make([]T, r*dout)
	}
	g := matrix.Dense[T]{Rows: r, Cols: dout, Data: p.gathered[:r*dout]}
	for j := 0; j < r; j++ {
		copy(g.Row(j), gz.Row(p.saved.Index[j0+j]-lo))
	}
	var h matrix.Dense[T]
	if p.reform {
		h = p.scratch(r, din)
		for j := 0; j < r; j++ {
			reformRow(h.Row(j), p.xhat.Row(p.saved.Index[j0+j]), p.g, p.b, p.scale[j0+j])
		}
	} else {
		h = rows(p.saved.H, j0, p.next)
	}
	gemm.Gemm(true, false, din, dout, r, 1, h.Data, max(1, din), g.Data, max(1, dout), 1, p.gw.Data, max(1, dout))
}

// scratch returns an r×c matrix in p's scratch for re-formed rows (its values arbitrary).
func (p *chunkProduct[T]) scratch(r, c int) matrix.Dense[T] {
	if cap(p.formed) < r*c {
		p.formed = make([]T, r*c)
	}
	return matrix.Dense[T]{Rows: r, Cols: c, Data: p.formed[:r*c]}
}

// chunkLayer is a linear layer (with its adapter, if any) whose backward runs by row groups.
type chunkLayer[T matrix.Float] struct {
	i     int
	base  chunkProduct[T]
	gb    []T // the bias gradient; nil when frozen
	ad    *adapter[T]
	a, b  chunkProduct[T] // the adapter's A and B products
	norms []float64       // ‖∇Z_t‖ (or ‖∇U_t‖ with an adapter) of every row, for the hook
}

func (m *Model[T]) chunkLayer(l int, k Kind, bt *blockTape[T]) *chunkLayer[T] {
	bl := &m.blocks[l]
	i := LayerID{Block: l, Kind: k}.Index()
	w, bias := m.Linear(i)
	p := k.Position()
	xhat, g, b := bt.xhat1, bl.ln1g.W.Data, bl.ln1b.W.Data
	if k == FFNIn {
		xhat, g, b = bt.xhat2, bl.ln2g.W.Data, bl.ln2b.W.Data
	}
	product := func(w matrix.Dense[T], gw []T, s linear.Saved[T]) chunkProduct[T] {
		cp := chunkProduct[T]{w: w, saved: s, scale: bt.scale[p], reform: bt.reformed[p] && s.H.Data == nil && s.H.Rows > 0, xhat: xhat, g: g, b: b}
		if gw != nil {
			cp.gw = matrix.Dense[T]{Rows: w.Rows, Cols: w.Cols, Data: gw}
		}
		return cp
	}
	c := &chunkLayer[T]{i: i, base: product(w.W, grad(w), bt.lin[p]), gb: grad(bias), ad: m.adapter(i)}
	if c.ad != nil {
		c.a = product(c.ad.a.W, c.ad.a.G, bt.ad[p].a)
		c.b = chunkProduct[T]{w: c.ad.b.W, gw: matrix.Dense[T]{Rows: c.ad.b.W.Rows, Cols: c.ad.b.W.Cols, Data: c.ad.b.G}, saved: bt.ad[p].b}
	}
	return c
}

// step runs the layer's backward for rows lo ≤ t < hi of its output gradient gz (hi−lo rows):
// it adds to the weight and bias gradients, records the row norms the hook needs, and returns
// the input gradient of those rows.
func (c *chunkLayer[T]) step(lo, hi int, gz matrix.Dense[T]) (matrix.Dense[T], error) {
	if err := gz.Check("∇Z"); err != nil {
		return matrix.Dense[T]{}, fmt.Errorf("model: layer %d: linear backward: %w", c.i, err)
	}
	din := c.base.w.Rows
	gh := newDense[T](hi-lo, din)
	gemm.Gemm(false, true, hi-lo, din, gz.Cols, 1, gz.Data, max(1, gz.Cols), c.base.w.Data, max(1, gz.Cols), 0, gh.Data, max(1, din))
	if c.gb != nil {
		for r := 0; r < gz.Rows; r++ {
			for j, v := range gz.Row(r) {
				c.gb[j] += v
			}
		}
	}
	c.base.addWeightGrad(lo, hi, gz)
	norm := gz
	if ad := c.ad; ad != nil {
		// ∇V = s·∇Z for V = (HA)B, ∇B += Uᵀ∇V, ∇U = ∇V·Bᵀ, then the A product as a layer.
		gv := newDense[T](gz.Rows, gz.Cols)
		for j, x := range gz.Data {
			gv.Data[j] = ad.scale * x
		}
		c.b.addWeightGrad(lo, hi, gv)
		r := ad.a.W.Cols
		gu := newDense[T](gz.Rows, r)
		gemm.Gemm(false, true, gz.Rows, r, gz.Cols, 1, gv.Data, max(1, gz.Cols), ad.b.W.Data, max(1, gz.Cols), 0, gu.Data, max(1, r))
		c.a.addWeightGrad(lo, hi, gu)
		gemm.Gemm(false, true, gz.Rows, din, r, 1, gu.Data, max(1, r), ad.a.W.Data, max(1, r), 1, gh.Data, max(1, din))
		norm = gu
	}
	if c.norms != nil {
		estimator.RowNormsInto(c.norms[lo:hi], norm)
	}
	return gh, nil
}

// chunkable reports whether block l may run by groups of sequences under hook: ChunkTokens set
// and smaller than the batch, no sampled attention product (bt.attn, known once forward ran),
// and a hook (if any) that works from norms for every layer of the block. It returns the hook
// as a NormHook (nil for a nil hook).
func (m *Model[T]) chunkable(l int, bt *blockTape[T], b Batch, hook Hook[T]) (NormHook[T], bool) {
	seqs := m.Cfg.ChunkTokens / b.S
	if m.Cfg.ChunkTokens <= 0 || bt.attn != nil || max(1, seqs) >= b.B {
		return nil, false
	}
	if hook == nil {
		return nil, true
	}
	nh, ok := hook.(NormHook[T])
	if !ok {
		return nil, false
	}
	for _, k := range kinds {
		if nh.NeedsRows(LayerID{Block: l, Kind: k}.Index()) {
			return nil, false
		}
	}
	return nh, true
}

// chunkedFFNForward is the feed-forward half of block l's forward over groups of whole sequences
// (see chunkable): from y, the LayerNorm output, it adds ffn_out(gelu(ffn_in(y))) to x group by
// group, so that no n×f activation is formed whole unless an exact ffn_out keeps it, and fills
// the two layers' saved inputs as forward would. A sampled ffn_out is sketched from the row
// norms of its input, and its kept rows are formed again from y afterwards. Neither layer may
// have an adapter.
func (m *Model[T]) chunkedFFNForward(l int, x, y matrix.Dense[T], b Batch, hook NormHook[T], bt *blockTape[T]) error {
	iIn, iOut := LayerID{Block: l, Kind: FFNIn}.Index(), LayerID{Block: l, Kind: FFNOut}.Index()
	w1, b1 := m.Linear(iIn)
	w2, b2 := m.Linear(iOut)
	n, f := y.Rows, w1.W.Cols
	fail := func(i int, err error) error { return fmt.Errorf("model: layer %d: %w", i, err) }
	// ffn_in: sketched from its whole input, as in the whole forward.
	var sIn *estimator.Sketch
	if hook != nil && !w1.Frozen {
		var err error
		if sIn, err = hook.Sketch(iIn, y); err != nil {
			return err
		}
	}
	savedIn, err := linear.Keep(y, sIn)
	if err != nil {
		return fail(iIn, err)
	}
	if w1.Frozen {
		savedIn = linear.Saved[T]{N: n}
	}
	m.keep(bt, FFNIn, savedIn, loraSaved[T]{}, sIn)
	// ffn_out: an exact trained layer keeps its whole input, formed group by group; a sampled
	// one is sketched from the row norms of its input.
	sampled := hook != nil && !w2.Frozen && hook.Sampled(iOut)
	var whole matrix.Dense[T]
	var norms []float64
	switch {
	case sampled:
		norms = make([]float64, n)
	case !w2.Frozen:
		whole = newDense[T](n, f)
	}
	if !m.Cfg.Recompute {
		bt.u = newDense[T](n, f)
	}
	seqs := max(1, m.Cfg.ChunkTokens/b.S)
	for s0 := 0; s0 < b.B; s0 += seqs {
		lo, hi := s0*b.S, min(b.B, s0+seqs)*b.S
		u, _, err := linear.Forward(rows(y, lo, hi), w1.W, b1.W.Data, nil)
		if err != nil {
			return fail(iIn, err)
		}
		var a matrix.Dense[T]
		if m.Cfg.Recompute {
			a = geluTo(u, u)
		} else {
			copy(rows(bt.u, lo, hi).Data, u.Data)
			a = gelu(u)
		}
		if whole.Data != nil {
			copy(rows(whole, lo, hi).Data, a.Data)
		}
		if norms != nil {
			estimator.RowNormsInto(norms[lo:hi], a)
		}
		out, _, err := linear.Forward(a, w2.W, b2.W.Data, nil)
		if err != nil {
			return fail(iOut, err)
		}
		add(rows(x, lo, hi), out)
	}
	savedOut := linear.Saved[T]{N: n}
	var s *estimator.Sketch
	switch {
	case w2.Frozen:
	case !sampled:
		if hook != nil {
			if s, err = hook.Sketch(iOut, whole); err != nil {
				return err
			}
		}
		if savedOut, err = linear.Keep(whole, s); err != nil {
			return fail(iOut, err)
		}
	default:
		if s, err = hook.SketchNorms(iOut, norms); err != nil {
			return err
		}
		if savedOut, err = m.keepFFNRows(l, y, bt.u, s); err != nil {
			return fail(iOut, err)
		}
	}
	bt.lin[FFNOut.Position()] = savedOut
	return nil
}

// chunkedAttentionForward is the attention half of block l's forward over groups of whole
// sequences (see chunkable; only with Recompute and exact attention products): from y, the
// first LayerNorm's output, it returns the attention context (n×d) and fills what q, k and v
// keep, forming their outputs group by group so that no n×d query, key or value exists whole.
// The layers are sketched from their whole input, as in the whole forward.
func (m *Model[T]) chunkedAttentionForward(l int, y matrix.Dense[T], b Batch, hook Hook[T], bt *blockTape[T]) (matrix.Dense[T], error) {
	n := y.Rows
	qkv := []Kind{Query, Key, Value}
	var us [3]matrix.Dense[T] // the adapters' n×r inputs of B, formed group by group
	for c, k := range qkv {
		i := LayerID{Block: l, Kind: k}.Index()
		w, _ := m.Linear(i)
		ad := m.adapter(i)
		var s *estimator.Sketch
		if hook != nil && (ad != nil || !w.Frozen) {
			var err error
			if s, err = hook.Sketch(i, y); err != nil {
				return matrix.Dense[T]{}, err
			}
		}
		base := s
		if ad != nil {
			base = nil
		}
		sv, err := linear.Keep(y, base)
		if err != nil {
			return matrix.Dense[T]{}, fmt.Errorf("model: layer %d: %w", i, err)
		}
		if w.Frozen {
			sv = linear.Saved[T]{N: n}
		}
		var ls loraSaved[T]
		if ad != nil {
			if ls.a, err = linear.Keep(y, s); err != nil {
				return matrix.Dense[T]{}, fmt.Errorf("model: layer %d: %w", i, err)
			}
			us[c] = newDense[T](n, ad.a.W.Cols)
			ls.b = linear.Saved[T]{N: n, H: us[c]}
		}
		m.keep(bt, k, sv, ls, s)
	}
	ctx := newDense[T](n, y.Cols)
	seqs := max(1, m.Cfg.ChunkTokens/b.S)
	for s0 := 0; s0 < b.B; s0 += seqs {
		s1 := min(b.B, s0+seqs)
		lo, hi := s0*b.S, s1*b.S
		yc := rows(y, lo, hi)
		var out [3]matrix.Dense[T]
		for c, k := range qkv {
			i := LayerID{Block: l, Kind: k}.Index()
			w, bias := m.Linear(i)
			z, _, err := linear.Forward(yc, w.W, bias.W.Data, nil)
			if err != nil {
				return matrix.Dense[T]{}, fmt.Errorf("model: layer %d: %w", i, err)
			}
			if ad := m.adapter(i); ad != nil {
				u, _, err := linear.Forward(yc, ad.a.W, nil, nil)
				if err != nil {
					return matrix.Dense[T]{}, fmt.Errorf("model: layer %d: %w", i, err)
				}
				copy(rows(us[c], lo, hi).Data, u.Data)
				v, _, err := linear.Forward(u, ad.b.W, nil, nil)
				if err != nil {
					return matrix.Dense[T]{}, fmt.Errorf("model: layer %d: %w", i, err)
				}
				for j, x := range v.Data {
					z.Data[j] += ad.scale * x
				}
			}
			out[c] = z
		}
		copy(rows(ctx, lo, hi).Data, attentionForward(out[0], out[1], out[2], s1-s0, b.S, m.Cfg.Heads, b.Mask[lo:hi]).Data)
	}
	return ctx, nil
}

// keepFFNRows returns what a sampled ffn_out keeps under sketch s (nil: exact, everything):
// its input rows gelu(ffn_in(y)) at the sketch's tokens times their scales, formed from the
// stored pre-activation u when there is one, else again from those rows of y.
func (m *Model[T]) keepFFNRows(l int, y, u matrix.Dense[T], s *estimator.Sketch) (linear.Saved[T], error) {
	n := y.Rows
	var idx []int
	if s != nil {
		if err := s.Validate(n); err != nil {
			return linear.Saved[T]{}, err
		}
		idx = s.Index
	} else {
		idx = make([]int, n)
		for t := range idx {
			idx[t] = t
		}
	}
	var a matrix.Dense[T]
	if u.Data != nil {
		a = newDense[T](len(idx), u.Cols)
		for j, t := range idx {
			copy(a.Row(j), u.Row(t))
		}
		a = geluTo(a, a)
	} else {
		ky := newDense[T](len(idx), y.Cols)
		for j, t := range idx {
			copy(ky.Row(j), y.Row(t))
		}
		w1, b1 := m.Linear(LayerID{Block: l, Kind: FFNIn}.Index())
		var err error
		if a, _, err = linear.Forward(ky, w1.W, b1.W.Data, nil); err != nil {
			return linear.Saved[T]{}, err
		}
		a = geluTo(a, a)
	}
	if s == nil {
		return linear.Keep(a, nil)
	}
	// a holds the kept rows in order: keep them all, scaled, under their tokens' indices.
	local := &estimator.Sketch{M: len(idx), Index: make([]int, len(idx)), Scale: s.Scale}
	for j := range local.Index {
		local.Index[j] = j
	}
	saved, err := linear.Keep(a, local)
	if err != nil {
		return linear.Saved[T]{}, err
	}
	saved.N, saved.Index = n, append([]int(nil), s.Index...)
	return saved, nil
}

// chunkedBlockBackward is block l's backward over groups of whole sequences of about
// Config.ChunkTokens tokens: every step of a block's backward but the weight gradients is
// local to a sequence, so no n×d_out gradient (in particular no n×f one) is formed whole. dx
// (n×d), the gradient of the block's output, becomes that of its input. The numbers are those
// of the whole backward up to rounding: the products run over fewer rows, and the weight
// gradients are sums over the groups.
func (m *Model[T]) chunkedBlockBackward(l int, bt *blockTape[T], b Batch, dx matrix.Dense[T], hook NormHook[T]) error {
	bl := &m.blocks[l]
	layers := [LinearPerBlock]*chunkLayer[T]{}
	n := b.B * b.S
	for _, k := range kinds {
		c := m.chunkLayer(l, k, bt)
		if hook != nil && (c.ad != nil || c.base.gw.Data != nil) {
			c.norms = make([]float64, n)
		}
		layers[k.Position()] = c
	}
	seqs := max(1, m.Cfg.ChunkTokens/b.S)
	for s0 := 0; s0 < b.B; s0 += seqs {
		s1 := min(b.B, s0+seqs)
		lo, hi := s0*b.S, s1*b.S
		dxc := rows(dx, lo, hi)
		step := func(k Kind, gz matrix.Dense[T]) (matrix.Dense[T], error) {
			return layers[k.Position()].step(lo, hi, gz)
		}
		// x ← x + ffn_out(gelu(ffn_in(ln2(x)))).
		dg, err := step(FFNOut, dxc)
		if err != nil {
			return err
		}
		var u matrix.Dense[T]
		if bt.u.Data != nil {
			u = rows(bt.u, lo, hi)
		} else {
			u = m.recompute(l, layerNormOutput(rows(bt.xhat2, lo, hi), bl.ln2g.W.Data, bl.ln2b.W.Data), FFNIn)[0]
		}
		du := geluBackwardTo(dg, u, dg)
		dy2, err := step(FFNIn, du)
		if err != nil {
			return err
		}
		add(dxc, layerNormBackward(dy2, rows(bt.xhat2, lo, hi), bt.inv2[lo:hi], bl.ln2g.W.Data, grad(bl.ln2g), grad(bl.ln2b)))
		// x ← x + o(attn(q, k, v of ln1(x))).
		dctx, err := step(Output, dxc)
		if err != nil {
			return err
		}
		var q, k, v matrix.Dense[T]
		if bt.q.Data != nil {
			q, k, v = rows(bt.q, lo, hi), rows(bt.k, lo, hi), rows(bt.v, lo, hi)
		} else {
			qkv := m.recompute(l, layerNormOutput(rows(bt.xhat1, lo, hi), bl.ln1g.W.Data, bl.ln1b.W.Data), Query, Key, Value)
			q, k, v = qkv[0], qkv[1], qkv[2]
		}
		dq, dk, dv := attentionBackward(q, k, v, b.Mask[lo:hi], dctx, s1-s0, b.S, m.Cfg.Heads)
		dy1, err := step(Query, dq)
		if err != nil {
			return err
		}
		for _, kd := range []struct {
			k Kind
			g matrix.Dense[T]
		}{{Key, dk}, {Value, dv}} {
			g, err := step(kd.k, kd.g)
			if err != nil {
				return err
			}
			add(dy1, g)
		}
		add(dxc, layerNormBackward(dy1, rows(bt.xhat1, lo, hi), bt.inv1[lo:hi], bl.ln1g.W.Data, grad(bl.ln1g), grad(bl.ln1b)))
	}
	if hook != nil {
		for _, c := range layers {
			if c.norms != nil {
				if err := hook.GradientNorms(c.i, c.norms); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
