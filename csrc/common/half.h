// Scalar fp16 / bf16 to fp32 conversions, portable (no F16C needed).
#pragma once

#include <stdint.h>
#include <string.h>

namespace igk {

inline float bits_to_float(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

// bf16 is the top half of an fp32.
inline float bf16_to_float(uint16_t h) { return bits_to_float((uint32_t)h << 16); }

// IEEE binary16 to binary32, exact for every input (subnormals, inf, NaN included).
inline float half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;
    if (exp == 0x1F) return bits_to_float(sign | 0x7F800000u | (mant << 13));
    if (exp != 0) return bits_to_float(sign | ((exp + 112u) << 23) | (mant << 13));
    if (mant == 0) return bits_to_float(sign);
    // Subnormal: value = mant * 2^-24, exact in fp32.
    const float v = (float)mant * 5.9604644775390625e-08f;
    return sign ? -v : v;
}

}  // namespace igk
