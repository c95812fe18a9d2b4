// K3. Candidate c of sequence b scores position t as
//     conf_t                          c = 0, or tau = 0
//     conf_t / tau + g_t              c >= 1, g_t = gumbel(philox(key_b, (t>>2, ctr_b, c | 1<<24, offset))[t&3])
// (fp32 true division, then the add), and takes the k best positions in the total order
// (valid first, score desc, position asc; k_b = seq_k[b] when given), then drops the invalid
// ones: a valid position is chosen even at -inf. Taking the Gumbel top-k of conf / tau
// samples k positions without replacement from softmax(conf / tau). NaN scores rank highest
// (+inf), as they do in torch.sort. Selection is std::partial_sort over the T scores of one
// (b, c): O(T log k).
// Candidate c is unique when no c' < c has the same row: the rows of a sequence are sorted
// (lexicographically, then by candidate), so that is the first of each run, O(N log N).
#include "sample_candidates.h"

#include <math.h>
#include <stddef.h>

#include <algorithm>
#include <vector>

#include "philox.h"

namespace igk {

void sample_candidates(const float* conf, int64_t stride_b, int64_t stride_c, int64_t stride_t,
                       const uint8_t* valid, int64_t B, int64_t N, int64_t T, int64_t k, const int64_t* seq_k,
                       float tau, const int64_t* keys, const int64_t* ctr, uint32_t offset, int64_t* positions,
                       uint8_t* unique, int num_threads) {
#pragma omp parallel num_threads(num_threads)
    {
        std::vector<float> score((size_t)T);
        std::vector<int64_t> order((size_t)T);
#pragma omp for schedule(dynamic, 1)
        for (int64_t bc = 0; bc < B * N; ++bc) {
            const int64_t b = bc / N, c = bc % N;
            const int64_t kb = seq_k ? std::min(std::max(seq_k[b], int64_t(0)), k) : k;
            const int64_t kk = std::min(kb, T);
            int64_t* out = positions + bc * k;
            if (kk == 0) {
                std::fill(out, out + k, int64_t(-1));
                continue;
            }
            const float* cf = conf + b * stride_b + c * stride_c;
            const uint8_t* ok = valid + b * T;
            const bool noisy = c >= 1 && tau > 0.0f;
            const uint64_t key = (uint64_t)keys[b];
            uint32_t w[4];
            for (int64_t t = 0; t < T; ++t) {
                float x = cf[t * stride_t];
                if (noisy) {
                    if ((t & 3) == 0)
                        philox4x32_10((uint32_t)key, (uint32_t)(key >> 32), (uint32_t)(t >> 2), (uint32_t)ctr[b],
                                      (uint32_t)c | (kPositionDomain << 24), offset, w);
                    x = x / tau + gumbel_from_word(w[t & 3]);
                }
                if (x != x) x = INFINITY;
                score[(size_t)t] = x;
                order[(size_t)t] = t;
            }
            std::partial_sort(order.begin(), order.begin() + kk, order.end(), [&](int64_t a, int64_t z) {
                if (ok[a] != ok[z]) return ok[a] > ok[z];
                return score[(size_t)a] > score[(size_t)z] || (score[(size_t)a] == score[(size_t)z] && a < z);
            });
            int64_t n = 0;
            for (int64_t j = 0; j < kk; ++j)
                if (ok[order[(size_t)j]]) out[n++] = order[(size_t)j];
            std::sort(out, out + n);
            for (; n < k; ++n) out[n] = -1;
        }
        std::vector<int64_t> rows((size_t)N);
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < B; ++b) {
            const int64_t* first = positions + b * N * k;
            for (int64_t c = 0; c < N; ++c) rows[(size_t)c] = c;
            std::sort(rows.begin(), rows.end(), [&](int64_t a, int64_t z) {
                const int64_t *ra = first + a * k, *rz = first + z * k;
                const auto diff = std::mismatch(ra, ra + k, rz);
                return diff.first != ra + k ? *diff.first < *diff.second : a < z;
            });
            for (int64_t i = 0; i < N; ++i) {
                const int64_t c = rows[(size_t)i];
                unique[b * N + c] = i == 0 || !std::equal(first + c * k, first + (c + 1) * k,
                                                          first + rows[(size_t)i - 1] * k);
            }
        }
    }
}

}  // namespace igk
