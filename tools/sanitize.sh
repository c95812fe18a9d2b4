#!/usr/bin/env bash
# Builds the C++ CPU extension igkernels._C with AddressSanitizer and UndefinedBehaviorSanitizer
# and runs the op tests on the cpu backend against that build; any report fails the run.
#
#   bash tools/sanitize.sh [extra pytest arguments]      (PYTHON: the interpreter, default python3)
#
# The package is copied to a temporary folder with the sanitized _C in place of the installed
# one, so the checkout's own build is untouched. Leak checking is off: CPython and torch keep
# their allocations until exit by design.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
pybind11_dir=$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())')
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
cmake -S . -B "$work/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Sanitize -DIGK_CUDA=OFF \
  -DCMAKE_CXX_FLAGS="$san -O1 -g" -DCMAKE_MODULE_LINKER_FLAGS="$san" \
  -DPython_EXECUTABLE="$(command -v "$PY")" -Dpybind11_DIR="$pybind11_dir" \
  -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$work/build/out" >"$work/cmake.log" \
  || { cat "$work/cmake.log"; exit 1; }
cmake --build "$work/build" --target _C --parallel "${MAX_JOBS:-2}" >"$work/build.log" \
  || { cat "$work/build.log"; exit 1; }

mkdir "$work/pkg"
cp -r igkernels "$work/pkg/"
find "$work/pkg/igkernels" -name '_C*.so' -delete
cp "$work"/build/out/_C*.so "$work/pkg/igkernels/"

export LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export PYTHONPATH="$work/pkg${PYTHONPATH:+:$PYTHONPATH}"
root=$PWD
cd "$work"   # not the checkout: its igkernels/ would come first on sys.path
"$PY" -c 'import igkernels._C as c, sys; assert sys.argv[1] in c.__file__, c.__file__; print("sanitized:", c.__file__)' \
  "$work/pkg"
# The sanitizer must catch a planted fault: a row offset past the end of the logits.
plant='import torch; from igkernels.backends import cpu; o = cpu._load()
x = torch.zeros(2, 8); i64 = lambda *v: torch.tensor(v, dtype=torch.int64)
o.softmax_entropy(x, i64(0), i64(4096), i64(0), i64(0), 0, 0, 0.0, 0)'
report=$("$PY" -c "$plant" 2>&1) && planted=survived || planted=aborted
if [ "$planted" = survived ] || ! grep -q "heap-buffer-overflow" <<<"$report"; then
  echo "sanitize: a planted out-of-bounds read was not reported" >&2; tail -5 <<<"$report" >&2; exit 1
fi
echo "sanitize: a planted out-of-bounds read is reported"
"$PY" -m pytest "$root/tests/ops" -q -p no:cacheprovider --rootdir "$root" -k "cpu-cpu or not cpu-" "$@"
