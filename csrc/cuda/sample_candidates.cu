// K3 candidate action sampling: for every sequence b, N top-k position sets, one launch.
//
// Candidate c of sequence b scores position t by
//   score = conf[b, c, t]                                  (c == 0, or tau == 0)
//   score = fp32(conf[b, c, t]) / fp32(tau) + g            (c >= 1; true division, then add)
// with g = gumbel(philox(key_b, (t >> 2, ctr_b, c | 1 << 24, offset))[t & 3]) (philox.cuh), and
// takes the k largest scores of the valid positions, ties to the lower position. With seq_k,
// sequence b keeps only the first seq_k[b] (in [0, k]) of that order: its top-seq_k[b] set,
// -1 padded to k, and its duplicate flags compare those rows.
//
// Order: as in the reference, the total order (valid first, score desc, position asc); a chosen
// invalid position becomes -1. Each (score, t) becomes one 64-bit key: the float's bits mapped
// to an order-preserving unsigned integer in the high word (0 when invalid: below every valid
// score, -inf included; NaN as +inf and -0 as +0, as torch.sort compares them), ~t in the low
// word, so "larger key" is exactly that order and every key is distinct. One block per
// sequence sorts the keys of each candidate in shared memory (bitonic, descending), keeps the
// first k, re-sorts their positions ascending (invalid ones as T, so they land last and print
// as -1), and finally compares each candidate's row with the earlier ones of its sequence to
// flag duplicates.
#include <climits>
#include <stdexcept>

#include "igk_cuda.h"
#include "launch.cuh"
#include "philox.cuh"

namespace igk {
namespace {

constexpr int64_t kMaxSortKeys = 16384;  // 128 KiB of keys in shared memory

__device__ __forceinline__ uint64_t order_key(float score, bool valid, uint32_t t) {
  uint32_t u = 0;
  if (valid) {
    if (score != score) score = INFINITY;
    u = __float_as_uint(score == 0.f ? 0.f : score);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // > 0 for every score once NaN is +inf
  }
  return (static_cast<uint64_t>(u) << 32) | (0xFFFFFFFFu - t);
}

// Sorts s[0, n) (n a power of two) with the whole block; descending or ascending.
__device__ void bitonic_sort(uint64_t* s, int n, bool descending) {
  for (int size = 2; size <= n; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int i = threadIdx.x; i < (n >> 1); i += blockDim.x) {
        const int lo = 2 * i - (i & (stride - 1));
        const int hi = lo + stride;
        const bool larger_first = ((lo & size) == 0) == descending;
        const uint64_t a = s[lo], b = s[hi];
        if ((a < b) == larger_first) {
          s[lo] = b;
          s[hi] = a;
        }
      }
      __syncthreads();
    }
  }
}

struct CandArgs {
  const float* conf;
  int64_t stride_b, stride_n;
  const uint8_t* valid;
  int N, T, k, P;  // P: T rounded up to a power of two
  float tau;
  const int64_t* keys;
  const int64_t* ctr;
  const int64_t* seq_k;  // [B] in [0, k], or null: k for every sequence
  uint32_t offset;
  int64_t* positions;
  uint8_t* unique;
};

