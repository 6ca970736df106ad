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
  bert (BERT, RoBERTa and other models with the same module names):
    ...encoder.layer.<B>.attention.self.{query,key,value}       -> q, k, v
    ...encoder.layer.<B>.attention.output.dense                 -> o
    ...encoder.layer.<B>.intermediate.dense                     -> ffn_in
    ...encoder.layer.<B>.output.dense                           -> ffn_out
  wtacrs (this package's Encoder):
    blocks.<B>.{q,k,v,o,ffn_in,ffn_out}                          -> the same kind

The gated feed-forward of T5 v1.1 and Flan-T5 has two input layers, wi_0 (through the
activation) and wi_1 (linear); wi_0 is traced as ffn_in and wi_1 is not traced (the trace layout
has one ffn_in per block). The decoder's cross-attention (layer.1.EncDecAttention) is in no
preset: its keys and values read the encoder's tokens, its queries the decoder's, so no single
mask fits it; trace it with a callable `match` into a directory of its own if needed.
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


def layer_dir(block, kind):
    """The trace directory name of a layer: block<B>.<kind>."""
    if kind not in KINDS:
        raise ValueError(f"unknown layer kind {kind!r} (want one of {', '.join(KINDS)})")
    if not isinstance(block, int) or block < 0:
        raise ValueError(f"block {block!r}: want an integer >= 0")
    return f"block{block}.{kind}"
