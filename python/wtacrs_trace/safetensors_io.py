"""Reading and writing safetensors files with numpy alone.

A file is an 8-byte little-endian header length N, N bytes of JSON, then the data: every
tensor's elements little-endian in C order at [begin, end) of the data buffer. The writer lays
files out as the Go package internal/safetensors does (tensors by decreasing element size, then
by name, contiguous from offset 0; compact JSON with the metadata first and sorted; the header
padded with spaces to a multiple of 8 bytes), so that the same tensors give the same bytes.
"""

import json
import os

import numpy as np

from .fileio import write_bytes_atomic

DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
NAMES = {v: k for k, v in DTYPES.items()}
MAX_HEADER = 100 << 20


def read_header(path):
    """Return ({name: (dtype, shape, begin, end)}, metadata, data_start) of a safetensors file,
    checked against the file: ValueError naming the file and the tensor otherwise."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{path}: not a safetensors file: {size} bytes, shorter than the 8-byte header length")
        n = int.from_bytes(head, "little")
        if n > MAX_HEADER or 8 + n > size:
            raise ValueError(f"{path}: header length {n} beyond the file of {size} bytes")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{path}: header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(f"{path}: __metadata__ is not an object of strings")
    data_len = size - 8 - n
    tensors = {}
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"{path}: tensor {name!r}: want exactly the keys dtype, shape, data_offsets, got {entry!r}")
        dt = DTYPES.get(entry["dtype"])
        if dt is None:
            raise ValueError(f"{path}: tensor {name!r}: dtype {entry['dtype']!r} is not read here (want one of {', '.join(DTYPES)})")
        shape = entry["shape"]
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ValueError(f"{path}: tensor {name!r}: shape {shape!r} is not a list of non-negative integers")
        begin, end = entry["data_offsets"]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if begin < 0 or end != begin + count * dt.itemsize or end > data_len:
            raise ValueError(f"{path}: tensor {name!r}: data offsets [{begin}, {end}] do not hold {shape} {entry['dtype']} within {data_len} data bytes")
        tensors[name] = (entry["dtype"], tuple(shape), begin, end)
    spans = sorted((b, e, name) for name, (_, _, b, e) in tensors.items())
    at = 0
    for b, e, name in spans:
        if b != at:
            raise ValueError(f"{path}: tensor {name!r} starts at data byte {b}, want {at} (overlap or gap)")
        at = e
    if at != data_len:
        raise ValueError(f"{path}: {data_len - at} trailing bytes after the last tensor")
    return tensors, metadata, 8 + n


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"key {k!r} twice")
        out[k] = v
    return out


def load(path):
    """Return ({name: numpy array}, metadata) of a safetensors file."""
    tensors, metadata, start = read_header(path)
    out = {}
    with open(path, "rb") as f:
        for name, (dtype, shape, begin, end) in tensors.items():
            f.seek(start + begin)
            dt = DTYPES[dtype]
            a = np.fromfile(f, dtype=dt, count=(end - begin) // dt.itemsize)
            out[name] = a.reshape(shape)
    return out, metadata


def encode(tensors, metadata=None):
    """Return the bytes of a safetensors file holding tensors ({name: numpy array})."""
    items = []
    for name, a in tensors.items():
        if name == "__metadata__":
            raise ValueError("a tensor may not be called __metadata__")
        a = np.asarray(a)
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        if dt not in NAMES:
            raise ValueError(f"tensor {name!r}: dtype {a.dtype} has no safetensors name here")
        items.append((name, np.ascontiguousarray(a, dtype=dt)))
    items.sort(key=lambda t: (-t[1].dtype.itemsize, t[0].encode("utf-8")))
    header = {}
    if metadata:
        header["__metadata__"] = {k: metadata[k] for k in sorted(metadata)}
    at = 0
    for name, a in items:
        header[name] = {"dtype": NAMES[a.dtype], "shape": list(a.shape), "data_offsets": [at, at + a.nbytes]}
        at += a.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return b"".join([len(text).to_bytes(8, "little"), text] + [a.tobytes() for _, a in items])


def save(path, tensors, metadata=None):
    """Write tensors and metadata as the safetensors file path, atomically."""
    write_bytes_atomic(path, encode(tensors, metadata))
