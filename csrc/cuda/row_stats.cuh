// Single-pass softmax statistics of logits rows, shared by softmax_entropy.cu (K1) and
// state_uncertainty.cu (K2). Semantics: docs/backend_contract.md.
//
// Math: the online softmax of docs/backend_contract.md#online-softmax-statistics, in fp32.
// m is also the largest logit, so the argmax and the second largest logit (counting duplicates)
// travel in the same state: two states combine with top2 = max(min(m_a, m_b), top2_a, top2_b).
//
// Gumbel-max draws: score_v = fp32(f_v) + fp32(T) * g_v, multiply then add (__fmul_rn/__fadd_rn,
// never an FMA), ties to the lowest column. Each thread visits its columns in increasing order,
// so "strictly greater" keeps the lowest column within a thread and (score, column) pairs combine
// across threads. Since rounding is monotone, fp32(f + T * kGumbelMax) bounds the score of every
// g (all finite, see csrc/common/philox.h), which lets a thread skip both logarithms of a column
// that cannot win.
//
// Layout: one block of kRowThreads threads per (row, vocabulary slice); 16-byte loads from the
// first 16-byte aligned address of the slice (a scalar prologue before it, a scalar tail after),
// kUnroll loads in flight per thread. With one slice the block writes the row's results; with
// several (few rows: the split-vocabulary path) it writes a partial state and combine_kernel
// merges the slices of a row.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <climits>
#include <cstdint>

#include "philox.cuh"

