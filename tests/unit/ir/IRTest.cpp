// Graph IR: printing and parsing back, the verifier, shape rules, edits.
#include "soma/ir/Parser.h"
#include "soma/ir/Printer.h"
#include "soma/ir/ShapeInference.h"
#include "soma/ir/Verifier.h"
#include "soma/passes/Passes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

using namespace soma;
using namespace soma::ir;

namespace {

std::shared_ptr<Tensor> makeData(std::vector<int64_t> dims, std::vector<float> values) {
  auto t = std::make_shared<Tensor>(dims);
  std::copy(values.begin(), values.end(), t->values.begin());
  return t;
}

/// x[N, 2] -> dense(relu) -> 3 units
std::unique_ptr<Graph> smallGraph() {
  auto g = std::make_unique<Graph>();
  g->name = "small";
  Op *x = g->append(OpKind::Input, "x", {});
  x->type = TensorType::make(true, {2});
  Op *w = g->append(OpKind::Const, "w", {});
  w->data = makeData({3, 2}, {1, 2, 3, 4, 5, 6});
  w->type = TensorType::make(false, {3, 2});
  Op *b = g->append(OpKind::Const, "b", {});
  b->data = makeData({3}, {0.5f, -0.25f, 1e-7f});
  b->type = TensorType::make(false, {3});
  Op *d = g->append(OpKind::Dense, "d", {x, w, b});
  d->fn = makeActivation(ActKind::LeakyRelu);
  d->type = TensorType::make(true, {3});
  g->outputs.push_back({"y", d, {}});
  return g;
}

struct Harness {
  SourceManager sm;
  DiagnosticEngine diags{sm};
  std::unique_ptr<Graph> parse(const std::string &text) {
    return parseGraph(sm.addBuffer("t.sir", text), sm, diags);
  }
};

} // namespace

TEST(IR, PrintParsePrintIsStable) {
  auto g = smallGraph();
  std::string text = printGraphToString(*g);
  Harness h;
  auto back = h.parse(text);
  ASSERT_TRUE(back) << h.diags.renderToString();
  EXPECT_TRUE(verifyGraph(*back, h.diags)) << h.diags.renderToString();
  EXPECT_EQ(printGraphToString(*back), text);
  // Same data bit for bit, not just the same text.
  EXPECT_EQ(back->findOp("b")->data->values[2], 1e-7f);
  EXPECT_EQ(back->outputs[0].name, "y");
  EXPECT_EQ(back->findOp("d")->fn.param, 0.01f);
}

TEST(IR, FloatFormatIsShortestRoundTrip) {
  EXPECT_EQ(formatFloat(0.78f), "0.78");
  EXPECT_EQ(formatFloat(1e-5f), "1e-05");
  EXPECT_EQ(formatFloat(-0.0f), "-0");
  EXPECT_EQ(formatFloat(INFINITY), "inf");
  for (float v : {0.1f, 3.4028235e38f, 1.17549435e-38f, 1.4e-45f, -123.456f}) {
    std::string s = formatFloat(v);
    EXPECT_EQ(std::strtof(s.c_str(), nullptr), v) << s;
  }
}

TEST(IR, ElidedConstantsDoNotParse) {
  auto g = smallGraph();
  PrintOptions opts;
  opts.elideConstantsAbove = 3;
  std::string text = printGraphToString(*g, opts);
  EXPECT_NE(text.find("%w = const elided : f32[3, 2]"), std::string::npos) << text;
  Harness h;
  EXPECT_FALSE(h.parse(text));
  EXPECT_NE(h.diags.renderToString().find("print it without --elide-above"), std::string::npos);
}

TEST(Verifier, AcceptsWellFormedGraph) {
  Harness h;
  EXPECT_TRUE(verifyGraph(*smallGraph(), h.diags)) << h.diags.renderToString();
}

TEST(Verifier, CatchesWrongType) {
  auto g = smallGraph();
  g->findOp("d")->type = TensorType::make(true, {4});
  Harness h;
  EXPECT_FALSE(verifyGraph(*g, h.diags));
  EXPECT_NE(h.diags.renderToString().find("has type f32[N, 4] but its operands give f32[N, 3]"),
            std::string::npos)
      << h.diags.renderToString();
}

TEST(Verifier, CatchesUseBeforeDefinition) {
  auto g = smallGraph();
  std::swap(g->ops[0], g->ops[3]); // dense first, its input later
  Harness h;
  EXPECT_FALSE(verifyGraph(*g, h.diags));
  EXPECT_NE(h.diags.renderToString().find("before it is defined"), std::string::npos);
}

