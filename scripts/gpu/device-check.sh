#!/usr/bin/env bash
# The device check of package gpu, in one call on a CUDA machine, from the repository root.
# Two ways to bring the code there:
#   prebuilt (the default when .gpubin/ is there, copied to the GPU machine with the checkout):
#     bash scripts/gpu/prebuild.sh                           # on the build machine
#     bash scripts/gpu/device-check.sh                       # on the card, .gpubin/ beside it
#   with Go on the card (.gpu/, a packed Go toolchain and modules; WTACRS_GPU_MODE=go forces it):
#     CGO_CFLAGS=-I$PWD/gpu/cudacompat bash .gpu/run.sh bash scripts/gpu/device-check.sh
# The GPU machine receives at most 64 MiB with the checkout: the checkout is about 48 MiB and
# .gpubin 8 MiB, while .gpu (a Go toolchain and the vendored modules, about 50 MiB) no longer
# fits beside it.
#
# Stages, each continuing to the next on failure, within a total budget of $WTACRS_CHECK_BUDGET
# seconds (default 540):
#   1. ptx    the kernels compiled by the card's nvcc (scripts/gpu/ptx.sh) into a scratch folder,
#             a compile check with that CUDA release; the tests use the committed, embedded PTX;
#   2. test   the cuda-tagged tests of ./gpu/, -v       -> $OUT/test.log (device tests, examples
#             against their // Output:, the kernel table against the PTX)
#   3. bench  BenchmarkGradW, -benchtime 20x            -> $OUT/bench.txt
#   4. vet    go vet -tags cuda ./gpu/ (Go mode only; prebuilt binaries were vetted where built,
#             by scripts/gpu/compile-check.sh)
#   5. race   a short -race run of the launch paths     -> $OUT/race.log (checkptr, 8-byte slots)
#   6. torch  the published code's weight-gradient path rendered in PyTorch against torch's exact
#             GEMM at BenchmarkGradW's shapes (python/wtacrs_trace/bench_published.py)
#             -> $OUT/published.txt; skipped where no python3 with torch sees a CUDA device
# and prints a summary (also $OUT/summary.txt). $OUT (default /tmp/wtacrs-gpu-check) receives at
# most 7 files, since at most 8 come back from the GPU machine: env.txt, summary.txt, test.log,
# bench.txt, race.log, published.txt and other.log (the ptx, vet and torch logs).
# Prebuilt binaries run only against the sources they were built from (scripts/gpu/sources-hash.sh);
# otherwise the test, bench and race stages report STALE and do not run.
# ./gpu/ and not ./gpu/...: the generator gpu/internal/cuda2go needs go/printer, whose
# go/doc/comment the toolchain packed for the card leaves out; it has nothing device-specific and
# is tested by go test ./... and scripts/gpu/compile-check.sh.
set -uo pipefail
OUT=${OUT:-/tmp/wtacrs-gpu-check}
mkdir -p "$OUT"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
budget=${WTACRS_CHECK_BUDGET:-540}
start=$(date +%s)
declare -a summary
other=$OUT/other.log
: >"$other"

remaining() { echo $((budget - ($(date +%s) - start))); }

note() { summary+=("$(printf '%-6s %-8s %s' "$1" "$2" "$3")"); }

# run_stage NAME MAX_SECONDS LOG CMD...: runs CMD under a timeout of min(MAX, remaining budget).
run_stage() {
  local name=$1 max=$2 log=$3
  shift 3
  local left
  left=$(remaining)
  if ((left < 20)); then
    note "$name" SKIPPED "budget spent"
    return
  fi
  local limit=$((max < left ? max : left))
  echo "== $name (limit ${limit}s) ==" >&2
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
  local rc=$?
  local took=$(($(date +%s) - t0))
  local verdict=ok
  ((rc == 124 || rc == 137)) && verdict=TIMEOUT
  ((rc != 0 && rc != 124 && rc != 137)) && verdict=FAILED
  summary+=("$(printf '%-6s %-8s rc=%-3s %4ss  %s' "$name" "$verdict" "$rc" "$took" "$log")")
}

