// prelu through the public API on seeded random networks: conv -> prelu
// along the channels (axis = 0) -> conv -> global_avgpool -> dense (odd
// unit counts: vector tails) -> prelu along the last axis, with channel
// counts that are multiples of 16 or 8 (where the builder may block the
// convolutions' values) and odd ones, on every engine, planar and with
// blocked layouts, on 1 and 2 threads: each must give the same bits, and
// match the interpreter (prelu itself rounds once, as the interpreter's;
// the convolutions' sums differ from its double sums: within 1e-4 relative
// to the output's magnitude).
//
// Environment: SOMA_NUMERICAL_SEED=S reruns only network S.
#include "Harness.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

using namespace soma;
using namespace soma::numerical;

namespace {

struct Net {
  std::string text;
  std::vector<int64_t> inShape;
};

Net randomNet(uint32_t seed) {
  std::mt19937 rng(seed);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const int rank = seed % 4 == 3 ? 1 : 2;
  const int64_t unit = seed % 5 == 4 ? 7 : (seed % 2 ? 8 : 16); // 7: no block fits
  const int64_t c0 = pick(1, 3), c1 = unit * pick(1, 3), units = 2 * pick(2, 20) + 1;
  std::vector<int64_t> in = {c0, pick(4, 11), pick(4, 13)};
  if (rank == 1)
    in.erase(in.begin() + 1);
  const std::string d = std::to_string(rank) + "d", s = std::to_string(seed);
  auto seeded = [&](const char *range, int k) {
    return std::string("uniform(") + range + ", seed = " + std::to_string(seed * 10 + k) + ")";
  };
  std::string dims = "[";
  for (size_t i = 0; i < in.size(); ++i)
    dims += (i ? ", " : "") + std::to_string(in[i]);
  std::string t = "network prelu_net {\n  input x: f32" + dims + "]\n";
  t += "  conv" + d + " a(x) { filters = " + std::to_string(c1) +
       "; kernel = 3; padding = same; weights = " + seeded("-1, 1", 1) +
       "; bias = " + seeded("-0.5, 0.5", 2) + " }\n";
  t += "  prelu p(a) { slope = " + seeded("-0.5, 0.8", 3) + "; axis = 0 }\n";
  t += "  conv" + d + " b(p) { filters = " + std::to_string(c1) +
       "; kernel = 3; padding = same; weights = " + seeded("-0.5, 0.5", 4) + " }\n";
  // Every third network: a prelu along the channels of a network output too.
  if (seed % 3 == 0) {
    t += "  prelu q(b) { slope = " + seeded("-1, 1", 5) + "; axis = 0 }\n  output q\n";
  }
  t += "  global_avgpool g(b)\n";
  t += "  dense y(g) { units = " + std::to_string(units) + "; weights = " + seeded("-1, 1", 6) +
       "; bias = " + seeded("-1, 1", 7) + " }\n";
  t += "  prelu z(y) { slope = " + seeded("-0.3, 0.3", 8) + " }\n  output z\n}\n";
  return {t, in};
}

/// Runs every output of `model` on `batch` samples `x`; their elements one
/// after the other, NaN where one was not written.
std::vector<float> runAll(const Model &model, const std::vector<int64_t> &inShape,
                          const std::vector<float> &x, int64_t batch) {
  std::vector<int64_t> shape = {batch};
  shape.insert(shape.end(), inShape.begin(), inShape.end());
  std::vector<std::vector<float>> ys;
  std::vector<std::vector<int64_t>> shapes;
  for (const TensorInfo &out : model.outputs()) {
    std::vector<int64_t> yShape = {batch};
    yShape.insert(yShape.end(), out.shape.begin(), out.shape.end());
    int64_t n = 1;
    for (int64_t v : yShape)
      n *= v;
    ys.emplace_back(static_cast<size_t>(n), NAN);
    shapes.push_back(yShape);
  }
  std::vector<OutputBuffer> outs;
  for (size_t k = 0; k < ys.size(); ++k)
    outs.push_back({model.outputs()[k].name, ys[k].data(), shapes[k]});
  Status s = model.run({{model.inputs()[0].name, x.data(), shape}}, outs);
  EXPECT_TRUE(s.ok()) << s.message();
  std::vector<float> all;
  for (const std::vector<float> &y : ys)
    all.insert(all.end(), y.begin(), y.end());
  return all;
}

} // namespace

TEST(NumericalPrelu, EveryEngineAndLayoutMatchesTheInterpreter) {
  const char *only = std::getenv("SOMA_NUMERICAL_SEED");
  const Target targets[] = {kHostO2, kHaswell, kSse, kVecO3, kVecO0};
  int checked = 0;
  for (uint32_t seed = 0; seed < 12; ++seed) {
    if (only && std::strtoul(only, nullptr, 10) != seed)
      continue;
    const Net net = randomNet(seed);
    SCOPED_TRACE("network " + std::to_string(seed) +
                 " (SOMA_NUMERICAL_SEED=" + std::to_string(seed) + "):\n" + net.text);
    checked += checkLayoutsAndThreads(net.text, "prelu.nn", net.inShape,
                                      {std::begin(targets), std::end(targets)}, seed + 700, {1, 5},
                                      runAll);
  }
  if (!only) {
    EXPECT_GE(checked, 80);
  }
}
