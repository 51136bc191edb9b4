// The reference interpreter against closed forms worked out by hand.
#include "soma/runtime/Interpreter.h"
#include "soma/frontend/Frontend.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace soma;
using runtime::NamedTensor;

namespace {
struct Net {
  SourceManager sm;
  DiagnosticEngine diags{sm};
  std::unique_ptr<ir::Graph> graph;
};

std::unique_ptr<Net> build(const std::string &text) {
  auto n = std::make_unique<Net>();
  n->graph = frontend::loadGraph(n->sm.addBuffer("t.nn", text), n->sm, n->diags);
  EXPECT_TRUE(n->graph) << n->diags.renderToString();
  return n;
}

NamedTensor tensor(const std::string &name, std::vector<int64_t> dims, std::vector<float> v) {
  NamedTensor t{name, Tensor(dims)};
  std::copy(v.begin(), v.end(), t.tensor.values.begin());
  return t;
}

std::vector<float> values(const NamedTensor &t) {
  return std::vector<float>(t.tensor.values.begin(), t.tensor.values.end());
}
} // namespace

TEST(Interpreter, WorkedExampleNeuron) {
  auto n = build(R"(network neuron {
    input x: f32[2]
    neuron n(x) { weights = [0.8, 0.6]; bias = 0.2; activation = relu }
    output n
  })");
  auto out = runtime::Interpreter(*n->graph).run({tensor("x", {1, 2}, {0.5f, 0.3f})});
  ASSERT_TRUE(out) << out.error();
  EXPECT_NEAR((*out)[0].tensor.values[0], 0.78f, 1e-6f);
}

TEST(Interpreter, DenseOverABatch) {
  auto n = build(R"(network n {
    input x: f32[2]
    dense d(x) { units = 2; weights = [[1, 2], [3, 4]]; bias = [0.5, -100]; activation = relu }
    output d
  })");
  auto out = runtime::Interpreter(*n->graph).run({tensor("x", {3, 2}, {1, 1, 0, 1, -1, 0})});
  ASSERT_TRUE(out) << out.error();
  // rows: [3.5, 0], [2.5, 0], [0, 0] (relu of -0.5 and of large negatives)
  EXPECT_EQ(values((*out)[0]), (std::vector<float>{3.5f, 0, 2.5f, 0, 0, 0}));
  EXPECT_EQ((*out)[0].tensor.dims, (std::vector<int64_t>{3, 2}));
}

TEST(Interpreter, SoftmaxRowsSumToOne) {
  auto n = build(R"(network n {
    input x: f32[3]
    activation s(x) { activation = softmax }
    output s
  })");
  auto out =
      runtime::Interpreter(*n->graph).run({tensor("x", {2, 3}, {1, 2, 3, 1000, 1000, 1000})});
  ASSERT_TRUE(out) << out.error();
  auto v = values((*out)[0]);
  double e1 = std::exp(1.0), e2 = std::exp(2.0), e3 = std::exp(3.0), s = e1 + e2 + e3;
  EXPECT_NEAR(v[0], e1 / s, 1e-7);
  EXPECT_NEAR(v[2], e3 / s, 1e-7);
  EXPECT_NEAR(v[3], 1.0 / 3, 1e-7); // large equal inputs: no overflow
}

TEST(Interpreter, ConcatAddAndNormalisation) {
  auto n = build(R"(network n {
    input a: f32[2]
    input b: f32[1]
    concat c(a, b)
    add s(c, c)
    layernorm ln(s) { epsilon = 1e-12 }
    batchnorm bn(c) { mean = [1, 1, 1]; variance = [4, 4, 4]; epsilon = 1e-12; scale = 2; shift = 1 }
    output s
    output ln
    output bn
  })");
  auto out =
      runtime::Interpreter(*n->graph).run({tensor("a", {1, 2}, {1, 2}), tensor("b", {1, 1}, {3})});
  ASSERT_TRUE(out) << out.error();
  EXPECT_EQ(values((*out)[0]), (std::vector<float>{2, 4, 6}));
  // layernorm of [2, 4, 6]: mean 4, population variance 8/3.
  float sd = static_cast<float>(std::sqrt(8.0 / 3));
  auto ln = values((*out)[1]);
  EXPECT_NEAR(ln[0], -2 / sd, 1e-6);
  EXPECT_NEAR(ln[1], 0, 1e-6);
  EXPECT_NEAR(ln[2], 2 / sd, 1e-6);
  // batchnorm: (x - 1) / 2 * 2 + 1 = x
  EXPECT_EQ(values((*out)[2]), (std::vector<float>{1, 2, 3}));
}

