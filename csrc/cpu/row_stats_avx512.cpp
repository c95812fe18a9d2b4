// The row-statistics kernel for CPUs with AVX-512 F/BW/DQ/VL: 16 lanes. CMakeLists.txt
// compiles this file alone with those instruction sets; row_stats.cpp calls it only after
// checking the CPU at run time.
#include <float.h>
#include <math.h>

#include <algorithm>
#include <vector>

#include "half.h"
#include "philox.h"
#include "row_stats.h"
#include "simd_avx512.h"

namespace igk {
namespace isa_avx512 {
using Simd = ::Avx512;
#include "row_stats_kernel.h"
}  // namespace isa_avx512
}  // namespace igk
