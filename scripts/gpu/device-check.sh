#!/usr/bin/env bash
# The device check of package gpu, in one call on a CUDA machine, from the repository root:
#   ../shared/gpu/pack.sh                                  # on the build machine
#   CGO_CFLAGS=-I$PWD/gpu/cudacompat bash .gpu/run.sh bash scripts/gpu/device-check.sh
# Stages, each continuing to the next on failure, within a total budget of $WTACRS_CHECK_BUDGET
# seconds (default 540):
#   1. the kernels compiled by the card's nvcc (scripts/gpu/ptx.sh) into $OUT/ptx/, a compile
#      check with that CUDA release; the tests use the committed, embedded gpu/ptx;
#   2. go test -tags cuda -v ./gpu/                 -> $OUT/test.log (device tests, examples
#      against their // Output:, the kernel table against the PTX)
#   3. BenchmarkGradW (-benchtime 20x)              -> $OUT/bench.txt
#   4. go vet -tags cuda ./gpu/                     -> $OUT/vet.log
#   5. a short -race run of the launch paths        -> $OUT/race.log (checkptr, 8-byte slots)
#   6. the published code's weight-gradient path rendered in PyTorch against torch's exact GEMM
#      at BenchmarkGradW's shapes (python/wtacrs_trace/bench_published.py) -> $OUT/published.txt,
#      skipped where no python3 with torch sees a CUDA device
# and prints a summary (also in $OUT/summary.txt). $OUT defaults to /tmp/wtacrs-gpu-check.
# ./gpu/ and not ./gpu/...: the generator gpu/internal/cuda2go needs go/printer, whose
# go/doc/comment the toolchain packed for the card leaves out; it has nothing device-specific and
# is tested by go test ./... and scripts/gpu/compile-check.sh.
set -uo pipefail
OUT=${OUT:-/tmp/wtacrs-gpu-check}
mkdir -p "$OUT/ptx"
budget=${WTACRS_CHECK_BUDGET:-540}
start=$(date +%s)
declare -a summary

remaining() { echo $((budget - ($(date +%s) - start))); }

# run_stage NAME MAX_SECONDS LOG CMD...: runs CMD under a timeout of min(MAX, remaining budget).
run_stage() {
  local name=$1 max=$2 log=$3
  shift 3
  local left
  left=$(remaining)
  if ((left < 20)); then
    summary+=("$(printf '%-6s %-8s %s' "$name" SKIPPED "budget spent")")
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

{
  echo "date: $(date -u)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  nvcc --version 2>&1 | tail -n 2
  go version 2>&1
  grep -m1 '#define CUDA_VERSION' "${CUDA_HOME:-/usr/local/cuda}/include/cuda.h" 2>&1
  echo "CGO_CFLAGS=${CGO_CFLAGS:-}"
} >"$OUT/env.txt" 2>&1

if command -v "${NVCC:-nvcc}" >/dev/null 2>&1; then
  run_stage ptx 120 "$OUT/ptx.log" env WTACRS_PTX_OUT="$OUT/ptx" bash scripts/gpu/ptx.sh
else
  summary+=("$(printf '%-6s %-8s %s' ptx SKIPPED "no nvcc on this machine")")
fi
run_stage test 240 "$OUT/test.log" go test -tags cuda -count=1 -v -timeout 150s ./gpu/
run_stage bench 200 "$OUT/bench.txt" go test -tags cuda -count=1 -run '^$' -bench BenchmarkGradW -benchtime 20x -timeout 150s ./gpu/
run_stage vet 60 "$OUT/vet.log" go vet -tags cuda ./gpu/
run_stage race 90 "$OUT/race.log" go test -tags cuda -race -count=1 -run 'TestDeviceErrors|TestDeviceBackward|TestDeviceParity/odd/wtacrs' -timeout 80s ./gpu/
py=${PYTHON:-python3}
if "$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
  # Run as a script, not through the package: it needs torch only (the package imports numpy).
  run_stage torch 120 "$OUT/published.log" "$py" python/wtacrs_trace/bench_published.py --device cuda --out "$OUT/published.txt"
else
  summary+=("$(printf '%-6s %-8s %s' torch SKIPPED "no $py with torch that sees a CUDA device")")
fi

{
  echo "==================== device check summary ===================="
  head -n 3 "$OUT/env.txt" | tail -n 2
  echo "-- stages (total $(($(date +%s) - start))s)"
  printf '%s\n' "${summary[@]}"
  echo "-- ptx by this nvcc: $(ls "$OUT"/ptx/*.ptx 2>/dev/null | wc -l) files, $(grep -l '\.entry' "$OUT"/ptx/*.ptx 2>/dev/null | wc -l) with kernels; embedded: $(grep -h 'Cuda compilation tools' gpu/ptx/*.ptx 2>/dev/null | sort -u | sed 's,^// ,,')"
  grep -h 'FAILED' "$OUT/ptx.log" 2>/dev/null | head -n 5
  echo "-- tests"
  grep -E '^(--- |ok |FAIL|panic:)' "$OUT/test.log" 2>/dev/null | head -n 40
  grep -E -A6 '^--- FAIL: Example' "$OUT/test.log" 2>/dev/null | head -n 30
  if grep -qE 'build failed|setup failed' "$OUT/test.log" 2>/dev/null; then head -n 25 "$OUT/test.log"; fi
  grep -E '^\s+--- FAIL' "$OUT/test.log" 2>/dev/null | head -n 20
  grep -E 'Error Trace|Error:|Messages:' "$OUT/test.log" 2>/dev/null | head -n 30
  grep -E '\|C\| = |worst error|negative control' "$OUT/test.log" 2>/dev/null | head -n 16
  echo "-- benchmarks"
  grep -E '^(Benchmark|ok |FAIL|PASS)|stages|panic' "$OUT/bench.txt" 2>/dev/null | head -n 30
  echo "-- vet"
  head -n 10 "$OUT/vet.log" 2>/dev/null
  echo "-- race"
  grep -E '^(ok |FAIL|---)|WARNING: DATA RACE|checkptr' "$OUT/race.log" 2>/dev/null | head -n 10
  echo "-- the published code's path in PyTorch"
  cat "$OUT/published.txt" 2>/dev/null || tail -n 5 "$OUT/published.log" 2>/dev/null
} | tee "$OUT/summary.txt"
