// expf for SIMD, written once over a SIMD traits type X (simd_avx2.h, simd_avx512.h) with
// W lanes: X supplies set1, sub, mul, fmadd (a * b + c), fmsub (a * b - c), and
// lookup(table, sum), the W-entry table indexed by the low bits of each lane of sum, and
// scale(y, n), y * 2^floor(n); each instruction set does those its own way (AVX2 puts
// 2^floor(n) into the looked-up entry, so that its scale only flushes what underflows).
//
// exp(x) = 2^q 2^(j/W) 2^s with x log2 e = q + j/W + s: x log2 e is rounded to a multiple
// n = q + j/W of 1/W by adding 1.5 * 2^(23 - log2 W) (the sum's low mantissa bits then hold
// j), s = x log2 e - n in [-1/(2W), 1/(2W)] is formed by FMAs (the product is not rounded
// before the subtraction; log2 e in two parts, so s stays accurate at large |x|), 2^(j/W) is
// one lane permute of a W-entry table, and 2^s a cubic (minimax in relative error: 1.8e-9 at
// W = 16, 3.0e-8 at W = 8), added to the table entry last. exp(x beta) is the same with
// beta log2 e in two parts (exp2_product). Max error on [-87, 0] against libm (every 7th
// float): 0.99 ulp (W = 16), 1.17 ulp (W = 8; 1.34 below -86, where AVX2's scaled table
// entry times s is subnormal); the same for exp(x beta) against exp((double)x * beta), to
// 0.03 ulp (benchmarks/exp_accuracy.cpp).
// Why this form: the statistics' pass is bound by the FP pipes. On Zen 4 they retire one
// 512-bit multiply-add-unit instruction and two 512-bit FP instructions of any kind a cycle
// (benchmarks/fp_pipes.cpp), and each multiply-add-unit operation taken out of the
// exp made the pass 4-7% faster. This exp takes 8 of them (AVX2: 7, its scaling an integer
// add) where a degree-6 polynomial on [-1/2, 1/2] took 11-12. AVX-512's scaling by integer
// adds instead of vscalefps (three instructions for one, off the multiply-add units) timed
// the same, and AVX2's flush by an integer max instead of compare-and 1.08x: not kept.
// Dropping log2 e's second part saves one more, but its error grows with |x| (20 ulp at -87)
// in one direction, which moved ~30% more draws off the reference's.
#pragma once

namespace igk {
namespace simd_exp {

constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLog2eLo = 1.925963e-08f;  // log2 e - kLog2e

// 2^(j/W) and the cubic's coefficients for W-lane traits.
template <int W>
struct Consts;

template <>
struct Consts<8> {
    static constexpr float kMagic = 1572864.0f;  // 1.5 * 2^20
    static constexpr float c1 = 0.693147182f, c2 = 0.240257487f, c3 = 0.0555216298f;
    alignas(64) static constexpr float table[8] = {1.0f,        1.09050775f, 1.18920708f, 1.29683959f,
                                                   1.41421354f, 1.54221082f, 1.68179286f, 1.8340081f};
};

template <>
struct Consts<16> {
    static constexpr float kMagic = 786432.0f;   // 1.5 * 2^19
    static constexpr float c1 = 0.693147182f, c2 = 0.240234196f, c3 = 0.0555081777f;
    alignas(64) static constexpr float table[16] = {
        1.0f,        1.04427373f, 1.09050775f, 1.13878858f, 1.18920708f, 1.24185777f, 1.29683959f, 1.35425556f,
        1.41421354f, 1.47682619f, 1.54221082f, 1.61049032f, 1.68179286f, 1.75625217f, 1.8340081f,  1.91520655f};
};

// A factor beta of exp(x beta), in the forms the traits use: beta itself (scalar code) and
// beta log2 e in two floats (hi + lo, the SIMD exp's range reduction).
struct Factor {
    float beta, hi, lo;
};

inline Factor factor(float beta) {
    const double c = (double)beta * 1.4426950408889634;
    const float hi = (float)c;
    return Factor{beta, hi, (float)(c - (double)hi)};
}

// exp(x beta) = 2^(x c), c = c_hi + c_lo = beta log2 e, for x c in [-160, 0] or NaN (NaN stays
// NaN); the product x c is not rounded before the reduction. How far below exp(-87.3) it
// gives 0 is the traits' lookup.
template <class X>
typename X::F exp2_product(typename X::F x, typename X::F c_hi, typename X::F c_lo) {
    using F = typename X::F;
    using C = Consts<X::W>;
    const F magic = X::set1(C::kMagic);
    const F sum = X::fmadd(x, c_hi, magic);
    const F n = X::sub(sum, magic);
    const F s = X::fmadd(x, c_lo, X::fmsub(x, c_hi, n));
    const F t = X::lookup(C::table, sum);
    const F poly = X::fmadd(X::fmadd(X::set1(C::c3), s, X::set1(C::c2)), s, X::set1(C::c1));
    return X::scale(X::fmadd(X::mul(t, s), poly, t), n);
}

// exp(x) for x in [-110, 0] or NaN.
template <class X>
typename X::F exp(typename X::F x) {
    return exp2_product<X>(x, X::set1(kLog2e), X::set1(kLog2eLo));
}

}  // namespace simd_exp
}  // namespace igk
