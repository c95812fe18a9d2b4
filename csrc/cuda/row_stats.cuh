// Single-pass softmax statistics of logits rows, shared by softmax_entropy.cu (K1) and
// state_uncertainty.cu (K2), and K1's inverse-transform token draws. Semantics:
// docs/backend_contract.md.
//
// Statistics: the online softmax of docs/backend_contract.md#online-softmax-statistics, in fp32.
// m is also the largest logit, so the argmax and the second largest logit (counting duplicates)
// travel in the same state: two states combine with top2 = max(min(m_a, m_b), top2_a, top2_b).
// Each thread visits its columns in increasing order, so "strictly greater" keeps the lowest
// column of a tie within a thread, and (m, column) pairs combine across threads.
//
// Layout: one block of kRowThreads threads per (row, vocabulary slice); 16-byte loads from the
// first 16-byte aligned address of the slice (a scalar prologue before it, a scalar tail after),
// kUnroll loads in flight per thread. With one slice the block writes the row's results; with
// several (few rows: the split-vocabulary path) it writes a partial state and combine_kernel
// merges the slices of a row.
//
// Token draws (docs/backend_contract.md#token-draws-inverse-transform): draw s of a row is the
// lowest column v whose cumulative tempered weight C_v = sum_{v' <= v} w_v' exceeds u_s * Z, with
// w_v = exp(fp32(f_v - m) * beta), beta = fp32(1 / temperature), Z = C_{V-1} and one Philox
// uniform u_s per draw (counter (s >> 2, row, 0, offset), word s & 3). Three steps; the row is
// read once, and after that only the tiles the draws land in:
//  1. Tile masses, in the statistics pass (row_stats_kernel). A tile is one iteration of the
//     block's loop over a slice, kTileVecs 16-byte vectors (4096 fp32 or 8192 fp16 / bf16
//     columns); the slice's scalar prologue joins its first tile and the tail its last. Each
//     thread sums exp(fp32(f - m_t) * beta) over its columns of the tile against its own running
//     max m_t, moving the sum along when m_t grows: at beta == 1 the very exps the statistics
//     compute (one add per element), otherwise 2^(fp32(f - m_t) * fp32(beta log2 e)) (a multiply
//     and one more MUFU.EX2 per element). At the end of the tile each warp moves its lanes' sums
//     to the largest m_t of the warp, r >= every logit the warp has read, and lane 0 stores
//     (r, M) in the tile table [row, slice, tile, warp] (tiles a slice lacks get M = 0). The
//     statistics kernel keeps its registers (48 for bf16 on sm_90) and its single pass.
//  2. Cumulative tile masses, once the row's m is known: tile g's mass at m is
//     sum_warps M * exp(fp32(r - m) * beta), and tile_cum[row, g] sums them in column order in
//     float64 (by one thread: the sums then never decrease, so a binary search over them is
//     exact); Z is the last entry. draw_kernel does it with one slice per row, combine_kernel on
//     the split path.
//  3. The draws (draw_kernel): target = u_s * Z in float64; its tile is the lowest g with
//     tile_cum[g] > target. The block re-reads that tile (thread t holds its columns of each of
//     kSlots slots: prologue, kUnroll vectors, tail), recomputes w_v with expf, prefix-sums the
//     slots in column order (float64) from tile_cum[g - 1] and draws the lowest v with w_v > 0
//     whose running sum exceeds the target. If the target lies beyond the tile's recomputed sums
//     (step 1 uses fast exps and another order: rounding), the draw is the tile's last column with
//     w_v > 0, and the row's argmax if the tile has none (fp32 underflow only). A -inf logit
//     (w_v = 0) is never drawn, and no draw leaves the row. A block takes its draws kDrawGroup at
//     a time, sorted by tile, so draws that land in one tile share its re-read. One slice per
//     row: one block per row takes all its draws; the split path (few rows): kSplitDraws draws
//     per block, so that a row's draws spread over the device.
// sample_prob is the untempered exp(f_draw - m) / s. Rows holding NaN / +inf or entirely -inf
// (their outputs are unspecified) skip the draws: every draw is the argmax. Nothing here reads a
// value back to the host; every launch size follows from the shapes.
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
constexpr int kRowWarps = kRowThreads / 32;
constexpr int kUnroll = 4;
constexpr int kTileVecs = kUnroll * kRowThreads;  // 16-byte vectors of one tile (one loop iteration)
constexpr int kCombineWarps = 4;
constexpr int kDrawGroup = 32;   // draws whose targets and tiles one warp finds at a time
constexpr int kSplitDraws = 4;   // draws per draw_kernel block (split path)
constexpr int kSlots = kUnroll + 2;  // a thread's columns of a tile: prologue, kUnroll vectors, tail
constexpr unsigned kFullMask = 0xFFFFFFFFu;

