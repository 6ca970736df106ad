"""The project's checkpoints: NAME.safetensors with NAME.json beside it.

NAME.json holds the format version, the architecture, the precision, the tokenizer's
vocabulary and where the parameters come from; NAME.safetensors one tensor per parameter with
the metadata "wtacrs.format" and "wtacrs.meta_sha256" (the SHA-256 of NAME.json, which ties the
two files together). Linear weights are stored d_in x d_out (Z = H W + b), the transpose of
torch.nn.Linear.weight; vectors (biases, LayerNorm gains) are [1, n]. See the Go package
checkpoint for the authoritative description; this module checks files as strictly.
"""

import datetime
import hashlib
import json
import os

import numpy as np

from . import safetensors_io
from .fileio import write_bytes_atomic

FORMAT = "wtacrs-checkpoint/1"
ARCHITECTURE_TYPE = "wtacrs-encoder"
ARCH_KEYS = ("type", "vocab", "dim", "heads", "blocks", "ffn", "max_len", "classes", "segments", "pooling", "mlm_head")
META_KEYS = ("format", "architecture", "precision", "keep_case", "vocab")
KINDS = ("q", "k", "v", "o", "ffn_in", "ffn_out")
PRECISIONS = {"float32": ("F32", np.float32), "float64": ("F64", np.float64)}


def files(path):
    """Return (NAME.safetensors, NAME.json) of the checkpoint path (with or without the
    .safetensors extension)."""
    base = path[: -len(".safetensors")] if path.endswith(".safetensors") else path
    if not base or base.endswith(os.sep):
        raise ValueError(f"checkpoint path {path!r} names no file")
    return base + ".safetensors", base + ".json"


def check_architecture(arch, where="architecture"):
    """Raise ValueError naming the key for an architecture the Go model does not accept."""
    if not isinstance(arch, dict):
        raise ValueError(f"{where}: not a JSON object")
    if arch.get("type") != ARCHITECTURE_TYPE:
        raise ValueError(f"{where}: unknown architecture type {arch.get('type')!r} (want {ARCHITECTURE_TYPE!r})")
    for k in ARCH_KEYS:
        if k not in arch:
            raise ValueError(f"{where}: no {k!r} key")
    extra = sorted(set(arch) - set(ARCH_KEYS))
    if extra:
        raise ValueError(f"{where}: unknown key {extra[0]!r}")
    for k in ARCH_KEYS[1:9]:
        if not isinstance(arch[k], int) or isinstance(arch[k], bool):
            raise ValueError(f"{where}: {k} is {arch[k]!r}, not an integer")
    a = arch
    if (a["vocab"] < 1 or a["dim"] < 1 or a["heads"] < 1 or a["dim"] % a["heads"] or a["blocks"] < 1 or a["ffn"] < 1
            or a["max_len"] < 1 or a["classes"] < 0 or a["classes"] == 1 or a["segments"] < 0):
        raise ValueError(f"{where}: sizes out of range: {a}")
    if a["pooling"] not in ("cls", "mean"):
        raise ValueError(f"{where}: unknown pooling {a['pooling']!r} (want cls or mean)")
    if a["mlm_head"] not in ("none", "tied", "untied"):
        raise ValueError(f"{where}: unknown mlm_head {a['mlm_head']!r} (want none, tied or untied)")
    if a["classes"] == 0 and a["mlm_head"] == "none":
        raise ValueError(f"{where}: no classification head (0 classes) and no MLM head")


def param_shapes(arch):
    """Return {tensor name: shape} of every parameter of the architecture, in the order of
    the Go model's Params."""
    d, f = arch["dim"], arch["ffn"]
    out = {"tok_emb": (arch["vocab"], d), "pos_emb": (arch["max_len"], d)}
    if arch["segments"] > 0:
        out["seg_emb"] = (arch["segments"], d)
    for layer in range(arch["blocks"]):
        p = f"block{layer}."
        out[p + "ln1.g"] = out[p + "ln1.b"] = (1, d)
        for k in KINDS:
            din, dout = {"ffn_in": (d, f), "ffn_out": (f, d)}.get(k, (d, d))
            out[p + k + ".w"], out[p + k + ".b"] = (din, dout), (1, dout)
            if k == "o":
                out[p + "ln2.g"] = out[p + "ln2.b"] = (1, d)
    out["lnf.g"] = out["lnf.b"] = (1, d)
    if arch["classes"] > 0:
        out["head.w"], out["head.b"] = (d, arch["classes"]), (1, arch["classes"])
    if arch["mlm_head"] != "none":
        out["mlm.dense.w"], out["mlm.dense.b"] = (d, d), (1, d)
        out["mlm.ln.g"] = out["mlm.ln.b"] = (1, d)
        if arch["mlm_head"] == "untied":
            out["mlm.out.w"] = (d, arch["vocab"])
        out["mlm.b"] = (1, arch["vocab"])
    return out


