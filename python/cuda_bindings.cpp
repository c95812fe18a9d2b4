// pybind11 module igkernels._C_cuda: the CUDA kernels on raw device pointers.
//
// Tensors travel as integers (data_ptr()), dtypes as the codes of DTYPE_CODES and the
// stream as the integer torch.cuda.current_stream().cuda_stream; igkernels/backends/cuda.py does the
// adapting. No torch headers here: the module builds against pybind11 and the CUDA runtime only.
#include <pybind11/pybind11.h>

#include <cstdint>

#include "dtype_codes.h"
#include "igk_cuda.h"

namespace py = pybind11;
using igk::cuda::SampleCandidatesCall;
using igk::cuda::SoftmaxEntropyCall;
using igk::cuda::StateUncertaintyCall;

PYBIND11_MODULE(_C_cuda, m) {
  m.doc() = "igkernels CUDA kernels on raw device pointers (see igkernels/backends/cuda.py)";
  m.attr("DTYPE_CODES") = dtype_codes();

  m.def("softmax_entropy_workspace", &igk::cuda::softmax_entropy_workspace, py::arg("dtype"), py::arg("V"),
        py::arg("R"), py::arg("num_samples"), py::arg("temperature"),
        "Bytes of device workspace softmax_entropy needs on the current device.");

  m.def(
      "softmax_entropy",
      [](uintptr_t logits, int dtype, int64_t V, int64_t R, uintptr_t offsets, int64_t row_stride, uintptr_t keys,
         int64_t key, uintptr_t ctr, int64_t num_samples, double temperature, uint32_t offset, uintptr_t entropy,
         uintptr_t lse, uintptr_t max_prob, uintptr_t argmax, uintptr_t second_prob, uintptr_t samples,
         uintptr_t sample_prob, uintptr_t status, uintptr_t workspace, size_t workspace_bytes, uintptr_t stream) {
        SoftmaxEntropyCall c;
        c.logits = logits; c.dtype = dtype; c.V = V; c.R = R;
        c.offsets = offsets; c.row_stride = row_stride; c.keys = keys; c.key = key; c.ctr = ctr;
        c.num_samples = num_samples; c.temperature = temperature; c.offset = offset;
        c.entropy = entropy; c.lse = lse; c.max_prob = max_prob; c.argmax = argmax;
        c.second_prob = second_prob; c.samples = samples; c.sample_prob = sample_prob;
        c.status = status; c.workspace = workspace; c.workspace_bytes = workspace_bytes; c.stream = stream;
        igk::cuda::softmax_entropy(c);
      },
      py::arg("logits"), py::arg("dtype"), py::arg("V"), py::arg("R"), py::arg("offsets"), py::arg("row_stride"),
      py::arg("keys"), py::arg("key"), py::arg("ctr"), py::arg("num_samples"), py::arg("temperature"),
      py::arg("offset"), py::arg("entropy"), py::arg("lse"), py::arg("max_prob"), py::arg("argmax"),
      py::arg("second_prob"), py::arg("samples"), py::arg("sample_prob"), py::arg("status"), py::arg("workspace"),
      py::arg("workspace_bytes"), py::arg("stream"),
      "K1 over rows i at logits + offsets[i] (offsets 0: i * row_stride); keys 0: every row's key is `key`; "
      "ctr 0: counter row i without keys, 0 with them. Enqueued on `stream`, no sync.");

  m.def("state_uncertainty_workspace", &igk::cuda::state_uncertainty_workspace, py::arg("dtype"), py::arg("B"),
        py::arg("T"), py::arg("V"), "Bytes of device workspace state_uncertainty needs on the current device.");

  m.def(
      "state_uncertainty",
      [](uintptr_t logits, int dtype, int64_t B, int64_t T, int64_t V, int64_t stride_b, int64_t stride_t,
         uintptr_t mask, uintptr_t out, uintptr_t status, uintptr_t workspace, size_t workspace_bytes,
         uintptr_t stream) {
        StateUncertaintyCall c;
        c.logits = logits; c.dtype = dtype; c.B = B; c.T = T; c.V = V;
        c.stride_b = stride_b; c.stride_t = stride_t; c.mask = mask; c.out = out; c.status = status;
        c.workspace = workspace; c.workspace_bytes = workspace_bytes; c.stream = stream;
        igk::cuda::state_uncertainty(c);
      },
      py::arg("logits"), py::arg("dtype"), py::arg("B"), py::arg("T"), py::arg("V"), py::arg("stride_b"),
      py::arg("stride_t"), py::arg("mask"), py::arg("out"), py::arg("status"), py::arg("workspace"),
      py::arg("workspace_bytes"), py::arg("stream"), "K2 over masked rows; enqueued on `stream`, no sync.");

  m.def("sample_candidates_max_positions", &igk::cuda::sample_candidates_max_positions,
        "Largest sequence length sample_candidates handles (one block sorts it in shared memory).");

  m.def(
      "sample_candidates",
      [](uintptr_t confidence, int64_t stride_b, int64_t stride_n, uintptr_t valid, int64_t B, int64_t N,
         int64_t T, int64_t k, uintptr_t seq_k, double tau, uintptr_t keys, uintptr_t ctr, uint32_t offset,
         uintptr_t positions, uintptr_t unique, uintptr_t stream) {
        SampleCandidatesCall c;
        c.confidence = confidence; c.stride_b = stride_b; c.stride_n = stride_n; c.valid = valid;
        c.B = B; c.N = N; c.T = T; c.k = k; c.seq_k = seq_k; c.tau = tau;
        c.keys = keys; c.ctr = ctr; c.offset = offset;
        c.positions = positions; c.unique = unique; c.stream = stream;
        igk::cuda::sample_candidates(c);
      },
      py::arg("confidence"), py::arg("stride_b"), py::arg("stride_n"), py::arg("valid"), py::arg("B"),
      py::arg("N"), py::arg("T"), py::arg("k"), py::arg("seq_k"), py::arg("tau"), py::arg("keys"), py::arg("ctr"),
      py::arg("offset"), py::arg("positions"), py::arg("unique"), py::arg("stream"),
      "K3 for the whole batch in one launch (seq_k 0: k for every sequence); enqueued on `stream`, no sync.");
}
