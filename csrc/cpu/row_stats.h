// The shared row-statistics engine behind softmax_entropy and state_uncertainty.
//
// A row is cut into vocabulary segments (one when there are enough rows to keep every
// thread busy); each (row, segment) work item is read once, chunk by chunk, by a
// per-instruction-set kernel that leaves a RowPartial (and a StreamBest per sample
// stream). Partials of a row are then merged in segment order, which keeps the results
// independent of the thread count.
#pragma once

#include <stdint.h>

#include "dtype.h"

namespace igk {

// Columns one kernel converts to fp32 at a time (8 KB, stays in L1); a multiple of 64,
// the Philox block of the AVX-512 kernel.
constexpr int kChunk = 2048;

struct RowJob {
    const void* base;         // logits data pointer
    Dtype dtype;
    int64_t V;                // row length
    int64_t R;                // number of rows
    const int64_t* offsets;   // [R] element offset of each row from base
    const int64_t* keys;      // [R] Philox keys (unsigned 64-bit bits); unused when no draws
    const int64_t* ctr;       // [R] Philox counter rows (uint32 values)
    int64_t S;                // samples per row
    float temperature;
    uint32_t offset;          // Philox counter word 3
    int64_t nseg;             // segments per row
    int64_t seglen;           // columns per segment, a multiple of kChunk
    int num_threads;
};

// Online-softmax state (m, s, t) of one segment over its finite logits
// (docs/backend_contract.md#online-softmax-statistics); m is -inf when there are none.
struct RowPartial {
    double s, t;
    float m;
    float second;             // second largest logit of the segment, duplicates counted
    int64_t argmax;           // lowest column holding m
    int32_t bad;              // saw NaN or +inf
    int32_t finite;           // saw a finite logit
};

// The Gumbel-max draw of one stream within one segment.
struct StreamBest {
    float score;              // max of f + temperature * g so far
    float f;                  // its logit
    int64_t idx;              // its column, -1 while none
};

namespace isa_generic {
void run_items(const RowJob& job, RowPartial* parts, StreamBest* best);
}
namespace isa_avx2 {
void run_items(const RowJob& job, RowPartial* parts, StreamBest* best);
}
namespace isa_avx512 {
void run_items(const RowJob& job, RowPartial* parts, StreamBest* best);
}

// Outputs per row; any pointer may be null except entropy.
struct RowOutputs {
    float* entropy;
    float* logsumexp;
    float* max_prob;
    int64_t* argmax;
    float* second_prob;
    int64_t* samples;         // [R, S]
    float* sample_prob;       // [R, S]
};

// Runs the kernels and finalises every row. Returns the lowest row position whose logits
// hold NaN / +inf or are entirely -inf, or -1. job.nseg / seglen are filled in here.
int64_t compute_row_stats(RowJob job, const RowOutputs& out);

// The instruction set the kernels use: "avx512", "avx2" or "generic", the widest the CPU
// has. IGK_CPU_ISA=avx2 or generic caps it (to test those kernels on a wider machine).
const char* row_stats_isa();

}  // namespace igk
