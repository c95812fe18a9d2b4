// K2 masked-mean state uncertainty: U_b = (1 / |M_b|) sum_{t in M_b} H_{b,t}, 0 when M_b is empty.
//
// The row kernel of row_stats.cuh runs over every (b, t) and reads mask[b, t] on the device: an
// unmasked row costs its block one byte, so no host sync is needed to list the masked rows.
// Each masked row's entropy goes to a [B * T] fp32 scratch (4 bytes against V * 2 read); a
// second kernel then averages each b's masked entries in a fixed order (fp64 partial sums, a
// fixed tree), so U_b is identical from run to run.
#include <climits>
#include <stdexcept>

#include "igk_cuda.h"
#include "launch.cuh"
#include "row_stats.cuh"

namespace igk {
namespace {

constexpr int kMeanThreads = 256;

__global__ void __launch_bounds__(kMeanThreads)
masked_mean_kernel(const float* __restrict__ ent, const uint8_t* __restrict__ mask, int64_t T,
                   float* __restrict__ out) {
  __shared__ double s_sum[kMeanThreads];
  __shared__ int64_t s_cnt[kMeanThreads];
  const int64_t b = blockIdx.x;
  double sum = 0.0;
  int64_t cnt = 0;
  for (int64_t t = threadIdx.x; t < T; t += kMeanThreads) {
    if (mask[b * T + t]) {
      sum += ent[b * T + t];
      ++cnt;
    }
  }
  s_sum[threadIdx.x] = sum;
  s_cnt[threadIdx.x] = cnt;
  __syncthreads();
  for (int w = kMeanThreads / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) {
      s_sum[threadIdx.x] += s_sum[threadIdx.x + w];
      s_cnt[threadIdx.x] += s_cnt[threadIdx.x + w];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) out[b] = s_cnt[0] ? static_cast<float>(s_sum[0] / static_cast<double>(s_cnt[0])) : 0.f;
}

size_t scratch_bytes(int64_t R) { return (static_cast<size_t>(R) * sizeof(float) + 15) / 16 * 16; }

template <typename T>
void run(const cuda::StateUncertaintyCall& c, const RowPlan& plan, cudaStream_t s) {
  const int64_t R = c.B * c.T;
  RowArgs a{};
  a.base = reinterpret_cast<const void*>(c.logits);
  a.V = c.V;
  a.R = R;
  a.mask = reinterpret_cast<const uint8_t*>(c.mask);
  a.T = c.T;
  a.stride_b = c.stride_b;
  a.stride_t = c.stride_t;
  a.entropy = reinterpret_cast<float*>(c.workspace);
  a.status = reinterpret_cast<unsigned long long*>(c.status);
  a.splits = plan.splits;
  a.slice_len = plan.slice_len;
  const RowWorkspace ws = row_workspace(R, plan, static_cast<int>(sizeof(T)), false);
  a.part_stat = reinterpret_cast<Stat*>(c.workspace + scratch_bytes(R) + ws.part_stat);
  const dim3 grid(static_cast<unsigned>(R), static_cast<unsigned>(plan.splits));
  row_stats_kernel<T, kNoDraws, true><<<grid, kRowThreads, 0, s>>>(a);
  check_cuda(cudaGetLastError(), "state_uncertainty row kernel");
  if (plan.splits > 1) {
    const unsigned blocks = static_cast<unsigned>((R + kCombineWarps - 1) / kCombineWarps);
    combine_kernel<false, true><<<blocks, 32 * kCombineWarps, 0, s>>>(a);
    check_cuda(cudaGetLastError(), "state_uncertainty combine kernel");
  }
  masked_mean_kernel<<<static_cast<unsigned>(c.B), kMeanThreads, 0, s>>>(
      a.entropy, a.mask, c.T, reinterpret_cast<float*>(c.out));
  check_cuda(cudaGetLastError(), "state_uncertainty mean kernel");
}

void check_sizes(int64_t B, int64_t T, int64_t V) {
  if (V < 1 || V > INT_MAX) throw std::invalid_argument("igkernels CUDA: V must be in [1, 2^31)");
  if (B < 1 || T < 1 || B * T > INT_MAX || B > INT_MAX)
    throw std::invalid_argument("igkernels CUDA: B * T must be in [1, 2^31)");
}

}  // namespace

namespace cuda {

size_t state_uncertainty_workspace(int dtype, int64_t B, int64_t T, int64_t V) {
  check_sizes(B, T, V);
  const int64_t R = B * T;
  const int eb = elem_bytes(dtype);
  return scratch_bytes(R) + row_workspace(R, plan_rows(R, V, eb, sm_count()), eb, false).bytes;
}

void state_uncertainty(const StateUncertaintyCall& c) {
  check_sizes(c.B, c.T, c.V);
  const int64_t R = c.B * c.T;
  const RowPlan plan = plan_rows(R, c.V, elem_bytes(c.dtype), sm_count());
  if (c.workspace_bytes < scratch_bytes(R) + row_workspace(R, plan, elem_bytes(c.dtype), false).bytes)
    throw std::invalid_argument("igkernels CUDA: state_uncertainty workspace too small");
  const auto s = reinterpret_cast<cudaStream_t>(c.stream);
  with_elem_type(c.dtype, [&](auto elem) { run<decltype(elem)>(c, plan, s); });
}

}  // namespace cuda
}  // namespace igk
