// K1 (see softmax_entropy.h) on the row-statistics engine of row_stats.h.
#include "softmax_entropy.h"

namespace igk {

int64_t softmax_entropy(const void* logits, Dtype dtype, int64_t V, int64_t R, const int64_t* offsets,
                        int64_t row_stride, const int64_t* keys, int64_t key, const int64_t* ctr, int64_t S,
                        double temperature, uint32_t offset, const RowOutputs& out, int num_threads) {
    RowJob job{};
    job.base = logits;
    job.dtype = dtype;
    job.V = V;
    job.R = R;
    job.offsets = offsets;
    job.row_stride = row_stride;
    job.keys = keys;
    job.key = key;
    job.ctr = ctr;
    job.S = S;
    job.offset = offset;
    job.num_threads = num_threads;
    return compute_row_stats(job, out, temperature);
}

}  // namespace igk
