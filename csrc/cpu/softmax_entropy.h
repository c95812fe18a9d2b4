// K1: softmax statistics and inverse-transform draws of selected rows, one read per row
// (and one chunk re-read per draw).
#pragma once

#include <stdint.h>

#include "row_stats.h"

namespace igk {

// logits: base pointer; row i starts at element offsets[i] (offsets null: i * row_stride) and
// has V contiguous values. keys / ctr: per-row Philox key and counter row, read only when
// S > 0 and temperature > 0; keys null: every row's key is `key`; ctr null: i when keys is
// null, else 0. Outputs are [R] (samples, sample_prob: [R, S] row-major).
// Returns the lowest i whose row holds NaN / +inf or is entirely -inf, or -1.
int64_t softmax_entropy(const void* logits, Dtype dtype, int64_t V, int64_t R, const int64_t* offsets,
                        int64_t row_stride, const int64_t* keys, int64_t key, const int64_t* ctr, int64_t S,
                        double temperature, uint32_t offset, const RowOutputs& out, int num_threads);

}  // namespace igk
