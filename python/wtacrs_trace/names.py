"""Module names of Hugging Face T5 and BERT (and of this package's reference encoder) mapped to
the layer names of a trace directory, block<B>.<kind> with kind q, k, v, o, ffn_in or ffn_out.

Each preset is a list of (regular expression, {captured name: kind}); the expression is searched
in the module's full name (model.named_modules()) and captures the block number and the module's
own name. Patterns:

  t5-encoder (alias t5):
    ...encoder.block.<B>.layer.0.SelfAttention.{q,k,v,o}        -> q, k, v, o
    ...encoder.block.<B>.layer.1.DenseReluDense.{wi,wi_0}       -> ffn_in
    ...encoder.block.<B>.layer.1.DenseReluDense.wo              -> ffn_out
  t5-decoder (the decoder's self-attention and feed-forward):
    ...decoder.block.<B>.layer.0.SelfAttention.{q,k,v,o}        -> q, k, v, o
    ...decoder.block.<B>.layer.2.DenseReluDense.{wi,wi_0}       -> ffn_in
    ...decoder.block.<B>.layer.2.DenseReluDense.wo              -> ffn_out
  t5-cross (the decoder's cross-attention):
    ...decoder.block.<B>.layer.1.EncDecAttention.{q,k,v,o}      -> q, k, v, o
  bert (BERT, RoBERTa and other models with the same module names):
    ...encoder.layer.<B>.attention.self.{query,key,value}       -> q, k, v
    ...encoder.layer.<B>.attention.output.dense                 -> o
    ...encoder.layer.<B>.intermediate.dense                     -> ffn_in
    ...encoder.layer.<B>.output.dense                           -> ffn_out
  wtacrs (this package's Encoder):
    blocks.<B>.{q,k,v,o,ffn_in,ffn_out}                          -> the same kind

The gated feed-forward of T5 v1.1 and Flan-T5 has two input layers, wi_0 (through the
activation) and wi_1 (linear); wi_0 is traced as ffn_in and wi_1 is not traced (the trace layout
has one ffn_in per block).

The decoder's cross-attention has a preset of its own, t5-cross, because its kinds q, k, v, o
are those of t5-decoder's self-attention: the two go to different trace directories (one
attach each; a list of both is refused, as any two modules mapped to one layer are). Its q and
o read the decoder's tokens while k and v read the encoder's, so no single mask fits it: give
attach a mask per kind, t5_cross_masks(encoder_mask, decoder_mask).
"""

import re

KINDS = ("q", "k", "v", "o", "ffn_in", "ffn_out")

_PREFIX = r"(?:^|\.)"

PRESETS = {
    "t5-encoder": [
        (_PREFIX + r"encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.(q|k|v|o)$", {"q": "q", "k": "k", "v": "v", "o": "o"}),
        (_PREFIX + r"encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.(wi|wi_0|wo)$", {"wi": "ffn_in", "wi_0": "ffn_in", "wo": "ffn_out"}),
    ],
    "t5-decoder": [
        (_PREFIX + r"decoder\.block\.(\d+)\.layer\.0\.SelfAttention\.(q|k|v|o)$", {"q": "q", "k": "k", "v": "v", "o": "o"}),
        (_PREFIX + r"decoder\.block\.(\d+)\.layer\.2\.DenseReluDense\.(wi|wi_0|wo)$", {"wi": "ffn_in", "wi_0": "ffn_in", "wo": "ffn_out"}),
    ],
    "t5-cross": [
        (_PREFIX + r"decoder\.block\.(\d+)\.layer\.1\.EncDecAttention\.(q|k|v|o)$", {"q": "q", "k": "k", "v": "v", "o": "o"}),
    ],
    "bert": [
        (_PREFIX + r"encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)$", {"query": "q", "key": "k", "value": "v"}),
        (_PREFIX + r"encoder\.layer\.(\d+)\.attention\.output\.(dense)$", {"dense": "o"}),
        (_PREFIX + r"encoder\.layer\.(\d+)\.intermediate\.(dense)$", {"dense": "ffn_in"}),
        (_PREFIX + r"encoder\.layer\.(\d+)\.output\.(dense)$", {"dense": "ffn_out"}),
    ],
    "wtacrs": [
        (r"^blocks\.(\d+)\.(q|k|v|o|ffn_in|ffn_out)$", {k: k for k in KINDS}),
    ],
}
PRESETS["t5"] = PRESETS["t5-encoder"]

_COMPILED = {name: [(re.compile(p), m) for p, m in rules] for name, rules in PRESETS.items()}


def layer_of(name, preset):
    """Return (block, kind) for the module name under the preset (a name of PRESETS), or None
    when the preset does not trace it."""
    if preset not in _COMPILED:
        raise ValueError(f"unknown preset {preset!r} (want one of {', '.join(sorted(PRESETS))})")
    for rx, kinds in _COMPILED[preset]:
        m = rx.search(name)
        if m:
            return int(m.group(1)), kinds[m.group(2)]
    return None


def matcher(match):
    """Return a function name -> (block, kind) or None for attach's `match`: a preset name, a
    list of preset names, or a callable of the module name (returned as it is)."""
    if callable(match):
        return match
    presets = [match] if isinstance(match, str) else list(match)
    for p in presets:
        if p not in _COMPILED:
            raise ValueError(f"unknown preset {p!r} (want one of {', '.join(sorted(PRESETS))}, or a callable)")

    def find(name):
        for p in presets:
            hit = layer_of(name, p)
            if hit is not None:
                return hit
        return None

    return find


def clash_hint(match, a, b):
    """For the error on modules a and b mapped to one layer: a sentence naming the two presets
    of a list `match` that map them, or "" when one preset (or a callable) maps both."""
    if callable(match):
        return ""
    presets = [match] if isinstance(match, str) else list(match)
    pa = next((p for p in presets if layer_of(a, p) is not None), None)
    pb = next((p for p in presets if layer_of(b, p) is not None), None)
    if pa is None or pb is None or pa == pb:
        return ""
    return (f" (presets {pa!r} and {pb!r} give layers of the same names: attach each to a trace"
            f" directory of its own)")


def t5_cross_masks(encoder_mask, decoder_mask):
    """The mask of attach or set_batch for the t5-cross preset: the decoder's valid tokens for q
    and o (their inputs are the decoder's), the encoder's for k and v (theirs are the encoder's
    output), as a dict by kind. encoder_mask is B x S (T5's attention_mask), decoder_mask
    B x T (decoder_attention_mask, or labels != -100)."""
    return {"q": decoder_mask, "k": encoder_mask, "v": encoder_mask, "o": decoder_mask}


def layer_dir(block, kind):
    """The trace directory name of a layer: block<B>.<kind>."""
    if kind not in KINDS:
        raise ValueError(f"unknown layer kind {kind!r} (want one of {', '.join(KINDS)})")
    if not isinstance(block, int) or block < 0:
        raise ValueError(f"block {block!r}: want an integer >= 0")
    return f"block{block}.{kind}"