// What the statistics pass does for the draws: nothing, tile masses at beta == 1 (the
// statistics' exps), or tile masses at another beta (one more exp per element).
constexpr int kNoDraws = 0;
constexpr int kDrawsBeta1 = 1;
constexpr int kDrawsBeta = 2;

struct Stat {
  float m, s, t, top2;
  int idx, bad;
};
// A warp's tempered mass of one tile, relative to r (at or above every logit the warp has read).
struct TileMass {
  float r, mass;
};
// What the draws need of a row once its statistics are complete.
struct RowInfo {
  float m, inv_s;
  int idx, ok;  // ok: no NaN / +inf and not entirely -inf
};

// Everything a row kernel needs; one struct so that K1 and K2 share the kernels.
struct RowArgs {
  const void* base;
  int64_t V;
  int64_t R;               // rows addressed by blockIdx.x (K2: B * T)
  const int64_t* offsets;  // K1: element offset of row i; null: i * row_stride
  int64_t row_stride;      // K1 without offsets: elements from row i to row i + 1 (>= 0)
  const uint8_t* mask;     // K2: mask[b * T + t], rows with mask 0 are skipped
  int64_t T, stride_b, stride_t;
  const int64_t* keys;     // K1: Philox key of row i; null: `key` for every row
  const int64_t* ctr;      // K1: Philox counter row of row i; null: i without keys, 0 with them
  uint64_t key;
  int num_samples;         // S, columns of samples / sample_prob
  float temperature;
  float beta;              // fp32(1 / temperature) when drawing
  float beta_log2e;        // fp32(beta * log2(e)): the tile masses' exp2 argument scale
  uint32_t offset;
  float* entropy;
  float* lse;
  float* max_prob;
  int64_t* argmax;
  float* second_prob;
  int64_t* samples;
  float* sample_prob;
  unsigned long long* status;  // lowest bad row i; the host initialises it to INT64_MAX
  Stat* part_stat;             // [R * splits] partial states (splits > 1)
  TileMass* tile_mass;         // draws: [R, splits, tiles_per_slice, kRowWarps]
  double* tile_cum;            // draws: [R, splits * tiles_per_slice]
  RowInfo* row_info;           // draws: [R]
  int splits;
  int64_t slice_len;
  int tiles_per_slice;         // the most tiles a slice has (draws)
  int draws_per_block;         // draws of one draw_kernel block (S with one slice per row)
};

// Where row i of a K1 call starts (elements from base), and its Philox key and counter row:
// from the call's per-row tensors, or derived when they are null (docs/backend_contract.md).
__device__ __forceinline__ int64_t row_offset(const RowArgs& a, int64_t i) {
  return a.offsets ? a.offsets[i] : i * a.row_stride;
}
__device__ __forceinline__ uint64_t row_key(const RowArgs& a, int64_t i) {
  return a.keys ? static_cast<uint64_t>(a.keys[i]) : a.key;
}
__device__ __forceinline__ uint32_t row_ctr(const RowArgs& a, int64_t i) {
  return a.ctr ? static_cast<uint32_t>(a.ctr[i]) : a.keys ? 0u : static_cast<uint32_t>(i);
}

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

// How the block covers columns [lo, hi) of a row: a scalar prologue up to the first 16-byte
// aligned element, nvec 16-byte vectors in nt tiles of kTileVecs, a scalar tail from `done`.
struct Slice {
  int64_t lo, n, pro, nvec, done;
  int nt;  // at least 1 for a non-empty slice (the prologue and tail make a tile of their own)
};
template <typename T>
__device__ __forceinline__ Slice slice_of(const T* row, int64_t lo, int64_t hi) {
  constexpr int kVec = Elem<T>::kVec;
  Slice s;
  s.lo = lo;
  s.n = hi > lo ? hi - lo : 0;
  const int64_t to_align =
      static_cast<int64_t>(((16u - (reinterpret_cast<uintptr_t>(row + lo) & 15u)) & 15u) / sizeof(T));
  s.pro = to_align < s.n ? to_align : s.n;
  s.nvec = (s.n - s.pro) / kVec;
  s.done = s.pro + s.nvec * kVec;
  s.nt = s.n == 0 ? 0 : s.nvec == 0 ? 1 : static_cast<int>((s.nvec + kTileVecs - 1) / kTileVecs);
  return s;
}

