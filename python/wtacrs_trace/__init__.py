"""Traces of a PyTorch training run for `wtacrs analyze`, and the project's encoder in PyTorch.

    import wtacrs_trace
    tracer = wtacrs_trace.attach(model, match="t5-encoder", steps=range(1, 301, 5), out="traces/rte")
    for batch in loader:
        tracer.set_batch(mask=batch["attention_mask"])
        loss = model(**batch).loss
        loss.backward(); opt.step(); opt.zero_grad()
    tracer.detach()

Then: go run ./cmd/wtacrs analyze -out results -name t5-rte traces/rte

Depends on torch and numpy only. See the README section "PyTorch bridge".
"""

from .tracer import attach, Tracer, layer_step_bytes, MODES, STEP_FILES
from .names import PRESETS, KINDS, layer_of, t5_cross_masks
from . import checkpoint, safetensors_io
from .encoder import Encoder, load_encoder, save_encoder

__all__ = ["attach", "Tracer", "layer_step_bytes", "MODES", "STEP_FILES", "PRESETS", "KINDS", "layer_of", "t5_cross_masks",
           "checkpoint", "safetensors_io", "Encoder", "load_encoder", "save_encoder"]
