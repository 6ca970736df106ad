package model

import (
	"github.com/wtacrs/wtacrs/linear"
	"github.com/wtacrs/wtacrs/matrix"
)

// SavedParts splits the activations a tape keeps for backward, in bytes, by what keeps them.
// A tensor shared by several consumers is counted once, under the first of them in this order,
// block by block: the linear layers in block order (q, k, v, o, ffn_in, ffn_out), then the
// attention products, then the rest. So the LayerNorm output an exact q, k and v read is q's,
// and the one a sampled layer recomputes from is Other's.
type SavedParts struct {
	// Linear is indexed by [Kind.Position], summed over blocks: each layer's input for its weight
	// gradient (all of it, or the kept rows and their indices; nothing for a frozen weight) and,
	// with a LoRA adapter, the inputs of its A and B products.
	Linear [LinearPerBlock]int
	// Attention is what the attention products keep: the queries, keys and values (unless
	// recomputed or every product reading them is sampled) and, when some product is sampled,
	// the probabilities and the kept pairs with their indices and scales.
	Attention int
	// Other is the rest: the LayerNorm outputs and inverse deviations, the feed-forward
	// pre-activation, the pooled rows of the classification head and the MLM head's buffers;
	// and, with checkpointing, each block's input and the sketches it drew.
	Other int
}

// Total returns the sum of the parts.
func (p SavedParts) Total() int {
	n := p.Attention + p.Other
	for _, v := range p.Linear {
		n += v
	}
	return n
}

// SavedParts returns the activations the tape keeps for backward, by what keeps them.
func (t *Tape[T]) SavedParts() SavedParts {
	size := matrix.ElemSize[T]()
	seen := map[*T]bool{}
	count := func(dst *int, v []T) {
		if len(v) == 0 || seen[&v[0]] {
			return
		}
		seen[&v[0]] = true
		*dst += len(v) * size
	}
	var p SavedParts
	for _, bt := range t.blocks {
		for k, s := range bt.lin {
			for _, s := range []linear.Saved[T]{s, bt.ad[k].a, bt.ad[k].b} {
				count(&p.Linear[k], s.H.Data)
				p.Linear[k] += len(s.Index) * 8
			}
			p.Linear[k] += len(bt.scale[k]) * size
		}
		if ck := bt.ckpt; ck != nil {
			count(&p.Other, ck.x.Data)
			for _, s := range ck.sketches {
				if s != nil {
					p.Other += (len(s.Kept)+len(s.Draws)+len(s.Index))*8 + len(s.Scale)*8
				}
			}
		}
		for _, v := range [][]T{bt.q.Data, bt.k.Data, bt.v.Data} {
			count(&p.Attention, v)
		}
		if bt.attn != nil {
			p.Attention += bt.attn.bytes()
		}
		for _, v := range [][]T{bt.xhat1.Data, bt.xhat2.Data, bt.inv1, bt.inv2, bt.u.Data} {
			count(&p.Other, v)
		}
	}
	count(&p.Other, t.xhatF.Data)
	count(&p.Other, t.invF)
	count(&p.Other, t.cls.Data)
	if h := t.mlm; h != nil {
		for _, v := range [][]T{h.xhatF.Data, h.invF, h.dense.H.Data, h.z.Data, h.xhat.Data, h.inv, h.h.Data, h.dLogits.Data} {
			count(&p.Other, v)
		}
		p.Other += len(h.rows) * 8
	}
	return p
}
