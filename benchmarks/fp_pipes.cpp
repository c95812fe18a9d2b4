// What the FP pipes of this x86 CPU retire a cycle, for the instructions of the CPU kernels'
// exp (csrc/cpu/simd_exp.h): eight independent 512-bit FMA chains per iteration, alone and
// with eight more independent chains of one or two other instructions. An instruction that
// adds no time runs beside the FMAs; the time of the mixes gives each one's pipes.
//
//   g++ -O2 -std=c++17 -mavx512f -mavx512bw -mavx512dq -mavx512vl -o /tmp/fp_pipes benchmarks/fp_pipes.cpp
//   /tmp/fp_pipes
//
// Zen 4 (2026-11-30): 8 FMAs take 8 cycles, and so do 8 FMAs with 8 adds, maxes, integer adds,
// integer maxes or shifts; 8 FMAs with 8 muls or vscalefps take 16, with 8 vpermps 13; 8 FMAs,
// 8 adds and 8 integer adds or maxes 12, and with 8 shifts or 8 more adds 16. So: one 512-bit
// multiply-add-unit instruction a cycle, one add a cycle, two instructions of any kind a cycle.
#include <immintrin.h>
#include <stdio.h>

#include <chrono>

namespace {

enum Op { kFma, kMul, kAdd, kMax, kPermute, kScalef, kAddInt, kMaxInt, kShift, kNone };
const char* const kNames[] = {"fma", "mul", "add", "max", "vpermps", "vscalefps", "vpaddd", "vpmaxsd", "vpslld", ""};

template <Op O>
inline __m512 apply(__m512 y, __m512 b, __m512 c, __m512i idx) {
    switch (O) {
    case kFma: return _mm512_fmadd_ps(y, b, c);
    case kMul: return _mm512_mul_ps(y, b);
    case kAdd: return _mm512_add_ps(y, c);
    case kMax: return _mm512_max_ps(y, c);
    case kPermute: return _mm512_permutexvar_ps(idx, y);
    case kScalef: return _mm512_scalef_ps(y, c);
    case kAddInt: return _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(y), idx));
    case kMaxInt: return _mm512_castsi512_ps(_mm512_max_epi32(_mm512_castps_si512(y), idx));
    case kShift: return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(y), 1));
    default: return y;
    }
}

// Nanoseconds per iteration of 8 FMA chains, 8 chains of A and 8 of B (named variables, not
// arrays: GCC keeps arrays of vectors on the stack here).
#define IGK_CHAINS(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)
template <Op A, Op B>
__attribute__((noinline)) double run() {
    constexpr long kIters = 50000000;
#define IGK_INIT(i) __m512 f##i = _mm512_set1_ps(0.5f + 0.1f * i), a##i = f##i, b##i = f##i;
    IGK_CHAINS(IGK_INIT)
    const __m512 mul = _mm512_set1_ps(0.999999f), add = _mm512_set1_ps(1e-7f);
    const __m512i idx = _mm512_set1_epi32(3);
    const auto t0 = std::chrono::steady_clock::now();
    for (long n = 0; n < kIters; ++n) {
#define IGK_STEP(i)                                   \
        f##i = apply<kFma>(f##i, mul, add, idx);      \
        a##i = apply<A>(a##i, mul, add, idx);         \
        b##i = apply<B>(b##i, mul, add, idx);
        IGK_CHAINS(IGK_STEP)
        // Keeps every chain in a register and alive.
        __asm__ volatile("" : "+v"(f0), "+v"(f1), "+v"(f2), "+v"(f3), "+v"(f4), "+v"(f5), "+v"(f6), "+v"(f7));
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7));
        __asm__ volatile("" : "+v"(b0), "+v"(b1), "+v"(b2), "+v"(b3), "+v"(b4), "+v"(b5), "+v"(b6), "+v"(b7));
    }
    const auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / kIters;
}

template <Op A, Op B = kNone>
void row(double cycle_ns) {
    const double ns = run<A, B>();
    printf("8 fma%s%-10s%s%-10s %6.2f ns  %5.1f cycles\n", A == kNone ? "" : " + 8 ", kNames[A],
           B == kNone ? "" : " + 8 ", kNames[B], ns, ns / cycle_ns);
}

}  // namespace

int main() {
    run<kNone, kNone>();
    // 8 FMA chains of latency 4 at one 512-bit FMA a cycle: 8 cycles, the unit of the rest.
    const double cycle_ns = run<kNone, kNone>() / 8;
    printf("cycle = %.3f ns if 8 FMAs take 8 cycles\n", cycle_ns);
    row<kNone>(cycle_ns);
    row<kAdd>(cycle_ns);
    row<kMax>(cycle_ns);
    row<kAddInt>(cycle_ns);
    row<kMaxInt>(cycle_ns);
    row<kShift>(cycle_ns);
    row<kMul>(cycle_ns);
    row<kScalef>(cycle_ns);
    row<kPermute>(cycle_ns);
    row<kAdd, kAddInt>(cycle_ns);
    row<kAdd, kMaxInt>(cycle_ns);
    row<kAdd, kShift>(cycle_ns);
    row<kAdd, kAdd>(cycle_ns);
    return 0;
}
