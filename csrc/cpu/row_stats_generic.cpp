// The row-statistics kernel for any x86-64 (or other) CPU: one lane, baseline flags.
#include <float.h>
#include <math.h>

#include <algorithm>
#include <vector>

#include "half.h"
#include "philox.h"
#include "row_stats.h"
#include "simd_scalar.h"

namespace igk {
namespace isa_generic {
using Simd = ::Scalar;
#include "row_stats_kernel.h"
}  // namespace isa_generic
}  // namespace igk
