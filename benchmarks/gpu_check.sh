#!/usr/bin/env bash
# The one GPU command: build in place, run the GPU tests, Nsight Compute on the hot kernels, then
# the benchmarks, whose table is printed last; full results go to benchmarks/results/*.json (and
# $OUT), rewritten after every section so that a run cut off keeps what it measured. Nothing is downloaded: the build's
# Python packages (setuptools, pybind11, cmake, ninja) must be installed.
#
#   bash benchmarks/gpu_check.sh
#
# About 6 minutes on an H200 (the 2026-11-29 runs: build 31 s, tests 232 s, benchmarks 70 s),
# at most 11: GPU tests <= IGK_TEST_TIMEOUT (240 s), ncu <= IGK_NCU_TIMEOUT (120 s, where ncu
# is installed), benchmarks <= IGK_BENCH_TIMEOUT (270 s). Logs and reports go to $OUT (else /tmp).
# nvcc is looked for on PATH, under CUDA_HOME, then /usr/local/cuda; without it, or when the
# CUDA extension fails to build, the run goes on with the Triton backend alone.
# Without a GPU it checks what it can (the benchmark script, dry run on the CPU) and stops with
# one line saying so, exit 2.
# Environment: PYTHON (default python3), IGK_CUDA_ARCHS (default 90: the check runs on a Hopper
# GPU; pip install alone builds "80;90"), MAX_JOBS (default: all cores), IGK_TEST_TIMEOUT
# (seconds for all GPU tests, default 240), IGK_TEST_TIME_LIMIT (seconds per test, default 60),
# IGK_NCU_TIMEOUT (seconds for Nsight Compute, default 120), IGK_BENCH_TIMEOUT (seconds for the
# benchmarks, default 270).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
echo "gpu_check: about 6 minutes on an H200 (build ~1 min, GPU tests <= ${IGK_TEST_TIMEOUT:-240} s, ncu <= ${IGK_NCU_TIMEOUT:-120} s, benchmarks <= ${IGK_BENCH_TIMEOUT:-270} s)"

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  dry=$(mktemp -d)
  if "$PY" benchmarks/gpu_check.py --dry-run --out "$dry" >"$dry/log" 2>&1; then
    echo "gpu_check: the benchmark script's dry run on the CPU passed"
  else
    echo "gpu_check: the benchmark script's dry run on the CPU FAILED:" >&2
    tail -20 "$dry/log" >&2
  fi
  rm -rf "$dry"
  if "$PY" benchmarks/gpu_ncu.py --dry-run >/dev/null 2>&1; then
    echo "gpu_check: the ncu target script's dry run on the CPU passed"
  else
    echo "gpu_check: the ncu target script's dry run on the CPU FAILED" >&2
  fi
  probe='import torch; print(f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device")'
  seen=$("$PY" -c "$probe" 2>&1)
  echo "no CUDA GPU found: $(echo "$seen" | tail -1)" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv || true

export IGK_CUDA_ARCHS=${IGK_CUDA_ARCHS:-90}
log=${OUT:-/tmp}   # the build and test logs go where the device tool brings files back from
export MAX_JOBS=${MAX_JOBS:-$(nproc)}
status=0
start=$(date +%s)
nvcc=$(command -v nvcc || true)
for home in "${CUDA_HOME:-}" /usr/local/cuda; do
  if [ -z "$nvcc" ] && [ -n "$home" ] && [ -x "$home/bin/nvcc" ]; then nvcc="$home/bin/nvcc"; fi
done
install() { "$PY" -m pip install --no-build-isolation --no-deps -e . >"$1" 2>&1; }
if [ -n "$nvcc" ] && IGK_CUDA=1 install "$log/gpu_check_build.log"; then
  echo "gpu_check: built with the CUDA extension ($nvcc)"
else
  if [ -n "$nvcc" ]; then
    echo "gpu_check: the CUDA extension failed to build (last lines below); going on with Triton alone" >&2
    tail -30 "$log/gpu_check_build.log" >&2
  else
    echo "gpu_check: nvcc not found (PATH, CUDA_HOME, /usr/local/cuda); going on with Triton alone" >&2
  fi
  status=1
  IGK_CUDA=0 install "$log/gpu_check_build.log" \
    || { echo "gpu_check: the build failed even without CUDA:" >&2; tail -30 "$log/gpu_check_build.log" >&2; }
fi
echo "[gpu_check] build: $(( $(date +%s) - start )) s"

start=$(date +%s)
# The GPU subset: the op tests run every backend on the GPU through their fixtures, plus the
# backends' own tests and the one-host-sync-per-step check. The CPU-device cases ("cpu-" ids) and
# test_compile.py (CPU tensors only; inductor's C++ build alone takes a minute) are CI's. Failures are
# listed, not fatal: the benchmarks run regardless, GPU time being scarce.
# pytest-xdist, where installed, spreads the tests (and their Triton compiles) over 12 processes;
# SIGINT at the time limit still prints the failures so far.
parallel=()
if "$PY" -c 'import xdist' 2>/dev/null; then parallel=(-n 12); fi
IGK_TEST_TIME_LIMIT=${IGK_TEST_TIME_LIMIT:-60} timeout -s INT -k 30 "${IGK_TEST_TIMEOUT:-240}" \
  "$PY" -m pytest -q "${parallel[@]}" --maxfail=20 -rfE -p no:cacheprovider --durations=5 \
  -k "not cpu-" --ignore=tests/ops/test_compile.py tests/ops/ tests/backends/ tests/sampling/test_syncs.py 2>&1 | tee "$log/gpu_check_tests.log" \
  || { echo "gpu_check: GPU tests FAILED or timed out (log: $log/gpu_check_tests.log)" >&2; status=1; }
echo "[gpu_check] tests: $(( $(date +%s) - start )) s"

# Nsight Compute on K1 and the fused head (benchmarks/gpu_ncu.py), where installed: what bounds
# them (throughput against the peaks, occupancy, warp stalls). The clocks are left alone.
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
if [ -n "$ncu" ]; then
  start=$(date +%s)
  timeout -k 10 "${IGK_NCU_TIMEOUT:-120}" "$ncu" --clock-control none --target-processes all \
    -k "regex:$("$PY" benchmarks/gpu_ncu.py --kernels)" --section SpeedOfLight --section Occupancy \
    --section LaunchStats --section WarpStateStats --section ComputeWorkloadAnalysis \
    --section MemoryWorkloadAnalysis "$PY" benchmarks/gpu_ncu.py >"$log/gpu_check_ncu.txt" 2>&1 \
    && echo "gpu_check: ncu report in $log/gpu_check_ncu.txt" \
    || echo "gpu_check: ncu failed or timed out (its output: $log/gpu_check_ncu.txt)" >&2
  echo "[gpu_check] ncu: $(( $(date +%s) - start )) s"
fi

timeout -s INT -k 10 "${IGK_BENCH_TIMEOUT:-270}" "$PY" benchmarks/gpu_check.py "$@" || status=1
exit $status
