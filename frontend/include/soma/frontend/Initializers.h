// Seeded weight initialisers for synthetic networks. The generator is soma's
// own (SplitMix64 and Marsaglia's polar method), so a seed gives the same weights on every
// platform and standard library.
#pragma once

#include "soma/support/Tensor.h"

#include <cstdint>

namespace soma::frontend {

enum class InitKind { Zeros, Ones, Constant, Uniform, Normal, Xavier, He };

struct InitSpec {
  InitKind kind = InitKind::Zeros;
  double a = 0, b = 0; // Constant: a; Uniform: [a, b); Normal: mean a, stddev b
  uint64_t seed = 0;
};

/// Fills `t` (already shaped). fanIn/fanOut drive Xavier (uniform,
/// limit sqrt(6 / (fanIn + fanOut))) and He (normal, stddev sqrt(2 / fanIn)).
void fillInitializer(Tensor &t, const InitSpec &spec, int64_t fanIn, int64_t fanOut);

} // namespace soma::frontend
