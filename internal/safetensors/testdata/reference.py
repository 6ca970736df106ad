#!/usr/bin/env python3
"""A safetensors writer and reader built from the published format alone, with only json,
struct and numpy: the independent side of internal/safetensors' TestReference*.

    python3 reference.py write reference.safetensors   # the committed file (numpy 1.24.2)
    python3 reference.py read FILE                     # prints FILE's tensors as JSON

The writer follows the layout rules of the reference implementation: tensors ordered by
decreasing element size, then by name; contiguous data from offset 0; compact JSON with the
metadata first (keys sorted) and each tensor's keys in the order dtype, shape, data_offsets;
UTF-8 kept as it is; the header padded with spaces to a multiple of 8 bytes.

The reader checks what the format requires (the header length within the file, no key twice,
known dtypes, byte counts that match the shapes, contiguous data covering the buffer) and
prints {"metadata": {...}, "tensors": [{"name", "dtype", "shape", "bits"}, ...]} with the
tensors in the order of their data and each element as the unsigned integer of its bits.
"""
import json
import math
import struct
import sys

import numpy as np

DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
BITS = {"F32": np.dtype("<u4"), "F64": np.dtype("<u8")}


def f32_bits(*bits):
    return np.array(bits, dtype="<u4").view("<f4")


def reference_tensors():
    """The tensors of the committed file; TestReferenceFile builds the same ones in Go."""
    return {
        # 1/3, the smallest subnormal, the largest finite, +Inf, -0 and -1.5.
        "a.weight": f32_bits(0x3EAAAAAB, 0x00000001, 0x7F7FFFFF, 0x7F800000, 0x80000000, 0xBFC00000).reshape(2, 3),
        "a.bias": np.array([0.1, -2.5, 5e-324], dtype="<f8"),
        "embed": (np.arange(8, dtype="<f4") * np.float32(0.25) - np.float32(1)).reshape(4, 2),
        "empty": np.zeros((0, 4), dtype="<f4"),
        "one": np.array([7.0], dtype="<f4"),
        "scalar": np.array(math.pi, dtype="<f8"),
        "\u03bb.scale": np.array([1.7976931348623157e308, -math.inf], dtype="<f8"),
    }


REFERENCE_METADATA = {
    "format": "pt",
    "note": 'reference file: "quotes", a tab\t, a back\\slash, \u00fc',
    "ctl": "\x01",
}


def dtype_name(arr):
    for name, dt in DTYPES.items():
        if arr.dtype == dt:
            return name
    raise ValueError(f"unsupported dtype {arr.dtype}")


def write(path, tensors, metadata):
    names = sorted(tensors, key=lambda n: (-tensors[n].dtype.itemsize, n))
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: metadata[k] for k in sorted(metadata)}
    for name in names:
        arr = np.asarray(tensors[name])
        data = arr.astype(arr.dtype.newbyteorder("<")).tobytes(order="C")
        header[name] = {
            "dtype": dtype_name(arr),
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in chunks:
            f.write(data)


def no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"key {k!r} appears twice")
        out[k] = v
    return out


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError("shorter than the header length")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise ValueError("header beyond the file")
    header = json.loads(blob[8 : 8 + n].decode("utf-8"), object_pairs_hook=no_duplicates)
    data = blob[8 + n :]
    metadata = header.pop("__metadata__", None) or {}
    entries = sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"]))
    end, out = 0, []
    for name, info in entries:
        if set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"tensor {name!r}: keys {sorted(info)}")
        begin, stop = info["data_offsets"]
        dt = DTYPES[info["dtype"]]
        count = math.prod(info["shape"])
        if begin != end or stop - begin != count * dt.itemsize or stop > len(data):
            raise ValueError(f"tensor {name!r}: data_offsets {info['data_offsets']}")
        arr = np.frombuffer(data[begin:stop], dtype=dt).reshape(info["shape"])
        out.append({
            "name": name,
            "dtype": info["dtype"],
            "shape": info["shape"],
            "bits": [int(b) for b in arr.reshape(-1).view(BITS[info["dtype"]])],
        })
        end = stop
    if end != len(data):
        raise ValueError(f"{len(data) - end} trailing bytes")
    json.dump({"metadata": metadata, "tensors": out}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "read"):
        sys.exit(__doc__)
    if sys.argv[1] == "write":
        write(sys.argv[2], reference_tensors(), REFERENCE_METADATA)
    else:
        read(sys.argv[2])
