// Logit dtype codes, one table for the CPU and CUDA kernels and both extension modules, which
// publish them to Python as DTYPE_CODES (python/dtype_codes.h).
#pragma once

#include <stdexcept>
#include <string>

namespace igk {

enum class Dtype : int { F32 = 0, F16 = 1, BF16 = 2 };

constexpr int dtype_size(Dtype d) { return d == Dtype::F32 ? 4 : 2; }

// The Dtype of `code`; an unknown code throws std::invalid_argument, its message prefixed by `who`.
inline Dtype to_dtype(int code, const char* who) {
    if (code < static_cast<int>(Dtype::F32) || code > static_cast<int>(Dtype::BF16))
        throw std::invalid_argument(std::string(who) + ": unknown dtype code " + std::to_string(code));
    return static_cast<Dtype>(code);
}

}  // namespace igk
