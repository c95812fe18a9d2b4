// expf for SIMD, written once over a SIMD traits type X (simd_avx2.h, simd_avx512.h): X
// supplies set1, mul, fmadd (a * b + c) and fmsub (a * b - c). Rounding x log2 e to an integer
// n and scaling by 2^n stay in the traits: each instruction set does them its own way.
//
// exp(x) = 2^n 2^r with n = round(x log2 e) and r = x log2 e - n in [-1/2, 1/2], formed by
// FMAs (the product is not rounded before the subtraction; log2 e in two parts, so r stays
// accurate at large |x|), and 2^r by a degree-6 polynomial (minimax in relative error, 2e-9,
// far below float rounding) evaluated by Estrin's scheme. Max error 1.9 ulp on [-87, 0]
// (every 7th float checked against libm). Why this form: the statistics' pass is bound by
// the exp's dependency chain, which the out-of-order window cannot hide, more than by its
// operation count. Cephes' two-step reduction and degree-7 polynomial by Horner's rule took
// 12 dependent floating-point steps, this takes 8; the pass ran 16% faster (bf16
// [512, 126464], 2 threads, both builds alternating in one process).
#pragma once

namespace igk {
namespace simd_exp {

constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLog2eLo = 1.925963e-08f;  // log2 e - kLog2e

// 2^(x log2 e - n) for an integer-valued n = round(x log2 e); the caller scales by 2^n.
template <class X>
typename X::F exp_mantissa(typename X::F x, typename X::F n) {
    using F = typename X::F;
    const F r = X::fmadd(x, X::set1(kLog2eLo), X::fmsub(x, X::set1(kLog2e), n));
    const F r2 = X::mul(r, r);
    const F a = X::fmadd(X::set1(0.6931472f), r, X::set1(1.0f));
    const F b = X::fmadd(X::set1(0.055503324f), r, X::set1(0.24022648f));
    const F c = X::fmadd(X::set1(0.0013398875f), r, X::set1(0.009618437f));
    const F r4 = X::mul(r2, r2);
    const F c6 = X::fmadd(X::set1(0.00015353362f), r2, c);
    return X::fmadd(c6, r4, X::fmadd(b, r2, a));
}

}  // namespace simd_exp
}  // namespace igk