def read_meta(path):
    """Read and check NAME.json of the checkpoint path; return it as a dict."""
    _, mpath = files(path)
    with open(mpath, "rb") as f:
        text = f.read()
    try:
        meta = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{mpath}: not JSON: {e}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{mpath}: not a JSON object")
    if meta.get("format") != FORMAT:
        raise ValueError(f"{mpath}: unknown format version {meta.get('format')!r} (want {FORMAT!r})")
    for k in META_KEYS:
        if k not in meta:
            raise ValueError(f"{mpath}: no {k!r} key")
    extra = sorted(set(meta) - set(META_KEYS) - {"provenance"})
    if extra:
        raise ValueError(f"{mpath}: unknown key {extra[0]!r}")
    check_architecture(meta["architecture"], f"{mpath}: architecture")
    if meta["precision"] not in PRECISIONS:
        raise ValueError(f"{mpath}: precision {meta['precision']!r} (want float32 or float64)")
    vocab = meta["vocab"] or []
    if vocab and len(vocab) != meta["architecture"]["vocab"]:
        raise ValueError(f"{mpath}: the vocabulary has {len(vocab)} tokens but the architecture {meta['architecture']['vocab']}")
    meta["_sha256"] = hashlib.sha256(text).hexdigest()
    return meta


def load(path):
    """Load the checkpoint path: return (tensors {name: numpy array of the stored shape}, meta).

    Raises ValueError naming the file and the tensor for two files not saved together, a
    missing tensor, an unknown tensor name, a shape or dtype that is not the architecture's."""
    tpath, mpath = files(path)
    meta = read_meta(path)
    tensors, md = safetensors_io.load(tpath)
    if md.get("wtacrs.format") != FORMAT:
        raise ValueError(f"{tpath}: the metadata has no 'wtacrs.format': {FORMAT!r} (not written as a checkpoint of this project?)")
    if md.get("wtacrs.meta_sha256") != meta["_sha256"]:
        raise ValueError(f"{mpath} was not saved with {tpath}: its SHA-256 is not the one the tensor file records")
    check_tensors(tensors, meta["architecture"], meta["precision"], tpath)
    return tensors, meta


def check_tensors(tensors, arch, precision, where):
    """Raise ValueError naming the tensor when tensors are not exactly the parameters of arch
    with their shapes in the given precision."""
    want = param_shapes(arch)
    dtype = PRECISIONS[precision][1]
    for name, a in tensors.items():
        if name not in want:
            raise ValueError(f"{where}: tensor {name!r} {list(a.shape)} is no parameter of the architecture {arch}")
    for name, shape in want.items():
        if name not in tensors:
            raise ValueError(f"{where}: no tensor {name!r} for the parameter of shape {list(shape)}")
        a = tensors[name]
        if tuple(a.shape) != shape:
            raise ValueError(f"{where}: tensor {name!r} is {list(a.shape)} but the parameter is {list(shape)}")
        if a.dtype != dtype:
            raise ValueError(f"{where}: tensor {name!r} is {a.dtype} but the checkpoint is {precision}")


def save(path, tensors, arch, precision="float32", vocab=None, keep_case=False, provenance=None, overwrite=False):
    """Write tensors (numpy arrays in the stored layout) as the checkpoint path: NAME.json,
    then NAME.safetensors, each atomically; the Go package checkpoint loads the pair. An
    existing file of the pair is replaced only with overwrite=True (FileExistsError otherwise).

    provenance is a dict of the keys the Go Provenance holds (config_sha256, git_commit, steps,
    tokens, data, from, created, extra); created defaults to now."""
    tpath, mpath = files(path)
    for p in (tpath, mpath):
        if os.path.exists(p) and not overwrite:
            raise FileExistsError(f"{p} exists: pass overwrite=True to replace it")
    check_architecture(arch)
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} (want float32 or float64)")
    arch = {k: arch[k] for k in ARCH_KEYS}
    tensors = {k: np.asarray(v) for k, v in tensors.items()}
    check_tensors(tensors, arch, precision, tpath)
    vocab = list(vocab or [])
    if vocab and len(vocab) != arch["vocab"]:
        raise ValueError(f"{mpath}: {len(vocab)} vocabulary tokens for a model of {arch['vocab']}")
    prov = {"steps": 0, "tokens": 0}
    prov.update(provenance or {})
    unknown = sorted(set(prov) - {"config_sha256", "git_commit", "steps", "tokens", "data", "from", "created", "extra"})
    if unknown:
        raise ValueError(f"provenance: unknown key {unknown[0]!r}")
    prov.setdefault("created", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    meta = {"format": FORMAT, "architecture": arch, "precision": precision, "keep_case": bool(keep_case),
            "vocab": vocab, "provenance": prov}
    text = (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    md = {"wtacrs.format": FORMAT, "wtacrs.meta_sha256": hashlib.sha256(text).hexdigest()}
    write_bytes_atomic(mpath, text)
    safetensors_io.save(tpath, tensors, md)
