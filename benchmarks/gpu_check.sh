#!/usr/bin/env bash
# The one GPU command of issue 4: build in place, run the GPU tests, then the benchmarks,
# whose table is printed last; full results go to benchmarks/results/*.json (and $OUT).
# Needs an NVIDIA GPU, nvcc and the Python packages of the build (setuptools, pybind11,
# cmake, ninja) already installed: nothing is downloaded. Budget: under 8 minutes on an H200.
#
#   bash benchmarks/gpu_check.sh
# Environment: PYTHON (default python3), IGK_CUDA_ARCHS (default 90 here: the check runs on
# a Hopper GPU; pip install alone builds "80;90"), MAX_JOBS (default: all cores),
# IGK_TEST_TIMEOUT (seconds for the GPU tests, default 240).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  probe='import torch; print(f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device")'
  seen=$("$PY" -c "$probe" 2>&1)
  echo "no CUDA GPU found: $(echo "$seen" | tail -1)" >&2
  exit 2
fi
if ! command -v nvcc >/dev/null && [ ! -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ]; then
  echo "gpu_check: nvcc not found (PATH or CUDA_HOME): igkernels._C_cuda cannot be built" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv || true

export IGK_CUDA_ARCHS=${IGK_CUDA_ARCHS:-90}
export MAX_JOBS=${MAX_JOBS:-$(nproc)}
start=$(date +%s)
"$PY" -m pip install --no-build-isolation --no-deps -e . || { echo "gpu_check: build failed" >&2; exit 1; }
"$PY" -c 'import igkernels._C_cuda' || { echo "gpu_check: igkernels._C_cuda was not built" >&2; exit 1; }
echo "[gpu_check] build: $(( $(date +%s) - start )) s"

status=0
start=$(date +%s)
# The GPU subset: the op tests run every backend on every device (CUDA included) through their
# fixtures, plus the backends' own tests and the one-host-sync-per-step check. A failure (or
# running past IGK_TEST_TIMEOUT seconds, default 240) is reported but the benchmarks still
# run: GPU time is scarce.
timeout "${IGK_TEST_TIMEOUT:-240}" "$PY" -m pytest -q -x -p no:cacheprovider --durations=5 \
  tests/ops/ tests/backends/ tests/sampling/test_syncs.py \
  || { echo "gpu_check: GPU tests FAILED or timed out" >&2; status=1; }
echo "[gpu_check] tests: $(( $(date +%s) - start )) s"

"$PY" benchmarks/gpu_check.py "$@" || status=1
exit $status