__device__ __forceinline__ void stat_init(Stat& s) {
  s.m = -INFINITY; s.s = 0.f; s.t = 0.f; s.top2 = -INFINITY; s.idx = INT_MAX; s.bad = 0;
}

// 2^x by the hardware's approximation (MUFU.EX2, as __expf uses it), 0 at -inf.
__device__ __forceinline__ float fast_exp2(float x) {
#if defined(__CUDA_ARCH__)
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
#else
  return exp2f(x);
#endif
}

// e^x for the statistics (and step 1's tile masses at beta == 1): what __expf computes, MUFU.EX2
// of fp32(x * log2 e), but flushing a subnormal result to 0 (ex2.approx.ftz; __expf without
// -ftz=true spends a range check and two multiplies per element to keep it). A flushed term is
// below 2^-126 of the running max's term 1, so below the fp32 rounding of s >= 1 (and of t, or
// within any tolerance of the entropy). Only these loops flush: the draws' cumulative tile masses
// and the search within a tile (cumulate_tiles, tempered_weight) keep expf without .ftz. On the
// host (tools/cuda_host_emulation) nothing is flushed.
__device__ __forceinline__ float stat_exp(float x) { return fast_exp2(__fmul_rn(x, 1.4426950408889634f)); }

// (s, t) taken from reference max mo to mn >= mo; returns the factor the sums took (1 when
// s == 0, which implies t == 0 and maybe mo == -inf).
__device__ __forceinline__ float rescale(float& s, float& t, float mo, float mn) {
  if (s == 0.f) return 1.f;
  const float dm = mo - mn;
  const float a = stat_exp(dm);  // 0 also for a subnormal factor: nothing of the old terms counts
  if (a == 0.f) {  // a spread beyond float32 (dm = -inf): nothing of the old terms remains, not 0 * -inf
    s = 0.f;
    t = 0.f;
    return 0.f;
  }
  t = a * fmaf(s, dm, t);
  s *= a;
  return a;
}

// The tempered exp of x = f - r <= 0 for the tile masses, fast: at beta == 1 the statistics'
// stat_exp(x); otherwise 2^(x * fp32(beta * log2 e)), one multiply and one MUFU.EX2. `scale` is
// beta_log2e (unused at beta == 1).
template <int DRAW>
__device__ __forceinline__ float tile_exp(float x, float scale) {
  return DRAW == kDrawsBeta1 ? stat_exp(x) : fast_exp2(__fmul_rn(x, scale));
}

// Fold NV consecutive columns col0 .. col0 + NV - 1 into the thread's state; with draws, their
// tempered weights into the thread's tile mass tm (relative to st.m).
template <int DRAW, int NV>
__device__ __forceinline__ void update(Stat& st, float& tm, const float (&f)[NV], int64_t col0, float scale) {
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
        const float a = rescale(st.s, st.t, st.m, x);
        if constexpr (DRAW == kDrawsBeta1) {
          tm *= a;  // tm's terms are some of s's, so s == 0 implies tm == 0
        } else if constexpr (DRAW == kDrawsBeta) {
          if (tm != 0.f) tm *= tile_exp<DRAW>(st.m - x, scale);
        }
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
    const float ex = stat_exp(dd);
    st.s += ex;
    st.t = fmaf(ex, dd, st.t);
    if constexpr (DRAW == kDrawsBeta1) tm += ex;
    if constexpr (DRAW == kDrawsBeta) tm += tile_exp<DRAW>(dd, scale);
  }
}

// Order-preserving int of a float that is not NaN (-0 below +0), and back.
__device__ __forceinline__ int ordered_int(float x) {
  const int i = __float_as_int(x);
  return i ^ ((i >> 31) & 0x7FFFFFFF);
}
__device__ __forceinline__ float from_ordered(int i) { return __int_as_float(i ^ ((i >> 31) & 0x7FFFFFFF)); }

__device__ __forceinline__ int warp_max(int v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const int u = __shfl_xor_sync(kFullMask, v, o);
    v = u > v ? u : v;
  }
  return v;
#else
  return __reduce_max_sync(kFullMask, v);
#endif
}
__device__ __forceinline__ int warp_min(int v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const int u = __shfl_xor_sync(kFullMask, v, o);
    v = u < v ? u : v;
  }
  return v;
