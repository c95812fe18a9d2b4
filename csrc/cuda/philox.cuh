// Philox4x32-10 for the CUDA kernels: the layout of igkernels/backends/philox.py, from the header
// the CPU backend shares (csrc/common/philox.h), plus what the kernels add. Token draws take one
// uniform per draw (philox_uniform); K3's position draws take Gumbel noise (gumbel_from_word).
#pragma once
#include <cstdint>

#include "philox.h"

namespace igk {

struct Words4 { uint32_t w[4]; };

__device__ __forceinline__ Words4 philox4x32_10(uint64_t key, uint32_t c0, uint32_t c1, uint32_t c2,
                                                uint32_t c3) {
  Words4 r;
  philox4x32_10(static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32), c0, c1, c2, c3, r.w);
  return r;
}

// Word `lane` of a Philox call: a select chain, since a run-time index would push the array to
// local memory.
__device__ __forceinline__ uint32_t select_word(const Words4& w, uint32_t lane) {
  return lane == 0 ? w.w[0] : lane == 1 ? w.w[1] : lane == 2 ? w.w[2] : w.w[3];
}

}  // namespace igk
