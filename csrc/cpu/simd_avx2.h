// 8-lane AVX2 + FMA + F16C traits for row_stats_kernel.h, for x86-64 CPUs without
// AVX-512. Only compiled into row_stats_avx2.cpp, which is built with those instruction
// sets enabled and runs only when the CPU reports them. Masks are all-ones float lanes.
#pragma once

#include <immintrin.h>
#include <stdint.h>

#include "simd_exp.h"

struct Avx2 {
    static constexpr int W = 8;
    using F = __m256;
    using Idx = __m256i;
    using M = __m256;
    struct Wide {
        __m256d lo, hi;       // lanes 0-3, 4-7
    };

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
    // 2W bf16 values: f[0] the even ones, f[1] the odd ones (a shift and a mask, no shuffle).
    static void from_bf16_pairs(const uint16_t* p, F* f) {
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        f[0] = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
        f[1] = _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32((int)0xFFFF0000u)));
    }
    static F add(F a, F b) { return _mm256_add_ps(a, b); }
    static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
    static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
    static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
    static F fmsub(F a, F b, F c) { return _mm256_fmsub_ps(a, b, c); }
    static F max(F a, F b) { return _mm256_max_ps(a, b); }
    static M gt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
    static F blend(M m, F a, F b) { return _mm256_blendv_ps(a, b, m); }
    static Idx blend_idx(M m, Idx a, Idx b) {
        return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), m));
    }
    static Idx iota(int32_t base, int32_t step) {
        return _mm256_add_epi32(_mm256_set1_epi32(base),
                                _mm256_mullo_epi32(_mm256_set1_epi32(step), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
    }
    static Idx add_idx(Idx a, int32_t n) { return _mm256_add_epi32(a, _mm256_set1_epi32(n)); }
    static Wide wide_zero() { return Wide{_mm256_setzero_pd(), _mm256_setzero_pd()}; }
    static void widen_add(Wide& acc, F x) {
        acc.lo = _mm256_add_pd(acc.lo, _mm256_cvtps_pd(_mm256_castps256_ps128(x)));
        acc.hi = _mm256_add_pd(acc.hi, _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)));
    }
    // acc += c * x, x widened to double.
    static void widen_fma(Wide& acc, const Wide& c, F x) {
        acc.lo = _mm256_fmadd_pd(c.lo, _mm256_cvtps_pd(_mm256_castps256_ps128(x)), acc.lo);
        acc.hi = _mm256_fmadd_pd(c.hi, _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), acc.hi);
    }
    static double wide_sum(const Wide& acc) {
        const __m256d s = _mm256_add_pd(acc.lo, acc.hi);
        const __m128d v = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
        return _mm_cvtsd_f64(_mm_add_sd(v, _mm_unpackhi_pd(v, v)));
    }
    static float max_lane(F x) {
        __m128 v = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
        v = _mm_max_ps(v, _mm_movehl_ps(v, v));
        return _mm_cvtss_f32(_mm_max_ss(v, _mm_movehdup_ps(v)));
    }
    static uint32_t bits(M m) { return (uint32_t)_mm256_movemask_ps(m); }
    // 2^(j/8) 2^q for n = q + j/8 held by sum = n + 1.5 * 2^20, whose bits less those of
    // 1.5 * 2^20 are 8n: the entry is looked up by j (the low 3 bits) and 8n << 20 is added to
    // its bits, which puts q in the exponent field and j << 20 below it, where the entries have
    // it taken off. An integer add instead of a multiply by 2^q: one FMA-unit operation fewer
    // (0.93x the pass). Valid for q >= -126 (scale clears the rest).
    static F lookup(const float* table, F sum) {
        const __m256i j20 = _mm256_setr_epi32(0, 1 << 20, 2 << 20, 3 << 20, 4 << 20, 5 << 20, 6 << 20, 7 << 20);
        const __m256i entries = _mm256_sub_epi32(_mm256_castps_si256(_mm256_load_ps(table)), j20);
        const __m256i t = _mm256_permutevar8x32_epi32(entries, _mm256_castps_si256(sum));
        return _mm256_castsi256_ps(_mm256_add_epi32(t, _mm256_slli_epi32(_mm256_castps_si256(sum), 20)));
    }
    // y, already scaled by lookup, set to +0 where floor(n) < -126: there 2^q is subnormal and
    // its exponent field wrapped. Results under exp(-87.3) are flushed to 0, which the sums
    // cannot notice next to the row maximum's 1, and kMinExp gives exactly 0. NaN stays NaN.
    static F scale(F y, F n) { return _mm256_and_ps(y, _mm256_cmp_ps(n, _mm256_set1_ps(-126.0f), _CMP_NLT_UQ)); }
    static F exp_clamped(F x) { return igk::simd_exp::exp<Avx2>(x); }
    static F exp_times(F x, const igk::simd_exp::Factor& k) {
        return igk::simd_exp::exp2_product<Avx2>(x, set1(k.hi), set1(k.lo));
    }
};