#else
  return __reduce_min_sync(kFullMask, v);
#endif
}

// End of a tile (step 1, all lanes of the warp): the warp's mass relative to r, its largest
// running max, into out[warp]; the thread's tile mass restarts at 0.
template <int DRAW>
__device__ __forceinline__ void end_tile(float m_t, float& tm, float scale, TileMass* out) {
  const float r = from_ordered(warp_max(ordered_int(m_t)));
  float c = tm > 0.f ? tm * tile_exp<DRAW>(m_t - r, scale) : 0.f;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) c += __shfl_down_sync(kFullMask, c, o);
  if ((threadIdx.x & 31) == 0) out[threadIdx.x >> 5] = TileMass{r, c};
  tm = 0.f;
}

// Columns [lo, hi) of a row that starts at `row`. With draws, tiles[j * kRowWarps + warp]
// receives tile j's masses (tiles_per_slice tiles, those past the slice's nt empty).
template <typename T, int DRAW>
__device__ __forceinline__ void process_range(Stat& st, const T* row, int64_t lo, int64_t hi, float scale,
                                              TileMass* tiles, int tiles_per_slice) {
  using E = Elem<T>;
  constexpr int kVec = E::kVec;
  const Slice sl = slice_of(row, lo, hi);
  const T* p = row + lo;
  const int tid = threadIdx.x;
  float tm = 0.f;
  if (tid < sl.pro) {
    const float f[1] = {E::load1(p + tid)};
    update<DRAW, 1>(st, tm, f, lo + tid, scale);
  }
  const uint4* vp = reinterpret_cast<const uint4*>(p + sl.pro);
  for (int j = 0; j < sl.nt; ++j) {  // uniform over the block: the warps of draws meet at each tile's end
    const int64_t v0 = static_cast<int64_t>(j) * kTileVecs + tid;
    uint4 r[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t v = v0 + static_cast<int64_t>(u) * kRowThreads;
      if (v < sl.nvec) r[u] = __ldcs(vp + v);  // read once: do not keep it in L1/L2
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t v = v0 + static_cast<int64_t>(u) * kRowThreads;
      if (v < sl.nvec) {
        float f[kVec];
        E::unpack(r[u], f);
        update<DRAW, kVec>(st, tm, f, lo + sl.pro + v * kVec, scale);
      }
    }
    if constexpr (DRAW != kNoDraws) {
      if (j + 1 < sl.nt) end_tile<DRAW>(st.m, tm, scale, tiles + static_cast<int64_t>(j) * kRowWarps);
    }
  }
  if (tid < sl.n - sl.done) {
    const float f[1] = {E::load1(p + sl.done + tid)};
    update<DRAW, 1>(st, tm, f, lo + sl.done + tid, scale);
  }
  if constexpr (DRAW != kNoDraws) {
    if (sl.nt > 0) end_tile<DRAW>(st.m, tm, scale, tiles + static_cast<int64_t>(sl.nt - 1) * kRowWarps);
    for (int e = sl.nt * kRowWarps + tid; e < tiles_per_slice * kRowWarps; e += kRowThreads)
      tiles[e] = TileMass{-INFINITY, 0.f};
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

__device__ __forceinline__ Stat shfl_down(const Stat& s, int o) {
  Stat r;
  r.m = __shfl_down_sync(kFullMask, s.m, o);
  r.s = __shfl_down_sync(kFullMask, s.s, o);
  r.t = __shfl_down_sync(kFullMask, s.t, o);
  r.top2 = __shfl_down_sync(kFullMask, s.top2, o);
  r.idx = __shfl_down_sync(kFullMask, s.idx, o);
  r.bad = __shfl_down_sync(kFullMask, s.bad, o);
  return r;
}

__device__ __forceinline__ void warp_reduce(Stat& st) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) combine(st, shfl_down(st, o));
}

