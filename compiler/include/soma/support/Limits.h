// The per-model limits soma enforces while it builds a model, each ending in
// a diagnostic that names it (docs/language.md, "Limits"). The aggregate
// limits are configurable (soma::CompileOptions::maxWeights, maxActivations);
// the others are fixed.
#pragma once

#include <cstdint>

namespace soma {

/// Operands of one layer or op (a concat of 10,000 compiles in under a
/// second on every engine).
inline constexpr int64_t kMaxOperands = int64_t(1) << 16;

struct ModelLimits {
  /// Elements held by all of a model's constants together (weights, biases,
  /// parameters): 2^30 f32 values, 4 GiB. Checked before each tensor is
  /// filled or read from its file.
  int64_t weights = int64_t(1) << 30;
  /// Elements of all of a model's values for one sample, summed over the
  /// values (inputs, layers, outputs): 2^28, 1 GiB of f32 per sample.
  int64_t activations = int64_t(1) << 28;
};

} // namespace soma
