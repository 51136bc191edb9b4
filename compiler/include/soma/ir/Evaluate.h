// The reference semantics of every op kind, as plain scalar loops that
// accumulate in double and round once to f32 when they store. The reference
// interpreter runs a graph with them and fold-constants evaluates constant
// ops at compile time with them, so each op's meaning is written once.
#pragma once

#include "soma/ir/Graph.h"
#include "soma/support/Tensor.h"

#include <cstdint>
#include <vector>

namespace soma::ir {

/// The activation in double precision. Infinities map to the function's
/// limits (gelu(-inf) = silu(-inf) = -0, the sign large negative inputs
/// give); NaN propagates.
double referenceActivation(const Activation &act, double x);

/// Applies `act` to each row of `values` (rows of `width` elements, the
/// last axis), in double, writing f32 results. Softmax works per row.
void referenceActivationRows(const Activation &act, const double *in, float *out, int64_t rows,
                             int64_t width);

/// A value being evaluated: [N, dims...] when batched, else [dims...].
struct EvalOperand {
  const Tensor *tensor;
  bool batched;
};

/// The concrete shape of `type` for batch size `batch`.
std::vector<int64_t> concreteShape(const TensorType &type, int64_t batch);

/// Evaluates `op` (any kind but input and const; its type known) on its
/// operands' values, in operand order, for batch size `batch` (used only
/// when some operand is batched). The result has concreteShape(op.type).
Tensor evaluateOp(const Op &op, const std::vector<EvalOperand> &operands, int64_t batch);

} // namespace soma::ir