// Leaves the block's state in thread 0.
__device__ __forceinline__ void block_reduce(Stat& st) {
  __shared__ Stat s_stat[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  warp_reduce(st);
  if (lane == 0) s_stat[warp] = st;
  __syncthreads();
  if (warp == 0) {
    if (lane < nwarps)
      st = s_stat[lane];
    else
      stat_init(st);
    warp_reduce(st);
  }
}

__device__ __forceinline__ RowInfo row_info(const Stat& st) {
  return RowInfo{st.m, 1.f / st.s, st.idx, !st.bad && st.m > -INFINITY};
}

// Row i's statistics from its complete state (and, with temperature 0, its draws: the argmax).
template <bool MASKED>
__device__ __forceinline__ void finish_row(const RowArgs& a, int64_t i, const Stat& st) {
  if (st.bad || !(st.m > -INFINITY)) atomicMin(a.status, static_cast<unsigned long long>(i));
  const float log_s = logf(st.s);
  const float inv_s = 1.f / st.s;
  const float entropy = log_s - st.t * inv_s;
  if constexpr (MASKED) {
    a.entropy[i] = entropy;
  } else {
    a.entropy[i] = entropy;
    a.lse[i] = st.m + log_s;
    a.max_prob[i] = inv_s;
    a.argmax[i] = st.idx;
    a.second_prob[i] = st.top2 > -INFINITY ? expf(st.top2 - st.m) * inv_s : 0.f;
    if (a.temperature == 0.f) {  // every draw is the argmax, no random numbers
      const int S = a.num_samples;
      for (int j = 0; j < S; ++j) {
        a.samples[i * S + j] = st.idx;
        a.sample_prob[i * S + j] = inv_s;
      }
    }
  }
}

template <bool BLOCK>
__device__ __forceinline__ void group_sync() {
  if constexpr (BLOCK)
    __syncthreads();
  else
    __syncwarp();
}

// Step 2: row i's cumulative tile masses at its max m into tile_cum, by the block (BLOCK) or
// one warp: thread t of n moves tiles t, t + n, ... to m, then thread 0 sums them in order.
template <bool BLOCK>
__device__ __forceinline__ void cumulate_tiles(const RowArgs& a, int64_t i, float m, int t, int n) {
  const int64_t nt = static_cast<int64_t>(a.splits) * a.tiles_per_slice;
  const TileMass* tab = a.tile_mass + i * nt * kRowWarps;
  double* cum = a.tile_cum + i * nt;
  for (int64_t g = t; g < nt; g += n) {
    float mass = 0.f;
#pragma unroll
    for (int w = 0; w < kRowWarps; ++w) {
      const TileMass e = tab[g * kRowWarps + w];
      if (e.mass > 0.f) mass += e.mass * expf(__fmul_rn(e.r - m, a.beta));
    }
    cum[g] = mass;
  }
  group_sync<BLOCK>();
  if (t == 0) {
    double c = 0.0;
    for (int64_t g = 0; g < nt; ++g) {
      c += cum[g];
      cum[g] = c;
    }
  }
  group_sync<BLOCK>();
}

// w_v of the draws (accurate expf): 0 exactly at f = -inf.
__device__ __forceinline__ float tempered_weight(float f, float m, float beta) {
  return expf(__fmul_rn(__fsub_rn(f, m), beta));
}

// Step 3: draws [s_begin, s_end) of row i, by all kRowThreads threads of the block; tile_cum
// holds the row's cumulative tile masses.
template <typename T>
__device__ void draw_tokens(const RowArgs& a, int64_t i, const T* row, const RowInfo& ri, int s_begin,
                            int s_end) {
  using E = Elem<T>;
  constexpr int kVec = E::kVec;
  __shared__ int s_tile[kDrawGroup];
  __shared__ int s_order[kDrawGroup];
  __shared__ double s_target[kDrawGroup];
  __shared__ double s_base[kDrawGroup];
  __shared__ double s_scan[kRowWarps][kSlots];
  __shared__ double s_before[kSlots][kRowThreads];  // the tile's sum before each (slot, thread)
  __shared__ int s_pick[2][2][kRowWarps];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t nt = static_cast<int64_t>(a.splits) * a.tiles_per_slice;
  const double* cum = a.tile_cum + i * nt;
  const double Z = cum[nt - 1];
  const int64_t S = a.num_samples;
  const float m = ri.m, beta = a.beta;

  // The tile in registers: thread tid's columns of each slot (prologue, kUnroll vectors, tail),
  // the sum of their weights (fp32); the tile's sum before them (float64, column order) is in
  // s_before.
  int loaded = -1;
  Slice sl{};
  int64_t v_first = 0;
  uint4 raw[kUnroll];
  float fpro = -INFINITY, ftail = -INFINITY;
  float ssum[kSlots];
  int parity = 0;

  for (int s0 = s_begin; s0 < s_end; s0 += kDrawGroup) {
    const int G = s_end - s0 < kDrawGroup ? s_end - s0 : kDrawGroup;
    __syncthreads();  // the previous group's tiles and targets are read
    if (warp == 0) {
      int g = 0;
      if (lane < G) {
        const uint32_t s = static_cast<uint32_t>(s0 + lane);
        const Words4 w = philox4x32_10(row_key(a, i), s >> 2, row_ctr(a, i), kTokenDomain << 24, a.offset);
        const double target = static_cast<double>(philox_uniform(select_word(w, s & 3))) * Z;
        int64_t lo = 0, hi = nt;  // the lowest tile whose cumulative mass exceeds the target
        while (lo < hi) {
          const int64_t mid = (lo + hi) >> 1;
          if (cum[mid] > target) hi = mid; else lo = mid + 1;
        }
        if (lo == nt) {  // not past every tile (u < 1); kept for safety: the last tile with mass
          lo = 0;
          hi = nt - 1;
          while (lo < hi) {
            const int64_t mid = (lo + hi) >> 1;
            if (cum[mid] >= Z) hi = mid; else lo = mid + 1;
          }
        }
        g = static_cast<int>(lo);
        s_tile[lane] = g;
        s_target[lane] = target;
        s_base[lane] = g > 0 ? cum[g - 1] : 0.0;
      }
      __syncwarp();
      if (lane < G) {  // order the group's draws by tile, then by draw
        int rank = 0;
        for (int l = 0; l < G; ++l) {
          const int h = s_tile[l];
          rank += h < g || (h == g && l < lane);
        }
        s_order[rank] = lane;
      }
    }
    __syncthreads();
    for (int q = 0; q < G; ++q) {
      const int d = s_order[q];
      const int g = s_tile[d];
      if (g != loaded) {  // uniform: re-read tile g of the row
        loaded = g;
        const int slice = g / a.tiles_per_slice, j = g % a.tiles_per_slice;
        const int64_t lo = static_cast<int64_t>(slice) * a.slice_len;
        const int64_t hi = lo + a.slice_len < a.V ? lo + a.slice_len : a.V;
        sl = slice_of(row, lo, hi);
        const T* p = row + lo;
        const uint4* vp = reinterpret_cast<const uint4*>(p + sl.pro);
        v_first = static_cast<int64_t>(j) * kTileVecs;
        fpro = (j == 0 && tid < sl.pro) ? E::load1(p + tid) : -INFINITY;
        ftail = (j == sl.nt - 1 && tid < sl.n - sl.done) ? E::load1(p + sl.done + tid) : -INFINITY;
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          const int64_t v = v_first + static_cast<int64_t>(u) * kRowThreads + tid;
          if (v < sl.nvec) raw[u] = vp[v];  // may be in L2 still, or shared with another block's draw
        }
        ssum[0] = tempered_weight(fpro, m, beta);
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          const int64_t v = v_first + static_cast<int64_t>(u) * kRowThreads + tid;
          float sum = 0.f;
          if (v < sl.nvec) {
            float f[kVec];
            E::unpack(raw[u], f);
#pragma unroll
            for (int e = 0; e < kVec; ++e) sum += tempered_weight(f[e], m, beta);
          }
          ssum[1 + u] = sum;
        }
        ssum[kSlots - 1] = tempered_weight(ftail, m, beta);
        // Exclusive prefix of every slot's sums over the block, slots in column order.
        double inc[kSlots];
#pragma unroll
        for (int k = 0; k < kSlots; ++k) inc[k] = ssum[k];
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
#pragma unroll
          for (int k = 0; k < kSlots; ++k) {
            const double y = __shfl_up_sync(kFullMask, inc[k], o);
            if (lane >= o) inc[k] += y;
          }
        }
        double sx[kSlots];
#pragma unroll
        for (int k = 0; k < kSlots; ++k) {
          const double y = __shfl_up_sync(kFullMask, inc[k], 1);
          sx[k] = lane == 0 ? 0.0 : y;
          if (lane == 31) s_scan[warp][k] = inc[k];
        }
        __syncthreads();
        double before = 0.0;  // the slots before slot k, whole block
#pragma unroll
        for (int k = 0; k < kSlots; ++k) {
          double off = 0.0, tot = 0.0;
#pragma unroll
          for (int w = 0; w < kRowWarps; ++w) {
            const double y = s_scan[w][k];
            if (w < warp) off += y;
            tot += y;
          }
          s_before[k][tid] = before + (off + sx[k]);
          before += tot;
        }
      }
      const double target = s_target[d], base = s_base[d];
      // The draw's slot: the lowest (slot, thread) with weight whose running sum passes the target;
      // failing that (rounding), the last one with weight.
      int cross = INT_MAX, last = -1;
#pragma unroll
      for (int k = 0; k < kSlots; ++k) {
        if (ssum[k] > 0.f) {
          const int key = k * kRowThreads + tid;
          if (cross == INT_MAX && base + (s_before[k][tid] + ssum[k]) > target) cross = key;
          last = key;
        }
      }
      cross = warp_min(cross);
      last = warp_max(last);
      if (lane == 0) {
        s_pick[parity][0][warp] = cross;
        s_pick[parity][1][warp] = last;
      }
      __syncthreads();
#pragma unroll
      for (int w = 0; w < kRowWarps; ++w) {
        const int c = s_pick[parity][0][w], l = s_pick[parity][1][w];
        cross = c < cross ? c : cross;
        last = l > last ? l : last;
      }
      parity ^= 1;
      const int64_t o = i * S + s0 + d;
      if (cross == INT_MAX && last < 0) {  // no weight in the tile: fp32 underflow only
        if (tid == 0) {
          a.samples[o] = ri.idx;
          a.sample_prob[o] = ri.inv_s;
        }
        continue;
      }
      const bool beyond = cross == INT_MAX;
      const int key = beyond ? last : cross;
      if (key % kRowThreads != tid) continue;
      // The owner walks its slot in column order, in float64 from the slot's prefix.
      const int k = key / kRowThreads;
      double run = base + s_before[k][tid];
      int64_t pick = -1, last_col = -1;
      float f_pick = 0.f, f_last = 0.f;
      auto visit = [&](float f, int64_t col) {
        const float w = tempered_weight(f, m, beta);
        if (w > 0.f) {
          run += w;
          if (pick < 0 && !beyond && run > target) {
            pick = col;
            f_pick = f;
          }
          last_col = col;
          f_last = f;
        }
      };
      if (k == 0) visit(fpro, sl.lo + tid);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (k == 1 + u) {
          float f[kVec];
          E::unpack(raw[u], f);
          const int64_t c0 = sl.lo + sl.pro + (v_first + static_cast<int64_t>(u) * kRowThreads + tid) * kVec;
#pragma unroll
          for (int e = 0; e < kVec; ++e) visit(f[e], c0 + e);
        }
      }
      if (k == kSlots - 1) visit(ftail, sl.lo + sl.done + tid);
      if (pick < 0) {
        pick = last_col;
        f_pick = f_last;
      }
      a.samples[o] = pick;
      a.sample_prob[o] = expf(__fsub_rn(f_pick, m)) * ri.inv_s;
    }
  }
}

