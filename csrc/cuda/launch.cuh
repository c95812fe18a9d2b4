// Host-side helpers shared by the launchers.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

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

inline int elem_bytes(int dtype) {
  switch (dtype) {
    case 0: return 4;
    case 1: return 2;
    case 2: return 2;
    default: throw std::invalid_argument("igkernels CUDA: unknown dtype code " + std::to_string(dtype));
  }
}

// Calls f(T{}) with T the element type of dtype code `dtype` (igk_cuda.h's DType order).
template <class F>
void with_elem_type(int dtype, F&& f) {
  switch (dtype) {
    case 0: f(float{}); break;
    case 1: f(__half{}); break;
    case 2: f(__nv_bfloat16{}); break;
    default: elem_bytes(dtype);  // throws
  }
}

}  // namespace igk
