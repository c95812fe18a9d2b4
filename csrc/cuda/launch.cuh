// Host-side helpers shared by the launchers.
#pragma once
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

}  // namespace igk
