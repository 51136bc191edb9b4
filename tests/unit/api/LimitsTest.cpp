// The per-model limits of CompileOptions (maxWeights, maxActivations): each
// ends compilation with an error that names it, on every input language,
// before a tensor past the limit is filled or read.
#include "soma/soma.h"

#include <gtest/gtest.h>

using namespace soma;

namespace {

const char *const kNet = "network n {\n  input x: f32[3]\n  dense a(x) { units = 2; weights = "
                         "ones; bias = 0 }\n  dense b(a) { units = 1; weights = ones }\n  output "
                         "b\n}\n";

Result<Model> compileWith(int64_t maxWeights, int64_t maxActivations, const char *text = kNet) {
  CompileOptions options;
  options.engine = Engine::Interp;
  options.maxWeights = maxWeights;
  options.maxActivations = maxActivations;
  return Model::compileString(text, options, "n.nn");
}

TEST(Limits, WeightsPerModelAreConfigurable) {
  // a's weights [2, 3] (6), its bias (2), b's weights [1, 2] (2): 10, and b's default bias 1.
  EXPECT_TRUE(compileWith(11, 100)) << compileWith(11, 100).error();
  Result<Model> m = compileWith(9, 100);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().find("n.nn:4:37: error: dense layer 'b' weights [1, 2] would bring the "
                           "model's constants to 10 elements, above the limit of 9 weights per "
                           "model"),
            std::string::npos)
      << m.error();
}

TEST(Limits, WeightsOfIRConstantsCountToo) {
  const char *ir = "graph @g {\n  %x = input : f32[N, 2]\n  %w = const [1, 2, 3, 4] : f32[2, 2]\n "
                   " %y = linear(%x, %w) : f32[N, 2]\n  output %y\n}\n";
  EXPECT_TRUE(compileWith(4, 100, ir));
  Result<Model> m = compileWith(3, 100, ir);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().find("error: the model's constants hold 4 elements, above the limit of 3 "
                           "weights per model"),
            std::string::npos)
      << m.error();
}

TEST(Limits, ActivationsPerModelAreConfigurable) {
  // The graph as built from the source, before optimisation: x (3), then
  // three ops of 2 for a and three of 1 for b: 12 elements per sample.
  EXPECT_TRUE(compileWith(100, 12));
  Result<Model> m = compileWith(100, 11);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().find("n.nn:1:1: error: the model's values hold 12 elements per sample, above "
                           "the limit of 11 activations per model"),
            std::string::npos)
      << m.error();
}

TEST(Limits, MustBePositive) {
  Result<Model> m = compileWith(0, 100);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().find("maxWeights and maxActivations must be at least 1"), std::string::npos)
      << m.error();
}

} // namespace
