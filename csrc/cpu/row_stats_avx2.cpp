// The row-statistics kernel for CPUs with AVX2, FMA and F16C but no AVX-512: 8 lanes.
// CMakeLists.txt compiles this file alone with those instruction sets; row_stats.cpp calls
// it only after checking the CPU at run time.
#include <float.h>
#include <math.h>

#include <algorithm>
#include <vector>

#include "half.h"
#include "philox.h"
#include "row_stats.h"
#include "simd_avx2.h"

namespace igk {
namespace isa_avx2 {
using Simd = ::Avx2;
#include "row_stats_kernel.h"
}  // namespace isa_avx2
}  // namespace igk
