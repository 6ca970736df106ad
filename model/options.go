package model

import (
	"fmt"
	"strings"
)

// Pooling says which vector of the last block's output the classification head reads. Its
// zero value is [PoolCLS].
type Pooling int

// The poolings.
const (
	// PoolCLS reads the final LayerNorm of the token at position 0 ([CLS]) of each sequence.
	PoolCLS Pooling = iota
	// PoolMean reads the final LayerNorm of the mean of the valid (unmasked) tokens of each
	// sequence: LN(Σ_{s valid} x_s / n_valid). The LayerNorm comes after the mean, so the head
	// sees a normalised vector whatever the number of tokens averaged.
	PoolMean
)

var poolingNames = [...]string{PoolCLS: "cls", PoolMean: "mean"}

// Valid reports whether p is one of the poolings.
func (p Pooling) Valid() bool { return p >= 0 && int(p) < len(poolingNames) }

// String returns the configuration spelling of p ("cls", "mean"), or "Pooling(N)" when p is
// not valid.
func (p Pooling) String() string {
	if p.Valid() {
		return poolingNames[p]
	}
	return fmt.Sprintf("Pooling(%d)", int(p))
}

// ParsePooling returns the pooling spelled s ("cls" or "mean"), or an error wrapping ErrConfig.
func ParsePooling(s string) (Pooling, error) {
	for p, name := range poolingNames {
		if name == s {
			return Pooling(p), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown pooling %q (want %s)", ErrConfig, s, orList(poolingNames[:]))
}

// MLMHead says whether the model has a masked-language-model head and how its output layer
// relates to the token embedding. Its zero value is [MLMNone].
type MLMHead int

// The masked-language-model heads.
const (
	// MLMNone is a model without a masked-language-model head.
	MLMNone MLMHead = iota
	// MLMTied predicts token ids with the token embedding as output weights: logits = h·Eᵀ + b
	// with E the "tok_emb" parameter, which thus also gets the head's gradient.
	MLMTied
	// MLMUntied predicts token ids with output weights of its own, "mlm.out.w" (Dim×Vocab):
	// logits = h·W + b.
	MLMUntied
)

var mlmNames = [...]string{MLMNone: "none", MLMTied: "tied", MLMUntied: "untied"}

// Valid reports whether h is one of the heads.
func (h MLMHead) Valid() bool { return h >= 0 && int(h) < len(mlmNames) }

// String returns the configuration spelling of h ("none", "tied", "untied"), or "MLMHead(N)"
// when h is not valid.
func (h MLMHead) String() string {
	if h.Valid() {
		return mlmNames[h]
	}
	return fmt.Sprintf("MLMHead(%d)", int(h))
}

// ParseMLMHead returns the head spelled s ("none", "tied" or "untied"), or an error wrapping
// ErrConfig.
func ParseMLMHead(s string) (MLMHead, error) {
	for h, name := range mlmNames {
		if name == s {
			return MLMHead(h), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown masked-language-model head %q (want %s)", ErrConfig, s, orList(mlmNames[:]))
}

// orList returns "a, b or c".
func orList(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
