// Sparse weights: seeded random networks whose dense layers have 0%, 50%,
// 90%, 95%, 99% or 100% zero weights (drawn per layer), sometimes a whole
// row and column of zeros, odd widths; compiled for the JIT (whose cost
// model gives the layers of at least 4096 weights and at most 12% density
// the sparse kernel, docs/passes.md#schedule; one test forces the sparse
// kernel on every layer, dense ones included) with 1 and 2 threads, run at
// batch 1, 3, 8, 17 and 300 (one test without AVX-512). Every output must be within the JIT's error
// bound of the harness's exact evaluation (Reference.h), and the two-thread
// result must have the same bits as the one-thread result. Batch 1 and 3
// take the sparse kernel's matrix-vector path, 8 a partial sample block,
// 17 a block and a lone sample, 300 several row tiles.
//
// Environment: SOMA_NUMERICAL_SEED=S reruns only network S.
#include "Harness.h"
#include "RandomNetwork.h"
#include "Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>

using namespace soma;
using namespace soma::numerical;

namespace {

std::optional<Model> compileJit(const Network &net, int threads, Sparsity sparsity,
                                const std::string &features, std::string &error) {
  CompileOptions options;
  options.engine = Engine::Jit;
  options.threads = threads;
  options.sparsity = sparsity;
  options.features = features;
  return compileNetwork(net, options, error);
}

/// `features`: LLVM target features for the JIT ("-avx512f": 8-lane
/// groups, and the scalar matrix-vector path instead of the chunked one).
void checkSparse(const Profile &p, uint64_t base, int n, Sparsity sparsity = Sparsity::Auto,
                 const std::string &features = "") {
  const char *only = std::getenv("SOMA_NUMERICAL_SEED");
  for (uint64_t seed = base; seed < base + static_cast<uint64_t>(n); ++seed) {
    if (only && *only && std::strtoull(only, nullptr, 0) != seed)
      continue;
    Network net = generateNetwork(p, seed);
    net.batch = 300;
    std::vector<std::vector<float>> inputs = generateInputs(net, seed);
    const std::vector<BoundedValue> exact = evaluate(net, inputs);
    const std::string where = "network seed " + std::to_string(seed) +
                              " (reproduce: SOMA_NUMERICAL_SEED=" + std::to_string(seed) +
                              " soma_numerical_tests --gtest_filter='NumericalSparse.*')\n" +
                              net.text().substr(0, 4000);
    setCrashContext(where);
    std::string error;
    std::optional<Model> one = compileJit(net, 1, sparsity, features, error);
    ASSERT_TRUE(one) << error << "\n" << where;
    std::optional<Model> two = compileJit(net, 2, sparsity, features, error);
    ASSERT_TRUE(two) << error << "\n" << where;
    for (int64_t batch : {1, 3, 8, 17, 300}) {
      auto a = runNetwork(*one, net, inputs, batch, error);
      ASSERT_TRUE(a) << error << "\n" << where;
      auto b = runNetwork(*two, net, inputs, batch, error);
      ASSERT_TRUE(b) << error << "\n" << where;
      for (size_t o = 0; o < a->size(); ++o) {
        const int id = net.outputs[o].second;
        const size_t count = static_cast<size_t>(batch * net.values[static_cast<size_t>(id)].size());
        std::string bad = outOfJitBound((*a)[o], exact[static_cast<size_t>(id)], count);
        EXPECT_TRUE(bad.empty()) << "output '" << net.outputs[o].first << "' at batch " << batch
                                 << ": " << bad << where;
        EXPECT_EQ(std::memcmp((*a)[o].data(), (*b)[o].data(), count * sizeof(float)), 0)
            << "output '" << net.outputs[o].first << "' at batch " << batch
            << " differs between 1 and 2 threads\n"
            << where;
      }
    }
    setCrashContext("");
    if (testing::Test::HasFailure())
      break;
  }
}

Profile sparseProfile(std::vector<double> zeroFractions) {
  Profile p;
  p.acts = allActs();
  p.widths = {17, 33, 65, 100, 129, 257, 300};
  p.maxDepth = 4;
  p.maxInputs = 2;
  p.zeroFractions = std::move(zeroFractions);
  return p;
}

} // namespace

// Mostly zeros: the layers take the sparse kernel.
TEST(NumericalSparse, MostlyZeroWeights) { checkSparse(sparseProfile({0.9, 0.95, 0.99}), 70000, 10); }

// Every fraction, whole networks of zeros included.
TEST(NumericalSparse, EveryZeroFraction) {
  checkSparse(sparseProfile({0, 0.5, 0.9, 0.95, 0.99, 1}), 71000, 10);
}

// The sparse kernel forced on every weighted sum (CompileOptions::sparsity),
// so dense weights (0% and 50% zeros) and small layers run it too.
TEST(NumericalSparse, ForcedSparseEveryZeroFraction) {
  checkSparse(sparseProfile({0, 0.5, 0.9, 0.99, 1}), 73000, 10, Sparsity::Sparse);
}

// Without AVX-512: groups and sample blocks of 8, and lone samples on the
// scalar matrix-vector path (the chunked one needs 16-lane permutes; with
// AVX-512 the cost model gives these small layers the chunked path).
TEST(NumericalSparse, ForcedSparseWithoutAvx512) {
  checkSparse(sparseProfile({0, 0.5, 0.9, 0.99, 1}), 74000, 8, Sparsity::Sparse, "-avx512f");
}

// 40-45% nonzeros: on AVX-512 the cost model gives layers of at least 4096
// weights the sparse kernel with lone = "packed" (sample blocks sparse,
// lone samples on the dense kernel), elsewhere the dense kernel.
TEST(NumericalSparse, HalfZeroWeightsLonePacked) {
  checkSparse(sparseProfile({0.55, 0.6}), 75000, 8);
}

// Residual (dense_add) layers among sparse ones.
TEST(NumericalSparse, ResidualLayers) {
  Profile p = sparseProfile({0.95, 0.99});
  p.residual = 6;
  checkSparse(p, 72000, 6);
}
