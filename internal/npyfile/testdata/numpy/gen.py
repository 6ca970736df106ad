#!/usr/bin/env python3
"""Writes the reference .npy files of internal/npyfile's TestNumpyFiles with numpy.

Run from this directory with a python3 that has numpy (1.24.2 made the committed files):

    python3 gen.py

The values follow formulas that the Go test recomputes: for n elements, a float array holds
(i - 3) / 4, a signed integer array i - n // 2 and an unsigned or bool array i % 2 (bool) or i.
"""
import numpy as np
from numpy.lib import format as npformat


def floats(shape, dtype):
    n = int(np.prod(shape))
    return ((np.arange(n) - 3) / 4).astype(dtype).reshape(shape)


def signed(shape, dtype):
    n = int(np.prod(shape))
    return (np.arange(n) - n // 2).astype(dtype).reshape(shape)


def unsigned(shape, dtype):
    n = int(np.prod(shape))
    return np.arange(n).astype(dtype).reshape(shape)


arrays = {
    "f4_2d.npy": floats((3, 4), "<f4"),
    "f8_1d.npy": floats((7,), "<f8"),
    "f8_be_2d.npy": floats((2, 5), ">f8"),
    "f4_be_3d.npy": floats((2, 3, 2), ">f4"),
    "b1_1d.npy": np.arange(9) % 2 == 1,
    "i1_1d.npy": signed((6,), "i1"),
    "u1_2d.npy": unsigned((2, 3), "u1"),
    "i2_be_1d.npy": signed((5,), ">i2"),
    "u2_1d.npy": unsigned((5,), "<u2"),
    "i4_2d.npy": signed((3, 3), "<i4"),
    "u4_be_1d.npy": unsigned((4,), ">u4"),
    "i8_1d.npy": signed((8,), "<i8"),
    "u8_be_1d.npy": unsigned((3,), ">u8"),
    "f8_0d.npy": np.array(2.5),
    "f4_empty.npy": np.zeros((0, 3), "<f4"),
    "f4_specials.npy": np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4028235e38], "<f4"),
    "i8_max.npy": np.array([2**63 - 1], "<i8"),
    "f8_fortran.npy": np.asfortranarray(floats((2, 3), "<f8")),
    "f2_1d.npy": floats((4,), "<f2"),
    "c16_1d.npy": np.arange(3, dtype="<c16"),
    "U3_1d.npy": np.array(["a", "bc"]),
}
for name, a in arrays.items():
    np.save(name, a)

# Versions 2.0 and 3.0, which numpy picks by itself only for long or non-latin-1 headers.
for name, version in {"f8_v2.npy": (2, 0), "f8_v3.npy": (3, 0)}.items():
    with open(name, "wb") as f:
        npformat.write_array(f, floats((2, 3), "<f8"), version=version)
