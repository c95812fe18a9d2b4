// Cephes expf (single precision, ~1 ulp), written once over a SIMD traits type X
// (simd_avx2.h, simd_avx512.h): X supplies set1, add, sub, mul, fmadd (a * b + c), fnmadd
// (c - a * b) and round (to nearest). The steps an instruction set does its own way, taking x
// apart into exponent and mantissa and building 2^n, stay in the traits.
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

// exp(x) = 2^n exp(r): sets n = round(x / ln 2) and returns exp(r), r = x - n ln 2 (|r| <= ln2 / 2)
// by a degree-6 polynomial. The caller scales by 2^n.
template <class X>
typename X::F exp_mantissa(typename X::F x, typename X::F& n) {
    using F = typename X::F;
    n = X::round(X::mul(x, X::set1(kLog2e)));
    x = X::fnmadd(n, X::set1(kLn2Hi), x);
    x = X::fnmadd(n, X::set1(kLn2Lo), x);
    F y = X::set1(kExpP[0]);
    y = X::fmadd(y, x, X::set1(kExpP[1]));
    y = X::fmadd(y, x, X::set1(kExpP[2]));
    y = X::fmadd(y, x, X::set1(kExpP[3]));
    y = X::fmadd(y, x, X::set1(kExpP[4]));
    y = X::fmadd(y, x, X::set1(kExpP[5]));
    return X::fmadd(y, X::mul(x, x), X::add(x, X::set1(1.0f)));
}

}  // namespace cephes
}  // namespace igk
