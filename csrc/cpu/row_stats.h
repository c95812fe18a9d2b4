// The shared row-statistics engine behind softmax_entropy and state_uncertainty.
//
// A row is cut into vocabulary segments (one when there are enough rows to keep every
// thread busy); each (row, segment) work item is read once, chunk by chunk, by a
// per-instruction-set kernel that leaves a RowPartial (and, when drawing, a ChunkMass per
// chunk). Partials of a row are then merged in segment order, which keeps the results
// independent of the thread count; the draws then re-read one chunk each.
#pragma once

#include <stdint.h>

#include "dtype.h"

namespace igk {

// Columns one kernel converts to fp32 at a time (8 KB, stays in L1); a multiple of 64,
// the Philox block of the AVX-512 kernel.
constexpr int kChunk = 2048;

// Tempered mass of one chunk of a row: sum over its columns of exp((f - ref) * beta),
// ref >= the chunk's max (docs/backend_contract.md#token-draws-inverse-transform); 0 when
// the chunk holds only -inf.
struct ChunkMass {
    double mass;              // double: each mass is the base of the cumulative sums after it
    float ref;
};

struct RowJob {
    const void* base;         // logits data pointer
    Dtype dtype;
    int64_t V;                // row length
    int64_t R;                // number of rows
    const int64_t* offsets;   // [R] element offset of each row from base; null: row i at i * row_stride
    int64_t row_stride;
    const int64_t* keys;      // [R] Philox keys (unsigned 64-bit bits); null: every row `key`. Unused when no draws
    int64_t key;
    const int64_t* ctr;       // [R] Philox counter rows (uint32 values); null: i without keys, else 0
    int64_t S;                // samples per row
    float beta;               // fp32(1 / temperature) of the draws
    uint32_t offset;          // Philox counter word 3
    ChunkMass* chunks;        // [R * nchunks] filled while drawing, else null
    int64_t nchunks;          // chunks per row, ceil(V / kChunk)
    int64_t nseg;             // segments per row
    int64_t seglen;           // columns per segment, a multiple of kChunk
    int num_threads;

    int64_t offset_of(int64_t i) const { return offsets ? offsets[i] : i * row_stride; }
    uint64_t key_of(int64_t i) const { return (uint64_t)(keys ? keys[i] : key); }
    uint32_t ctr_of(int64_t i) const { return (uint32_t)(ctr ? ctr[i] : keys ? 0 : i); }
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

// What run_draws needs of the merged rows, and where it writes.
struct DrawRows {
    const float* m;           // [R] row max
    const double* s;          // [R] sum of exp(f - m)
    const int64_t* argmax;    // [R]
    const char* skip;         // [R] nonzero for a bad row (its outputs are unspecified)
    int64_t* samples;         // [R, S]
    float* sample_prob;       // [R, S]
};

namespace isa_generic {
void run_items(const RowJob& job, RowPartial* parts);
void run_draws(const RowJob& job, const DrawRows& rows);
}
namespace isa_avx2 {
void run_items(const RowJob& job, RowPartial* parts);
void run_draws(const RowJob& job, const DrawRows& rows);
}
namespace isa_avx512 {
void run_items(const RowJob& job, RowPartial* parts);
void run_draws(const RowJob& job, const DrawRows& rows);
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

// Runs the kernels and finalises every row; draws job.S samples per row at `temperature`
// (the argmax when 0). Returns the lowest row position whose logits hold NaN / +inf or are
// entirely -inf, or -1. job.nseg / seglen / beta / chunks / nchunks are filled in here.
int64_t compute_row_stats(RowJob job, const RowOutputs& out, double temperature);

// The instruction set the kernels use: "avx512", "avx2" or "generic", the widest the CPU
// has. IGK_CPU_ISA=avx2 or generic caps it (to test those kernels on a wider machine).
const char* row_stats_isa();

}  // namespace igk
