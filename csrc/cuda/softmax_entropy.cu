// K1 softmax-entropy statistics on the GPU: launchers around row_stats.cuh. More than
// kMaxPassSamples draws per row take further passes over the row, each drawing the next
// kMaxPassSamples streams; the statistics come from the first pass.
#include <algorithm>
#include <climits>
#include <stdexcept>

#include "igk_cuda.h"
#include "launch.cuh"
#include "row_stats.cuh"

namespace igk {
namespace {

// Draw slots per (row, slice) part of the widest pass of a call: its workspace size.
int call_draw_slots(int64_t num_samples, double temperature) {
  if (num_samples == 0 || temperature == 0.0) return 0;
  return draw_slots(static_cast<int>(std::min<int64_t>(num_samples, kMaxPassSamples)));
}

template <typename T, int NS>
void launch_pass(const RowArgs& a, const RowPlan& plan, cudaStream_t s) {
  const dim3 grid(static_cast<unsigned>(a.R), static_cast<unsigned>(plan.splits));
  row_stats_kernel<T, NS, false><<<grid, kRowThreads, 0, s>>>(a);
  check_cuda(cudaGetLastError(), "softmax_entropy row kernel");
  if (plan.splits > 1) {
    const unsigned blocks = static_cast<unsigned>((a.R + kCombineWarps - 1) / kCombineWarps);
    combine_kernel<NS, false><<<blocks, 32 * kCombineWarps, 0, s>>>(a);
    check_cuda(cudaGetLastError(), "softmax_entropy combine kernel");
  }
}

template <typename T>
void run(const cuda::SoftmaxEntropyCall& c, const RowPlan& plan, cudaStream_t s) {
  RowArgs a{};
  a.base = reinterpret_cast<const void*>(c.logits);
  a.V = c.V;
  a.R = c.R;
  a.offsets = reinterpret_cast<const int64_t*>(c.offsets);
  a.keys = reinterpret_cast<const int64_t*>(c.keys);
  a.ctr = reinterpret_cast<const int64_t*>(c.ctr);
  a.num_samples = static_cast<int>(c.num_samples);
  a.temperature = static_cast<float>(c.temperature);
  a.offset = c.offset;
  a.entropy = reinterpret_cast<float*>(c.entropy);
  a.lse = reinterpret_cast<float*>(c.lse);
  a.max_prob = reinterpret_cast<float*>(c.max_prob);
  a.argmax = reinterpret_cast<int64_t*>(c.argmax);
  a.second_prob = reinterpret_cast<float*>(c.second_prob);
  a.samples = reinterpret_cast<int64_t*>(c.samples);
  a.sample_prob = reinterpret_cast<float*>(c.sample_prob);
  a.status = reinterpret_cast<unsigned long long*>(c.status);
  a.splits = plan.splits;
  a.slice_len = plan.slice_len;
  a.part_stat = reinterpret_cast<Stat*>(c.workspace);
  a.part_draw = reinterpret_cast<Draw*>(a.part_stat + c.R * plan.splits);
  a.write_stats = true;
  if (call_draw_slots(c.num_samples, c.temperature) == 0) {
    launch_pass<T, 0>(a, plan, s);  // with temperature 0 the row epilogue copies the argmax into every draw
    return;
  }
  for (int64_t s0 = 0; s0 < c.num_samples; s0 += kMaxPassSamples) {
    a.stream0 = static_cast<int>(s0);
    a.pass_samples = static_cast<int>(std::min<int64_t>(kMaxPassSamples, c.num_samples - s0));
    a.write_stats = s0 == 0;
    if (draw_slots(a.pass_samples) == 1)
      launch_pass<T, 1>(a, plan, s);
    else
      launch_pass<T, kMaxPassSamples>(a, plan, s);
  }
}

void check_sizes(int64_t V, int64_t R, int64_t S) {
  if (V < 1 || V > INT_MAX) throw std::invalid_argument("igkernels CUDA: V must be in [1, 2^31)");
  if (R < 1 || R > INT_MAX) throw std::invalid_argument("igkernels CUDA: rows must be in [1, 2^31)");
  if (S < 0 || S >= (1 << 24)) throw std::invalid_argument("igkernels CUDA: num_samples must be in [0, 2^24)");
}

}  // namespace

namespace cuda {

size_t softmax_entropy_workspace(int dtype, int64_t V, int64_t R, int64_t num_samples, double temperature) {
  check_sizes(V, R, num_samples);
  const RowPlan plan = plan_rows(R, V, elem_bytes(dtype), sm_count());
  return row_workspace_bytes(R, plan, call_draw_slots(num_samples, temperature));
}

void softmax_entropy(const SoftmaxEntropyCall& c) {
  check_sizes(c.V, c.R, c.num_samples);
  const RowPlan plan = plan_rows(c.R, c.V, elem_bytes(c.dtype), sm_count());
  if (c.workspace_bytes < row_workspace_bytes(c.R, plan, call_draw_slots(c.num_samples, c.temperature)))
    throw std::invalid_argument("igkernels CUDA: softmax_entropy workspace too small");
  const auto s = reinterpret_cast<cudaStream_t>(c.stream);
  with_elem_type(c.dtype, [&](auto elem) { run<decltype(elem)>(c, plan, s); });
}

}  // namespace cuda
}  // namespace igk