// Steps 2 (when `cumulate`) and 3 for draws [s_begin, s_end) of row i: the whole block.
template <typename T>
__device__ __forceinline__ void draw_row(const RowArgs& a, int64_t i, const T* row, const RowInfo& ri,
                                         int s_begin, int s_end, bool cumulate) {
  if (!ri.ok) {  // a bad row: its outputs are unspecified; every draw the argmax
    for (int s = s_begin + static_cast<int>(threadIdx.x); s < s_end; s += kRowThreads) {
      a.samples[i * a.num_samples + s] = ri.idx;
      a.sample_prob[i * a.num_samples + s] = ri.inv_s;
    }
    return;
  }
  if (cumulate) cumulate_tiles<true>(a, i, ri.m, threadIdx.x, kRowThreads);
  draw_tokens<T>(a, i, row, ri, s_begin, s_end);
}

template <typename T, int DRAW, bool MASKED>
__global__ void __launch_bounds__(kRowThreads) row_stats_kernel(const RowArgs a) {
  static_assert(!(MASKED && DRAW != kNoDraws), "K2 draws nothing");
  const int64_t i = blockIdx.x;
  const int slice = blockIdx.y;
  const T* row;
  if constexpr (MASKED) {
    if (!a.mask[i]) return;  // whole block leaves: unmasked rows cost one byte
    row = static_cast<const T*>(a.base) + (i / a.T) * a.stride_b + (i % a.T) * a.stride_t;
  } else {
    row = static_cast<const T*>(a.base) + row_offset(a, i);
  }
  Stat st;
  stat_init(st);
  const int64_t lo = static_cast<int64_t>(slice) * a.slice_len;
  const int64_t hi = lo + a.slice_len < a.V ? lo + a.slice_len : a.V;
  TileMass* tiles = nullptr;
  if constexpr (DRAW != kNoDraws)
    tiles = a.tile_mass + (i * a.splits + slice) * static_cast<int64_t>(a.tiles_per_slice) * kRowWarps;
  process_range<T, DRAW>(st, row, lo, hi, a.beta_log2e, tiles, a.tiles_per_slice);
  block_reduce(st);
  if (threadIdx.x != 0) return;
  if (a.splits > 1) {
    a.part_stat[i * a.splits + slice] = st;
  } else {
    finish_row<MASKED>(a, i, st);
    if constexpr (DRAW != kNoDraws) a.row_info[i] = row_info(st);
  }
}