TEST(Interpreter, ActivationClosedForms) {
  using ir::ActKind;
  auto act = [](ActKind k, double x, double p = NAN) {
    ir::Activation a = ir::makeActivation(k);
    if (!std::isnan(p))
      a.param = p;
    return runtime::referenceActivation(a, x);
  };
  EXPECT_EQ(act(ActKind::Relu, -2), 0);
  EXPECT_TRUE(std::isnan(act(ActKind::Relu, NAN)));
  EXPECT_EQ(act(ActKind::LeakyRelu, -2, 0.25), -0.5);
  EXPECT_EQ(act(ActKind::Sigmoid, 0), 0.5);
  EXPECT_EQ(act(ActKind::Sigmoid, -INFINITY), 0);
  EXPECT_EQ(act(ActKind::Tanh, 0), 0);
  EXPECT_EQ(act(ActKind::Gelu, 0), 0);
  EXPECT_EQ(act(ActKind::Gelu, -INFINITY), 0);
  EXPECT_TRUE(std::signbit(act(ActKind::Gelu, -INFINITY)));
  EXPECT_EQ(act(ActKind::Gelu, INFINITY), INFINITY);
  EXPECT_NEAR(act(ActKind::Gelu, 1), 0.8413447460685429, 1e-15);
  EXPECT_EQ(act(ActKind::Silu, -INFINITY), 0);
  EXPECT_TRUE(std::signbit(act(ActKind::Silu, -INFINITY)));
  EXPECT_NEAR(act(ActKind::Silu, 1), 1 / (1 + std::exp(-1.0)), 1e-15);
  EXPECT_EQ(act(ActKind::Elu, -INFINITY, 2.0), -2);
  EXPECT_NEAR(act(ActKind::Softplus, 0), std::log(2.0), 1e-15);
  EXPECT_EQ(act(ActKind::Softplus, 1000), 1000);
  EXPECT_EQ(act(ActKind::HardSigmoid, 3), 1);
  EXPECT_EQ(act(ActKind::HardSigmoid, 0), 0.5);
  EXPECT_EQ(act(ActKind::HardSigmoid, -3), 0);
  EXPECT_EQ(act(ActKind::Step, 0.5, 0.5), 0);
  EXPECT_EQ(act(ActKind::Step, 0.51, 0.5), 1);
  EXPECT_TRUE(std::isnan(act(ActKind::Step, NAN)));
}

TEST(Interpreter, BadCallsAreErrorsNotCrashes) {
  auto n = build(R"(network n {
    input a: f32[2]
    input b: f32[1]
    concat c(a, b)
    output c
  })");
  runtime::Interpreter interp(*n->graph);
  auto missing = interp.run({tensor("a", {1, 2}, {1, 2})});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), "missing input 'b' of shape f32[N, 1]");
  auto wrongShape = interp.run({tensor("a", {1, 3}, {1, 2, 3}), tensor("b", {1, 1}, {1})});
  ASSERT_FALSE(wrongShape);
  EXPECT_EQ(wrongShape.error(), "input 'a' must have shape f32[N, 2], got [1, 3]");
  auto batchMismatch = interp.run({tensor("a", {2, 2}, {1, 2, 3, 4}), tensor("b", {1, 1}, {1})});
  ASSERT_FALSE(batchMismatch);
  EXPECT_NE(batchMismatch.error().find("batch size"), std::string::npos);
  auto unknown = interp.run(
      {tensor("a", {1, 2}, {1, 2}), tensor("b", {1, 1}, {1}), tensor("zz", {1, 1}, {1})});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error(), "the network has no input named 'zz'");
  auto twice = interp.run({tensor("a", {1, 2}, {1, 2}), tensor("a", {1, 2}, {1, 2})});
  ASSERT_FALSE(twice);
}

TEST(Interpreter, EmptyBatchGivesEmptyOutputs) {
  auto n = build(R"(network n {
    input x: f32[2]
    activation r(x) { activation = relu }
    output r
  })");
  auto out = runtime::Interpreter(*n->graph).run({tensor("x", {0, 2}, {})});
  ASSERT_TRUE(out) << out.error();
  EXPECT_EQ((*out)[0].tensor.dims, (std::vector<int64_t>{0, 2}));
}
