// 16-lane AVX-512 (F, BW, DQ, VL) traits for row_stats_kernel.h. Only compiled into
// row_stats_avx512.cpp, which is built with those instruction sets enabled and runs only
// when the CPU reports them.
#pragma once

#include <immintrin.h>
#include <stdint.h>

#include "cephes.h"
#include "simd_philox.h"

struct Avx512 {
    static constexpr int W = 16;
    using F = __m512;
    using Idx = __m512i;
    using M = __mmask16;

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
    static F add(F a, F b) { return _mm512_add_ps(a, b); }
    static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
    static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
    static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
    static F fnmadd(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }
    static F round(F a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static F max(F a, F b) { return _mm512_max_ps(a, b); }
    static M gt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
    static M eq(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
    // NaN or +inf: "not less than +inf", unordered counting as true.
    static M bad(F f) { return _mm512_cmp_ps_mask(f, _mm512_set1_ps(INFINITY), _CMP_NLT_UQ); }
    static F blend(M m, F a, F b) { return _mm512_mask_blend_ps(m, a, b); }
    static Idx blend_idx(M m, Idx a, Idx b) { return _mm512_mask_blend_epi32(m, a, b); }
    static Idx iota(int32_t base) {
        return _mm512_add_epi32(_mm512_set1_epi32(base),
                                _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    }
    static Idx add_idx(Idx a, int32_t n) { return _mm512_add_epi32(a, _mm512_set1_epi32(n)); }
    static Idx set1_idx(uint32_t x) { return _mm512_set1_epi32((int)x); }
    static Idx xor_idx(Idx a, Idx b) { return _mm512_xor_si512(a, b); }
    static Idx srli_idx(Idx a, int n) { return _mm512_srli_epi32(a, n); }
    static F to_float(Idx a) { return _mm512_cvtepi32_ps(a); }
    static M mask_none() { return 0; }
    static M mask_or(M a, M b) { return a | b; }
    static bool any(M m) { return m != 0; }
    static bool any_gt(F v, float x) { return _mm512_cmp_ps_mask(v, _mm512_set1_ps(x), _CMP_GT_OQ) != 0; }
    static int first(M m) { return __builtin_ctz((unsigned)m); }
    static float hmax(F v) { return _mm512_reduce_max_ps(v); }
    static F keep_first(F v, int count) {
        if (count >= W) return v;
        const M keep = count <= 0 ? 0 : (M)((1u << count) - 1u);
        return _mm512_mask_blend_ps(keep, _mm512_set1_ps(-INFINITY), v);
    }
    // exp(x) for x in [-110, 0] (cephes.h), 2^n by scalef, which underflows to exactly 0
    // below about -103.9.
    static F exp_clamped(F x) {
        F n;
        const F y = igk::cephes::exp_mantissa<Avx512>(x, n);
        return _mm512_scalef_ps(y, n);
    }

    // log(x) (cephes.h), only ever called on x in [2^-24, 16.7] (the Gumbel transform):
    // normal, positive.
    static F log(F x) {
        F e = _mm512_getexp_ps(x);
        F mant = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
        const M big = _mm512_cmp_ps_mask(mant, _mm512_set1_ps(igk::cephes::kSqrt2), _CMP_GT_OQ);
        mant = _mm512_mask_mul_ps(mant, big, mant, _mm512_set1_ps(0.5f));
        e = _mm512_mask_add_ps(e, big, e, _mm512_set1_ps(1.0f));
        return igk::cephes::log_from_parts<Avx512>(e, mant);
    }

    // hi:lo of a * b per 32-bit lane: even lanes from one 32x32->64 multiply, odd lanes
    // (shifted down) from another.
    static void mulhilo(__m512i a, __m512i b, __m512i& hi, __m512i& lo) {
        const __m512i pe = _mm512_mul_epu32(a, b);
        const __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), b);
        hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe, 32), po);
        lo = _mm512_mask_blend_epi32(0xAAAA, pe, _mm512_slli_epi64(po, 32));
    }

    // Lane i runs Philox on group group0 + i, i.e. columns 4(group0 + i) + j in word j.
    // A 4x4 transpose of 32-bit words within 128-bit lanes, then of 128-bit lanes, puts
    // the 64 words in column order: g[k] = columns 4 group0 + 16k .. + 15.
    static void gumbel_block(uint32_t k0, uint32_t k1, uint32_t group0, uint32_t c1, uint32_t c2,
                             uint32_t c3, F g[4]) {
        Idx x0 = iota((int32_t)group0), x1 = set1_idx(c1), x2 = set1_idx(c2), x3 = set1_idx(c3);
        igk::simd::philox4x32_10<Avx512>(k0, k1, x0, x1, x2, x3);
        const __m512i t0 = _mm512_unpacklo_epi32(x0, x1), t1 = _mm512_unpackhi_epi32(x0, x1);
        const __m512i t2 = _mm512_unpacklo_epi32(x2, x3), t3 = _mm512_unpackhi_epi32(x2, x3);
        const __m512i r0 = _mm512_unpacklo_epi64(t0, t2), r1 = _mm512_unpackhi_epi64(t0, t2);
        const __m512i r2 = _mm512_unpacklo_epi64(t1, t3), r3 = _mm512_unpackhi_epi64(t1, t3);
        const __m512i u0 = _mm512_shuffle_i32x4(r0, r1, 0x44), u1 = _mm512_shuffle_i32x4(r2, r3, 0x44);
        const __m512i u2 = _mm512_shuffle_i32x4(r0, r1, 0xEE), u3 = _mm512_shuffle_i32x4(r2, r3, 0xEE);
        const __m512i w[4] = {_mm512_shuffle_i32x4(u0, u1, 0x88), _mm512_shuffle_i32x4(u0, u1, 0xDD),
                              _mm512_shuffle_i32x4(u2, u3, 0x88), _mm512_shuffle_i32x4(u2, u3, 0xDD)};
        for (int k = 0; k < 4; ++k) g[k] = igk::simd::gumbel_from_words<Avx512>(w[k]);
    }
};