namespace igk {

constexpr int kRowThreads = 256;
constexpr int kUnroll = 4;
constexpr int kMaxPassSamples = 4;   // draws per pass; more samples take further passes
constexpr int kCombineWarps = 4;

struct Stat {
  float m, s, t, top2;
  int idx, bad;
};
struct Draw {
  float score, f;
  int idx;
};

// Everything a row kernel needs; one struct so that K1 and K2 share the kernels.
struct RowArgs {
  const void* base;
  int64_t V;
  int64_t R;               // rows addressed by blockIdx.x (K2: B * T)
  const int64_t* offsets;  // K1: element offset of row i
  const uint8_t* mask;     // K2: mask[b * T + t], rows with mask 0 are skipped
  int64_t T, stride_b, stride_t;
  const int64_t* keys;
  const int64_t* ctr;
  int num_samples;         // S, columns of samples / sample_prob
  int stream0, pass_samples;  // this pass draws streams stream0 .. stream0 + pass_samples - 1
  float temperature;
  uint32_t offset;
  bool write_stats;        // false on the extra passes for more than kMaxPassSamples samples
  float* entropy;
  float* lse;
  float* max_prob;
  int64_t* argmax;
  float* second_prob;
  int64_t* samples;
  float* sample_prob;
  unsigned long long* status;  // lowest bad row i; the host initialises it to INT64_MAX
  Stat* part_stat;             // [R * splits] partial states (splits > 1)
  Draw* part_draw;             // [R * splits * draw_slots(pass_samples)]
  int splits;
  int64_t slice_len;
};

template <typename T> struct Elem;
template <> struct Elem<float> {
  static constexpr int kVec = 4;
  __device__ static float load1(const float* p) { return __ldcs(p); }
  __device__ static void unpack(const uint4& r, float (&f)[kVec]) {
    f[0] = __uint_as_float(r.x); f[1] = __uint_as_float(r.y);
    f[2] = __uint_as_float(r.z); f[3] = __uint_as_float(r.w);
  }
};
// The 16-bit types: eight values per 16-byte load, each 32-bit word a pair that E::widen2
// turns into two floats.
template <typename E> struct Elem16 {
  static constexpr int kVec = 8;
  __device__ static void unpack(const uint4& r, float (&f)[kVec]) {
    const uint32_t w[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
    for (int q = 0; q < 4; ++q) E::widen2(w[q], f[2 * q], f[2 * q + 1]);
  }
};
template <> struct Elem<__half> : Elem16<Elem<__half>> {
  __device__ static float load1(const __half* p) { return __half2float(__ldcs(p)); }
  __device__ static void widen2(uint32_t w, float& lo, float& hi) {
    const float2 v = __half22float2(*reinterpret_cast<const __half2*>(&w));
    lo = v.x;
    hi = v.y;
  }
};
template <> struct Elem<__nv_bfloat16> : Elem16<Elem<__nv_bfloat16>> {
  __device__ static float load1(const __nv_bfloat16* p) { return __bfloat162float(__ldcs(p)); }
  // bf16 is the top half of an fp32: widening is a shift or a mask.
  __device__ static void widen2(uint32_t w, float& lo, float& hi) {
    lo = __uint_as_float(w << 16);
    hi = __uint_as_float(w & 0xFFFF0000u);
  }
};

__device__ __forceinline__ void stat_init(Stat& s) {
  s.m = -INFINITY; s.s = 0.f; s.t = 0.f; s.top2 = -INFINITY; s.idx = INT_MAX; s.bad = 0;
}
__device__ __forceinline__ void draw_init(Draw& d) { d.score = -INFINITY; d.f = -INFINITY; d.idx = INT_MAX; }

// (s, t) taken from reference max mo to mn >= mo. s == 0 implies t == 0 and maybe mo == -inf.
__device__ __forceinline__ void rescale(float& s, float& t, float mo, float mn) {
  if (s == 0.f) return;
  const float dm = mo - mn;
  const float a = __expf(dm);
  if (a == 0.f) {  // a spread beyond float32 (dm = -inf): nothing of the old terms remains, not 0 * -inf
    s = 0.f;
    t = 0.f;
    return;
  }
  t = a * fmaf(s, dm, t);
  s *= a;
}

struct DrawCtx {
  uint64_t key;
  uint32_t ctr, stream0, offset;
  int pass_samples;
  float temperature;
};

// Fold NV consecutive columns col0 .. col0 + NV - 1 into the thread's state.
template <int NS, int NV>
__device__ __forceinline__ void update(Stat& st, Draw (&d)[NS > 0 ? NS : 1], const float (&f)[NV],
                                       int64_t col0, const DrawCtx& ctx) {
  float vmax = f[0];
  bool ok = true;
#pragma unroll
  for (int e = 0; e < NV; ++e) {
    vmax = fmaxf(vmax, f[e]);
    ok &= f[e] < INFINITY;  // false for NaN and +inf
  }
  st.bad |= !ok;
  if (vmax > st.top2) {  // rare once the row's two largest logits have been seen
#pragma unroll
    for (int e = 0; e < NV; ++e) {
      const float x = f[e];
      if (x > st.m) {
        rescale(st.s, st.t, st.m, x);
        st.top2 = st.m;
        st.m = x;
        st.idx = static_cast<int>(col0 + e);
      } else if (x > st.top2) {
        st.top2 = x;
      }
    }
  }
#pragma unroll
  for (int e = 0; e < NV; ++e) {
    const float dd = fmaxf(f[e] - st.m, -FLT_MAX);  // -inf logits: e^dd = 0 and 0 * dd = 0
    const float ex = __expf(dd);
    st.s += ex;
    st.t = fmaf(ex, dd, st.t);
  }
  if constexpr (NS > 0) {
    const float bound_add = __fmul_rn(ctx.temperature, kGumbelMax);
#pragma unroll
    for (int j = 0; j < NS; ++j) {
      if (j < ctx.pass_samples) {
        Words4 w{};
#pragma unroll
        for (int e = 0; e < NV; ++e) {
          const uint64_t col = static_cast<uint64_t>(col0 + e);
          if (e == 0 || (col & 3) == 0)
            w = philox4x32_10(ctx.key, static_cast<uint32_t>(col >> 2), ctx.ctr,
                              (ctx.stream0 + j) | (kTokenDomain << 24), ctx.offset);
          const uint32_t word = select_word(w, static_cast<uint32_t>(col & 3));
          const float x = f[e];
          // -inf (banned) and NaN logits are never drawn.
          if (x > -INFINITY && __fadd_rn(x, bound_add) > d[j].score) {
            const float score = __fadd_rn(x, __fmul_rn(ctx.temperature, gumbel_from_word(word)));
            if (score > d[j].score) d[j] = Draw{score, x, static_cast<int>(col)};
          }
        }
      }
    }
  }
}

// Columns [lo, hi) of a row that starts at `row`.
template <typename T, int NS>
__device__ __forceinline__ void process_range(Stat& st, Draw (&d)[NS > 0 ? NS : 1], const T* row,
                                              int64_t lo, int64_t hi, const DrawCtx& ctx) {
  using E = Elem<T>;
  constexpr int kVec = E::kVec;
  const T* p = row + lo;
  const int64_t n = hi - lo;
  if (n <= 0) return;
  const int64_t to_align = static_cast<int64_t>(((16u - (reinterpret_cast<uintptr_t>(p) & 15u)) & 15u) / sizeof(T));
  const int64_t pro = to_align < n ? to_align : n;
  const int tid = threadIdx.x;
  if (tid < pro) {
    const float f[1] = {E::load1(p + tid)};
    update<NS, 1>(st, d, f, lo + tid, ctx);
  }
  const int64_t nvec = (n - pro) / kVec;
  const uint4* vp = reinterpret_cast<const uint4*>(p + pro);
  for (int64_t v0 = tid; v0 < nvec; v0 += static_cast<int64_t>(kUnroll) * blockDim.x) {
    uint4 r[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t v = v0 + static_cast<int64_t>(u) * blockDim.x;
      if (v < nvec) r[u] = __ldcs(vp + v);  // read once: do not keep it in L1/L2
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t v = v0 + static_cast<int64_t>(u) * blockDim.x;
      if (v < nvec) {
        float f[kVec];
        E::unpack(r[u], f);
        update<NS, kVec>(st, d, f, lo + pro + v * kVec, ctx);
      }
    }
  }
  const int64_t done = pro + nvec * kVec;
  if (tid < n - done) {
    const float f[1] = {E::load1(p + done + tid)};
    update<NS, 1>(st, d, f, lo + done + tid, ctx);
  }
}

__device__ __forceinline__ void combine(Stat& a, const Stat& b) {
  const float m = fmaxf(a.m, b.m);
  float sa = a.s, ta = a.t, sb = b.s, tb = b.t;
  rescale(sa, ta, a.m, m);
  rescale(sb, tb, b.m, m);
  const int idx = (b.m > a.m || (b.m == a.m && b.idx < a.idx)) ? b.idx : a.idx;
  a.top2 = fmaxf(fminf(a.m, b.m), fmaxf(a.top2, b.top2));
  a.m = m; a.s = sa + sb; a.t = ta + tb; a.idx = idx; a.bad |= b.bad;
}
__device__ __forceinline__ void combine(Draw& a, const Draw& b) {
  if (b.score > a.score || (b.score == a.score && b.idx < a.idx)) a = b;
}

__device__ __forceinline__ Stat shfl_down(const Stat& s, int o) {
  Stat r;
  r.m = __shfl_down_sync(0xFFFFFFFFu, s.m, o);
  r.s = __shfl_down_sync(0xFFFFFFFFu, s.s, o);
  r.t = __shfl_down_sync(0xFFFFFFFFu, s.t, o);
  r.top2 = __shfl_down_sync(0xFFFFFFFFu, s.top2, o);
  r.idx = __shfl_down_sync(0xFFFFFFFFu, s.idx, o);
  r.bad = __shfl_down_sync(0xFFFFFFFFu, s.bad, o);
  return r;
}
__device__ __forceinline__ Draw shfl_down(const Draw& d, int o) {
  Draw r;
  r.score = __shfl_down_sync(0xFFFFFFFFu, d.score, o);
  r.f = __shfl_down_sync(0xFFFFFFFFu, d.f, o);
  r.idx = __shfl_down_sync(0xFFFFFFFFu, d.idx, o);
  return r;
}

template <int NS>
__device__ __forceinline__ void warp_reduce(Stat& st, Draw (&d)[NS > 0 ? NS : 1]) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    combine(st, shfl_down(st, o));
#pragma unroll
    for (int j = 0; j < NS; ++j) combine(d[j], shfl_down(d[j], o));
  }
}

