// Host entry points of the CUDA kernels, for python/cuda_bindings.cpp. Plain C++: no CUDA or
// torch headers, pointers and the stream travel as integers. Every function enqueues work on
// `stream` without synchronising and throws std::runtime_error on a CUDA error
// (std::invalid_argument on bad arguments).
#pragma once
#include <cstddef>
#include <cstdint>

#include "dtype.h"

namespace igk::cuda {

// K1, docs/backend_contract.md: rows i = 0..R-1 start at logits + offsets[i] (elements), or at
// logits + i * row_stride when offsets is 0 (null). Row i's Philox key is keys[i], or `key` (the
// unsigned key's bits) when keys is 0; its counter row ctr[i], or when ctr is 0: i without keys,
// 0 with them.
// status: one uint64 on the device, set by the caller to INT64_MAX; the kernels lower it to
// the smallest i whose row holds NaN/+inf or is entirely -inf. Draws (num_samples > 0 and
// temperature > 0) are by inverse transform (csrc/cuda/row_stats.cuh): the workspace then also
// holds each row's tile masses, so its size depends on num_samples and temperature too.
struct SoftmaxEntropyCall {
  uintptr_t logits = 0;
  int dtype = static_cast<int>(Dtype::F32);  // a Dtype code
  int64_t V = 0, R = 0;
  uintptr_t offsets = 0, keys = 0, ctr = 0;  // int64 [R], or 0
  int64_t row_stride = 0;                     // without offsets, >= 0
  int64_t key = 0;                            // without keys
  int64_t num_samples = 0;
  double temperature = 0.0;
  uint32_t offset = 0;
  uintptr_t entropy = 0, lse = 0, max_prob = 0, argmax = 0, second_prob = 0;  // [R]
  uintptr_t samples = 0, sample_prob = 0;                                     // [R, S]
  uintptr_t status = 0;
  uintptr_t workspace = 0;  // softmax_entropy_workspace(...) bytes, 16-byte aligned
  size_t workspace_bytes = 0;
  uintptr_t stream = 0;
};
size_t softmax_entropy_workspace(int dtype, int64_t V, int64_t R, int64_t num_samples, double temperature);
void softmax_entropy(const SoftmaxEntropyCall& c);

// K2: logits row (b, t) at logits + b * stride_b + t * stride_t; mask uint8 [B, T] contiguous;
// out float32 [B]; status as above with row index b * T + t.
struct StateUncertaintyCall {
  uintptr_t logits = 0;
  int dtype = static_cast<int>(Dtype::F32);  // a Dtype code
  int64_t B = 0, T = 0, V = 0, stride_b = 0, stride_t = 0;
  uintptr_t mask = 0, out = 0, status = 0;
  uintptr_t workspace = 0;  // state_uncertainty_workspace(...) bytes
  size_t workspace_bytes = 0;
  uintptr_t stream = 0;
};
size_t state_uncertainty_workspace(int dtype, int64_t B, int64_t T, int64_t V);
void state_uncertainty(const StateUncertaintyCall& c);

// K3: confidence float32 at conf + b * stride_b + c * stride_n + t (stride_n may be 0);
// valid uint8 [B, T] contiguous; positions int64 [B, N, k]; unique uint8 [B, N];
// keys, ctr int64 [B]; seq_k int64 [B] in [0, k] (sequence b keeps its first seq_k[b] picks), or 0:
// k for every sequence.
struct SampleCandidatesCall {
  uintptr_t confidence = 0;
  int64_t stride_b = 0, stride_n = 0;
  uintptr_t valid = 0;
  int64_t B = 0, N = 0, T = 0, k = 0;
  double tau = 0.0;
  uintptr_t keys = 0, ctr = 0;
  uintptr_t seq_k = 0;
  uint32_t offset = 0;
  uintptr_t positions = 0, unique = 0;
  uintptr_t stream = 0;
};
int64_t sample_candidates_max_positions();  // largest T one block sorts in shared memory
void sample_candidates(const SampleCandidatesCall& c);

}  // namespace igk::cuda
