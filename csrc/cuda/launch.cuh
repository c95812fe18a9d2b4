// Host-side helpers shared by the launchers.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "dtype.h"

namespace igk {

inline void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("igkernels CUDA: ") + what + ": " + cudaGetErrorString(err));
}

// Multiprocessors of the current device (the caller makes the tensors' device current).
inline int sm_count() {
  int dev = 0, n = 0;
  check_cuda(cudaGetDevice(&dev), "cudaGetDevice");
  check_cuda(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute");
  return n;
}

inline int elem_bytes(int dtype) { return dtype_size(to_dtype(dtype, "igkernels CUDA")); }

// Calls f(T{}) with T the element type of Dtype code `dtype`.
template <class F>
void with_elem_type(int dtype, F&& f) {
  switch (to_dtype(dtype, "igkernels CUDA")) {
    case Dtype::F32: f(float{}); break;
    case Dtype::F16: f(__half{}); break;
    case Dtype::BF16: f(__nv_bfloat16{}); break;
  }
}

}  // namespace igk
