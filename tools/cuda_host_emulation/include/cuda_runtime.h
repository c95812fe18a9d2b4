// Host emulation of the CUDA pieces csrc/cuda/*.cu use, so their kernels run on a CPU for
// checking semantics where no GPU is present (see check.py). Each CUDA thread of a block is a
// std::thread, kept for the whole launch; blocks run one after another, so `__shared__` can be
// a function-local static (what a block leaves there is garbage to the next, as on a GPU);
// barriers are std::barrier (threads that return drop out, as exited CUDA threads do); a warp
// shuffle or reduction goes through a per-thread slot between two warp barriers. Timing means
// nothing here. The kernels' inline PTX is behind __CUDA_ARCH__ (undefined here).
#pragma once
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdlib>
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
// Multiprocessors of the emulated device: an H100/H200's 132, or IGK_EMU_SM_COUNT (check.py sets
// it to steer the launchers between one block per row and the split-vocabulary path).
namespace emu {
inline int sm_count() {
  const char* env = std::getenv("IGK_EMU_SM_COUNT");
  const int n = env ? std::atoi(env) : 0;
  return n > 0 ? n : 132;
}
}  // namespace emu
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) { *v = emu::sm_count(); return cudaSuccess; }
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

namespace emu {
// Every lane of the warp publishes v; each then reads lane src(lane) (its own v when src is
// outside [0, 32)). The lanes of a warp call it together, as the CUDA intrinsics require.
template <typename T, typename Src> T warp_read(T v, Src src) {
  static_assert(sizeof(T) <= 8);
  auto* b = tl_blk;
  const unsigned tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  b->shfl[tid] = bits;
  b->warp_bar[warp]->arrive_and_wait();
  T r = v;
  const int from = src(static_cast<int>(lane));
  if (from >= 0 && from < 32) std::memcpy(&r, &b->shfl[warp * 32 + from], sizeof(T));
  b->warp_bar[warp]->arrive_and_wait();
  return r;
}
// The 32 values of the warp folded with f, in lane order.
template <typename T, typename F> T warp_fold(T v, F f) {
  auto* b = tl_blk;
  const unsigned tid = threadIdx.x, warp = tid / 32;
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  b->shfl[tid] = bits;
  b->warp_bar[warp]->arrive_and_wait();
  T r;
  std::memcpy(&r, &b->shfl[warp * 32], sizeof(T));
  for (unsigned l = 1; l < 32; ++l) {
    T x;
    std::memcpy(&x, &b->shfl[warp * 32 + l], sizeof(T));
    r = f(r, x);
  }
  b->warp_bar[warp]->arrive_and_wait();
  return r;
}
}  // namespace emu

template <typename T> T __shfl_down_sync(unsigned, T v, int o) {
  return emu::warp_read(v, [o](int lane) { return lane + o; });
}
template <typename T> T __shfl_up_sync(unsigned, T v, int o) {
  return emu::warp_read(v, [o](int lane) { return lane - o; });
}
template <typename T> T __shfl_xor_sync(unsigned, T v, int o) {
  return emu::warp_read(v, [o](int lane) { return lane ^ o; });
}
template <typename T> T __shfl_sync(unsigned, T v, int src) {
  return emu::warp_read(v, [src](int) { return src; });
}
inline int __reduce_min_sync(unsigned, int v) { return emu::warp_fold(v, [](int a, int b) { return b < a ? b : a; }); }
inline int __reduce_max_sync(unsigned, int v) { return emu::warp_fold(v, [](int a, int b) { return b > a ? b : a; }); }
inline void __syncwarp(unsigned = 0xFFFFFFFFu) { emu::tl_blk->warp_bar[threadIdx.x / 32]->arrive_and_wait(); }

// The device's __expf is MUFU.EX2 of fp32(x * log2 e): model its argument rounding, which is
// most of its error, with an exact exp2.
inline float __expf(float x) { volatile float y = x * 1.4426950408889634f; return exp2f(y); }
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
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
  // One OS thread per CUDA thread of a block, for the whole launch: the blocks run one after
  // another (x fastest, then y, z), each with fresh barriers and shuffle slots, which the
  // completion of the barrier ending the previous block sets up once every thread is past it.
  template <typename K, typename... A> void run(K kernel, A... args) {
    const unsigned nt = block.x;
    const uint64_t nblocks = static_cast<uint64_t>(grid.x) * grid.y * grid.z;
    if (nblocks == 0) return;
    Block b;
    auto fresh = [&]() noexcept {
      b.block_bar = std::make_unique<std::barrier<>>(nt);
      b.warp_bar.clear();
      for (unsigned w = 0; w < (nt + 31) / 32; ++w) b.warp_bar.push_back(std::make_unique<std::barrier<>>(32));
      b.shfl.assign(nt, 0);
      b.dyn.assign(smem + 16, 0xCD);
    };
    fresh();
    std::barrier<decltype(fresh)> block_end(nt, fresh);
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < nt; ++t)
      ts.emplace_back([&, t] {
        tl_thread = dim3(t); tl_blockdim = block; tl_griddim = grid; tl_blk = &b;
        for (uint64_t k = 0; k < nblocks; ++k) {
          tl_block = dim3(static_cast<unsigned>(k % grid.x), static_cast<unsigned>(k / grid.x % grid.y),
                          static_cast<unsigned>(k / grid.x / grid.y));
          kernel(args...);
          b.warp_bar[t / 32]->arrive_and_drop();
          b.block_bar->arrive_and_drop();
          block_end.arrive_and_wait();
        }
      });
    for (auto& th : ts) th.join();
  }
};
}  // namespace emu
