"""Forward and full-backward hooks that save a PyTorch model's linear-layer inputs H and output
gradients dZ in the trace layout `wtacrs analyze` reads:

    OUT/block<B>.<kind>/step<N>/H.npy                 tokens x d_in   float32  (mode "full")
    OUT/block<B>.<kind>/step<N>/dZ.npy                tokens x d_out  float32  (mode "full")
    OUT/block<B>.<kind>/step<N>/act_norms.npy         tokens          float32  (mode "norms")
    OUT/block<B>.<kind>/step<N>/grad_norms.npy        tokens          float32  (mode "norms")
    OUT/block<B>.<kind>/step<N>/valid.npy             tokens          bool     (with a mask)
    OUT/block<B>.<kind>/step<N>/cached_grad_norms.npy tokens          float32  (with sample ids)

Tokens are the module's input rows flattened over the batch, t = b*S + s for a B x S x d input,
the order of the mask. Layers may see different tokens (the T5 decoder's cross-attention: q and o
read the decoder's, k and v the encoder's); each layer's files then have its own count, and its
valid.npy is its own mask. dZ is the gradient of the loss with respect to the module's output (the
full backward hook's grad_output), so that H^T dZ is the module's contribution to
weight.grad^T for that backward.
"""

import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from . import names as _names
from .fileio import NPY_HEADER_BYTES, write_npy

MODES = ("full", "norms")
# The files a step folder may hold; overwrite=True replaces a folder holding no others.
STEP_FILES = ("H.npy", "dZ.npy", "act_norms.npy", "grad_norms.npy", "valid.npy", "cached_grad_norms.npy")
# Algorithm 1's floor of a cached norm, as a fraction of the batch's mean (Go: train.coldFloor).
COLD_FLOOR = 1e-3


