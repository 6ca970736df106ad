package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/wtacrs/wtacrs/internal/gemm"
	"github.com/wtacrs/wtacrs/matrix"
)

// LoRA configures low-rank adapters (Hu et al., 2021): each adapted linear layer computes
// Z = HW + b + (Alpha/Rank)·(HA)B with A (d_in×Rank) and B (Rank×d_out) trainable and the base
// weight W frozen.
type LoRA struct {
	// Rank is r, in [1, min(d_in, d_out)] of every adapted layer.
	Rank int
	// Alpha is α > 0; the adapter's output is scaled by α/r.
	Alpha float64
	// Kinds lists the adapted layer kinds (in any order, without repeats), in every block.
	Kinds []Kind
	// Biases keeps the bias of every linear layer of the blocks trainable (BitFit, as the
	// published LoRA script does); otherwise they are frozen with the rest.
	Biases bool
}

// Scale returns α/r.
func (l LoRA) Scale() float64 { return l.Alpha / float64(l.Rank) }

// Has reports whether kind k is adapted.
func (l LoRA) Has(k Kind) bool { return slices.Contains(l.Kinds, k) }

// Validate checks l for a model of configuration c; errors wrap ErrConfig.
func (l LoRA) Validate(c Config) error {
	if len(l.Kinds) == 0 {
		return fmt.Errorf("%w: LoRA adapts no layer kind", ErrConfig)
	}
	seen := map[Kind]bool{}
	for _, k := range l.Kinds {
		if !k.Valid() {
			return fmt.Errorf("%w: LoRA on unknown layer kind %q (want %s)", ErrConfig, k, KindNames())
		}
		if seen[k] {
			return fmt.Errorf("%w: LoRA kind %q given twice", ErrConfig, k)
		}
		seen[k] = true
		in, out := k.Shape(c.Dim, c.FFN)
		if l.Rank < 1 || l.Rank > min(in, out) {
			return fmt.Errorf("%w: LoRA rank %d, want 1 ≤ r ≤ %d (the smaller side of the %s layer, %d×%d)", ErrConfig, l.Rank, min(in, out), k, in, out)
		}
	}
	if math.IsNaN(l.Alpha) || math.IsInf(l.Alpha, 0) || l.Alpha <= 0 {
		return fmt.Errorf("%w: LoRA alpha %v, want a finite value > 0", ErrConfig, l.Alpha)
	}
	return nil
}

// adapter is the LoRA pair of one linear layer.
type adapter[T matrix.Float] struct {
	a, b  *Param[T] // d_in×r and r×d_out
	scale T         // α/r
}

// AddLoRA adds adapters to the layers of the kinds l names in every block and freezes every
// other parameter but the classification head ("head.w", "head.b") and, with l.Biases, the
// biases of the blocks' linear layers; the frozen parameters' gradient accumulators are
// released. The adapters' parameters are appended to Params, block
// by block and kind by kind in block order, "blockL.<kind>.lora_a" then "blockL.<kind>.lora_b";
// A is drawn from U(−1/√d_in, 1/√d_in) with a stream of seed of its own (so the other
// parameters are unchanged) and B is zero, so the adapted model computes what the base model
// does until B moves. It returns ErrConfig for a bad l or when the model already has adapters.
func (m *Model[T]) AddLoRA(l LoRA, seed uint64) error {
	if m.lora != nil {
		return fmt.Errorf("%w: the model already has LoRA adapters", ErrConfig)
	}
	if err := l.Validate(m.Cfg); err != nil {
		return err
	}
	l.Kinds = slices.Clone(l.Kinds)
	slices.SortFunc(l.Kinds, func(a, b Kind) int { return a.Position() - b.Position() })
	for _, p := range m.Params {
		p.Frozen = !strings.HasPrefix(p.Name, "head.")
	}
	if l.Biases {
		for _, bl := range m.blocks {
			for _, b := range bl.b {
				b.Frozen = false
			}
		}
	}
	for _, p := range m.Params {
		if p.Frozen {
			p.G = nil // a frozen parameter has no gradient: its accumulator is released
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x6c6f7261))
	for li := range m.blocks {
		bl := &m.blocks[li]
		for _, k := range l.Kinds {
			in, out := k.Shape(m.Cfg.Dim, m.Cfg.FFN)
			bound := 1 / math.Sqrt(float64(in))
			pre := fmt.Sprintf("block%d.%s.", li, k)
			a := &Param[T]{Name: pre + "lora_a", W: newDense[T](in, l.Rank), G: make([]T, in*l.Rank)}
			for i := range a.W.Data {
				a.W.Data[i] = T(bound * (2*rng.Float64() - 1))
			}
			b := &Param[T]{Name: pre + "lora_b", W: newDense[T](l.Rank, out), G: make([]T, l.Rank*out)}
			m.Params = append(m.Params, a, b)
			bl.ad[k.Position()] = &adapter[T]{a: a, b: b, scale: T(l.Scale())}
		}
	}
	m.lora = &l
	return nil
}

// LoRA returns the model's adapters' configuration and whether it has any.
func (m *Model[T]) LoRA() (LoRA, bool) {
	if m.lora == nil {
		return LoRA{}, false
	}
	l := *m.lora
	l.Kinds = slices.Clone(l.Kinds)
	return l, true
}

// Adapted reports whether linear layer i ([LayerID.Index]) has a LoRA adapter.
func (m *Model[T]) Adapted(i int) bool {
	id := LayerOf(i)
	return m.blocks[id.Block].ad[id.Kind.Position()] != nil
}

// Trainable returns the parameters that are not frozen, in the order of Params.
func (m *Model[T]) Trainable() []*Param[T] {
	var out []*Param[T]
	for _, p := range m.Params {
		if !p.Frozen {
			out = append(out, p)
		}
	}
	return out
}

// MergeLoRA returns a new model without adapters whose every linear layer of an adapted kind has
// the weight W + (α/r)·AB, every other parameter copied and none frozen: the model the adapted
// one computes, for export with package checkpoint. A model without adapters is copied.
func (m *Model[T]) MergeLoRA() (*Model[T], error) {
	out, err := New[T](m.Cfg, 0)
	if err != nil {
		return nil, err
	}
	for _, p := range out.Params {
		src := m.Param(p.Name)
		if src == nil || len(src.W.Data) != len(p.W.Data) {
			return nil, fmt.Errorf("%w: parameter %s missing from the adapted model", ErrConfig, p.Name)
		}
		copy(p.W.Data, src.W.Data)
	}
	for li := range m.blocks {
		for k, ad := range m.blocks[li].ad {
			if ad == nil {
				continue
			}
			w := out.blocks[li].w[k].W
			gemm.Gemm(false, false, w.Rows, w.Cols, ad.a.W.Cols, ad.scale, ad.a.W.Data, ad.a.W.Cols, ad.b.W.Data, w.Cols, 1, w.Data, w.Cols)
		}
	}
	return out, nil
}