# append_log NAME FILE: copies a stage's log into other.log under a header.
append_log() {
  [[ -f $2 ]] || return 0
  { echo "===== $1 ====="; cat "$2"; } >>"$other"
}

mode=go
if [[ ${WTACRS_GPU_MODE:-} != go && -f .gpubin/gpu.test.gz ]]; then
  mode=prebuilt
fi

# cublas_dir: a folder holding libcublas.so.13 for the prebuilt binaries, printed, or nothing when
# the loader finds it already. Where only libcublas.so.12 exists, a scratch folder maps the name.
cublas_dir() {
  local want=libcublas.so.13
  [[ -f .gpubin/BUILD.txt ]] && want=$(sed -n 's/^cublas: linked as \([^ ]*\).*/\1/p' .gpubin/BUILD.txt)
  if ldconfig -p 2>/dev/null | grep -qF "$want (" ; then
    return 0
  fi
  local d cuda=${CUDA_HOME:-/usr/local/cuda}
  local -a dirs=("$cuda/lib64" "$cuda/lib" "$cuda/targets/x86_64-linux/lib" /usr/local/cuda*/lib64)
  local sp
  for sp in $(${PYTHON:-python3} -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null); do
    dirs+=("$sp/nvidia/cublas/lib" "$sp/nvidia/cu13/lib" "$sp/nvidia/cu12/lib")
  done
  for d in "${dirs[@]}"; do
    if [[ -e $d/$want ]]; then
      echo "$d"
      return 0
    fi
  done
  for d in "${dirs[@]}" /usr/lib/x86_64-linux-gnu; do
    local other_so
    other_so=$(ls "$d"/libcublas.so.1[0-9] 2>/dev/null | sort | tail -n 1)
    if [[ -n $other_so ]]; then
      mkdir -p "$scratch/cublas"
      ln -sf "$other_so" "$scratch/cublas/$want"
      echo "$scratch/cublas:$d"
      return 0
    fi
  done
}

stale=""
orig_ld=${LD_LIBRARY_PATH-}
if [[ $mode == prebuilt ]]; then
  for b in gpu.test gpu.race.test; do
    gzip -dc ".gpubin/$b.gz" >"$scratch/$b" && chmod +x "$scratch/$b"
  done
  want=$(cat .gpubin/sources.sha256 2>/dev/null)
  have=$(bash scripts/gpu/sources-hash.sh 2>/dev/null)
  [[ -n $want && $want == "$have" ]] || stale="built from other sources (${want:-no hash}; these: $have): run scripts/gpu/prebuild.sh again"
  libdir=$(cublas_dir)
  [[ -n $libdir ]] && export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

{
  echo "date: $(date -u)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  nvcc --version 2>&1 | tail -n 2
  grep -m1 '#define CUDA_VERSION' "${CUDA_HOME:-/usr/local/cuda}/include/cuda.h" 2>&1
  echo "mode: $mode"
  if [[ $mode == prebuilt ]]; then
    cat .gpubin/BUILD.txt
    echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
    ldd "$scratch/gpu.test" 2>&1
    [[ -n $stale ]] && echo "STALE: $stale"
  else
    go version 2>&1
    echo "CGO_CFLAGS=${CGO_CFLAGS:-}"
  fi
} >"$OUT/env.txt" 2>&1

if command -v "${NVCC:-nvcc}" >/dev/null 2>&1; then
  mkdir -p "$scratch/ptx"
  run_stage ptx 120 "$scratch/ptx.log" env WTACRS_PTX_OUT="$scratch/ptx" bash scripts/gpu/ptx.sh
  append_log ptx "$scratch/ptx.log"
else
  note ptx SKIPPED "no nvcc on this machine"
fi

race_run='TestDeviceErrors|TestDeviceBackward|TestDeviceParity/odd/wtacrs'
if [[ $mode == prebuilt && -n $stale ]]; then
  for s in test bench race; do note "$s" STALE "$stale"; done
