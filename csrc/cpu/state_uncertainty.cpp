// K2: U_b = (1 / |M_b|) sum_{t in M_b} H(softmax(f_{b,t})), M_b the masked positions of b.
// The masked rows go through the row-statistics engine in parallel (only their entropies
// are kept: B*T floats at most, never [B, T, V]); each sequence then sums its entropies
// in position order in double, so the result does not depend on the thread count.
#include "state_uncertainty.h"

#include <stddef.h>

#include <vector>

namespace igk {

int64_t state_uncertainty(const void* logits, Dtype dtype, int64_t B, int64_t T, int64_t V,
                          int64_t stride_b, int64_t stride_t, const uint8_t* mask, float* out,
                          int num_threads) {
    std::vector<int64_t> flat, offsets;
    for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T; ++t)
            if (mask[b * T + t]) {
                flat.push_back(b * T + t);
                offsets.push_back(b * stride_b + t * stride_t);
            }
    const int64_t n = (int64_t)flat.size();
    std::vector<float> entropy((size_t)n);
    if (n > 0) {
        RowJob job{};
        job.base = logits;
        job.dtype = dtype;
        job.V = V;
        job.R = n;
        job.offsets = offsets.data();
        job.num_threads = num_threads;
        RowOutputs o{};
        o.entropy = entropy.data();
        const int64_t bad = compute_row_stats(job, o, 0.0);
        if (bad >= 0) return flat[(size_t)bad];
    }
    int64_t i = 0;
    for (int64_t b = 0; b < B; ++b) {
        double sum = 0.0;
        int64_t count = 0;
        for (; i < n && flat[(size_t)i] / T == b; ++i, ++count) sum += entropy[(size_t)i];
        out[b] = count ? (float)(sum / (double)count) : 0.0f;
    }
    return -1;
}

}  // namespace igk
