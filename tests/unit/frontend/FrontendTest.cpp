// The frontend end to end: text to a verified graph, error recovery, the
// layer table and the seeded initialisers.
#include "soma/frontend/Frontend.h"
#include "soma/frontend/Initializers.h"
#include "soma/frontend/Layers.h"
#include "soma/ir/Printer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

using namespace soma;

namespace {
struct Compiled {
  SourceManager sm;
  DiagnosticEngine diags{sm};
  std::unique_ptr<ir::Graph> graph;
  std::string errors() const { return diags.renderToString(); }
};

std::unique_ptr<Compiled> compile(const std::string &text) {
  auto c = std::make_unique<Compiled>();
  uint32_t f = c->sm.addBuffer("t.nn", text);
  c->graph = frontend::loadGraph(f, c->sm, c->diags);
  return c;
}
} // namespace

TEST(Frontend, DenseLayerLowersToLinearBiasActivation) {
  auto c = compile(R"(network n {
    input x: f32[2]
    dense d(x) { units = 2; weights = [[1, 2], [3, 4]]; bias = [0.5, -1]; activation = relu }
    output d
  })");
  ASSERT_TRUE(c->graph) << c->errors();
  std::string ir = ir::printGraphToString(*c->graph);
  EXPECT_NE(ir.find("%d.sum = linear(%x, %d.weights) : f32[N, 2]"), std::string::npos) << ir;
  EXPECT_NE(ir.find("%d.biased = bias_add(%d.sum, %d.bias) : f32[N, 2]"), std::string::npos) << ir;
  EXPECT_NE(ir.find("%d = activation(%d.biased) {fn = relu} : f32[N, 2]"), std::string::npos) << ir;
}

TEST(Frontend, LayersMayBeWrittenInAnyOrder) {
  auto c = compile(R"(network n {
    output b
    activation b(a) { activation = tanh }
    activation a(x) { activation = relu }
    input x: f32[3]
  })");
  ASSERT_TRUE(c->graph) << c->errors();
  EXPECT_EQ(c->graph->ops[0]->name, "x");
  EXPECT_EQ(c->graph->ops[1]->name, "a");
  EXPECT_EQ(c->graph->ops[2]->name, "b");
}

TEST(Frontend, SeveralErrorsInOneRun) {
  auto c = compile(R"(network n {
    input x: f32[2]
    dense a(x) { units = ; }
    dense b(x) { units = 2 weights = he() }
    neuron c(x) { weights = [1, 2] }
    output c
  })");
  EXPECT_FALSE(c->graph);
  EXPECT_EQ(c->diags.errorCount(), 2u) << c->errors();
}

TEST(Frontend, NeuronWithSeveralOperandsConcatenates) {
  auto c = compile(R"(network n {
    input a: f32[1]
    input b: f32[2]
    neuron s(a, b) { weights = [1, 1, 1] }
    output s
  })");
  ASSERT_TRUE(c->graph) << c->errors();
  ir::Op *in = c->graph->findOp("s.in");
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(in->kind, ir::OpKind::Concat);
  EXPECT_EQ(in->type.str(), "f32[N, 3]");
}

TEST(Frontend, CycleIsReportedOnce) {
  auto c = compile(R"(network n {
    input x: f32[1]
    add a(x, b)
    add b(x, a)
    output a
  })");
  EXPECT_FALSE(c->graph);
  EXPECT_EQ(c->diags.errorCount(), 1u) << c->errors();
  EXPECT_NE(c->errors().find("cycle in network: 'a' -> 'b' -> 'a'"), std::string::npos)
      << c->errors();
}

TEST(Frontend, LongChainDoesNotOverflowTheStack) {
  std::string text = "network n {\n input x: f32[1]\n";
  const int depth = 20000;
  // Written in reverse so the ordering walk has to go deep.
  text += " output l" + std::to_string(depth) + "\n";
  for (int i = depth; i >= 1; --i)
    text += " activation l" + std::to_string(i) + "(" +
            (i == 1 ? "x" : "l" + std::to_string(i - 1)) + ") { activation = relu }\n";
  text += "}\n";
  auto c = compile(text);
  ASSERT_TRUE(c->graph) << c->errors();
  EXPECT_EQ(c->graph->ops.size(), static_cast<size_t>(depth + 1));
}

TEST(Frontend, UnusedInputWarns) {
  auto c = compile(R"(network n {
    input x: f32[1]
    input unused: f32[1]
    activation a(x) { activation = relu }
    output a
  })");
  ASSERT_TRUE(c->graph) << c->errors();
  EXPECT_NE(c->errors().find("warning: input 'unused' is never used"), std::string::npos);
}

