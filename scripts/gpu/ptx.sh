#!/usr/bin/env bash
# Generates the PTX of every kernel file: gpu/kernels/<name>.cu -> gpu/ptx/<name>_sm<cc>.ptx for
# each compute capability of $WTACRS_PTX_ARCHS (default "80 90"). The PTX files are embedded in
# the package at compile time (go:embed), so run this before `go build -tags cuda` whenever a .cu
# file changes, and commit the results.
#   bash scripts/gpu/ptx.sh            # needs nvcc on PATH (or $NVCC)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
nvcc=${NVCC:-nvcc}
archs=${WTACRS_PTX_ARCHS:-"80 90"}
out="$root/gpu/ptx"
mkdir -p "$out"
# --fmad=false: no multiply-add contraction, so that float64 arithmetic rounds as in Go.
flags=(-ptx -O3 --fmad=false -std=c++17 -I "$root/gpu/kernels")
status=0
for src in "$root"/gpu/kernels/*.cu; do
  name=$(basename "$src" .cu)
  for arch in $archs; do
    dst="$out/${name}_sm${arch}.ptx"
    if "$nvcc" "${flags[@]}" -arch="compute_${arch}" -o "$dst.tmp" "$src"; then
      mv "$dst.tmp" "$dst" # atomic replace
      echo "ptx: $name compute_$arch ($(grep -c '^\.visible \.entry' "$dst") entry)"
    else
      rm -f "$dst.tmp"
      echo "ptx: FAILED $name compute_$arch" >&2
      status=1
    fi
  done
done
exit $status