__global__ void __launch_bounds__(1024) sample_candidates_kernel(const CandArgs a) {
  extern __shared__ uint64_t s_keys[];
  const int b = blockIdx.x;
  const uint8_t* valid = a.valid + static_cast<int64_t>(b) * a.T;
  const uint64_t key = static_cast<uint64_t>(a.keys[b]);
  const uint32_t ctr = static_cast<uint32_t>(a.ctr[b]);
  // Positions kept (the rest of the row is -1): seq_k[b] (the op layer clamped it into [0, k]), at most T.
  const int64_t k_b = a.seq_k ? (a.seq_k[b] < 0 ? 0 : a.seq_k[b] < a.k ? a.seq_k[b] : a.k) : a.k;
  const int kk = static_cast<int>(k_b < a.T ? k_b : a.T);
  int kp = 1;
  while (kp < kk) kp <<= 1;
  for (int c = 0; c < a.N; ++c) {
    int64_t* out = a.positions + (static_cast<int64_t>(b) * a.N + c) * a.k;
    if (kk == 0) {  // the whole block: nothing kept, nothing to sort
      for (int i = threadIdx.x; i < a.k; i += blockDim.x) out[i] = -1;
      continue;
    }
    const float* conf = a.conf + b * a.stride_b + c * a.stride_n;
    const bool noisy = c > 0 && a.tau > 0.f;
    for (int q = threadIdx.x; q < (a.P >> 2); q += blockDim.x) {
      Words4 w{};
      if (noisy && 4 * q < a.T)
        w = philox4x32_10(key, static_cast<uint32_t>(q), ctr, static_cast<uint32_t>(c) | (kPositionDomain << 24),
                          a.offset);
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int t = 4 * q + e;
        uint64_t kv = 0;  // padding sorts below every real key
        if (t < a.T) {
          float score = conf[t];
          if (noisy) score = __fadd_rn(__fdiv_rn(score, a.tau), gumbel_from_word(w.w[e]));
          kv = order_key(score, valid[t] != 0, static_cast<uint32_t>(t));
        }
        s_keys[t] = kv;
      }
    }
    __syncthreads();
    bitonic_sort(s_keys, a.P, true);
    for (int i = threadIdx.x; i < kp; i += blockDim.x) {
      uint64_t pos = ~0ull;
      if (i < kk) {
        const uint32_t t = 0xFFFFFFFFu - static_cast<uint32_t>(s_keys[i]);
        pos = valid[t] ? t : static_cast<uint64_t>(a.T);
      }
      s_keys[i] = pos;
    }
    __syncthreads();
    bitonic_sort(s_keys, kp, false);
    for (int i = threadIdx.x; i < a.k; i += blockDim.x)
      out[i] = (i < kk && s_keys[i] < static_cast<uint64_t>(a.T)) ? static_cast<int64_t>(s_keys[i]) : -1;
    __syncthreads();  // s_keys is the next candidate's
  }
  __syncthreads();  // this block's position rows are visible to the duplicate check
  const int64_t* rows = a.positions + static_cast<int64_t>(b) * a.N * a.k;
  for (int c = threadIdx.x; c < a.N; c += blockDim.x) {
    bool uniq = true;
    for (int c2 = 0; c2 < c && uniq; ++c2) {
      bool same = true;
      for (int i = 0; i < a.k && same; ++i)
        same = rows[static_cast<int64_t>(c) * a.k + i] == rows[static_cast<int64_t>(c2) * a.k + i];
      uniq = !same;
    }
    a.unique[static_cast<int64_t>(b) * a.N + c] = uniq;
  }
}

}  // namespace

namespace cuda {

int64_t sample_candidates_max_positions() { return kMaxSortKeys; }

void sample_candidates(const SampleCandidatesCall& c) {
  if (c.B < 1 || c.B > INT_MAX) throw std::invalid_argument("igkernels CUDA: B must be in [1, 2^31)");
  if (c.T < 1 || c.T > kMaxSortKeys)
    throw std::invalid_argument("igkernels CUDA: sample_candidates sorts at most 16384 positions per sequence");
  if (c.N < 1 || c.N >= (1 << 24) || c.k < 1 || c.k > INT_MAX)
    throw std::invalid_argument("igkernels CUDA: bad num_candidates or k");
  CandArgs a{};
  a.conf = reinterpret_cast<const float*>(c.confidence);
  a.stride_b = c.stride_b;
  a.stride_n = c.stride_n;
  a.valid = reinterpret_cast<const uint8_t*>(c.valid);
  a.N = static_cast<int>(c.N);
  a.T = static_cast<int>(c.T);
  a.k = static_cast<int>(c.k);
  int P = 4;
  while (P < a.T) P <<= 1;
  a.P = P;
  a.tau = static_cast<float>(c.tau);
  a.keys = reinterpret_cast<const int64_t*>(c.keys);
  a.ctr = reinterpret_cast<const int64_t*>(c.ctr);
  a.seq_k = reinterpret_cast<const int64_t*>(c.seq_k);
  a.offset = c.offset;
  a.positions = reinterpret_cast<int64_t*>(c.positions);
  a.unique = reinterpret_cast<uint8_t*>(c.unique);
  const int threads = P / 2 < 32 ? 32 : (P / 2 > 1024 ? 1024 : P / 2);
  const size_t smem = static_cast<size_t>(P) * sizeof(uint64_t);
  check_cuda(cudaFuncSetAttribute(sample_candidates_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(kMaxSortKeys * sizeof(uint64_t))),
             "cudaFuncSetAttribute");
  sample_candidates_kernel<<<static_cast<unsigned>(c.B), threads, smem, reinterpret_cast<cudaStream_t>(c.stream)>>>(a);
  check_cuda(cudaGetLastError(), "sample_candidates kernel");
}

}  // namespace cuda
}  // namespace igk