def layer_step_bytes(tokens, d_in, d_out, mode="full", mask=True, cached=False):
    """The exact bytes one layer writes at one recorded step for `tokens` tokens.

    full:  (128 + 4*tokens*d_in) + (128 + 4*tokens*d_out)
    norms: 2 * (128 + 4*tokens)
    plus 128 + tokens with a mask (valid.npy) and 128 + 4*tokens with sample ids
    (cached_grad_norms.npy); 128 is the .npy header numpy writes for these arrays."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: want one of {MODES}")
    h = NPY_HEADER_BYTES
    n = h + 4 * tokens * d_in + h + 4 * tokens * d_out if mode == "full" else 2 * (h + 4 * tokens)
    if mask:
        n += h + tokens
    if cached:
        n += h + 4 * tokens
    return n


def attach(model, match="t5-encoder", steps=None, out="traces", mask=None, ids=None, mode="full",
           full_steps=None, overwrite=False, max_step_bytes=None, auto_step=True):
    """Register hooks on the nn.Linear modules of model that `match` names and return the
    Tracer; tracer.detach() removes every hook.

    match: a preset of wtacrs_trace.names ("t5-encoder" or "t5", "t5-decoder", "t5-cross",
        "bert", "wtacrs"), a list of presets, or a callable(module name) -> (block, kind) or
        None. Two modules mapped to one layer are refused (ValueError): the T5 presets share
        kinds, so each of t5-encoder, t5-decoder and t5-cross goes to an `out` of its own.
    steps: the training steps to record, numbered from 1: None (every step), an iterable of
        ints (range(1, 301, 5)) or a callable(step) -> bool. A step is one forward of `model`
        with gradients enabled in training mode (auto_step), or what tracer.next_step() starts.
    out: the trace directory (created when absent).
    mask: the valid-token mask, True or non-zero for a real token, B x S (or any shape with one
        entry per token of the layer): a tensor for every step, a callable() returning the
        current step's, or None (then tracer.set_batch(mask=...) gives it per step; without
        any, no valid.npy). Where layers see different tokens, a dict of masks by kind
        ({"q": decoder_mask, "k": encoder_mask, ...}, see names.t5_cross_masks) or by layer
        name ("block0.k"), or both (a layer's name wins over its kind), in place of a tensor:
        every traced layer must find its mask there and every key must name a traced layer or
        the kind of one (ValueError otherwise). A layer's mask must have one entry per token of
        its input.
    ids: the training samples of the batch (B integers) for the cached gradient norms of
        Algorithm 1: a callable() returning the current step's, or None (then
        tracer.set_batch(ids=...) gives them; without any, no cached_grad_norms.npy). They are
        the batch's rows for every layer: a layer seeing N tokens has N / B per sample (the
        encoder's length for cross-attention's k and v, the decoder's for q and o).
    mode: "full" writes H and dZ, "norms" only their row norms (see layer_step_bytes).
    full_steps: with mode "norms", the steps written in full all the same (recorded even when
        `steps` leaves them out), given as `steps` is: a few full steps give wtacrs analyze the
        exact variance ratio, the others cost norms only.
    overwrite: replace step folders that hold trace files already (default: refuse).
    max_step_bytes: refuse (ValueError, before writing it) a recorded step whose files would
        exceed this many bytes over all traced layers. A layer's token count is known from its
        mask; a layer without one that has not run yet in the step is taken to see as many
        tokens as the step's first recorded layer, and the bound is checked again at every
        layer with the counts seen (a refusal there removes what the step had staged).
    """
    return Tracer(model, match, steps, out, mask, ids, mode, overwrite, max_step_bytes, auto_step, full_steps)


class Tracer:
    """The hooks of attach() and their state; see attach for the arguments."""

    def __init__(self, model, match, steps, out, mask, ids, mode, overwrite, max_step_bytes, auto_step, full_steps=None):
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: want one of {MODES}")
        if not isinstance(model, nn.Module):
            raise TypeError(f"model is {type(model).__name__}, not a torch.nn.Module")
        find = _names.matcher(match)
        self.model, self.out, self.mode, self.overwrite = model, os.fspath(out), mode, overwrite
        self.max_step_bytes, self.auto_step = max_step_bytes, auto_step
        self._steps = self._step_filter(steps)
        if full_steps is not None and mode == "full":
            raise ValueError("full_steps goes with mode='norms' (with mode='full' every recorded step is full)")
        self._full_steps = self._step_filter(full_steps) if full_steps is not None else frozenset()
        self._mask_src, self._ids_src = mask, ids
        self._mask_static = None
        self.layers = {}  # module name -> "block<B>.<kind>"
        self._modules = {}
        seen = {}
        linear_names = []
        for name, mod in model.named_modules():
            if not isinstance(mod, nn.Linear):
                continue
            linear_names.append(name)
            hit = find(name)
            if hit is None:
                continue
            layer = _names.layer_dir(*hit)
            if layer in seen:
                raise ValueError(f"modules {seen[layer]!r} and {name!r} both map to layer {layer}: give a `match` that tells them apart"
                                 + _names.clash_hint(match, seen[layer], name))
            seen[layer] = name
            self.layers[name] = layer
            self._modules[name] = mod
        if not self.layers:
            sample = ", ".join(linear_names[:6]) or "none"
            raise ValueError(f"no nn.Linear module of the model matches {match!r} (its linear modules: {sample}{', ...' if len(linear_names) > 6 else ''})")
        if mask is not None and not callable(mask):
            self._mask_static = self._resolve_mask(mask)
        os.makedirs(self.out, exist_ok=True)
        if isinstance(self._steps, frozenset) and isinstance(self._full_steps, frozenset):
            for name, layer in self.layers.items():
                for s in sorted(self._steps | self._full_steps):
                    self._check_target(os.path.join(self.out, layer, f"step{s}"))
        self.step = 0
        self.step_mode = mode  # the mode of the current step ("full" or "norms")
        self.written = []  # the step folders written, in order
        self.bytes_written = 0
        self.incomplete = []  # (layer, step) whose backward never came; their files were removed
        self._cache = {}  # layer -> {sample id: float32 norms per position}
        self._state = {}
        self._recording = False
        self._pending = {}
        self._used = set()
        self._step_mask = self._step_ids = None  # _step_mask: {layer: bool array} or None
        self._step_mask_shared = False  # whether one mask was given for every layer
        self._step_first_n = None  # the token count of the step's first recorded layer
        self._unchecked = False
        self._active = not auto_step  # auto_step: whether the model's current call is a training step
        self._handles = []
        if auto_step:
            self._handles.append(model.register_forward_pre_hook(self._root_pre_hook))
        for name, mod in self._modules.items():
            self._handles.append(mod.register_forward_hook(self._forward_hook(name)))
            self._handles.append(mod.register_full_backward_hook(self._backward_hook(name)))

    # --- configuration -------------------------------------------------------------------

    @staticmethod
    def _step_filter(steps):
        if steps is None:
            return None
        if callable(steps):
            return steps
        if isinstance(steps, int):
            steps = [steps]
        out = frozenset(int(s) for s in steps)
        bad = [s for s in out if s < 1]
        if bad:
            raise ValueError(f"steps are numbered from 1: got {min(bad)}")
        return out

    @staticmethod
    def _in(filt, step):
        if filt is None:
            return True
        if isinstance(filt, frozenset):
            return step in filt
        return bool(filt(step))

    def _in_full_steps(self, step):
        return self._full_steps != frozenset() and self._in(self._full_steps, step)

    def _wanted(self, step):
        return self._in(self._steps, step) or self._in_full_steps(step)

    def _is_full(self, step):
        return self.mode == "full" or self._in_full_steps(step)

    def _check_target(self, target):
        """Refuse a step folder holding files unless overwrite (and then only trace files)."""
        if not os.path.isdir(target):
            if os.path.exists(target):
                raise FileExistsError(f"{target} exists and is not a folder")
            return
        have = os.listdir(target)
        if not have:
            return
        if not self.overwrite:
            raise FileExistsError(f"{target} already holds {', '.join(sorted(have))}: pass overwrite=True to replace trace files, or another out")
        other = sorted(set(have) - set(STEP_FILES))
        if other:
            raise FileExistsError(f"{target} holds {', '.join(other)}, which are not trace files: not replaced even with overwrite=True")

    def step_bytes(self, tokens):
        """The bytes one recorded step writes over all traced layers when each sees `tokens`
        tokens (an int, or a dict by kind or layer name as a mask dict is, for layers that see
        different counts), with the mask and sample ids of the current step (see
        layer_step_bytes)."""
        per = self._per_layer(tokens, "tokens") if isinstance(tokens, Mapping) else None
        total = 0
        for name, layer in self.layers.items():
            m = self._modules[name]
            total += layer_step_bytes(tokens if per is None else int(per[layer]), m.in_features, m.out_features, self.step_mode,
                                      mask=self._step_mask is not None, cached=self._step_ids is not None)
        return total

    def _per_layer(self, d, what, where=""):
        """{layer: value} from a dict keyed by kind or by layer name (a layer's name wins over
        its kind): every traced layer must find a value, every key must name a traced layer or
        the kind of one."""
        layers = list(self.layers.values())
        kinds = {layer.split(".", 1)[1] for layer in layers}
        traced = ", ".join(sorted(layers)[:8]) + (", ..." if len(layers) > 8 else "")
        for key in d:
            if not isinstance(key, str) or (key not in _names.KINDS and key not in layers):
                raise ValueError(f"{where}{what} key {key!r} is neither a layer kind ({', '.join(_names.KINDS)}) nor a traced layer (traced: {traced})")
            if key in _names.KINDS and key not in kinds:
                raise ValueError(f"{where}{what} key {key!r}: no traced layer is of kind {key} (traced: {traced})")
            if d[key] is None:
                raise ValueError(f"{where}{what}[{key!r}] is None")
        out, missing = {}, []
        for name, layer in self.layers.items():
            key = layer if layer in d else layer.split(".", 1)[1]
            if key in d:
                out[layer] = d[key]
            else:
                missing.append((layer, name))
        if missing:
            layer, name = missing[0]
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise ValueError(f"{where}{what} has no entry for layer {layer} (module {name!r}){more}: key it by kind {layer.split('.', 1)[1]!r} or by layer name {layer!r}")
        return out

    def _resolve_mask(self, mask, where=""):
        """(the mask of each traced layer as {layer: flat bool array}, whether one mask was
        given for all) from attach's or set_batch's mask; (None, False) for None."""
        if mask is None:
            return None, False
        if not isinstance(mask, Mapping):
            m = _flat_numpy(mask).astype(bool)
            return {layer: m for layer in self.layers.values()}, True
        per = self._per_layer(mask, "mask", where)
        flat = {}  # one array per value given, shared by the layers that use it
        for v in per.values():
            if id(v) not in flat:
                flat[id(v)] = _flat_numpy(v).astype(bool)
        return {layer: flat[id(v)] for layer, v in per.items()}, False

    # --- steps ----------------------------------------------------------------------------

    def set_batch(self, mask=None, ids=None):
        """Give the valid-token mask and/or the sample ids of the next step's batch (with
        auto_step=False: of the step next_step() began, when no traced module has run in it
        yet). Once given, they must be given for every later step (a stale mask is never
        reused). mask is one for every layer or a dict by kind or layer name, as attach's."""
        current = not self.auto_step and self.step > 0 and not self._state
        if mask is not None:
            masks = self._resolve_mask(mask)
            self._used.add("mask")
            if current:
                self._step_mask, self._step_mask_shared = masks
            else:
                self._pending["mask"] = masks
        if ids is not None:
            self._used.add("ids")
            if current:
                self._step_ids = _flat_numpy(ids).astype(np.int64)
            else:
                self._pending["ids"] = ids

    def next_step(self):
        """Start the next step (with auto_step=False; attach counts forwards otherwise)."""
        self._begin_step()

    def _root_pre_hook(self, module, inputs):
        self._active = torch.is_grad_enabled() and module.training
        if self._active:
            self._begin_step()
        else:
            # A forward outside training (evaluation with gradients enabled, say) ends the
            # step: its modules are not traced, and a backward through it finds nothing.
            self._drop_unfinished()

    def _begin_step(self):
        self._drop_unfinished()
        self.step += 1
        self._recording = self._wanted(self.step)
        self.step_mode = "full" if self._is_full(self.step) else "norms"
        masks, ids = self._pending.pop("mask", None), self._pending.pop("ids", None)
        self._unchecked = True
        self._step_first_n = None
        if masks is None and self._mask_src is not None:
            if callable(self._mask_src):
                masks = self._resolve_mask(self._mask_src(), f"step {self.step}: ")
            else:
                masks = self._mask_static
        if ids is None and self._ids_src is not None:
            ids = self._ids_src()
        self._step_mask, self._step_mask_shared = masks if masks is not None else (None, False)
        self._step_ids = None if ids is None else _flat_numpy(ids).astype(np.int64)
        self._state = {}

    def _drop_unfinished(self):
        for name, st in self._state.items():
            if not st.get("done"):
                if st.get("stage"):
                    shutil.rmtree(st["stage"], ignore_errors=True)  # our own staging folder
                if st.get("recording"):
                    self.incomplete.append((self.layers[name], self.step))
        self._state = {}

    # --- hooks ----------------------------------------------------------------------------

    def _forward_hook(self, name):
        def hook(module, inputs, output):
            if not torch.is_grad_enabled() or not self._active:
                return
            if self.step == 0:
                raise RuntimeError(f"{name} ran before any step began: call tracer.next_step() first (auto_step=False)")
            if self._unchecked:
                self._unchecked = False
                if self._step_mask is None and "mask" in self._used:
                    raise ValueError(f"step {self.step}: set_batch gave a mask before but none for this step")
                if self._step_ids is None and "ids" in self._used:
                    raise ValueError(f"step {self.step}: set_batch gave sample ids before but none for this step")
            if not self._recording and self._step_ids is None:
                return
            if name in self._state:
                raise RuntimeError(f"{name} ran forward twice in step {self.step} (a shared module, or gradient checkpointing recomputing it): the tracer records one call per step")
            h = inputs[0].detach()
            n = h.numel() // h.shape[-1]
            layer = self.layers[name]
            mask = None if self._step_mask is None else self._step_mask[layer]
            if mask is not None and mask.size != n:
                if self._step_mask_shared:
                    hint = ": layers that read different tokens (cross-attention's k and v read the encoder's) need a mask each, a dict by kind or layer name"
                else:
                    hint = f" for layer {layer}"
                raise ValueError(f"{name}: {n} tokens in its input {tuple(h.shape)} but {mask.size} entries in the step's mask{hint}")
            st = {"n": n, "recording": self._recording, "mask": mask}
            ids = self._step_ids
            if ids is not None:
                if n % len(ids):
                    raise ValueError(f"{name}: {n} tokens in its input {tuple(h.shape)} do not split into the step's {len(ids)} samples")
                if self._recording:
                    st["cached"] = self._cached_norms(layer, ids, n // len(ids), mask)
            if self._recording:
                if self.max_step_bytes is not None:
                    self._check_bound(name, n)
                layer_path = os.path.join(self.out, layer)
                target = os.path.join(layer_path, f"step{self.step}")
                self._check_target(target)
                if not os.path.isdir(layer_path):
                    os.makedirs(layer_path)
                    st["made"] = layer_path
                st["target"] = target
                st["stage"] = tempfile.mkdtemp(dir=layer_path, prefix=f".step{self.step}.tmp-")
                st["bytes"] = 0
                h2 = h.reshape(n, h.shape[-1])
                if self.step_mode == "full":
                    st["bytes"] += write_npy(os.path.join(st["stage"], "H.npy"), _f32(h2))
                else:
                    st["act_norms"] = _f32(h2.float().norm(dim=1))
            self._state[name] = st

        return hook

    def _backward_hook(self, name):
        def hook(module, grad_input, grad_output):
            st = self._state.get(name)
            if st is None:
                return
            if st.get("done"):
                raise RuntimeError(f"{name}: a second backward in step {self.step}: the tracer records the first; call next_step() (auto_step=False) between backwards")
            g = grad_output[0]
            n = st["n"]
            if g is None:
                g = torch.zeros(n, module.out_features)
            g = g.detach().reshape(n, -1)
            norms = None
            if self._step_ids is not None or (st["recording"] and self.step_mode == "norms"):
                norms = g.float().norm(dim=1).cpu().numpy().astype(np.float32)
            if self._step_ids is not None:
                cache = self._cache.setdefault(self.layers[name], {})
                s = n // len(self._step_ids)
                for r, i in enumerate(self._step_ids.tolist()):
                    cache[i] = norms[r * s:(r + 1) * s].copy()
            if st["recording"]:
                d = st["stage"]
                if self.step_mode == "full":
                    st["bytes"] += write_npy(os.path.join(d, "dZ.npy"), _f32(g))
                else:
                    st["bytes"] += write_npy(os.path.join(d, "act_norms.npy"), st["act_norms"])
                    st["bytes"] += write_npy(os.path.join(d, "grad_norms.npy"), norms)
                if st["mask"] is not None:
                    st["bytes"] += write_npy(os.path.join(d, "valid.npy"), st["mask"])
                if "cached" in st:
                    st["bytes"] += write_npy(os.path.join(d, "cached_grad_norms.npy"), st["cached"])
                self._commit(st)
            st["done"] = True

        return hook

    def _check_bound(self, name, n):
        """Refuse the step (ValueError) when its files would exceed max_step_bytes, module name
        about to record n tokens: a layer's count is its input's once it has run in the step,
        else its mask's size, else the count of the step's first recorded layer."""
        if self._step_first_n is None:
            self._step_first_n = n
        tokens = {}
        for nm, layer in self.layers.items():
            if nm == name:
                tokens[layer] = n
            elif nm in self._state:
                tokens[layer] = self._state[nm]["n"]
            elif self._step_mask is not None:
                tokens[layer] = self._step_mask[layer].size
            else:
                tokens[layer] = self._step_first_n
        total = self.step_bytes(tokens)
        if total <= self.max_step_bytes:
            return
        self._abort_step()
        lo, hi = min(tokens.values()), max(tokens.values())
        per = f"{lo} tokens per layer" if lo == hi else f"{lo} to {hi} tokens per layer"
        raise ValueError(f"step {self.step} would write {total} bytes ({per}, {len(self.layers)} layers, mode {self.step_mode}), above max_step_bytes={self.max_step_bytes}: use mode='norms' or fewer layers")

    def _abort_step(self):
        """Remove what the current step has staged (and the layer folders it made) and trace
        nothing more of it."""
        for st in self._state.values():
            if st.get("stage"):
                shutil.rmtree(st["stage"], ignore_errors=True)  # our own staging folder
            made = st.get("made")
            if made and os.path.isdir(made) and not os.listdir(made):
                os.rmdir(made)
        self._state = {}
        self._recording = False

    def _commit(self, st):
        target, stage = st["target"], st["stage"]
        self._check_target(target)
        old = None
        if os.path.isdir(target) and os.listdir(target):  # overwrite=True, checked above
            old = tempfile.mkdtemp(dir=os.path.dirname(target), prefix="." + os.path.basename(target) + ".old-")
            os.rename(target, os.path.join(old, "step"))
        os.rename(stage, target)  # onto an absent or empty folder only
        st["stage"] = None
        if old is not None:
            for f in STEP_FILES:
                p = os.path.join(old, "step", f)
                if os.path.exists(p):
                    os.unlink(p)
            os.rmdir(os.path.join(old, "step"))
            os.rmdir(old)
        self.written.append(target)
        self.bytes_written += st["bytes"]

    def _cached_norms(self, layer, ids, seq, mask):
        """The cached gradient norms b_t Algorithm 1 samples with, as package train computes
        them: the norm cached at the sample's last visit for a valid token; for a sample not
        seen yet the mean over the batch's warm valid tokens (1 when none); then raised to at
        least 1e-3 times the mean over valid tokens; 0 for padding."""
        cache = self._cache.get(layer, {})
        n = len(ids) * seq
        b = np.zeros(n)
        cold = np.zeros(n, dtype=bool)
        for r, i in enumerate(ids.tolist()):
            row = cache.get(i)
            if row is None:
                cold[r * seq:(r + 1) * seq] = True
                continue
            m = min(seq, len(row))
            b[r * seq:r * seq + m] = row[:m]
        valid = np.ones(n, dtype=bool) if mask is None else mask
        b[~valid] = 0
        warm = valid & ~cold
        fill = 1.0
        if warm.any() and b[warm].sum() > 0:
            fill = b[warm].mean()
        b[valid & cold] = fill
        if valid.any():
            floor = COLD_FLOOR * b[valid].mean()
            if floor == 0:
                floor = 1.0
            low = valid & (b < floor)
            b[low] = floor
        return b.astype(np.float32)

    # --- teardown -------------------------------------------------------------------------

    def detach(self):
        """Remove every hook this tracer registered and the staging folders of a step left
        unfinished. The files written stay."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self._drop_unfinished()
        if self.incomplete:
            warnings.warn(f"{len(self.incomplete)} layer-steps had a forward but no backward and were not written (first: {self.incomplete[0]})")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.detach()
        return False


def _f32(t):
    return np.ascontiguousarray(t.detach().to(torch.float32).cpu().numpy())


def _flat_numpy(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x).reshape(-1)
