// Bit-identical results for any thread count: seeded random networks, big
// enough that their dense layers run over tiles on several threads,
// compiled for the JIT and for the vec engine with CompileOptions::threads
// = 1, 2, 3 and 8 and run on the same inputs; every output must have the same bits (NaNs included)
// as with one thread, and the one-thread result must be within the JIT's error bound of the
// harness's exact evaluation (Reference.h): the other numerical tests use networks too small to be
// cut into tiles, so this is where a wrong tiling (a softmax cut into column tiles, say) shows. On
// a machine with fewer cores than the thread count, the model uses the cores it has.
//
// Environment: SOMA_NUMERICAL_SEED=S reruns only network S.
#include "Harness.h"
#include "RandomNetwork.h"
#include "Reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>

using namespace soma;
using namespace soma::numerical;

namespace {

/// Multiply-adds of the network's largest weighted layer, per sample.
int64_t largestLayerMacs(const Network &net) {
  int64_t most = 0;
  for (const Layer &l : net.layers) {
    if (l.kind != LayerKind::Dense && l.kind != LayerKind::Neuron)
      continue;
    int64_t inputs = 0;
    for (int v : l.operands)
      inputs += net.values[static_cast<size_t>(v)].size();
    most = std::max(most, inputs * l.units);
  }
  return most;
}

std::optional<Model> compileWithThreads(const Network &net, Engine engine, int threads,
                                        std::string &error) {
  CompileOptions options;
  options.engine = engine;
  options.threads = threads;
  return compileNetwork(net, options, error);
}

bool sameBits(const std::vector<float> &a, const std::vector<float> &b, size_t n) {
  return a.size() >= n && b.size() >= n && std::memcmp(a.data(), b.data(), n * sizeof(float)) == 0;
}

} // namespace

namespace {

/// Runs `net` on `engine` with 1, 2, 3 and 8 threads at two batch sizes.
void checkEngine(const Network &net, const std::vector<std::vector<float>> &inputs,
                 const std::vector<BoundedValue> &exact, Engine engine, const std::string &where) {
  const char *engineName = engine == Engine::Jit ? "jit" : "vec";
  std::string error;
  for (int64_t batch : {net.batch, net.batch / 3 + 1}) {
    std::vector<std::vector<float>> reference;
    for (int threads : {1, 2, 3, 8}) {
      std::optional<Model> m = compileWithThreads(net, engine, threads, error);
      ASSERT_TRUE(m) << error << "\n" << where;
      std::optional<std::vector<std::vector<float>>> out =
          runNetwork(*m, net, inputs, batch, error);
      ASSERT_TRUE(out) << error << "\n" << where;
      if (threads == 1) {
        reference = std::move(*out);
        for (size_t o = 0; o < reference.size(); ++o) {
          const int id = net.outputs[o].second;
          const size_t n = static_cast<size_t>(batch * net.values[static_cast<size_t>(id)].size());
          std::string bad = outOfJitBound(reference[o], exact[static_cast<size_t>(id)], n);
          EXPECT_TRUE(bad.empty()) << engineName << ": output '" << net.outputs[o].first
                                   << "' at batch " << batch << ": " << bad << where;
        }
        continue;
      }
      for (size_t o = 0; o < reference.size(); ++o) {
        const Value &v = net.values[static_cast<size_t>(net.outputs[o].second)];
        EXPECT_TRUE(sameBits((*out)[o], reference[o], static_cast<size_t>(batch * v.size())))
            << engineName << ": output '" << net.outputs[o].first << "' at batch " << batch
            << " with " << threads << " threads differs from one thread\n"
            << where;
      }
    }
  }
}

/// Checks networks base .. base + n - 1 of `p`.
void checkThreads(const Profile &p, uint64_t base, int n) {
  const int64_t macBudget = 12000000;
  const char *only = std::getenv("SOMA_NUMERICAL_SEED");
  int big = 0, count = 0;
  for (uint64_t seed = base; seed < base + static_cast<uint64_t>(n); ++seed) {
    if (only && *only && std::strtoull(only, nullptr, 0) != seed)
      continue;
    Network net = generateNetwork(p, seed);
    // The largest batch the budget allows, so the big layers go parallel.
    net.batch = std::clamp<int64_t>(macBudget / std::max<int64_t>(net.macsPerSample(), 1), 1, 300);
    std::vector<std::vector<float>> inputs = generateInputs(net, seed);
    const std::vector<BoundedValue> exact = evaluate(net, inputs);
    ++count;
    // Runs over tiles when a layer has 2^18 multiply-adds or more.
    if (largestLayerMacs(net) * net.batch >= (int64_t(1) << 19))
      ++big;
    const std::string where = "network seed " + std::to_string(seed) +
                              " (reproduce: SOMA_NUMERICAL_SEED=" + std::to_string(seed) +
                              " soma_numerical_tests --gtest_filter='NumericalThreads.*')\n" +
                              net.text();
    setCrashContext(where);
    for (Engine engine : {Engine::Jit, Engine::Vec})
      checkEngine(net, inputs, exact, engine, where);
    setCrashContext("");
    if (testing::Test::HasFailure())
      break;
  }
  std::printf("[ stats    ] %d networks, %d with a layer big enough to run over tiles\n", count,
              big);
  if (!only) {
    EXPECT_GE(big, count * 2 / 3) << "too few networks exercise the parallel runtime";
  }
}

} // namespace

TEST(NumericalThreads, BitIdenticalForAnyThreadCount) {
  Profile p;
  p.acts = allActs();
  p.widths = widths::wide();
  p.maxDepth = 4;
  p.maxInputs = 2;
  checkThreads(p, 60000, 12);
}

// Layers that need whole rows (softmax, layer_norm, concat) among big
// dense layers.
TEST(NumericalThreads, WholeRowLayersAmongBigOnes) {
  Profile p;
  p.acts = {Act::Softmax, Act::Relu, Act::Softmax, Act::Gelu};
  p.widths = widths::wide();
  p.maxDepth = 4;
  p.maxInputs = 2;
  p.layernorm = 3;
  p.concat = 2;
  checkThreads(p, 61000, 8);
}
