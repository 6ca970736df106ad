"""Atomic file writes and the .npy files of a trace directory."""

import os
import tempfile

import numpy as np

# numpy writes version 1.0 headers padded so that magic, lengths and header take a multiple of
# 64 bytes; for the one- and two-dimensional arrays of a trace that is 128 bytes.
NPY_HEADER_BYTES = 128


def write_bytes_atomic(path, data):
    """Write data (bytes) to path atomically: a temporary file in the same folder, then
    os.replace. On error path is left as it was."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_npy(path, array):
    """Write array as a C-order .npy file (version 1.0) atomically; return its size in bytes."""
    array = np.ascontiguousarray(array)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            np.lib.format.write_array(f, array, version=(1, 0), allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
            size = f.tell()
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return size


def read_npy(path):
    """Read a .npy file without unpickling anything."""
    return np.load(path, allow_pickle=False)
