// Philox4x32-10 and the Gumbel transform of csrc/common/philox.h on W counters at once, written
// once over a SIMD traits type X (simd_avx2.h, simd_avx512.h). Besides its float ops and log,
// X supplies on Idx (W int32 lanes): set1_idx, xor_idx, srli_idx, to_float and mulhilo (the
// high and low 32 bits of each lane's 64-bit product).
//
// Both are forced inline: left to GCC's heuristics, the extra call level changes how the
// kernels around gumbel_block are inlined and scheduled (same results, different object code).
#pragma once

#include <stdint.h>

#include "philox.h"

namespace igk {
namespace simd {

// Lane i of x0..x3 holds counter i on entry and its four output words on return.
template <class X, class I = typename X::Idx>
__attribute__((always_inline)) inline void philox4x32_10(uint32_t k0, uint32_t k1, I& x0, I& x1, I& x2,
                                                         I& x3) {
    const I m0 = X::set1_idx(kPhiloxM0), m1 = X::set1_idx(kPhiloxM1);
    for (int r = 0; r < 10; ++r) {
        I hi0, lo0, hi1, lo1;
        X::mulhilo(x0, m0, hi0, lo0);
        X::mulhilo(x2, m1, hi1, lo1);
        x0 = X::xor_idx(X::xor_idx(hi1, x1), X::set1_idx(k0));
        x2 = X::xor_idx(X::xor_idx(hi0, x3), X::set1_idx(k1));
        x1 = lo1;
        x3 = lo0;
        k0 += kPhiloxW0;
        k1 += kPhiloxW1;
    }
}

// gumbel_from_word of each lane's word.
template <class X>
__attribute__((always_inline)) inline typename X::F gumbel_from_words(typename X::Idx w) {
    using F = typename X::F;
    const F u =
        X::mul(X::add(X::to_float(X::srli_idx(w, kUniformShift)), X::set1(0.5f)), X::set1(kUniformScale));
    const F nl = X::sub(X::set1(0.0f), X::log(u));
    return X::sub(X::set1(0.0f), X::log(nl));
}

}  // namespace simd
}  // namespace igk
