// The activations' accuracy contract (docs/codegen-math.md), shared by the
// tests of the JIT's vector math (codegen/VectorMathTest.cpp) and of the
// xsimd kernels (kernels/ActivationAccuracyTest.cpp): both engines promise
// the same bound.
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>

namespace soma::test {

/// Relative error allowed against the double reference, and the absolute
/// floor below which it stops shrinking (FLT_MIN = 2^-126).
constexpr double kRelTol = 1e-6;
constexpr double kFloor = 1e-6 * FLT_MIN;

/// True when `got` meets the contract for the double reference `ref`: NaN
/// for NaN, the limit where the reference rounds to an infinity, else
/// within kRelTol relative (kFloor absolute).
inline bool withinContract(float got, double ref) {
  if (std::isnan(ref))
    return std::isnan(got);
  const float rounded = static_cast<float>(ref);
  if (std::isinf(rounded))
    return got == rounded;
  return std::fabs(static_cast<double>(got) - ref) <= std::max(kRelTol * std::fabs(ref), kFloor);
}

} // namespace soma::test