// Leaves the block's state in thread 0.
template <int NS>
__device__ __forceinline__ void block_reduce(Stat& st, Draw (&d)[NS > 0 ? NS : 1]) {
  __shared__ Stat s_stat[32];
  __shared__ Draw s_draw[32][NS > 0 ? NS : 1];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  warp_reduce<NS>(st, d);
  if (lane == 0) {
    s_stat[warp] = st;
#pragma unroll
    for (int j = 0; j < NS; ++j) s_draw[warp][j] = d[j];
  }
  __syncthreads();
  if (warp == 0) {
    if (lane < nwarps) {
      st = s_stat[lane];
#pragma unroll
      for (int j = 0; j < NS; ++j) d[j] = s_draw[lane][j];
    } else {
      stat_init(st);
#pragma unroll
      for (int j = 0; j < NS; ++j) draw_init(d[j]);
    }
    warp_reduce<NS>(st, d);
  }
}

// Row i's results from its complete state.
template <int NS, bool MASKED>
__device__ __forceinline__ void finish_row(const RowArgs& a, int64_t i, const Stat& st,
                                           const Draw (&d)[NS > 0 ? NS : 1]) {
  if (st.bad || !(st.m > -INFINITY)) atomicMin(a.status, static_cast<unsigned long long>(i));
  const float log_s = logf(st.s);
  const float inv_s = 1.f / st.s;
  const float entropy = log_s - st.t * inv_s;
  if constexpr (MASKED) {
    a.entropy[i] = entropy;
  } else {
    const int S = a.num_samples;
    if (a.write_stats) {
      a.entropy[i] = entropy;
      a.lse[i] = st.m + log_s;
      a.max_prob[i] = inv_s;
      a.argmax[i] = st.idx;
      a.second_prob[i] = st.top2 > -INFINITY ? expf(st.top2 - st.m) * inv_s : 0.f;
      if (a.temperature == 0.f) {  // every draw is the argmax
        for (int j = 0; j < S; ++j) {
          a.samples[i * S + j] = st.idx;
          a.sample_prob[i * S + j] = inv_s;
        }
      }
    }
#pragma unroll
    for (int j = 0; j < NS; ++j) {
      if (j < a.pass_samples) {
        const int64_t o = i * S + a.stream0 + j;
        a.samples[o] = d[j].idx;
        a.sample_prob[o] = expf(d[j].f - st.m) * inv_s;
      }
    }
  }
}

