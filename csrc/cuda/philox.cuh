// Philox4x32-10 and the Gumbel noise of igkernels/philox.py, bit for bit, for device code.
//
// Layout (see igkernels/philox.py):
//   key     = (seed & 0xFFFFFFFF, seed >> 32)
//   counter = (col >> 2, row, stream | domain << 24, offset)
//   word    = philox4x32_10(key, counter)[col & 3]
//   u       = fp32(fp32(word >> 8) + 0.5) * 2^-24
//   gumbel  = -log(-log(u))                       in fp32
// The reference rounds fp32(word >> 8) + 0.5 to even, so word >> 8 == 0xFFFFFF gives u == 1
// and g == +inf; gumbel_from_word reproduces that (kGumbelInfTop names it).
#pragma once
#include <cstdint>

namespace igk {

constexpr uint32_t kPhiloxM0 = 0xD2511F53u, kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u, kPhiloxW1 = 0xBB67AE85u;
constexpr uint32_t kTokenDomain = 0u, kPositionDomain = 1u;
// The one value of word >> 8 whose u rounds to exactly 1 (g = +inf).
constexpr uint32_t kGumbelInfTop = 0xFFFFFFu;
// Upper bound on every finite g: word >> 8 == 0xFFFFFE gives u = 1 - 2^-23, g = 15.9424.
constexpr float kGumbelFiniteMax = 16.0f;

struct Words4 { uint32_t w[4]; };

__device__ __forceinline__ Words4 philox4x32_10(uint64_t key, uint32_t c0, uint32_t c1, uint32_t c2,
                                                uint32_t c3) {
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
#pragma unroll
  for (int r = 0; r < 10; ++r) {
    const uint32_t hi0 = __umulhi(kPhiloxM0, c0), lo0 = kPhiloxM0 * c0;
    const uint32_t hi1 = __umulhi(kPhiloxM1, c2), lo1 = kPhiloxM1 * c2;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  return Words4{{c0, c1, c2, c3}};
}

// One word of column `col`: the Philox call shared by columns 4*(col>>2) .. +3.
__device__ __forceinline__ uint32_t select_word(const Words4& w, uint32_t lane) {
  // A select chain rather than w.w[lane]: a run-time index would push the array to local memory.
  return lane == 0 ? w.w[0] : lane == 1 ? w.w[1] : lane == 2 ? w.w[2] : w.w[3];
}

__device__ __forceinline__ float gumbel_from_word(uint32_t word) {
  const float u = __fmul_rn(__fadd_rn(static_cast<float>(word >> 8), 0.5f), 0x1p-24f);
  return -logf(-logf(u));
}

}  // namespace igk