TEST(Layers, TableIsWellFormed) {
  std::set<std::string> keywords;
  bool attrUsed[frontend::kNumLayerAttrs] = {};
  for (const frontend::LayerInfo &layer : frontend::layerKinds()) {
    EXPECT_TRUE(keywords.insert(layer.keyword).second) << layer.keyword;
    EXPECT_EQ(frontend::findLayerKind(layer.keyword), &layer);
    EXPECT_NE(std::string(layer.noun), "");
    EXPECT_GE(layer.minOperands, 1u) << layer.keyword;
    EXPECT_LE(layer.minOperands, layer.maxOperands) << layer.keyword;
    for (size_t i = 0; i < frontend::kNumLayerAttrs; ++i) {
      auto attr = static_cast<frontend::LayerAttr>(i);
      EXPECT_TRUE(!layer.required.contains(attr) || layer.attrs.contains(attr))
          << layer.keyword << " requires '" << frontend::layerAttrName(attr)
          << "' but does not accept it";
      attrUsed[i] |= layer.attrs.contains(attr);
    }
  }
  EXPECT_EQ(frontend::findLayerKind("input"), nullptr);
  EXPECT_EQ(frontend::findLayerKind("layer_norm"), nullptr);
  for (size_t i = 0; i < frontend::kNumLayerAttrs; ++i) {
    auto attr = static_cast<frontend::LayerAttr>(i);
    EXPECT_EQ(frontend::layerAttrFromName(frontend::layerAttrName(attr)), attr);
    EXPECT_TRUE(attrUsed[i]) << "no layer kind takes '" << frontend::layerAttrName(attr) << "'";
  }
  EXPECT_FALSE(frontend::layerAttrFromName("weight"));
}

// The parser's statements and Sema's attribute checks follow the table: each
// kind is a statement, an unknown attribute is answered with the kind's
// attributes in table order, and each required one is asked for.
TEST(Layers, EveryKindIsCheckedAgainstItsRow) {
  for (const frontend::LayerInfo &layer : frontend::layerKinds()) {
    std::string operands = "x";
    for (size_t i = 1; i < layer.minOperands; ++i)
      operands += ", x";
    auto c = compile(std::string("network n {\n  input x: f32[2]\n  ") + layer.keyword + " l(" +
                     operands + ") { bogus = 1 }\n  output l\n}\n");
    EXPECT_FALSE(c->graph);
    std::string takes;
    for (const std::string &name : frontend::layerAttrNames(layer.attrs))
      takes += (takes.empty() ? "; it takes " : ", ") + name;
    std::string what = std::string(layer.noun) + " 'l'";
    std::string errors = c->errors();
    EXPECT_NE(errors.find("t.nn:3:" +
                          std::to_string(10 + std::string(layer.keyword).size() + operands.size()) +
                          ": error: " + what + " has no attribute 'bogus'" +
                          (takes.empty() ? "; it takes none" : takes) + "\n"),
              std::string::npos)
        << errors;
    size_t required = 0;
    for (const std::string &name : frontend::layerAttrNames(layer.required)) {
      ++required;
      EXPECT_NE(errors.find(what + " needs attribute '" + name + "'"), std::string::npos) << errors;
    }
    EXPECT_EQ(c->diags.errorCount(), 1 + required) << errors;
  }
}

TEST(Layers, UnknownStatementListsEveryKind) {
  auto c = compile("network n {\n  input x: f32[1]\n  lyaer l(x)\n  output x\n}\n");
  EXPECT_FALSE(c->graph);
  std::string expected = "t.nn:3:3: error: unknown statement 'lyaer'; expected input, output";
  auto kinds = frontend::layerKinds();
  for (size_t i = 0; i < kinds.size(); ++i)
    expected += std::string(i + 1 == kinds.size() ? " or " : ", ") + kinds[i].keyword;
  EXPECT_NE(c->errors().find(expected + "\n"), std::string::npos) << c->errors();
}

TEST(Initializers, SameSeedSameValuesDifferentSeedDifferent) {
  Tensor a({64, 32}), b({64, 32}), c({64, 32});
  frontend::InitSpec spec{frontend::InitKind::He, 0, 0, 42};
  frontend::fillInitializer(a, spec, 32, 64);
  frontend::fillInitializer(b, spec, 32, 64);
  spec.seed = 43;
  frontend::fillInitializer(c, spec, 32, 64);
  EXPECT_TRUE(std::equal(a.values.begin(), a.values.end(), b.values.begin()));
  EXPECT_FALSE(std::equal(a.values.begin(), a.values.end(), c.values.begin()));
}

TEST(Initializers, DistributionsHaveTheirStatedMoments) {
  const int64_t fanIn = 256, fanOut = 128;
  Tensor he({fanOut, fanIn}), xavier({fanOut, fanIn});
  frontend::fillInitializer(he, {frontend::InitKind::He, 0, 0, 1}, fanIn, fanOut);
  frontend::fillInitializer(xavier, {frontend::InitKind::Xavier, 0, 0, 1}, fanIn, fanOut);
  double sum = 0, sq = 0;
  for (float v : he.values) {
    sum += v;
    sq += double(v) * v;
  }
  double n = static_cast<double>(he.values.size());
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(std::sqrt(sq / n), std::sqrt(2.0 / fanIn), 0.005);
  double limit = std::sqrt(6.0 / (fanIn + fanOut));
  float lo = *std::min_element(xavier.values.begin(), xavier.values.end());
  float hi = *std::max_element(xavier.values.begin(), xavier.values.end());
  EXPECT_GE(lo, -limit);
  EXPECT_LE(hi, limit);
  EXPECT_LT(lo, -0.95 * limit);
  EXPECT_GT(hi, 0.95 * limit);
}

TEST(Initializers, UniformStaysInRange) {
  Tensor t({1000});
  frontend::fillInitializer(t, {frontend::InitKind::Uniform, -0.5, 0.25, 9}, 1, 1);
  for (float v : t.values) {
    EXPECT_GE(v, -0.5f);
    EXPECT_LT(v, 0.25f);
  }
}
