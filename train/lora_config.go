package train

import (
	"fmt"
	"math"
	"slices"

	"github.com/wtacrs/wtacrs/internal/tomlconf"
	"github.com/wtacrs/wtacrs/model"
)

// Defaults of a [train.lora] table.
const (
	DefaultLoRARank  = 8
	DefaultLoRAAlpha = 16
)

// DefaultLoRAKinds are the kinds a [train.lora] table without kinds adapts: q, k and v, as the
// published code does.
var DefaultLoRAKinds = []model.Kind{model.Query, model.Key, model.Value}

// LoRAConfig is the [train.lora] table: fine-tuning with low-rank adapters W + (α/r)·BA on the
// linear layers of the kinds given, the base weights frozen (no gradient, no optimiser state and
// no stored input for their weight gradient), as [model.Model.AddLoRA] describes. A layer kind
// that is adapted and set to "wtacrs" in [train.layers] samples its LoRA A product (d_in → r),
// the one that needs the layer input H: only the kept rows of H are stored, the B product's
// gradient is exact. A kind that is not adapted is frozen and must be "exact" (it has no
// weight gradient to estimate).
type LoRAConfig struct {
	// Rank is r ≥ 1. Default [DefaultLoRARank].
	Rank int `toml:"rank"`
	// Alpha is α > 0: the adapter's output is scaled by α/r. Default [DefaultLoRAAlpha].
	Alpha float64 `toml:"alpha"`
	// Kinds are the adapted layer kinds. Default [DefaultLoRAKinds] (q, k and v).
	Kinds []model.Kind `toml:"kinds"`
	// Biases trains the biases of every linear layer of the blocks as well (BitFit; the
	// published LoRA script does). Default false.
	Biases bool `toml:"biases"`
}

// FillDefaults gives the keys a [train.lora] table leaves out their defaults.
func (l *LoRAConfig) FillDefaults(given func(name string) bool) {
	if !given("rank") {
		l.Rank = DefaultLoRARank
	}
	if !given("alpha") {
		l.Alpha = DefaultLoRAAlpha
	}
	if !given("kinds") {
		l.Kinds = slices.Clone(DefaultLoRAKinds)
	}
}

// Model returns the model's description of the adapters.
func (l LoRAConfig) Model() model.LoRA {
	return model.LoRA{Rank: l.Rank, Alpha: l.Alpha, Kinds: slices.Clone(l.Kinds), Biases: l.Biases}
}

// Attention product groups of [AttentionConfig.Products].
const (
	// ProductsScores samples the backward of the scores QKᵀ (∇Q and ∇K).
	ProductsScores = "scores"
	// ProductsContext samples the backward of the context P·V (∇P and ∇V).
	ProductsContext = "context"
)

// Rules for the |C| of a sampled attention product, see [AttentionConfig.CRule].
const (
	CRuleOwn    = "own"
	CRuleShared = "shared"
)

// AttentionConfig is the [train.attention] table: column-row sampling of the backward of the
// attention products ([model.Product]) of every block. Each product's pairs (key or query
// positions, or the channels of a head) form one stratum per sequence and head with budget
// k = [estimator.Budget](ratio, size) and the WTA-CRS plan over the weights ‖operand pair‖ ×
// cached ‖gradient pair‖, the cache keyed by (training sample, head, pair) exactly as the linear
// layers' (cold entries filled, every valid pair's weight floored, so the estimate is unbiased in
// every cache state). Off unless the table is given with method "wtacrs".
type AttentionConfig struct {
	// Method is "exact" (default) or "wtacrs".
	Method string `toml:"method"`
	// Ratio is k/size in (0, 1] for "wtacrs"; default [DefaultRatio].
	Ratio float64 `toml:"ratio"`
	// Products lists which products are sampled: "scores" (QKᵀ) and "context" (P·V). Default
	// both, as the published code ("score" and "attout" sampling).
	Products []string `toml:"products"`
	// CRule chooses |C|: "own" (default), each sequence-head's own by Theorem 2's rule, or
	// "shared", one |C| for all the sequence-heads of a product minimising the mean of their
	// bound factors, as the published code does.
	CRule string `toml:"c_rule"`
}