template <typename T, int NS, bool MASKED>
__global__ void __launch_bounds__(kRowThreads) row_stats_kernel(const RowArgs a) {
  const int64_t i = blockIdx.x;
  const int slice = blockIdx.y;
  const T* row;
  if constexpr (MASKED) {
    if (!a.mask[i]) return;  // whole block leaves: unmasked rows cost one byte
    row = static_cast<const T*>(a.base) + (i / a.T) * a.stride_b + (i % a.T) * a.stride_t;
  } else {
    row = static_cast<const T*>(a.base) + a.offsets[i];
  }
  DrawCtx ctx{};
  if constexpr (NS > 0) {
    ctx.key = static_cast<uint64_t>(a.keys[i]);
    ctx.ctr = static_cast<uint32_t>(a.ctr[i]);
    ctx.stream0 = static_cast<uint32_t>(a.stream0);
    ctx.offset = a.offset;
    ctx.pass_samples = a.pass_samples;
    ctx.temperature = a.temperature;
  }
  Stat st;
  stat_init(st);
  Draw d[NS > 0 ? NS : 1];
#pragma unroll
  for (int j = 0; j < (NS > 0 ? NS : 1); ++j) draw_init(d[j]);
  const int64_t lo = static_cast<int64_t>(slice) * a.slice_len;
  const int64_t hi = lo + a.slice_len < a.V ? lo + a.slice_len : a.V;
  process_range<T, NS>(st, d, row, lo, hi, ctx);
  block_reduce<NS>(st, d);
  if (threadIdx.x != 0) return;
  if (a.splits == 1) {
    finish_row<NS, MASKED>(a, i, st, d);
  } else {
    const int64_t p = i * a.splits + slice;
    a.part_stat[p] = st;
#pragma unroll
    for (int j = 0; j < NS; ++j) a.part_draw[p * NS + j] = d[j];
  }
}

