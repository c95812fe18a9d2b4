// Philox4x32-10 and the Gumbel noise built on it, bit for bit as igkernels/philox.py
// documents (the layout every backend shares):
//
//   key     = (seed & 0xFFFFFFFF, seed >> 32)
//   counter = (col >> 2, row, stream | domain << 24, offset)
//   word    = philox4x32_10(key, counter)[col & 3]
//   u       = ((word >> 9) + 0.5) * 2^-23        exact in fp32
//   gumbel  = -log(-log(u))                       in fp32
//
// Header-only so that the CUDA kernels can include it too.
#pragma once

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define IGK_HOST_DEVICE __host__ __device__
#elif defined(__GNUC__)
// The CPU kernels compile this header into one translation unit per instruction set;
// forcing inlining keeps the linker from sharing an AVX-512 copy with the baseline one.
#define IGK_HOST_DEVICE __attribute__((always_inline))
#else
#define IGK_HOST_DEVICE
#endif

namespace igk {

constexpr uint32_t kTokenDomain = 0;
constexpr uint32_t kPositionDomain = 1;

constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;

// The four output words of Philox4x32-10 for key (k0, k1) and counter c; written to out.
IGK_HOST_DEVICE inline void philox4x32_10(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1,
                                          uint32_t c2, uint32_t c3, uint32_t out[4]) {
    for (int r = 0; r < 10; ++r) {
        const uint64_t p0 = (uint64_t)kPhiloxM0 * c0;
        const uint64_t p1 = (uint64_t)kPhiloxM1 * c2;
        const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += kPhiloxW0;
        k1 += kPhiloxW1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

// u in [2^-24, 1 - 2^-24], exact: (word >> 9) + 0.5 needs 24 significant bits, so g is finite.
// The SIMD kernels vectorise this formula with these two constants.
constexpr int kUniformShift = 9;
constexpr float kUniformScale = 1.1920928955078125e-07f;  // 2^-23

IGK_HOST_DEVICE inline float philox_uniform(uint32_t word) {
    return ((float)(word >> kUniformShift) + 0.5f) * kUniformScale;
}

IGK_HOST_DEVICE inline float gumbel_from_word(uint32_t word) {
    return -logf(-logf(philox_uniform(word)));
}

}  // namespace igk
