#!/usr/bin/env bash
# Generates gpu/ptx/<name>_sm80.ptx from gpu/kernels/<name>.cu with clang instead of nvcc, for
# machines without CUDA: clang's CUDA mode with the stand-in header clangshim/cuda_shim.h (each
# CUDA function mapped to its NVPTX builtin). It also serves as a compile check of the kernels.
# The nvcc output of scripts/gpu/ptx.sh is the reference and replaces these files when committed.
#   bash scripts/gpu/ptx-clang.sh        # needs clang (Debian: apt-get install clang-14)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
clang=${CLANG:-$(command -v clang-14 || command -v clang)}
out="$root/gpu/ptx"
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
  echo "ptx-clang: $name sm_80 ($(grep -c '^\.visible \.entry' "$dst") entry)"
done
