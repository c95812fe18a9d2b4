// K2: per sequence, the mean entropy over its masked positions.
#pragma once

#include <stdint.h>

#include "row_stats.h"

namespace igk {

// logits [B, T, V] with element strides (stride_b, stride_t, 1); mask [B, T] bytes
// (row-major, nonzero = masked). out [B]: mean entropy over masked rows, 0 where none.
// Returns the lowest flattened row b * T + t that is masked and holds NaN / +inf or is
// entirely -inf, or -1.
int64_t state_uncertainty(const void* logits, Dtype dtype, int64_t B, int64_t T, int64_t V,
                          int64_t stride_b, int64_t stride_t, const uint8_t* mask, float* out,
                          int num_threads);

}  // namespace igk
