// One-lane SIMD traits for row_stats_kernel.h: plain C++ for any CPU.
#pragma once

#include <math.h>
#include <stdint.h>

#include "philox.h"

struct Scalar {
    static constexpr int W = 1;
    using F = float;
    using Idx = int32_t;
    using M = bool;

    static F set1(float x) { return x; }
    static F load(const float* p) { return *p; }
    static void store(float* p, F v) { *p = v; }
    static void store_idx(int32_t* p, Idx v) { *p = v; }
    static F from_f32(const float* p) { return *p; }
    static F from_f16(const uint16_t* p) { return igk::half_to_float(*p); }
    static F from_bf16(const uint16_t* p) { return igk::bf16_to_float(*p); }
    static F add(F a, F b) { return a + b; }
    static F sub(F a, F b) { return a - b; }
    static F mul(F a, F b) { return a * b; }
    static F fmadd(F a, F b, F c) { return a * b + c; }
    static F max(F a, F b) { return a > b ? a : b; }
    static F exp_clamped(F x) { return expf(x); }
    static M gt(F a, F b) { return a > b; }
    static M eq(F a, F b) { return a == b; }
    static M bad(F f) { return !(f < INFINITY); }
    static F blend(M m, F a, F b) { return m ? b : a; }
    static Idx blend_idx(M m, Idx a, Idx b) { return m ? b : a; }
    static Idx iota(int32_t base) { return base; }
    static Idx add_idx(Idx a, int32_t n) { return a + n; }
    static M mask_none() { return false; }
    static M mask_or(M a, M b) { return a || b; }
    static bool any(M m) { return m; }
    static bool any_gt(F v, float x) { return v > x; }
    static int first(M) { return 0; }
    static float hmax(F v) { return v; }
    static F keep_first(F v, int count) { return count > 0 ? v : -INFINITY; }

    static void gumbel_block(uint32_t k0, uint32_t k1, uint32_t group0, uint32_t c1, uint32_t c2,
                             uint32_t c3, F g[4]) {
        uint32_t w[4];
        igk::philox4x32_10(k0, k1, group0, c1, c2, c3, w);
        for (int k = 0; k < 4; ++k) g[k] = igk::gumbel_from_word(w[k]);
    }
};
