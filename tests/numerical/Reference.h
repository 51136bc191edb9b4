// The harness's own evaluation of a random network, in double precision,
// with a running forward error bound for each engine.
//
// For every element of every value the harness computes its exact value r
// (the network's arithmetic on its f32 weights and inputs, in double) and
// two bounds: errJit on |JIT - r| and errInterp on |interpreter - r|. The
// bounds are propagated op by op: each op passes on the error of its
// operands (through its derivative, or for activations through the exact
// range of the function over the operand's error interval) and adds its
// own rounding: f32 for the JIT (summation order, vector math contract),
// one f32 rounding per op for the interpreter. The rules, and why they
// hold, are in Reference.cpp and docs/testing.md. The differential test
// then requires |JIT - interpreter| <= errJit + errInterp.
#pragma once

#include "RandomNetwork.h"

#include <vector>

namespace soma::numerical {

/// Unit roundoff of f32 (round to nearest).
inline constexpr double kU32 = 0x1p-24;
/// Relative error the JIT's vector math promises for every transcendental
/// activation and for exp (compiler/codegen/VectorMath.h).
inline constexpr double kMathRel = 1e-6;
/// Absolute slack for subnormal results (and flush-to-zero, were it on).
inline constexpr double kTiny = 0x1p-126;

struct BoundedValue {
  std::vector<double> ref;       // [batch * size]
  std::vector<double> errJit;    // bound on |JIT - ref|
  std::vector<double> errInterp; // bound on |interpreter - ref|
};

/// Every value of `net` (by value id) on `inputs` ([batch, dims...] per
/// input, in net.inputs order).
std::vector<BoundedValue> evaluate(const Network &net,
                                   const std::vector<std::vector<float>> &inputs);

/// The harness's double-precision activation (not softmax).
double activationValue(const Activation &act, double x);

} // namespace soma::numerical
