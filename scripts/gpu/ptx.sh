#!/usr/bin/env bash
# Generates the PTX of every kernel file: gpu/kernels/<name>.cu -> <out>/<name>_sm<cc>.ptx for each
# compute capability of $WTACRS_PTX_ARCHS (default "80 90"; gpu.ptxArchs lists what the loader
# tries and TestKernelsMatchPTX checks). <out> is $WTACRS_PTX_OUT, default gpu/ptx. The PTX files
# of gpu/ptx are embedded in the package at compile time (go:embed), so run this whenever a .cu
# file changes, and commit the results.
#   bash scripts/gpu/ptx.sh            # needs nvcc on PATH (or $NVCC)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
nvcc=${NVCC:-nvcc}
archs=${WTACRS_PTX_ARCHS:-"80 90"}
out=${WTACRS_PTX_OUT:-$root/gpu/ptx}
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
