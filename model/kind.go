package model

import (
	"fmt"
	"slices"
	"strings"
)

// Kind names one of the linear layers of an encoder block: the attention projections q, k, v
// and o and the two feed-forward layers. It is the one source of truth for the kinds, their
// spelling in configurations and outputs, their order, their titles and their shapes; a layer's
// index in the model is derived from it in [LayerID.Index] alone.
//
// Kind is a string type so that it can key the configuration maps ([train] layers) directly.
type Kind string

// The linear layer kinds, in block order.
const (
	Query  Kind = "q"
	Key    Kind = "k"
	Value  Kind = "v"
	Output Kind = "o"
	FFNIn  Kind = "ffn_in"
	FFNOut Kind = "ffn_out"
)

// LinearPerBlock is the number of linear layers of an encoder block (the number of kinds).
const LinearPerBlock = 6

var kinds = [LinearPerBlock]Kind{Query, Key, Value, Output, FFNIn, FFNOut}

var kindTitles = [LinearPerBlock]string{"query", "key", "value", "attention output", "FFN in", "FFN out"}

// Kinds returns the kinds in block order (a new slice).
func Kinds() []Kind { return slices.Clone(kinds[:]) }

// KindNames returns the spelling of every kind in block order, for messages:
// "q, k, v, o, ffn_in or ffn_out".
func KindNames() string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// ParseKind returns the kind spelled s, or an error listing the kinds.
func ParseKind(s string) (Kind, error) {
	if k := Kind(s); k.Valid() {
		return k, nil
	}
	return "", fmt.Errorf("%w: unknown layer kind %q (want %s)", ErrConfig, s, KindNames())
}

// Valid reports whether k is one of the six kinds.
func (k Kind) Valid() bool { return slices.Contains(kinds[:], k) }

// Position returns the 0-based position of k in block order, or LinearPerBlock for a kind that
// is not valid (so that sorting by position puts unknown kinds last).
func (k Kind) Position() int {
	if i := slices.Index(kinds[:], k); i >= 0 {
		return i
	}
	return LinearPerBlock
}

// Title returns the kind's name in words ("query", "FFN in"), or the kind itself if not valid.
func (k Kind) Title() string {
	if i := k.Position(); i < LinearPerBlock {
		return kindTitles[i]
	}
	return string(k)
}

// Shape returns the weight shape d_in × d_out of the kind in a model of width dim and
// feed-forward width ffn.
func (k Kind) Shape(dim, ffn int) (in, out int) {
	switch k {
	case FFNIn:
		return dim, ffn
	case FFNOut:
		return ffn, dim
	}
	return dim, dim
}

// LayerID names one linear layer of the model.
type LayerID struct {
	// Block is the 0-based encoder block, in [0, Config.Blocks).
	Block int
	// Kind is which projection of the block: q, k, v, o, ffn_in or ffn_out.
	Kind Kind
}

// String returns "block<B>.<kind>", for example "block0.q".
func (l LayerID) String() string { return fmt.Sprintf("block%d.%s", l.Block, l.Kind) }

// Index returns the layer's 0-based index among the model's linear layers: blocks in order, the
// kinds of a block in block order. It panics for a kind that is not valid.
func (l LayerID) Index() int {
	p := l.Kind.Position()
	if p == LinearPerBlock {
		panic(fmt.Sprintf("model: layer %v of unknown kind", l))
	}
	return l.Block*LinearPerBlock + p
}

// LayerOf returns the layer of index i (see [LayerID.Index]); i must be ≥ 0.
func LayerOf(i int) LayerID { return LayerID{Block: i / LinearPerBlock, Kind: kinds[i%LinearPerBlock]} }
