// f32 overflow in a weighted sum, on every engine: the contract of
// docs/passes.md#non-finite-values. A running sum that leaves the f32 range
// is that infinity, and later finite terms (inputs, bias, residual) do not
// bring it back, though the exact sum would be finite again. The
// interpreter, which sums in double, follows the same rule
// (ir::evaluateOp), so it stays the oracle bit for bit here.
#include "Harness.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace soma;
using namespace soma::numerical;

namespace {

// Inputs 2e38, 2e38, -3e38, -3e38. Each unit's running sum, in input order:
//   0: 2e38, 4e38 -> +inf                       exact 1e38, gives +inf
//   1: -2e38, -4e38 -> -inf, +3e38              exact -1e38, gives -inf
//   2: 2e38, 4e38 -> +inf, +3e38, +3e38         exact -2e38, gives +inf
//   3: 2e38, 0, then bias -3e38                 exact -3e38 (in range)
//   4: 2e38, 4e38 -> +inf, then bias -3e38      exact 1e38, gives +inf
//   5: residual: 2e38 + 2e38 (x) -> +inf, relu  exact 4e38, +inf either way
constexpr const char *kNetwork = R"(network ovf {
  input x: f32[4]
  dense s(x) {
    units = 5
    weights = [[1, 1, 1, 0], [-1, -1, -1, 0], [1, 1, -1, -1], [1, -1, 0, 0], [1, 1, 0, 0]]
    bias = [0, 0, 0, -3e38, -3e38]
    activation = identity
  }
  output s
}
)";

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kWant[] = {kInf, -kInf, kInf, -3e38f, kInf};

struct Config {
  const char *label;
  CompileOptions options;
};

std::vector<Config> configs() {
  std::vector<Config> out;
  auto add = [&](const char *label, Engine engine, int opt, const char *cpu, const char *features,
                 Sparsity sparsity) {
    CompileOptions o;
    o.engine = engine;
    o.optLevel = opt;
    o.cpu = cpu;
    o.features = features;
    o.sparsity = sparsity;
    o.threads = 1;
    out.push_back({label, o});
  };
  add("interp", Engine::Interp, 2, "", "", Sparsity::Auto);
  add("vec -O0", Engine::Vec, 0, "", "", Sparsity::Dense);
  add("vec -O3", Engine::Vec, 3, "", "", Sparsity::Dense);
  add("vec sparse", Engine::Vec, 2, "", "", Sparsity::Sparse);
  add("jit -O0", Engine::Jit, 0, "", "", Sparsity::Dense);
  add("jit -O2", Engine::Jit, 2, "", "", Sparsity::Dense);
  add("jit sparse", Engine::Jit, 2, "", "", Sparsity::Sparse);
  add("jit -avx512f", Engine::Jit, 2, "", "-avx512f", Sparsity::Dense);
  add("jit sse (no fma)", Engine::Jit, 2, "", "-avx,-avx2,-fma", Sparsity::Dense);
  if (hostCanRun(kHaswell))
    add("jit haswell", Engine::Jit, 2, "haswell", "", Sparsity::Dense);
  return out;
}

TEST(NumericalOverflow, RunningSumThatLeavesTheRangeStaysInfinite) {
  for (const Config &c : configs()) {
    Result<Model> model = Model::compileString(kNetwork, c.options, "ovf.nn");
    ASSERT_TRUE(model) << c.label << ": " << model.error();
    // Batch 1 (the lone-sample paths) and 37 (blocks, a half block, lone
    // samples), every sample the same.
    for (int64_t batch : {int64_t{1}, int64_t{37}}) {
      std::vector<float> x, y(static_cast<size_t>(batch) * 5, 0.0f);
      for (int64_t n = 0; n < batch; ++n)
        x.insert(x.end(), {2e38f, 2e38f, -3e38f, -3e38f});
      Status s = model->run({{"x", x.data(), {batch, 4}}}, {{"s", y.data(), {batch, 5}}});
      ASSERT_TRUE(s) << c.label << ": " << s.message();
      for (int64_t n = 0; n < batch; ++n)
        for (int64_t u = 0; u < 5; ++u) {
          const float got = y[static_cast<size_t>(n * 5 + u)];
          EXPECT_EQ(got, kWant[u])
              << c.label << ", batch " << batch << ", sample " << n << ", unit " << u;
        }
    }
  }
}

} // namespace
