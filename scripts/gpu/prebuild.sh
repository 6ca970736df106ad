#!/usr/bin/env bash
# Builds package gpu's cuda-tagged test binaries here, for a CUDA machine that has no Go, so that
# the GPU machine receives two binaries instead of a Go toolchain and the module's sources:
#   bash scripts/gpu/prebuild.sh          # writes .gpubin/ (ignored by .gitignore)
# then, on the card, with .gpubin/ copied beside the checkout:
#   bash scripts/gpu/device-check.sh      # finds .gpubin/ and runs its binaries
#
# What it writes to .gpubin/ (gzip: the GPU machine receives at most 64 MiB with the checkout):
#   gpu.test.gz       go test -c -tags cuda ./gpu/ (stripped: -ldflags '-s -w')
#   gpu.race.test.gz  the same with -race
#   BUILD.txt      commit, Go release, CUDA headers, the cuBLAS soname linked, sizes, sha256
#   sources.sha256 the hash of the module's Go, PTX and module files (scripts/gpu/sources-hash.sh):
#                  device-check.sh refuses binaries built from other sources
#
# cuBLAS: CUDA's cuBLAS changes its soname with each major release (libcublas.so.11 here, from
# Debian's CUDA 11.8; libcublas.so.13 on a CUDA 13 machine) and versions its symbols with it, so
# a binary linked against this machine's library would not load there. The binaries are linked
# instead against a stand-in built here from the exported names of this cuBLAS, without symbol
# versions, with the soname $WTACRS_CUBLAS_SONAME (default libcublas.so.13): their references
# carry no version and bind to the card machine's cuBLAS of that soname. The driver library,
# libcuda.so.1, keeps its soname and has no symbol versions. The C side is compiled against this
# machine's CUDA 11.8 headers (the driver and cuBLAS v2 calls package gpu makes are the same in
# CUDA 12 and 13; gpu/cudacompat maps the CUDA 13 renames for builds against CUDA 13 headers).
#
# Before it ends it checks that gpu.test loads against this machine's cuBLAS under the stand-in's
# soname with every symbol bound at once (LD_BIND_NOW=1) and passes the tests that need no
# device, with scripts/gpu/nodevice preloaded, and it prints the size of what the GPU machine
# receives (the checkout's files and .gpubin/), which must stay under 64 MiB.
#
# Needs CUDA's headers and cuBLAS (bash scripts/gpu/compile-check.sh installs Debian's CUDA 11.8).
# Exit status: 0 on success, 1 on a failure, 2 when the toolkit is missing.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
soname=${WTACRS_CUBLAS_SONAME:-libcublas.so.13}
out=$root/.gpubin
limit=$((64 << 20))
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

fail() {
  echo "prebuild: $*" >&2
  exit 1
}

cuda_home=${CUDA_HOME:-/usr/local/cuda}
if ! printf '#include <cuda.h>\n#include <cublas_v2.h>\n' | ${CC:-gcc} -E -x c - -I"$cuda_home/include" >/dev/null 2>&1; then
  echo "prebuild: no cuda.h and cublas_v2.h here (bash scripts/gpu/compile-check.sh installs CUDA 11.8)" >&2
  exit 2
fi
cublas=$(ldconfig -p | awk '/libcublas\.so\.[0-9]+ / {print $NF; exit}')
[[ -n $cublas && -f $cublas ]] || { for d in "$cuda_home/lib64" "$cuda_home/lib"; do
  cublas=$(ls "$d"/libcublas.so.[0-9]* 2>/dev/null | head -n 1) && [[ -n $cublas ]] && break
done; }
[[ -n ${cublas:-} && -f $cublas ]] || { echo "prebuild: no libcublas.so.N found" >&2; exit 2; }

# The stand-in cuBLAS: every function this cuBLAS exports, empty, unversioned, soname $soname.
nm -D --defined-only "$cublas" | awk '$2 == "T" {sub(/@.*/, "", $3); print $3}' | sort -u >"$scratch/symbols.txt"
(($(wc -l <"$scratch/symbols.txt") > 100)) || fail "too few functions exported by $cublas"
{
  echo "/* A stand-in of cuBLAS for linking only: empty functions of the names $cublas exports. */"
  while read -r s; do echo "void $s(void) {}"; done <"$scratch/symbols.txt"
} >"$scratch/stub.c"
mkdir -p "$scratch/lib"
${CC:-gcc} -shared -fPIC -o "$scratch/lib/libcublas.so" -Wl,-soname,"$soname" "$scratch/stub.c" ||
  fail "cannot build the stand-in cuBLAS"

