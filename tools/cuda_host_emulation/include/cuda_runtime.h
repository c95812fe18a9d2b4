// Host emulation of the CUDA pieces csrc/cuda/*.cu use, so their kernels run on a CPU for
// checking semantics where no GPU is present (see check.py). Each CUDA thread is a std::thread;
// blocks run one after another, so `__shared__` can be a function-local static; barriers are
// std::barrier (threads that return drop out, as exited CUDA threads do); a warp shuffle goes
// through a per-thread slot between two warp barriers. Timing means nothing here.
#pragma once
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#define __device__
#define __global__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__
#define __shared__ static

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
using cudaStream_t = struct CUstream_st*;
enum cudaError_t { cudaSuccess = 0, cudaErrorEmu = 1 };
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
inline const char* cudaGetErrorString(cudaError_t) { return "emulated error"; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
namespace emu { inline int sm_count = 132; }
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) { *v = emu::sm_count; return cudaSuccess; }
template <typename F> cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute, int) { return cudaSuccess; }

namespace emu {
struct Block {
  std::unique_ptr<std::barrier<>> block_bar;
  std::vector<std::unique_ptr<std::barrier<>>> warp_bar;
  std::vector<uint64_t> shfl;  // one 64-bit slot per thread
  std::vector<unsigned char> dyn;
};
inline thread_local dim3 tl_thread, tl_block, tl_blockdim, tl_griddim;
inline thread_local Block* tl_blk = nullptr;
}  // namespace emu
#define threadIdx (emu::tl_thread)
#define blockIdx (emu::tl_block)
#define blockDim (emu::tl_blockdim)
#define gridDim (emu::tl_griddim)

inline void __syncthreads() { emu::tl_blk->block_bar->arrive_and_wait(); }

template <typename T> T __shfl_down_sync(unsigned, T v, int o) {
  static_assert(sizeof(T) <= 8);
  auto* b = emu::tl_blk;
  const unsigned tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  b->shfl[tid] = bits;
  b->warp_bar[warp]->arrive_and_wait();
  T r = v;
  if (lane + o < 32) std::memcpy(&r, &b->shfl[warp * 32 + lane + o], sizeof(T));
  b->warp_bar[warp]->arrive_and_wait();
  return r;
}

inline float __expf(float x) { return expf(x); }
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
struct alignas(16) uint4 { unsigned x, y, z, w; };
template <typename T> T __ldcs(const T* p) { return *p; }
inline std::mutex emu_atomic_mu;
inline unsigned long long atomicMin(unsigned long long* p, unsigned long long v) {
  std::lock_guard<std::mutex> g(emu_atomic_mu);
  unsigned long long old = *p;
  if (v < old) *p = v;
  return old;
}

namespace emu {
template <typename T> T* dyn_smem() { return reinterpret_cast<T*>(tl_blk->dyn.data()); }

struct Launch {
  dim3 grid, block;
  size_t smem;
  Launch(dim3 g, dim3 b, size_t s = 0, cudaStream_t = nullptr) : grid(g), block(b), smem(s) {}
  Launch(dim3 g, int b, size_t s = 0, cudaStream_t = nullptr) : grid(g), block(dim3(b)), smem(s) {}
  Launch(unsigned g, int b, size_t s = 0, cudaStream_t = nullptr) : grid(dim3(g)), block(dim3(b)), smem(s) {}
  template <typename K, typename... A> void run(K kernel, A... args) {
    const unsigned nt = block.x;
    for (unsigned bz = 0; bz < grid.z; ++bz)
      for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bx = 0; bx < grid.x; ++bx) {
          Block b;
          b.block_bar = std::make_unique<std::barrier<>>(nt);
          for (unsigned w = 0; w < (nt + 31) / 32; ++w) b.warp_bar.push_back(std::make_unique<std::barrier<>>(32));
          b.shfl.assign(nt, 0);
          b.dyn.assign(smem + 16, 0xCD);
          std::vector<std::thread> ts;
          for (unsigned t = 0; t < nt; ++t)
            ts.emplace_back([&, t] {
              tl_thread = dim3(t); tl_block = dim3(bx, by, bz); tl_blockdim = block; tl_griddim = grid; tl_blk = &b;
              kernel(args...);
              b.warp_bar[t / 32]->arrive_and_drop();
              b.block_bar->arrive_and_drop();
            });
          for (auto& th : ts) th.join();
        }
  }
};
}  // namespace emu