// Split-vocabulary path: one warp merges the slices of one row; with draws it also sums the
// row's tile masses (step 2) for draw_kernel.
template <bool DRAW, bool MASKED>
__global__ void __launch_bounds__(32 * kCombineWarps) combine_kernel(const RowArgs a) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kCombineWarps + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (i >= a.R) return;
  if constexpr (MASKED) {
    if (!a.mask[i]) return;
  }
  Stat st;
  stat_init(st);
  for (int sl = lane; sl < a.splits; sl += 32) combine(st, a.part_stat[i * a.splits + sl]);
  warp_reduce(st);
  if (lane == 0) finish_row<MASKED>(a, i, st);
  if constexpr (DRAW) {
    const RowInfo ri = row_info(st);
    if (lane == 0) a.row_info[i] = ri;
    const float m = __shfl_sync(kFullMask, ri.m, 0);
    if (__shfl_sync(kFullMask, ri.ok, 0)) cumulate_tiles<false>(a, i, m, lane, 32);
  }
}

// Step 3 (and with one slice per row step 2): block (i, y) takes draws
// [y * draws_per_block, (y + 1) * draws_per_block) of row i. One slice per row: one block per
// row (y = 0) that first sums the row's tile masses; the split path: the combine kernel has.
template <typename T>
__global__ void __launch_bounds__(kRowThreads, 4) draw_kernel(const RowArgs a) {
  const int64_t i = blockIdx.x;
  const int s_begin = static_cast<int>(blockIdx.y) * a.draws_per_block;
  const int s_end = a.num_samples - s_begin < a.draws_per_block ? a.num_samples : s_begin + a.draws_per_block;
  if (s_begin >= s_end) return;
  const T* row = static_cast<const T*>(a.base) + row_offset(a, i);
  const RowInfo ri = a.row_info[i];
  draw_row<T>(a, i, row, ri, s_begin, s_end, a.splits == 1);
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
  len = (len + 7) / 8 * 8;  // slices start on 16-byte boundaries of aligned rows
  return RowPlan{static_cast<int>((V + len - 1) / len), len};
}

