// 8-lane AVX2 + FMA + F16C traits for row_stats_kernel.h, for x86-64 CPUs without
// AVX-512. Only compiled into row_stats_avx2.cpp, which is built with those instruction
// sets enabled and runs only when the CPU reports them. Masks are all-ones float lanes.
#pragma once

#include <immintrin.h>
#include <stdint.h>

#include "cephes.h"
#include "simd_philox.h"

struct Avx2 {
    static constexpr int W = 8;
    using F = __m256;
    using Idx = __m256i;
    using M = __m256;

    static F set1(float x) { return _mm256_set1_ps(x); }
    static F load(const float* p) { return _mm256_load_ps(p); }
    static void store(float* p, F v) { _mm256_store_ps(p, v); }
    static void store_idx(int32_t* p, Idx v) { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }
    static F from_f32(const float* p) { return _mm256_loadu_ps(p); }
    static F from_f16(const uint16_t* p) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    }
    static F from_bf16(const uint16_t* p) {
        const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
    }
    static F add(F a, F b) { return _mm256_add_ps(a, b); }
    static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
    static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
    static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
    static F fnmadd(F a, F b, F c) { return _mm256_fnmadd_ps(a, b, c); }
    static F round(F a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static F max(F a, F b) { return _mm256_max_ps(a, b); }
    static M gt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
    static M eq(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
    // NaN or +inf: "not less than +inf", unordered counting as true.
    static M bad(F f) { return _mm256_cmp_ps(f, _mm256_set1_ps(INFINITY), _CMP_NLT_UQ); }
    static F blend(M m, F a, F b) { return _mm256_blendv_ps(a, b, m); }
    static Idx blend_idx(M m, Idx a, Idx b) {
        return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), m));
    }
    static Idx iota(int32_t base) {
        return _mm256_add_epi32(_mm256_set1_epi32(base), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    static Idx add_idx(Idx a, int32_t n) { return _mm256_add_epi32(a, _mm256_set1_epi32(n)); }
    static Idx set1_idx(uint32_t x) { return _mm256_set1_epi32((int)x); }
    static Idx xor_idx(Idx a, Idx b) { return _mm256_xor_si256(a, b); }
    static Idx srli_idx(Idx a, int n) { return _mm256_srli_epi32(a, n); }
    static F to_float(Idx a) { return _mm256_cvtepi32_ps(a); }
    static M mask_none() { return _mm256_setzero_ps(); }
    static M mask_or(M a, M b) { return _mm256_or_ps(a, b); }
    static bool any(M m) { return _mm256_movemask_ps(m) != 0; }
    static bool any_gt(F v, float x) { return any(gt(v, _mm256_set1_ps(x))); }
    static int first(M m) { return __builtin_ctz((unsigned)_mm256_movemask_ps(m)); }
    static float hmax(F v) {
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
        return _mm_cvtss_f32(h);
    }
    static F keep_first(F v, int count) {
        if (count >= W) return v;
        const M keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(count), iota(0)));
        return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), v, keep);
    }
    // exp(x) for x in [-110, 0] (cephes.h). 2^n is built in the exponent field, valid for
    // n >= -126, so results below exp(-87.3) (subnormal) are flushed to 0, which the sums
    // cannot notice next to the row maximum's 1.
    static F exp_clamped(F x) {
        const M tiny = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_LT_OQ);
        F n;
        const F y = igk::cephes::exp_mantissa<Avx2>(x, n);
        const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
        return _mm256_andnot_ps(tiny, _mm256_mul_ps(y, _mm256_castsi256_ps(bits)));
    }

    // log(x) for a normal x > 0 (all the Gumbel transform meets; cephes.h), the exponent and
    // mantissa taken from the bits.
    static F log(F x) {
        const __m256i xi = _mm256_castps_si256(x);
        F e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(xi, 23), _mm256_set1_epi32(127)));
        F mant = _mm256_castsi256_ps(
            _mm256_or_si256(_mm256_and_si256(xi, _mm256_set1_epi32(0x007FFFFF)), _mm256_set1_epi32(0x3F800000)));
        const M big = _mm256_cmp_ps(mant, _mm256_set1_ps(igk::cephes::kSqrt2), _CMP_GT_OQ);
        mant = _mm256_blendv_ps(mant, _mm256_mul_ps(mant, _mm256_set1_ps(0.5f)), big);
        e = _mm256_add_ps(e, _mm256_and_ps(big, _mm256_set1_ps(1.0f)));
        return igk::cephes::log_from_parts<Avx2>(e, mant);
    }

    // hi:lo of a * b per 32-bit lane, as in simd_avx512.h.
    static void mulhilo(__m256i a, __m256i b, __m256i& hi, __m256i& lo) {
        const __m256i pe = _mm256_mul_epu32(a, b);
        const __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), b);
        hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
        lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
    }

    // Lane i runs Philox on group group0 + i (columns 4(group0 + i) + j in word j); a 4x4
    // transpose within 128-bit lanes, then pairing 128-bit lanes, gives column order:
    // g[k] = columns 4 group0 + 8k .. + 7.
    static void gumbel_block(uint32_t k0, uint32_t k1, uint32_t group0, uint32_t c1, uint32_t c2,
                             uint32_t c3, F g[4]) {
        Idx x0 = iota((int32_t)group0), x1 = set1_idx(c1), x2 = set1_idx(c2), x3 = set1_idx(c3);
        igk::simd::philox4x32_10<Avx2>(k0, k1, x0, x1, x2, x3);
        const __m256i t0 = _mm256_unpacklo_epi32(x0, x1), t1 = _mm256_unpackhi_epi32(x0, x1);
        const __m256i t2 = _mm256_unpacklo_epi32(x2, x3), t3 = _mm256_unpackhi_epi32(x2, x3);
        const __m256i r0 = _mm256_unpacklo_epi64(t0, t2), r1 = _mm256_unpackhi_epi64(t0, t2);
        const __m256i r2 = _mm256_unpacklo_epi64(t1, t3), r3 = _mm256_unpackhi_epi64(t1, t3);
        const __m256i w[4] = {_mm256_permute2x128_si256(r0, r1, 0x20), _mm256_permute2x128_si256(r2, r3, 0x20),
                              _mm256_permute2x128_si256(r0, r1, 0x31), _mm256_permute2x128_si256(r2, r3, 0x31)};
        for (int k = 0; k < 4; ++k) g[k] = igk::simd::gumbel_from_words<Avx2>(w[k]);
    }
};
