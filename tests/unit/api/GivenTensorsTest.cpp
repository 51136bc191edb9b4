// Weights from memory (CompileOptions::tensors and tensor("NAME") in the
// network): the model computes what the same weights written as literals
// give, keeps its own copy (the caller's buffers may die after compile),
// and a bad tensor is a compile error at the tensor("NAME") that uses it.
//
// This file includes soma/soma.h only: it is built like an application.
#include "soma/soma.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

using namespace soma;

namespace {

const char *const givenNet = R"(network given {
  input x: f32[3]
  dense h(x) { units = 2; weights = tensor("h.weight"); bias = tensor("h.bias"); activation = tanh }
  neuron y(h) { weights = tensor(name = "y.weight") }
  output y
}
)";

const char *const literalNet = R"(network literal {
  input x: f32[3]
  dense h(x) { units = 2; weights = [[0.5, -1, 2], [1.5, 0.25, -0.75]]; bias = [0.1, -0.2]; activation = tanh }
  neuron y(h) { weights = [2, -3] }
  output y
}
)";

std::vector<float> runOnce(const Model &m) {
  std::vector<float> x = {0.3f, -1.2f, 2.5f, 1, 1, 1}, y(2, -1);
  Status s = m.run({{"x", x.data(), {2, 3}}}, {{"y", y.data(), {2, 1}}});
  EXPECT_TRUE(s) << s.message();
  return y;
}

std::string compileError(const CompileOptions &options) {
  Result<Model> m = Model::compileString(givenNet, options, "given.nn");
  return m ? std::string("compiled") : m.error();
}

CompileOptions withTensors(std::vector<float> &w, std::vector<float> &b, std::vector<float> &v) {
  CompileOptions o;
  o.engine = Engine::Vec;
  o.tensors["h.weight"] = {w.data(), {2, 3}};
  o.tensors["h.bias"] = {b.data(), {2}};
  o.tensors["y.weight"] = {v.data(), {2}};
  return o;
}

} // namespace

TEST(GivenTensors, ComputeWhatTheSameLiteralsCompute) {
  for (Engine engine : {Engine::Interp, Engine::Vec, Engine::Jit}) {
    SCOPED_TRACE(name(engine));
    auto w =
        std::make_unique<std::vector<float>>(std::vector<float>{0.5f, -1, 2, 1.5f, 0.25f, -0.75f});
    auto b = std::make_unique<std::vector<float>>(std::vector<float>{0.1f, -0.2f});
    auto v = std::make_unique<std::vector<float>>(std::vector<float>{2, -3});
    CompileOptions options = withTensors(*w, *b, *v);
    options.engine = engine;
    Result<Model> given = Model::compileString(givenNet, options, "given.nn");
    ASSERT_TRUE(given) << given.error();
    // The model holds its own copy: the caller's buffers may go.
    w.reset();
    b.reset();
    v.reset();
    options.tensors.clear();
    Result<Model> literal = Model::compileString(literalNet, options, "literal.nn");
    ASSERT_TRUE(literal) << literal.error();
    EXPECT_EQ(runOnce(*given), runOnce(*literal));
  }
}

TEST(GivenTensors, AMissingTensorIsAnErrorAtItsName) {
  std::vector<float> w(6, 1), b(2), v(2);
  CompileOptions options = withTensors(w, b, v);
  options.tensors.erase("h.bias");
  options.tensors["h.biases"] = {b.data(), {2}};
  const std::string error = compileError(options);
  EXPECT_EQ(error.substr(0, error.find('\n')),
            "given.nn:3:71: error: no tensor named 'h.bias' was given; did you mean 'h.biases'?");
}

TEST(GivenTensors, AWrongShapeNamesBothShapes) {
  std::vector<float> w(6, 1), b(2), v(2);
  CompileOptions options = withTensors(w, b, v);
  options.tensors["h.weight"].shape = {3, 2};
  std::string error = compileError(options);
  EXPECT_NE(error.find("given.nn:3:37: error: dense layer 'h' expects weights [2, 3], got [3, 2] "
                       "from given tensor 'h.weight'"),
            std::string::npos)
      << error;
}

TEST(GivenTensors, BadShapesAndNullDataAreErrors) {
  std::vector<float> w(6, 1), b(2), v(2);
  struct Case {
    TensorData tensor;
    const char *message;
  } cases[] = {
      {{nullptr, {2, 3}}, "given tensor 'h.weight' has no data pointer"},
      {{w.data(), {2, -3}}, "given tensor 'h.weight' of shape [2, -3] has a negative dimension"},
      {{w.data(), {1, 1, 1, 1, 1, 1, 1, 1, 6}}, "has more than 8 dimensions"},
      {{w.data(), {int64_t(1) << 40, int64_t(1) << 40}}, "has more than 268435456 elements"},
  };
  for (const Case &c : cases) {
    CompileOptions options = withTensors(w, b, v);
    options.tensors["h.weight"] = c.tensor;
    std::string error = compileError(options);
    EXPECT_NE(error.find("given.nn:3:44: error: "), std::string::npos) << error;
    EXPECT_NE(error.find(c.message), std::string::npos) << error;
  }
}
