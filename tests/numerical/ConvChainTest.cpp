// Chains of convolutions and pools through the public API, where the
// program builder stores the values between them in blocks of channels
// (CompileOptions::blockedLayouts): seeded random conv1d and conv2d chains
// conv -> max or avg pool -> conv + residual (fused into conv_add) -> conv
// -> global_avgpool (+ a dense layer on every third), with channel counts
// that are multiples of 16 or of 8 (and a few that are neither), odd sizes,
// strides, pads and dilations, on every engine (the JIT leaves these convs
// to vec.conv): each must give the same bits blocked as planar, on 1 and 2
// threads, and stay near the interpreter (the chain's roundings differ
// from its double sums: within 1e-4 relative to the output's magnitude).
//
// Environment: SOMA_NUMERICAL_SEED=S reruns only chain S.
#include "Harness.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

using namespace soma;
using namespace soma::numerical;

namespace {

struct Chain {
  std::string text;
  std::vector<int64_t> inShape;
};

Chain randomChain(uint32_t seed) {
  std::mt19937 rng(seed);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const int rank = seed % 4 == 3 ? 1 : 2;
  const int64_t unit = seed % 5 == 4 ? 12 : (seed % 2 ? 8 : 16); // 12: no block fits
  const int64_t c0 = pick(1, 4), c1 = unit * pick(1, 3), c2 = 32 * pick(1, 2);
  std::vector<int64_t> size = {2 * pick(3, 7) + 1, 2 * pick(3, 9) + 1};
  if (rank == 1)
    size.erase(size.begin());
  const std::string d = std::to_string(rank) + "d";
  auto dims = [&](std::vector<int64_t> v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i)
      s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
  };
  std::vector<int64_t> in = {c0};
  in.insert(in.end(), size.begin(), size.end());
  const int64_t stride = pick(1, 2), dil = pick(1, 2), pad = pick(0, 2);
  const int64_t pk = pick(2, 3), poolStride = pick(1, 2), cKernel = pick(0, 1) * 2 + 1;
  const bool maxPool = pick(0, 1), includePad = !maxPool && pick(0, 1);
  std::string t = "network chain {\n  input x: f32" + dims(in) + "\n";
  t += "  conv" + d + " a(x) { filters = " + std::to_string(c1) +
       "; kernel = 3; stride = " + std::to_string(stride) + "; dilation = " + std::to_string(dil) +
       "; padding = " + std::to_string(pad) +
       "; weights = uniform(-1, 1, seed = " + std::to_string(seed) +
       "); bias = uniform(-0.5, 0.5, seed = " + std::to_string(seed + 1) +
       "); activation = relu }\n";
  t += std::string("  ") + (maxPool ? "maxpool" : "avgpool") +
       " p(a) { kernel = " + std::to_string(pk) + "; stride = " + std::to_string(poolStride) +
       "; padding = 1" + (includePad ? "; count_include_pad = true" : "") + " }\n";
  t += "  conv" + d + " b(p) { filters = " + std::to_string(c1) +
       "; kernel = 3; padding = same; weights = uniform(-0.5, 0.5, seed = " +
       std::to_string(seed + 2) +
       "); bias = uniform(-0.5, 0.5, seed = " + std::to_string(seed + 3) + ") }\n";
  t += "  add r(b, p)\n  activation rr(r) { activation = relu }\n";
  t += "  conv" + d + " c(rr) { filters = " + std::to_string(c2) +
       "; kernel = " + std::to_string(cKernel) +
       "; padding = same; weights = uniform(-0.5, 0.5, seed = " + std::to_string(seed + 4) +
       "); activation = tanh }\n";
  t += "  global_avgpool g(c)\n";
  if (seed % 3 == 0)
    t += "  dense y(g) { units = 5; weights = uniform(-1, 1, seed = " + std::to_string(seed + 5) +
         ") }\n  output y\n}\n";
  else
    t += "  output g\n}\n";
  return {t, in};
}

} // namespace

TEST(NumericalConvChain, BlockedGivesThePlanarBitsOnEveryEngine) {
  const char *only = std::getenv("SOMA_NUMERICAL_SEED");
  const Target targets[] = {kHostO2, kHaswell, kSse, kVecO3, kVecO0};
  int checked = 0;
  for (uint32_t seed = 0; seed < 16; ++seed) {
    if (only && std::strtoul(only, nullptr, 10) != seed)
      continue;
    const Chain chain = randomChain(seed);
    SCOPED_TRACE("chain " + std::to_string(seed) + " (SOMA_NUMERICAL_SEED=" + std::to_string(seed) +
                 "):\n" + chain.text);
    checked += checkLayoutsAndThreads(chain.text, "chain.nn", chain.inShape,
                                      {std::begin(targets), std::end(targets)}, seed + 500, {1, 3},
                                      runSingle);
  }
  if (!only) {
    EXPECT_GE(checked, 100);
  }
}
