#!/usr/bin/env bash
# The Python tests of python/ (package wtacrs_trace: the tracer and the PyTorch reference
# encoder) against this checkout's wtacrs, from anywhere in the checkout:
#   bash scripts/python-check.sh
# Steps:
#   1. python   $PYTHON, else the first of python3 and /usr/bin/python3 that imports torch and
#               numpy. When none does, installs Debian's python3-torch and python3-numpy with
#               apt-get (only as root, and not with WTACRS_NO_INSTALL=1).
#   2. build    go build -o <scratch>/wtacrs ./cmd/wtacrs (the tests run it as WTACRS_BIN)
#   3. test     <python> -m unittest discover -s python/tests -v
# Exit status: 0 when the tests pass, 1 on a failure, 2 when no Python with torch and numpy is
# there and none could (or, with WTACRS_NO_INSTALL=1, may) be installed.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

has_torch() { "$1" -c 'import torch, numpy' >/dev/null 2>&1; }

find_python() {
  local c
  for c in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$c" >/dev/null 2>&1 && has_torch "$c"; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

py=$(find_python)
if [[ -z $py ]]; then
  if [[ ${WTACRS_NO_INSTALL:-} == 1 ]]; then
    echo "python-check: no python3 with torch and numpy (WTACRS_NO_INSTALL=1: not installing)"
    exit 2
  fi
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "python-check: installing Debian's python3-torch and python3-numpy"
    t0=$(date +%s)
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch python3-numpy) >"$scratch/apt.log" 2>&1
    apt_rc=$?
    echo "python-check: apt-get took $(($(date +%s) - t0)) s (status $apt_rc)"
    py=$(find_python)
  fi
  if [[ -z $py ]]; then
    echo "python-check: no python3 with torch and numpy, and they could not be installed"
    [[ -s $scratch/apt.log ]] && tail -5 "$scratch/apt.log"
    exit 2
  fi
fi
echo "python-check: $py ($("$py" -c 'import torch, numpy; print("torch", torch.__version__, "numpy", numpy.__version__)'))"

t0=$(date +%s)
go build -o "$scratch/wtacrs" ./cmd/wtacrs || exit 1
echo "python-check: built wtacrs in $(($(date +%s) - t0)) s"

t0=$(date +%s)
WTACRS_BIN="$scratch/wtacrs" PYTHONDONTWRITEBYTECODE=1 "$py" -m unittest discover -s python/tests -v
rc=$?
echo "python-check: tests took $(($(date +%s) - t0)) s, status $rc"
((rc == 0)) || exit 1
