// igkernels._C: the C++ CPU kernels behind raw pointers. Python (igkernels/backends/cpu.py) owns
// every tensor, passes data_ptr() integers and keeps the tensors alive across the call;
// the GIL is released while the kernels run. No torch headers: the build needs no torch.
#include <pybind11/pybind11.h>

#include <stdint.h>

#include <stdexcept>

#include "dtype_codes.h"
#include "sample_candidates.h"
#include "softmax_entropy.h"
#include "state_uncertainty.h"

namespace py = pybind11;

namespace {

template <class T>
T* ptr(uintptr_t p) {
    return reinterpret_cast<T*>(p);
}

int64_t softmax_entropy(uintptr_t logits, int dtype, int64_t V, int64_t R, uintptr_t offsets, int64_t row_stride,
                        uintptr_t keys, int64_t key, uintptr_t ctr, int64_t S, double temperature, uint32_t offset, uintptr_t entropy,
                        uintptr_t logsumexp, uintptr_t max_prob, uintptr_t argmax, uintptr_t second_prob,
                        uintptr_t samples, uintptr_t sample_prob, int num_threads) {
    if (V < 1 || V >= (int64_t(1) << 31)) throw std::invalid_argument("igkernels._C: V must be in [1, 2**31)");
    const igk::Dtype dt = igk::to_dtype(dtype, "igkernels._C");
    py::gil_scoped_release release;
    const igk::RowOutputs out{ptr<float>(entropy),  ptr<float>(logsumexp), ptr<float>(max_prob),
                              ptr<int64_t>(argmax), ptr<float>(second_prob), ptr<int64_t>(samples),
                              ptr<float>(sample_prob)};
    return igk::softmax_entropy(ptr<const void>(logits), dt, V, R, ptr<const int64_t>(offsets), row_stride,
                                ptr<const int64_t>(keys), key, ptr<const int64_t>(ctr), S, temperature, offset,
                                out, num_threads);
}

int64_t state_uncertainty(uintptr_t logits, int dtype, int64_t B, int64_t T, int64_t V, int64_t stride_b,
                          int64_t stride_t, uintptr_t mask, uintptr_t out, int num_threads) {
    if (V < 1 || V >= (int64_t(1) << 31)) throw std::invalid_argument("igkernels._C: V must be in [1, 2**31)");
    const igk::Dtype dt = igk::to_dtype(dtype, "igkernels._C");
    py::gil_scoped_release release;
    return igk::state_uncertainty(ptr<const void>(logits), dt, B, T, V, stride_b, stride_t,
                                  ptr<const uint8_t>(mask), ptr<float>(out), num_threads);
}

void sample_candidates(uintptr_t conf, int64_t stride_b, int64_t stride_c, int64_t stride_t, uintptr_t valid,
                       int64_t B, int64_t N, int64_t T, int64_t k, uintptr_t seq_k, double tau, uintptr_t keys,
                       uintptr_t ctr,
                       uint32_t offset, uintptr_t positions, uintptr_t unique, int num_threads) {
    py::gil_scoped_release release;
    igk::sample_candidates(ptr<const float>(conf), stride_b, stride_c, stride_t, ptr<const uint8_t>(valid), B, N, T,
                           k, ptr<const int64_t>(seq_k), (float)tau, ptr<const int64_t>(keys), ptr<const int64_t>(ctr), offset,
                           ptr<int64_t>(positions), ptr<uint8_t>(unique), num_threads);
}

}  // namespace

PYBIND11_MODULE(_C, m) {
    m.doc() = "igkernels C++ CPU kernels (raw-pointer interface; use igkernels.backends.cpu)";
    m.attr("DTYPE_CODES") = dtype_codes();
    m.def("softmax_entropy", &softmax_entropy,
          "K1 over R rows (offsets / keys / ctr 0: see softmax_entropy.h); returns the lowest bad row position or -1",
          py::arg("logits"), py::arg("dtype"), py::arg("V"), py::arg("R"), py::arg("offsets"), py::arg("row_stride"),
          py::arg("keys"), py::arg("key"), py::arg("ctr"), py::arg("S"),
          py::arg("temperature"), py::arg("offset"), py::arg("entropy"), py::arg("logsumexp"),
          py::arg("max_prob"), py::arg("argmax"), py::arg("second_prob"), py::arg("samples"),
          py::arg("sample_prob"), py::arg("num_threads"));
    m.def("state_uncertainty", &state_uncertainty,
          "K2 over [B, T, V]; returns the lowest bad flattened row or -1", py::arg("logits"), py::arg("dtype"),
          py::arg("B"), py::arg("T"), py::arg("V"), py::arg("stride_b"), py::arg("stride_t"), py::arg("mask"),
          py::arg("out"), py::arg("num_threads"));
    m.def("sample_candidates", &sample_candidates, "K3 for B sequences and N candidates", py::arg("conf"),
          py::arg("stride_b"), py::arg("stride_c"), py::arg("stride_t"), py::arg("valid"), py::arg("B"),
          py::arg("N"), py::arg("T"), py::arg("k"), py::arg("seq_k"), py::arg("tau"), py::arg("keys"), py::arg("ctr"),
          py::arg("offset"), py::arg("positions"), py::arg("unique"), py::arg("num_threads"));
    m.def("isa", &igk::row_stats_isa, "instruction set of the row kernels: 'avx512', 'avx2' or 'generic'");
}
