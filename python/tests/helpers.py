"""Shared helpers of the Python tests: the repository root and the wtacrs binary."""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))

_BIN = []


def wtacrs_bin():
    """The wtacrs binary: $WTACRS_BIN, or built once from this checkout with go build."""
    if _BIN:
        return _BIN[0]
    path = os.environ.get("WTACRS_BIN")
    if not path:
        out = tempfile.mkdtemp(prefix="wtacrs-bin-")
        atexit.register(shutil.rmtree, out, True)
        path = os.path.join(out, "wtacrs")
        try:
            subprocess.run(["go", "build", "-o", path, "./cmd/wtacrs"], cwd=ROOT, check=True)
        except FileNotFoundError:
            raise unittest.SkipTest("no go toolchain and no WTACRS_BIN: the tests that run wtacrs are skipped")
    _BIN.append(path)
    return path


def run_wtacrs(*args, check=True):
    """Run wtacrs with args; return the CompletedProcess (text output)."""
    p = subprocess.run([wtacrs_bin(), *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"wtacrs {' '.join(map(str, args))} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def report(line):
    """Print a measured figure of a test on stderr (the test script's log keeps them)."""
    print("  " + line, file=sys.stderr, flush=True)