// Split-vocabulary path: one warp merges the slices of one row.
template <int NS, bool MASKED>
__global__ void __launch_bounds__(32 * kCombineWarps) combine_kernel(const RowArgs a) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kCombineWarps + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (i >= a.R) return;
  if constexpr (MASKED) {
    if (!a.mask[i]) return;
  }
  Stat st;
  stat_init(st);
  Draw d[NS > 0 ? NS : 1];
#pragma unroll
  for (int j = 0; j < (NS > 0 ? NS : 1); ++j) draw_init(d[j]);
  for (int sl = lane; sl < a.splits; sl += 32) {
    const int64_t p = i * a.splits + sl;
    combine(st, a.part_stat[p]);
#pragma unroll
    for (int j = 0; j < NS; ++j) combine(d[j], a.part_draw[p * NS + j]);
  }
  warp_reduce<NS>(st, d);
  if (lane == 0) finish_row<NS, MASKED>(a, i, st, d);
}

// How a launch covers the rows: one block per row, or `splits` vocabulary slices per row when
// there are too few rows to fill the device.
struct RowPlan {
  int splits;
  int64_t slice_len;
};

inline RowPlan plan_rows(int64_t R, int64_t V, int elem_bytes, int sm_count) {
  const int64_t vec = 16 / elem_bytes;
  if (R >= 2 * static_cast<int64_t>(sm_count)) return RowPlan{1, V};
  // Two vectors per thread and slice: one row of V 126464 (bf16) still spreads over 30 blocks.
  const int64_t min_slice = static_cast<int64_t>(kRowThreads) * vec * 2;
  int64_t by_v = V / min_slice;
  if (by_v < 1) by_v = 1;
  int64_t want = (4 * static_cast<int64_t>(sm_count) + R - 1) / R;
  int64_t splits = want < by_v ? want : by_v;
  if (splits > 256) splits = 256;
  if (splits <= 1) return RowPlan{1, V};
  int64_t len = (V + splits - 1) / splits;
  len = (len + 7) / 8 * 8;  // slices start on 16-byte (and 4-column Philox) boundaries of aligned rows
  return RowPlan{static_cast<int>((V + len - 1) / len), len};
}

// The kernels are compiled for 0, 1 and kMaxPassSamples draws per pass: a pass of 2 or 3
// draws runs the kMaxPassSamples kernel, which keeps that many draw slots per part.
constexpr int draw_slots(int pass_samples) {
  return pass_samples == 0 ? 0 : pass_samples == 1 ? 1 : kMaxPassSamples;
}

// Workspace of the split path: a Stat and `slots` Draws per (row, slice) part; `slots` is
// draw_slots() of the widest pass launched on it.
inline size_t row_workspace_bytes(int64_t R, const RowPlan& plan, int slots) {
  if (plan.splits == 1) return 0;
  const size_t parts = static_cast<size_t>(R) * plan.splits;
  return parts * sizeof(Stat) + parts * slots * sizeof(Draw);
}

}  // namespace igk