// FillDefaults gives the keys a [train.attention] table leaves out their defaults.
func (a *AttentionConfig) FillDefaults(given func(name string) bool) {
	if a.Method == MethodWTACRS && !given("ratio") {
		a.Ratio = DefaultRatio
	}
	if !given("products") {
		a.Products = []string{ProductsScores, ProductsContext}
	}
	if !given("c_rule") {
		a.CRule = CRuleOwn
	}
}

// Samples reports whether the table samples product p.
func (a *AttentionConfig) Samples(p model.Product) bool {
	if a == nil || a.Method != MethodWTACRS {
		return false
	}
	group := ProductsScores
	if p == model.ProductP || p == model.ProductV {
		group = ProductsContext
	}
	return slices.Contains(a.Products, group)
}

// validateExtensions checks the [train.lora] and [train.attention] tables and their interplay with
// [train.layers].
func (c Config) validateExtensions() error {
	bad := func(key string, v any, want string, related ...string) error {
		return &tomlconf.FieldError{Key: key, Value: tomlconf.Format(v), Want: want, Related: related, Err: ErrConfig}
	}
	if l := c.LoRA; l != nil {
		switch {
		case l.Rank < 1:
			return bad("lora.rank", l.Rank, "≥ 1")
		case math.IsNaN(l.Alpha) || math.IsInf(l.Alpha, 0) || l.Alpha <= 0:
			return bad("lora.alpha", l.Alpha, "a finite value > 0")
		case len(l.Kinds) == 0:
			return bad("lora.kinds", l.Kinds, "at least one of "+model.KindNames())
		}
		for i, k := range l.Kinds {
			if !k.Valid() {
				return bad(tomlconf.Elem("lora.kinds", i), string(k), model.KindNames())
			}
			if slices.Index(l.Kinds, k) != i {
				return bad(tomlconf.Elem("lora.kinds", i), string(k), "each kind once")
			}
		}
		for _, k := range model.Kinds() {
			if c.Kind(k).Method == MethodWTACRS && !l.Model().Has(k) {
				return &tomlconf.FieldError{Key: tomlconf.Join(tomlconf.Join("layers", string(k)), "method"), Value: `"wtacrs"`, Problem: "a frozen layer under LoRA",
					Want: fmt.Sprintf(`"exact", or %q added to lora.kinds (only adapted layers have a gradient to sample)`, k), Related: []string{"lora.kinds"}, Err: ErrConfig}
			}
		}
		for _, k := range l.Kinds {
			in, out := k.Shape(c.Dim, c.FFNDim)
			if c.Dim > 0 && c.FFNDim > 0 && l.Rank > min(in, out) {
				return bad("lora.rank", l.Rank, fmt.Sprintf("≤ %d (the smaller side of the %s layer)", min(in, out), k), "dim", "ffn_dim")
			}
		}
	}
	if a := c.Attention; a != nil {
		switch a.Method {
		case MethodExact, "":
		case MethodWTACRS:
			if math.IsNaN(a.Ratio) || a.Ratio <= 0 || a.Ratio > 1 {
				return bad("attention.ratio", a.Ratio, "in (0, 1]")
			}
		default:
			return bad("attention.method", a.Method, `"exact" or "wtacrs"`)
		}
		for i, p := range a.Products {
			if p != ProductsScores && p != ProductsContext || slices.Index(a.Products, p) != i {
				return bad(tomlconf.Elem("attention.products", i), p, `"scores" or "context", each once`)
			}
		}
		if a.CRule != CRuleOwn && a.CRule != CRuleShared {
			return bad("attention.c_rule", a.CRule, `"own" or "shared"`)
		}
	}
	return nil
}
