// Cephes expf and logf (single precision, ~1 ulp), written once over a SIMD traits type X
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
constexpr float kSqrt2 = 1.41421356237f;

constexpr float kExpP[] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                           4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
constexpr float kLogP[] = {7.0376836292e-2f,  -1.1514610310e-1f, 1.1676998740e-1f,
                           -1.2420140846e-1f, 1.4249322787e-1f,  -1.6668057665e-1f,
                           2.0000714765e-1f,  -2.4999993993e-1f, 3.3333331174e-1f};

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

// log(2^e m) for m in [sqrt(1/2), sqrt(2)) (the caller halves m > kSqrt2 and bumps e):
// log m = z - z^2/2 + z^3 P(z), z = m - 1 (exact), plus e ln 2.
template <class X>
typename X::F log_from_parts(typename X::F e, typename X::F mant) {
    using F = typename X::F;
    const F z = X::sub(mant, X::set1(1.0f));
    const F z2 = X::mul(z, z);
    F y = X::set1(kLogP[0]);
    y = X::fmadd(y, z, X::set1(kLogP[1]));
    y = X::fmadd(y, z, X::set1(kLogP[2]));
    y = X::fmadd(y, z, X::set1(kLogP[3]));
    y = X::fmadd(y, z, X::set1(kLogP[4]));
    y = X::fmadd(y, z, X::set1(kLogP[5]));
    y = X::fmadd(y, z, X::set1(kLogP[6]));
    y = X::fmadd(y, z, X::set1(kLogP[7]));
    y = X::fmadd(y, z, X::set1(kLogP[8]));
    y = X::mul(X::mul(y, z), z2);
    y = X::fmadd(e, X::set1(kLn2Lo), y);
    y = X::fnmadd(z2, X::set1(0.5f), y);
    const F r = X::add(z, y);
    return X::fmadd(e, X::set1(kLn2Hi), r);
}

}  // namespace cephes
}  // namespace igk
