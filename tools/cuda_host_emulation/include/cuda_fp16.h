// Host stand-in for the CUDA header of the same name (see cuda_runtime.h beside it).
#pragma once
#include <cstdint>
#include <cstring>
struct __half { uint16_t bits; };
struct __half2 { __half x, y; };
struct float2 { float x, y; };
inline float __half2float(__half h) { _Float16 f; std::memcpy(&f, &h.bits, 2); return (float)f; }
inline float2 __half22float2(__half2 h) { return float2{__half2float(h.x), __half2float(h.y)}; }
