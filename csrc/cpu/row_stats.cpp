// Planning, run-time instruction-set choice and the per-row merge of row_stats.h.
#include "row_stats.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

namespace igk {

namespace {

enum class Isa { Generic, Avx2, Avx512 };

Isa detect_isa() {
    Isa best = Isa::Generic;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        best = Isa::Avx2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        best = Isa::Avx512;
#endif
    const char* cap = getenv("IGK_CPU_ISA");
    if (cap && strcmp(cap, "generic") == 0) best = Isa::Generic;
    if (cap && strcmp(cap, "avx2") == 0 && best == Isa::Avx512) best = Isa::Avx2;
    return best;
}

Isa isa() {
    static const Isa chosen = detect_isa();
    return chosen;
}

// Enough work items for every thread: rows are split into segments only when there are
// few of them, and the split depends on R and V alone so results do not depend on the
// thread count.
void plan(RowJob& job) {
    constexpr int64_t kTargetItems = 32;
    constexpr int64_t kMinSegment = 8 * kChunk;
    int64_t nseg = 1;
    if (job.R < kTargetItems) {
        nseg = (kTargetItems + job.R - 1) / job.R;
        const int64_t most = job.V / kMinSegment > 1 ? job.V / kMinSegment : 1;
        if (nseg > most) nseg = most;
    }
    int64_t seglen = (job.V + nseg - 1) / nseg;
    seglen = (seglen + kChunk - 1) / kChunk * kChunk;
    job.seglen = seglen;
    job.nseg = (job.V + seglen - 1) / seglen;
}

}  // namespace

const char* row_stats_isa() {
    switch (isa()) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "generic";
    }
}

int64_t compute_row_stats(RowJob job, const RowOutputs& out, double temperature) {
    plan(job);
    const int64_t R = job.R, nseg = job.nseg;
    const bool draw = out.samples && job.S > 0 && temperature > 0.0;
    std::vector<RowPartial> parts((size_t)(R * nseg));
    std::vector<ChunkMass> chunks;
    if (draw) {
        job.beta = (float)(1.0 / temperature);
        job.nchunks = (job.V + kChunk - 1) / kChunk;
        chunks.resize((size_t)(R * job.nchunks));
        job.chunks = chunks.data();
    }
    switch (isa()) {
    case Isa::Avx512: isa_avx512::run_items(job, parts.data()); break;
    case Isa::Avx2: isa_avx2::run_items(job, parts.data()); break;
    default: isa_generic::run_items(job, parts.data()); break;
    }

    // Merge a row's segments in order: (m, s, t) move to the common max; second is the
    // runner-up of all maxima and seconds; argmax keeps the earliest segment on ties.
    std::vector<char> bad_row((size_t)R, 0);
    std::vector<float> row_m((size_t)R);
    std::vector<double> row_s((size_t)R);
    std::vector<int64_t> row_argmax((size_t)R);
#pragma omp parallel for schedule(static) num_threads(job.num_threads)
    for (int64_t i = 0; i < R; ++i) {
        const RowPartial* p = parts.data() + i * nseg;
        float m = -INFINITY;
        bool bad = false, finite = false;
        for (int64_t j = 0; j < nseg; ++j) {
            if (p[j].m > m) m = p[j].m;
            bad = bad || p[j].bad;
            finite = finite || p[j].finite;
        }
        if (bad || !finite) {
            bad_row[(size_t)i] = 1;
            continue;
        }
        double s = 0.0, t = 0.0;
        float second = -INFINITY;
        int64_t top = -1;
        for (int64_t j = 0; j < nseg; ++j) {
            if (p[j].second > second) second = p[j].second;
            if (top < 0 && p[j].m == m) {
                top = j;
            } else if (p[j].m > second) {
                second = p[j].m;
            }
            if (p[j].m == -INFINITY) continue;
            const double d = (double)p[j].m - (double)m;
            const double e = exp(d);
            s += e * p[j].s;
            t += e * (p[j].t + p[j].s * d);
        }
        const double log_s = log(s);
        const double lse = (double)m + log_s;
        const double h = log_s - t / s;
        row_m[(size_t)i] = m;
        row_s[(size_t)i] = s;
        row_argmax[(size_t)i] = p[top].argmax;
        out.entropy[i] = h > 0.0 ? (float)h : 0.0f;
        if (out.logsumexp) out.logsumexp[i] = (float)lse;
        if (out.max_prob) out.max_prob[i] = (float)(1.0 / s);
        if (out.argmax) out.argmax[i] = p[top].argmax;
        // Probabilities as exp(f - m) / s, not exp(f - lse): lse = m + log s rounds away log s
        // for |m| beyond ~1e15, which would turn a tie at the top into probability 1.
        if (out.second_prob) out.second_prob[i] = (float)(exp((double)second - (double)m) / s);
        if (out.samples && !draw)
            for (int64_t st = 0; st < job.S; ++st) {
                out.samples[i * job.S + st] = p[top].argmax;
                out.sample_prob[i * job.S + st] = (float)(1.0 / s);
            }
    }
    if (draw) {
        const DrawRows rows{row_m.data(), row_s.data(), row_argmax.data(), bad_row.data(), out.samples,
                            out.sample_prob};
        switch (isa()) {
        case Isa::Avx512: isa_avx512::run_draws(job, rows); break;
        case Isa::Avx2: isa_avx2::run_draws(job, rows); break;
        default: isa_generic::run_draws(job, rows); break;
        }
    }
    for (int64_t i = 0; i < R; ++i)
        if (bad_row[(size_t)i]) return i;
    return -1;
}

}  // namespace igk
