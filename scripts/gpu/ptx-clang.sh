#!/usr/bin/env bash
# Compiles gpu/kernels/<name>.cu to <out>/<name>_sm80.ptx with clang instead of nvcc, as a compile
# check of the kernels on machines without CUDA: clang's CUDA mode with the stand-in header
# clangshim/cuda_shim.h (each CUDA function mapped to its NVPTX builtin). <out> is
# $WTACRS_PTX_OUT, by default a new scratch folder: the committed gpu/ptx comes from nvcc
# (scripts/gpu/ptx.sh), which Debian's CUDA 11.8 provides without a GPU (compile-check.sh).
#   bash scripts/gpu/ptx-clang.sh        # needs clang (Debian: apt-get install clang-14)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
clang=${CLANG:-$(command -v clang-14 || command -v clang)}
out=${WTACRS_PTX_OUT:-$(mktemp -d)}
mkdir -p "$out"
flags=(-x cuda --cuda-device-only --cuda-gpu-arch=sm_80 -nocudainc -nocudalib
  -Xclang -target-feature -Xclang +ptx70
  -include "$root/scripts/gpu/clangshim/cuda_shim.h" -I "$root/gpu/kernels"
  -std=c++17 -O3 -ffp-contract=off -Wall -Werror -S)
for src in "$root"/gpu/kernels/*.cu; do
  name=$(basename "$src" .cu)
  dst="$out/${name}_sm80.ptx"
  "$clang" "${flags[@]}" -o "$dst.tmp" "$src"
  mv "$dst.tmp" "$dst"
  echo "ptx-clang: $name sm_80 ($(grep -c '^\.visible \.entry' "$dst") entry) in $dst"
done