// The most tiles a slice of slice_len columns has (its vectors: at most slice_len / vec).
inline int tiles_per_slice(int64_t slice_len, int elem_bytes) {
  const int64_t cols = static_cast<int64_t>(kTileVecs) * (16 / elem_bytes);
  const int64_t n = (slice_len + cols - 1) / cols;
  return static_cast<int>(n < 1 ? 1 : n);
}

// Workspace of a call, in byte offsets from its 16-byte aligned start: with draws the
// cumulative tile masses, the tile table and the rows' RowInfo; on the split path the partial
// states.
struct RowWorkspace {
  size_t tile_cum, tile_mass, part_stat, row_info, bytes;
};

inline RowWorkspace row_workspace(int64_t R, const RowPlan& plan, int elem_bytes, bool draws) {
  auto up16 = [](size_t b) { return (b + 15) / 16 * 16; };
  RowWorkspace w{};
  const size_t parts = static_cast<size_t>(R) * plan.splits;
  if (draws) {
    const size_t tiles = parts * static_cast<size_t>(tiles_per_slice(plan.slice_len, elem_bytes));
    w.tile_cum = w.bytes;
    w.bytes += up16(tiles * sizeof(double));
    w.tile_mass = w.bytes;
    w.bytes += up16(tiles * kRowWarps * sizeof(TileMass));
  }
  if (draws) {
    w.row_info = w.bytes;
    w.bytes += up16(static_cast<size_t>(R) * sizeof(RowInfo));
  }
  if (plan.splits > 1) {
    w.part_stat = w.bytes;
    w.bytes += up16(parts * sizeof(Stat));
  }
  return w;
}

}  // namespace igk
