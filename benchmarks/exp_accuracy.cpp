// Max error, in ulp of the result, of the CPU kernels' SIMD exp (csrc/cpu/simd_exp.h) on this
// CPU's instruction sets: exp(x) against libm's double exp on every 7th float of [-87, 0], and
// exp(x beta) for the draws' temperatures against exp((double)x * beta) on 2^22 uniform x
// with x beta in [-87, 0], next to expf(fp32(x * beta)), the reference's rounded product.
//
//   g++ -O2 -std=c++17 -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma -mf16c \
//       -Icsrc -Icsrc/common -o /tmp/exp_accuracy benchmarks/exp_accuracy.cpp
//   /tmp/exp_accuracy            (IGK_CPU_ISA=avx2: the AVX2 exp only)
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <random>

#include "cpu/simd_avx2.h"
#include "cpu/simd_avx512.h"

namespace {

double ulps(float got, double want) {
    return fabs((double)got - want) / ldexp(1.0, ilogb((float)want) - 23);
}

template <class X>
void check() {
    alignas(64) float xs[X::W], out[X::W];
    double worst = 0.0;
    int fill = 0;
    // Every 7th float from -87 up to 0: the bit patterns of negative floats fall as x rises.
    uint32_t lo, hi;
    const float a = -87.0f, b = -0.0f;
    memcpy(&lo, &b, 4);
    memcpy(&hi, &a, 4);
    for (uint32_t bits = hi; bits > lo; bits -= 7) {
        memcpy(&xs[fill++], &bits, 4);
        if (fill < X::W) continue;
        X::store(out, X::exp_clamped(X::load(xs)));
        for (int l = 0; l < X::W; ++l) worst = fmax(worst, ulps(out[l], exp((double)xs[l])));
        fill = 0;
    }
    printf("W = %2d  exp(x), x in [-87, 0]: max %.2f ulp\n", X::W, worst);
    for (float beta : {1.0f / 0.7f, 1.0f / 1.5f, 2.0f, 10.0f}) {
        const auto k = igk::simd_exp::factor(beta);
        std::mt19937 g(1);
        std::uniform_real_distribution<float> ud(-87.0f / beta, 0.0f);
        double w = 0.0, w_ref = 0.0;
        for (int it = 0; it < (1 << 22) / X::W; ++it) {
            for (int l = 0; l < X::W; ++l) xs[l] = ud(g);
            X::store(out, X::exp_times(X::load(xs), k));
            for (int l = 0; l < X::W; ++l) {
                const double want = exp((double)xs[l] * (double)beta);
                w = fmax(w, ulps(out[l], want));
                w_ref = fmax(w_ref, ulps(expf(xs[l] * beta), want));
            }
        }
        printf("W = %2d  exp(x beta), beta = %.4f: max %.2f ulp; expf(fp32(x beta)): %.2f ulp\n", X::W, beta, w,
               w_ref);
    }
}

}  // namespace

int main() {
    const char* cap = getenv("IGK_CPU_ISA");
    __builtin_cpu_init();
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    if (avx512 && !(cap && strcmp(cap, "avx2") == 0)) check<Avx512>();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) check<Avx2>();
    return 0;
}
