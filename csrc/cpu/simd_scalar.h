// One-lane SIMD traits for row_stats_kernel.h: plain C++ for any CPU.
#pragma once

#include <math.h>
#include <stdint.h>

#include "half.h"
#include "simd_exp.h"

struct Scalar {
    static constexpr int W = 1;
    using F = float;
    using Idx = int32_t;
    using M = bool;
    using Wide = double;

    static F set1(float x) { return x; }
    static F load(const float* p) { return *p; }
    static void store(float* p, F v) { *p = v; }
    static void store_idx(int32_t* p, Idx v) { *p = v; }
    static F from_f32(const float* p) { return *p; }
    static F from_f16(const uint16_t* p) { return igk::half_to_float(*p); }
    static F from_bf16(const uint16_t* p) { return igk::bf16_to_float(*p); }
    static void from_bf16_pairs(const uint16_t* p, F* f) {
        f[0] = igk::bf16_to_float(p[0]);
        f[1] = igk::bf16_to_float(p[1]);
    }
    static F add(F a, F b) { return a + b; }
    static F sub(F a, F b) { return a - b; }
    static F mul(F a, F b) { return a * b; }
    static F fmadd(F a, F b, F c) { return a * b + c; }
    static F max(F a, F b) { return a > b ? a : b; }
    static F exp_clamped(F x) { return expf(x); }
    static F exp_times(F x, const igk::simd_exp::Factor& k) { return expf(x * k.beta); }
    static Wide wide_zero() { return 0.0; }
    static void widen_add(Wide& acc, F x) { acc += x; }
    static void widen_fma(Wide& acc, Wide c, F x) { acc += c * x; }
    static double wide_sum(Wide acc) { return acc; }
    static float max_lane(F x) { return x; }
    static M gt(F a, F b) { return a > b; }
    static F blend(M m, F a, F b) { return m ? b : a; }
    static Idx blend_idx(M m, Idx a, Idx b) { return m ? b : a; }
    static Idx iota(int32_t base, int32_t) { return base; }
    static Idx add_idx(Idx a, int32_t n) { return a + n; }
    static uint32_t bits(M m) { return m ? 1u : 0u; }
};
