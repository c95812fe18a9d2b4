// K1 softmax-entropy statistics and inverse-transform token draws on the GPU: launchers around
// row_stats.cuh (its header comment describes the draws). One block per row: the statistics
// kernel (and tile masses), then, with draws, draw_kernel with one block per row. Split-vocabulary
// path (few rows): the slice blocks, the combine kernel (statistics and, with draws, cumulative
// tile masses), then draw_kernel with kSplitDraws draws per block. Launch sizes depend on the
// shapes alone: nothing is read back.
#include <climits>
#include <stdexcept>

#include "igk_cuda.h"
#include "launch.cuh"
#include "row_stats.cuh"

namespace igk {
namespace {

bool call_draws(int64_t num_samples, double temperature) { return num_samples > 0 && temperature > 0.0; }

template <typename T, int DRAW>
void launch_rows(const RowArgs& a, const RowPlan& plan, cudaStream_t s) {
  const dim3 grid(static_cast<unsigned>(a.R), static_cast<unsigned>(plan.splits));
  row_stats_kernel<T, DRAW, false><<<grid, kRowThreads, 0, s>>>(a);
  check_cuda(cudaGetLastError(), "softmax_entropy row kernel");
  if (plan.splits > 1) {
    const unsigned blocks = static_cast<unsigned>((a.R + kCombineWarps - 1) / kCombineWarps);
    combine_kernel<DRAW != kNoDraws, false><<<blocks, 32 * kCombineWarps, 0, s>>>(a);
    check_cuda(cudaGetLastError(), "softmax_entropy combine kernel");
  }
  if constexpr (DRAW != kNoDraws) {
    const int64_t groups = (a.num_samples + a.draws_per_block - 1) / a.draws_per_block;
    const dim3 draw_grid(static_cast<unsigned>(a.R), static_cast<unsigned>(groups));
    draw_kernel<T><<<draw_grid, kRowThreads, 0, s>>>(a);
    check_cuda(cudaGetLastError(), "softmax_entropy draw kernel");
  }
}

template <typename T>
void run(const cuda::SoftmaxEntropyCall& c, const RowPlan& plan, cudaStream_t s) {
  const bool draws = call_draws(c.num_samples, c.temperature);
  const RowWorkspace ws = row_workspace(c.R, plan, static_cast<int>(sizeof(T)), draws);
  char* const work = reinterpret_cast<char*>(c.workspace);
  RowArgs a{};
  a.base = reinterpret_cast<const void*>(c.logits);
  a.V = c.V;
  a.R = c.R;
  a.offsets = reinterpret_cast<const int64_t*>(c.offsets);  // null: row i at i * row_stride
  a.row_stride = c.row_stride;
  a.keys = reinterpret_cast<const int64_t*>(c.keys);  // null: `key` for every row
  a.ctr = reinterpret_cast<const int64_t*>(c.ctr);    // null: i without keys, 0 with them
  a.key = static_cast<uint64_t>(c.key);
  a.num_samples = static_cast<int>(c.num_samples);
  a.temperature = static_cast<float>(c.temperature);
  a.beta = draws ? static_cast<float>(1.0 / c.temperature) : 1.f;  // fp32(1 / temperature), as the reference
  a.beta_log2e = static_cast<float>(static_cast<double>(a.beta) * 1.4426950408889634);
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
  a.part_stat = plan.splits > 1 ? reinterpret_cast<Stat*>(work + ws.part_stat) : nullptr;
  if (draws) {
    a.tile_cum = reinterpret_cast<double*>(work + ws.tile_cum);
    a.tile_mass = reinterpret_cast<TileMass*>(work + ws.tile_mass);
    a.row_info = reinterpret_cast<RowInfo*>(work + ws.row_info);
    a.tiles_per_slice = tiles_per_slice(plan.slice_len, static_cast<int>(sizeof(T)));
    // One draw block per row, which also sums the row's tile masses; on the split path (few
    // rows, their tile masses summed by the combine kernel) kSplitDraws draws per block, within
    // the grid's 65535 blocks in y.
    const int64_t per = (c.num_samples + 65534) / 65535;
    a.draws_per_block = plan.splits == 1 ? a.num_samples : static_cast<int>(per > kSplitDraws ? per : kSplitDraws);
  }
  if (!draws)
    launch_rows<T, kNoDraws>(a, plan, s);  // with temperature 0 the row epilogue copies the argmax into every draw
  else if (a.beta == 1.f)
    launch_rows<T, kDrawsBeta1>(a, plan, s);  // the tile masses are sums of the statistics' exps
  else
    launch_rows<T, kDrawsBeta>(a, plan, s);
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
  const int eb = elem_bytes(dtype);
  return row_workspace(R, plan_rows(R, V, eb, sm_count()), eb, call_draws(num_samples, temperature)).bytes;
}

void softmax_entropy(const SoftmaxEntropyCall& c) {
  check_sizes(c.V, c.R, c.num_samples);
  if (c.offsets == 0 && c.row_stride < 0) throw std::invalid_argument("igkernels CUDA: row_stride must be >= 0");
  const int eb = elem_bytes(c.dtype);
  const RowPlan plan = plan_rows(c.R, c.V, eb, sm_count());
  if (c.workspace_bytes < row_workspace(c.R, plan, eb, call_draws(c.num_samples, c.temperature)).bytes)
    throw std::invalid_argument("igkernels CUDA: softmax_entropy workspace too small");
  const auto s = reinterpret_cast<cudaStream_t>(c.stream);
  with_elem_type(c.dtype, [&](auto elem) { run<decltype(elem)>(c, plan, s); });
}

}  // namespace cuda
}  // namespace igk