elif [[ $mode == prebuilt ]]; then
  run_stage test 240 "$OUT/test.log" bash -c 'cd gpu && exec "$0" -test.count=1 -test.v -test.timeout 150s' "$scratch/gpu.test"
  run_stage bench 200 "$OUT/bench.txt" bash -c 'cd gpu && exec "$0" -test.count=1 -test.run "^$" -test.bench BenchmarkGradW -test.benchtime 20x -test.timeout 150s' "$scratch/gpu.test"
  note vet SKIPPED "prebuilt: vetted where built (scripts/gpu/compile-check.sh)"
  run_stage race 90 "$OUT/race.log" bash -c 'cd gpu && exec "$0" -test.count=1 -test.run "$1" -test.timeout 80s' "$scratch/gpu.race.test" "$race_run"
else
  run_stage test 240 "$OUT/test.log" go test -tags cuda -count=1 -v -timeout 150s ./gpu/
  run_stage bench 200 "$OUT/bench.txt" go test -tags cuda -count=1 -run '^$' -bench BenchmarkGradW -benchtime 20x -timeout 150s ./gpu/
  run_stage vet 60 "$scratch/vet.log" go vet -tags cuda ./gpu/
  append_log vet "$scratch/vet.log"
  run_stage race 90 "$OUT/race.log" go test -tags cuda -race -count=1 -run "$race_run" -timeout 80s ./gpu/
fi

# PyTorch loads its own CUDA libraries: the library path as it was given.
if [[ -n $orig_ld ]]; then export LD_LIBRARY_PATH=$orig_ld; else unset LD_LIBRARY_PATH; fi
py=${PYTHON:-python3}
if "$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
  # Run as a script: python/ need not be on the path (it needs torch and numpy).
  run_stage torch 120 "$scratch/published.log" "$py" python/wtacrs_trace/bench_published.py --device cuda --out "$OUT/published.txt"
  append_log torch "$scratch/published.log"
else
  note torch SKIPPED "no $py with torch that sees a CUDA device"
fi

{
  echo "==================== device check summary ===================="
  head -n 3 "$OUT/env.txt" | tail -n 2
  echo "mode: $mode$([[ $mode == prebuilt ]] && echo "; $(grep -m1 '^built:' .gpubin/BUILD.txt)")"
  [[ -n $stale ]] && echo "STALE: $stale"
  echo "-- stages (total $(($(date +%s) - start))s)"
  printf '%s\n' "${summary[@]}"
  echo "-- ptx by this nvcc: $(ls "$scratch"/ptx/*.ptx 2>/dev/null | wc -l) files, $(grep -l '\.entry' "$scratch"/ptx/*.ptx 2>/dev/null | wc -l) with kernels; embedded: $(grep -h 'Cuda compilation tools' gpu/ptx/*.ptx 2>/dev/null | sort -u | sed 's,^// ,,')"
  grep -h 'FAILED' "$scratch/ptx.log" 2>/dev/null | head -n 5
  echo "-- tests"
  grep -E '^(--- |ok |FAIL|PASS$|panic:)' "$OUT/test.log" 2>/dev/null | head -n 40
  grep -E -A6 '^--- FAIL: Example' "$OUT/test.log" 2>/dev/null | head -n 30
  if grep -qE 'build failed|setup failed|error while loading shared libraries|symbol lookup error' "$OUT/test.log" 2>/dev/null; then head -n 25 "$OUT/test.log"; fi
  grep -E '^\s+--- FAIL' "$OUT/test.log" 2>/dev/null | head -n 20
  grep -E 'Error Trace|Error:|Messages:' "$OUT/test.log" 2>/dev/null | head -n 30
  grep -E '\|C\| = |worst error|negative control' "$OUT/test.log" 2>/dev/null | head -n 16
  echo "-- benchmarks"
  grep -E '^(Benchmark|ok |FAIL|PASS)|stages|panic|error while loading' "$OUT/bench.txt" 2>/dev/null | head -n 30
  echo "-- vet"
  sed -n '/===== vet =====/,/=====/p' "$other" | grep -v '=====' | head -n 10
  echo "-- race"
  grep -E '^(ok |FAIL|PASS$|---)|WARNING: DATA RACE|checkptr|error while loading' "$OUT/race.log" 2>/dev/null | head -n 10
  echo "-- the published code's path in PyTorch"
  cat "$OUT/published.txt" 2>/dev/null || sed -n '/===== torch =====/,$p' "$other" | tail -n 5
} | tee "$OUT/summary.txt"
