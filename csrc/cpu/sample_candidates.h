// K3: N top-k candidate position sets per sequence, candidate 0 noiseless.
#pragma once

#include <stdint.h>

namespace igk {

// confidence: element (b, c, t) at conf[b * stride_b + c * stride_c + t * stride_t]
// (stride_c may be 0); valid [B, T] bytes row-major; keys / ctr [B]; seq_k [B] or null:
// sequence b keeps its top-seq_k[b] set (values in [0, k]).
// positions [B, N, k] (ascending, -1 padding last), unique [B, N] bytes (0 / 1).
void sample_candidates(const float* conf, int64_t stride_b, int64_t stride_c, int64_t stride_t,
                       const uint8_t* valid, int64_t B, int64_t N, int64_t T, int64_t k, const int64_t* seq_k,
                       float tau, const int64_t* keys, const int64_t* ctr, uint32_t offset, int64_t* positions,
                       uint8_t* unique, int num_threads);

}  // namespace igk