TEST(Verifier, CatchesDuplicateNamesAndMissingOutputs) {
  auto g = smallGraph();
  g->findOp("b")->name = "w";
  g->outputs.clear();
  Harness h;
  EXPECT_FALSE(verifyGraph(*g, h.diags));
  std::string text = h.diags.renderToString();
  EXPECT_NE(text.find("value 'w' is defined twice"), std::string::npos) << text;
  EXPECT_NE(text.find("has no outputs"), std::string::npos) << text;
}

TEST(Verifier, CatchesConstDataMismatchAndBadParams) {
  auto g = smallGraph();
  g->findOp("w")->type = TensorType::make(false, {2, 3});
  g->findOp("d")->fn.param = NAN;
  Harness h;
  EXPECT_FALSE(verifyGraph(*g, h.diags));
  std::string text = h.diags.renderToString();
  EXPECT_NE(text.find("holds data of shape [3, 2]"), std::string::npos) << text;
  EXPECT_NE(text.find("must be a finite f32 value"), std::string::npos) << text;
}

TEST(ShapeInference, ConcatAddAndNorms) {
  Graph g;
  Op *a = g.append(OpKind::Input, "a", {});
  a->type = TensorType::make(true, {3});
  Op *b = g.append(OpKind::Input, "b", {});
  b->type = TensorType::make(true, {2});
  Op *c = g.append(OpKind::Concat, "c", {a, b});
  SourceManager sm;
  DiagnosticEngine diags(sm);
  EXPECT_EQ(inferResultType(*c, diags), TensorType::make(true, {5}));
  Op *bad = g.append(OpKind::Add, "bad", {a, b});
  EXPECT_FALSE(inferResultType(*bad, diags).known);
  EXPECT_NE(diags.renderToString().find("add 'bad' operands have different shapes"),
            std::string::npos);
  Op *scale = g.append(OpKind::Const, "s", {});
  scale->data = makeData({3}, {1, 1, 1});
  scale->type = TensorType::make(false, {3});
  Op *ln = g.append(OpKind::LayerNorm, "ln", {a, scale, scale});
  EXPECT_EQ(inferResultType(*ln, diags), a->type);
  Op *lnBad = g.append(OpKind::LayerNorm, "ln2", {b, scale, scale});
  EXPECT_FALSE(inferResultType(*lnBad, diags).known);
}

TEST(Graph, RemoveDeadOpsKeepsInputs) {
  auto g = smallGraph();
  Op *x = g->findOp("x");
  Op *unused = g->append(OpKind::Activation, "unused", {x});
  unused->type = x->type;
  Op *extraIn = g->append(OpKind::Input, "z", {});
  extraIn->type = TensorType::make(true, {1});
  EXPECT_EQ(g->removeDeadOps(), 1u);
  EXPECT_EQ(g->findOp("unused"), nullptr);
  EXPECT_NE(g->findOp("z"), nullptr);
}

TEST(Graph, CloneIsDeepButSharesData) {
  auto g = smallGraph();
  auto copy = g->clone();
  EXPECT_EQ(printGraphToString(*g), printGraphToString(*copy));
  EXPECT_NE(copy->findOp("d"), g->findOp("d"));
  EXPECT_EQ(copy->findOp("d")->operands[0], copy->findOp("x"));
  EXPECT_EQ(copy->findOp("w")->data, g->findOp("w")->data);
}

TEST(Passes, InferShapesDiagnosesDeclaredMismatch) {
  auto g = smallGraph();
  g->findOp("d")->type = TensorType::make(true, {7});
  SourceManager sm;
  DiagnosticEngine diags(sm);
  passes::PassContext ctx(diags);
  EXPECT_FALSE(passes::runPipeline(*g, {"infer-shapes"}, ctx, {}));
  EXPECT_NE(diags.renderToString().find("is declared f32[N, 7] but its operands give f32[N, 3]"),
            std::string::npos);
}

TEST(Passes, UnknownPassIsAnError) {
  auto g = smallGraph();
  SourceManager sm;
  DiagnosticEngine diags(sm);
  passes::PassContext ctx(diags);
  EXPECT_FALSE(passes::runPipeline(*g, {"infer-shapes", "no-such-pass"}, ctx, {}));
  EXPECT_EQ(diags.renderToString(), "soma: error: unknown pass 'no-such-pass'\n");
}

TEST(Passes, DceCountsRemovedOps) {
  auto g = smallGraph();
  Op *unused = g->append(OpKind::Activation, "unused", {g->findOp("x")});
  unused->type = g->findOp("x")->type;
  SourceManager sm;
  DiagnosticEngine diags(sm);
  passes::PassContext ctx(diags);
  ASSERT_TRUE(passes::runPipeline(*g, {"infer-shapes", "dce"}, ctx, {}));
  EXPECT_EQ(ctx.stats["dce.ops-removed"], 1);
}