export CGO_ENABLED=1
export CGO_CFLAGS="-I$root/gpu/cudacompat -I$cuda_home/include ${CGO_CFLAGS:-}"
export CGO_LDFLAGS="-L$scratch/lib ${CGO_LDFLAGS:-}"
bins=$scratch/bin
mkdir -p "$bins"
echo "prebuild: go test -c -tags cuda ./gpu/ (and -race), cuBLAS linked as $soname" >&2
go test -c -tags cuda -ldflags='-s -w' -o "$bins/gpu.test" ./gpu/ || fail "build failed"
go test -c -tags cuda -race -ldflags='-s -w' -o "$bins/gpu.race.test" ./gpu/ || fail "race build failed"
for b in gpu.test gpu.race.test; do
  needed=$(readelf -d "$bins/$b" | awk '/NEEDED/ {gsub(/[][]/, "", $NF); print $NF}' | tr '\n' ' ')
  [[ $needed == *"$soname"* ]] || fail "$b needs [$needed], not $soname: the stand-in was not linked"
  if readelf -V "$bins/$b" | grep -q "File: libcublas"; then
    fail "$b asks for versioned cuBLAS symbols: it would not bind to another release"
  fi
done

# It loads against this machine's cuBLAS under the stand-in's soname, every symbol bound.
mkdir -p "$scratch/renamed"
ln -s "$(readlink -f "$cublas")" "$scratch/renamed/$soname"
${CC:-gcc} -shared -fPIC -O2 -o "$scratch/libnodevice.so" scripts/gpu/nodevice/nodevice.c || fail "cannot build scripts/gpu/nodevice"
(cd gpu && LD_BIND_NOW=1 LD_LIBRARY_PATH="$scratch/renamed" LD_PRELOAD="$scratch/libnodevice.so" \
  "$bins/gpu.test" -test.count=1 >"$scratch/selftest.log" 2>&1) ||
  { cat "$scratch/selftest.log" >&2; fail "gpu.test does not load or pass its non-device tests against $cublas renamed $soname"; }
tail -n 1 "$scratch/selftest.log" | grep -qx PASS || { cat "$scratch/selftest.log" >&2; fail "gpu.test self-test did not PASS"; }

new=$scratch/gpubin
mkdir -p "$new"
bash scripts/gpu/sources-hash.sh >"$new/sources.sha256" || fail "cannot hash the sources"
for b in gpu.test gpu.race.test; do gzip -9 -n -c "$bins/$b" >"$new/$b.gz" || fail "cannot compress $b"; done
{
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) from commit $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "go: $(go version)"
  echo "cuda headers: $(grep -m1 '#define CUDA_VERSION' "$cuda_home/include/cuda.h" 2>/dev/null || grep -hm1 '#define CUDA_VERSION' /usr/include/cuda.h)"
  echo "cublas: linked as $soname (stand-in of $(basename "$(readlink -f "$cublas")"), unversioned references)"
  echo "sources: $(cat "$new/sources.sha256")"
  (cd "$bins" && sha256sum gpu.test gpu.race.test && ls -l gpu.test gpu.race.test | awk '{print $5, $NF}')
} >"$new/BUILD.txt"
rm -rf "$out"
cp -r "$new" "$out" || fail "cannot write $out"

# What the GPU machine receives: the checkout's tracked and untracked-not-ignored files, and .gpubin.
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
bin=$(du -sb "$out" | cut -f1)
total=$((tree + bin))
awk -v b="$bin" -v t="$tree" 'BEGIN {m = 1048576; printf "prebuild: .gpubin %.1f MiB + the checkout %.1f MiB = %.1f MiB to send (limit 64 MiB)\n", b / m, t / m, (b + t) / m}' >&2
((total < limit)) || fail "the checkout and .gpubin are over the 64 MiB the GPU machine receives"
cat "$out/BUILD.txt" >&2
