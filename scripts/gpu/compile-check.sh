#!/usr/bin/env bash
# The compile check of package gpu against real CUDA headers and libraries, on a machine without a
# GPU, from anywhere in the checkout:
#   bash scripts/gpu/compile-check.sh
# Stages, in order, each timed; the first failure ends the run with a non-zero status:
#   1. install  Debian's CUDA 11.8 (nvidia-cuda-toolkit, nvidia-cuda-dev from contrib/non-free)
#               when nvcc, cuda.h or cublas_v2.h is missing (root and network; about 3 GB
#               installed). With WTACRS_NO_INSTALL=1 a missing toolkit is only reported.
#   2. generate the typed kernel wrappers are what gpu/kernels generates (cuda2go -check);
#   3. ptx      nvcc compiles every kernel for compute_80 and compute_90 into a scratch folder;
#               with the nvcc release that wrote gpu/ptx the files must be identical;
#   4. build    go build -tags cuda ./gpu/...   (cgo against the real headers, links cuBLAS);
#   5. vet      go vet -tags cuda ./gpu/...
#   6. test     go test -tags cuda ./gpu/... with a no-device driver preloaded
#               (scripts/gpu/nodevice): the non-device tests run, the device tests skip;
#   7. prebuild scripts/gpu/prebuild.sh: the test binaries for the GPU machine (.gpubin/),
#               checked to load against a cuBLAS of another release, and the size sent there;
#   8. dry-run  scripts/gpu/device-check.sh with those binaries and the no-device driver: every
#               stage passes or skips, and it writes no more files than come back (8).
# Exit status: 0 when every stage passed, 1 on a failure, 2 when the toolkit is missing and could
# not (or, with WTACRS_NO_INSTALL=1, may not) be installed.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
declare -a summary
t_all=$(date +%s)

# stage NAME CMD...: runs CMD, records its time, stops the script on failure.
stage() {
  local name=$1
  shift
  echo "== compile-check: $name" >&2
  local t0 rc
  t0=$(date +%s)
  "$@"
  rc=$?
  summary+=("$(printf '%-9s rc=%-2s %4ss' "$name" "$rc" "$(($(date +%s) - t0))")")
  if ((rc != 0)); then
    report
    echo "compile-check: $name FAILED" >&2
    exit 1
  fi
}

report() {
  echo "-- compile-check: $(($(date +%s) - t_all))s in all" >&2
  printf '   %s\n' "${summary[@]}" >&2
}

have_toolkit() {
  command -v nvcc >/dev/null 2>&1 &&
    printf '#include <cuda.h>\n#include <cublas_v2.h>\n' |
    ${CC:-gcc} -E -x c - -I"${CUDA_HOME:-/usr/local/cuda}/include" >/dev/null 2>&1
}

install_toolkit() {
  local src=/etc/apt/sources.list.d/debian.sources
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null || [[ ! -f $src ]]; then
    echo "compile-check: cannot install CUDA here (needs root, apt and $src)" >&2
    return 1
  fi
  # contrib and non-free on every Components: line that lacks them.
  sed -i -E '/^Components:/{/ contrib( |$)/!s/$/ contrib/;/ non-free( |$)/!s/$/ non-free/}' "$src" || return 1
  apt-get update -qq || return 1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    nvidia-cuda-toolkit nvidia-cuda-dev >"$scratch/apt.log" 2>&1 || { tail -n 20 "$scratch/apt.log" >&2; return 1; }
  have_toolkit
}

if ! have_toolkit; then
  if [[ ${WTACRS_NO_INSTALL:-0} == 1 ]]; then
    echo "compile-check: no CUDA toolkit (nvcc, cuda.h, cublas_v2.h) and WTACRS_NO_INSTALL=1" >&2
    exit 2
  fi
  t0=$(date +%s)
  echo "== compile-check: install" >&2
  if ! install_toolkit; then
    echo "compile-check: the CUDA toolkit could not be installed" >&2
    exit 2
  fi
  summary+=("$(printf '%-9s rc=%-2s %4ss' install 0 "$(($(date +%s) - t0))")")
fi
# The compat headers first, then $CUDA_HOME when there is one (Debian's CUDA is on the default
# paths).
# shellcheck source=env.sh
source scripts/gpu/env.sh
echo "compile-check: $(nvcc --version | tail -n 2 | head -n 1), $(go version)" >&2

stage generate go run ./gpu/internal/cuda2go -dir gpu -check

check_ptx() {
  WTACRS_PTX_OUT=$scratch/ptx bash scripts/gpu/ptx.sh >"$scratch/ptx.log" 2>&1 || { cat "$scratch/ptx.log" >&2; return 1; }
  local here committed
  here=$(nvcc --version | grep -o 'V[0-9][0-9.]*' | head -n 1)
  committed=$(grep -ho 'V[0-9][0-9.]*' gpu/ptx/*.ptx | sort -u | tr '\n' ' ')
  if [[ "$committed" != "$here " ]]; then
    echo "compile-check: gpu/ptx was written by nvcc ${committed:-unknown}, this is $here: compiled, not compared" >&2
    return 0
  fi
  local stale=0 f
  for f in "$scratch"/ptx/*.ptx; do
    if ! cmp -s "$f" "gpu/ptx/$(basename "$f")"; then
      echo "compile-check: gpu/ptx/$(basename "$f") is stale: run bash scripts/gpu/ptx.sh and commit" >&2
      stale=1
    fi
  done
  for f in gpu/ptx/*.ptx; do
    [[ -e $scratch/ptx/$(basename "$f") ]] || { echo "compile-check: $f has no kernel source" >&2; stale=1; }
  done
  return $stale
}
stage ptx check_ptx

stage build go build -tags cuda ./gpu/...
stage vet go vet -tags cuda ./gpu/...

test_nodevice() {
  ${CC:-gcc} -shared -fPIC -O2 -Wall -Werror -o "$scratch/libnodevice.so" scripts/gpu/nodevice/nodevice.c || return 1
  LD_PRELOAD=$scratch/libnodevice.so go test -tags cuda -count=1 ./gpu/...
}
stage test test_nodevice

# The prebuilt binaries for the GPU machine (.gpubin/, ignored), and a dry run of the device
# check with them and the no-device driver: every stage must pass or skip, and what is sent
# there must stay under 64 MiB.
stage prebuild bash scripts/gpu/prebuild.sh

device_dry_run() {
  OUT=$scratch/device-check LD_PRELOAD=$scratch/libnodevice.so WTACRS_CHECK_BUDGET=200 \
    bash scripts/gpu/device-check.sh >"$scratch/device-check.log" 2>&1
  if grep -qE '^(ptx|test|bench|vet|race|torch) +(FAILED|TIMEOUT|STALE)' "$scratch/device-check/summary.txt" ||
    ! grep -q '^PASS$' "$scratch/device-check/test.log"; then
    cat "$scratch/device-check.log" >&2
    return 1
  fi
  local n
  n=$(find "$scratch/device-check" -type f | wc -l)
  ((n <= 8)) || { echo "compile-check: the device check wrote $n files to \$OUT; at most 8 come back from the GPU machine" >&2; return 1; }
}
stage dry-run device_dry_run

report
echo "compile-check: ok" >&2
