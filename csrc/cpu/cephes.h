// expf for SIMD (single precision, < 1 ulp on [-87, 0]), written once over a SIMD traits type
// X (simd_avx2.h, simd_avx512.h): X supplies set1, fmadd (a * b + c) and fnmadd (c - a * b).
// Rounding x / ln 2 to an integer n and building 2^n stay in the traits: each instruction set
// does them its own way. Cephes' reduction and polynomial coefficients, the polynomial
// evaluated by Horner's rule to the end (one FMA a step: fewer operations than Cephes'
// 1 + r + r^2 P(r), and more accurate).
//
// The Horner steps are written out: a loop changes how GCC inlines and schedules the kernels
// around them (same results, different object code).
#pragma once

namespace igk {
namespace cephes {

constexpr float kLog2e = 1.44269504088896341f;
// ln 2 = kLn2Hi + kLn2Lo, kLn2Hi with few enough bits that n * kLn2Hi is exact.
constexpr float kLn2Hi = 0.693359375f;
constexpr float kLn2Lo = -2.12194440e-4f;

constexpr float kExpP[] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                           4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

// exp(x - n ln 2) for an integer-valued n = round(x / ln 2) (|x - n ln 2| <= ln 2 / 2); the
// caller scales by 2^n.
template <class X>
typename X::F exp_mantissa(typename X::F x, typename X::F n) {
    using F = typename X::F;
    x = X::fnmadd(n, X::set1(kLn2Hi), x);
    x = X::fnmadd(n, X::set1(kLn2Lo), x);
    F y = X::fmadd(X::set1(kExpP[0]), x, X::set1(kExpP[1]));
    y = X::fmadd(y, x, X::set1(kExpP[2]));
    y = X::fmadd(y, x, X::set1(kExpP[3]));
    y = X::fmadd(y, x, X::set1(kExpP[4]));
    y = X::fmadd(y, x, X::set1(kExpP[5]));
    y = X::fmadd(y, x, X::set1(1.0f));
    return X::fmadd(y, x, X::set1(1.0f));
}

}  // namespace cephes
}  // namespace igk
