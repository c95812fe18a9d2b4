// DTYPE_CODES of both extension modules: the igk::Dtype codes by torch dtype name, so that
// Python reads them from the extension instead of writing them again.
#pragma once
#include <pybind11/pybind11.h>

#include "dtype.h"

inline pybind11::dict dtype_codes() {
    using namespace pybind11::literals;
    return pybind11::dict("float32"_a = static_cast<int>(igk::Dtype::F32),
                          "float16"_a = static_cast<int>(igk::Dtype::F16),
                          "bfloat16"_a = static_cast<int>(igk::Dtype::BF16));
}
