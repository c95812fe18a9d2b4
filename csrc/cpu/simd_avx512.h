// 16-lane AVX-512 (F, BW, DQ, VL) traits for row_stats_kernel.h. Only compiled into
// row_stats_avx512.cpp, which is built with those instruction sets enabled and runs only
// when the CPU reports them.
#pragma once

#include <immintrin.h>
#include <stdint.h>

#include "simd_exp.h"

struct Avx512 {
    static constexpr int W = 16;
    using F = __m512;
    using Idx = __m512i;
    using M = __mmask16;
    struct Wide {
        __m512d lo, hi;       // lanes 0-7, 8-15
    };

    static F set1(float x) { return _mm512_set1_ps(x); }
    static F load(const float* p) { return _mm512_load_ps(p); }
    static void store(float* p, F v) { _mm512_store_ps(p, v); }
    static void store_idx(int32_t* p, Idx v) { _mm512_store_si512(p, v); }
    static F from_f32(const float* p) { return _mm512_loadu_ps(p); }
    static F from_f16(const uint16_t* p) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    }
    static F from_bf16(const uint16_t* p) {
        const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
        return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
    }
    // 2W bf16 values: f[0] the even ones, f[1] the odd ones. A bf16 is the high half of its
    // fp32, so this is a shift and a mask, where from_bf16's widening is a lane shuffle.
    static void from_bf16_pairs(const uint16_t* p, F* f) {
        const __m512i w = _mm512_loadu_si512(p);
        f[0] = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
        f[1] = _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32((int)0xFFFF0000u)));
    }
    static F add(F a, F b) { return _mm512_add_ps(a, b); }
    static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
    static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
    static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
    static F fmsub(F a, F b, F c) { return _mm512_fmsub_ps(a, b, c); }
    static F max(F a, F b) { return _mm512_max_ps(a, b); }
    static M gt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
    static F blend(M m, F a, F b) { return _mm512_mask_blend_ps(m, a, b); }
    static Idx blend_idx(M m, Idx a, Idx b) { return _mm512_mask_blend_epi32(m, a, b); }
    static Idx iota(int32_t base, int32_t step) {
        const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        return _mm512_add_epi32(_mm512_set1_epi32(base), _mm512_mullo_epi32(_mm512_set1_epi32(step), lane));
    }
    static Idx add_idx(Idx a, int32_t n) { return _mm512_add_epi32(a, _mm512_set1_epi32(n)); }
    static Wide wide_zero() { return Wide{_mm512_setzero_pd(), _mm512_setzero_pd()}; }
    static void widen_add(Wide& acc, F x) {
        acc.lo = _mm512_add_pd(acc.lo, _mm512_cvtps_pd(_mm512_castps512_ps256(x)));
        acc.hi = _mm512_add_pd(acc.hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1)));
    }
    // acc += c * x, x widened to double.
    static void widen_fma(Wide& acc, const Wide& c, F x) {
        acc.lo = _mm512_fmadd_pd(c.lo, _mm512_cvtps_pd(_mm512_castps512_ps256(x)), acc.lo);
        acc.hi = _mm512_fmadd_pd(c.hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1)), acc.hi);
    }
    static double wide_sum(const Wide& acc) { return _mm512_reduce_add_pd(_mm512_add_pd(acc.lo, acc.hi)); }
    static float max_lane(F x) { return _mm512_reduce_max_ps(x); }
    static uint32_t bits(M m) { return m; }
    // 2^(j/16) for j in each lane's low 4 bits.
    static F lookup(const float* table, F sum) {
        return _mm512_permutexvar_ps(_mm512_castps_si512(sum), _mm512_load_ps(table));
    }
    // y 2^floor(n) (scalef floors its exponent), which underflows to exactly 0 below about 2^-149.
    // One instruction, on the FP multiply-add units: the scaling by integer adds (as in AVX2)
    // takes three, and the pass is bound by the instructions of all four FP pipes together.
    static F scale(F y, F n) { return _mm512_scalef_ps(y, n); }
    static F exp_clamped(F x) { return igk::simd_exp::exp<Avx512>(x); }
    static F exp_times(F x, const igk::simd_exp::Factor& k) {
        return igk::simd_exp::exp2_product<Avx512>(x, set1(k.hi), set1(k.lo));
    }
};
