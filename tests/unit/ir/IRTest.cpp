// Graph IR: printing and parsing back, the verifier, shape rules, edits.
#include "soma/ir/Parser.h"
#include "soma/ir/Printer.h"
#include "soma/ir/ShapeInference.h"
#include "soma/ir/Verifier.h"
#include "soma/passes/Passes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>

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
  std::optional<AttrValue> parseValue(const AttrInfo &info, const std::string &text) {
    return parseAttrValue(info, sm.addBuffer("v.sir", text), sm, diags);
  }
};

// Attributes of the kinds no op of Ops.def has yet, described as their rows
// would describe them: the generic code reads nothing else.
AttrInfo describe(const char *name, AttrKind kind, AttrValue defaultValue, AttrRange range,
                  const char *what = "", std::vector<const char *> spellings = {}) {
  return {name, kind, std::move(defaultValue), range, AttrDot::InLabel, what, spellings, ""};
}
const AttrInfo kGroups = describe("groups", AttrKind::Int, int64_t{1}, AttrRange::Positive);
const AttrInfo kPads =
    describe("pads", AttrKind::IntList, std::vector<int64_t>{}, AttrRange::NonNegative);
const AttrInfo kMode = describe("mode", AttrKind::Enum, int64_t{0}, AttrRange::Any, "padding mode",
                                {"zeros", "reflect"});

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

TEST(IR, OutputNamesWithAnyCharacterPrintAndParseBack) {
  // Quotes, backslashes, newlines and tabs are escaped; every other byte
  // (but NUL, which no source file holds) is written as it is.
  std::string every;
  for (int c = 1; c < 256; ++c)
    every += static_cast<char>(c);
  for (const std::string &name : {std::string("a\"b\nc"), std::string("\\\"\t\r"), every}) {
    auto g = smallGraph();
    g->outputs[0].name = name;
    std::string text = printGraphToString(*g);
    Harness h;
    auto back = h.parse(text);
    ASSERT_TRUE(back) << h.diags.renderToString() << text;
    EXPECT_EQ(back->outputs[0].name, name);
    EXPECT_EQ(printGraphToString(*back), text);
  }
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

// Found by fuzz_ir: the lexer reports an unknown escape in a string and goes
// on, and parseGraph returned a graph along with the error.
TEST(IR, AnyErrorMeansNoGraph) {
  Harness h;
  EXPECT_FALSE(h.parse("graph @g {\n  %x = input : f32[N, 1]\n  output %x as \"a\\qb\"\n}\n"));
  EXPECT_NE(h.diags.renderToString().find("unknown escape sequence '\\q'"), std::string::npos)
      << h.diags.renderToString();
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

// The table: which ops take which attribute, how, and its default.
TEST(Attributes, OpsTakeTheAttributesOfTheirRows) {
  auto takes = [](OpKind kind) {
    std::vector<std::pair<AttrId, AttrPresence>> attrs;
    for (const OpAttr &attr : opAttributes(kind))
      attrs.emplace_back(attr.id, attr.presence);
    return attrs;
  };
  using Takes = std::vector<std::pair<AttrId, AttrPresence>>;
  EXPECT_EQ(takes(OpKind::Linear), Takes{});
  EXPECT_EQ(takes(OpKind::Dense), (Takes{{AttrId::fn, AttrPresence::Required}}));
  EXPECT_EQ(takes(OpKind::Add), (Takes{{AttrId::fn, AttrPresence::Optional}}));
  EXPECT_EQ(takes(OpKind::LayerNorm), (Takes{{AttrId::epsilon, AttrPresence::Shown}}));
  const AttrInfo &eps = attrInfo(AttrId::epsilon);
  EXPECT_STREQ(eps.name, "epsilon");
  EXPECT_EQ(eps.kind, AttrKind::Float);
  EXPECT_TRUE(sameAttrValue(eps.defaultValue, AttrValue(1e-5f)));
  EXPECT_EQ(OpAttributes{}.epsilon, 1e-5f);
}

// getAttr / setAttr reach the typed fields; sameAttributes compares only
// the ones the kind takes.
TEST(Attributes, GenericAccessIsTheTypedField) {
  Op a(OpKind::BatchNorm, "a", {}, {}), b(OpKind::BatchNorm, "b", {}, {});
  setAttr(a, AttrId::epsilon, 0.5f);
  EXPECT_EQ(a.epsilon, 0.5f);
  EXPECT_TRUE(sameAttrValue(getAttr(a, AttrId::epsilon), AttrValue(0.5f)));
  EXPECT_FALSE(sameAttributes(OpKind::BatchNorm, a, b));
  EXPECT_TRUE(sameAttributes(OpKind::Linear, a, b)); // linear takes no epsilon
  b.attributes() = a.attributes();
  EXPECT_TRUE(sameAttributes(OpKind::BatchNorm, a, b));
  a.fn = makeActivation(ActKind::Relu);
  EXPECT_TRUE(sameAttributes(OpKind::BatchNorm, a, b));
  EXPECT_FALSE(sameAttributes(OpKind::Dense, a, b));
}

TEST(Attributes, IntPrintsParsesAndCompares) {
  Harness h;
  for (int64_t v : {int64_t{0}, int64_t{42}, int64_t{-7}, std::numeric_limits<int64_t>::min(),
                    std::numeric_limits<int64_t>::max()}) {
    const std::string text = formatAttrValue(kGroups, v);
    EXPECT_EQ(text, std::to_string(v));
    auto back = h.parseValue(kGroups, text);
    ASSERT_TRUE(back) << text << ": " << h.diags.renderToString();
    EXPECT_TRUE(sameAttrValue(*back, AttrValue(v))) << text;
  }
  EXPECT_FALSE(sameAttrValue(AttrValue(int64_t{2}), AttrValue(int64_t{3})));
  EXPECT_FALSE(sameAttrValue(AttrValue(int64_t{2}), AttrValue(2.0f)));
  EXPECT_FALSE(h.parseValue(kGroups, "9223372036854775808"));
  EXPECT_FALSE(h.parseValue(kGroups, "1.5"));
  EXPECT_FALSE(h.parseValue(kGroups, "2 3"));
  const std::string errors = h.diags.renderToString();
  EXPECT_NE(errors.find("1:1: error: integer 9223372036854775808 is out of range"),
            std::string::npos)
      << errors;
  EXPECT_NE(errors.find("error: expected an integer for groups, got"), std::string::npos) << errors;
  EXPECT_NE(errors.find("1:3: error: expected end of text after the value"), std::string::npos)
      << errors;
}

TEST(Attributes, IntListPrintsParsesAndCompares) {
  Harness h;
  using List = std::vector<int64_t>;
  EXPECT_EQ(formatAttrValue(kPads, List{1, 0, -2}), "[1, 0, -2]");
  EXPECT_EQ(formatAttrValue(kPads, List{}), "[]");
  for (const char *text : {"[1, 0, -2]", "[]", "[ 1,0 , -2 ]"}) {
    auto back = h.parseValue(kPads, text);
    ASSERT_TRUE(back) << text << ": " << h.diags.renderToString();
    EXPECT_EQ(formatAttrValue(kPads, *back), std::string(text) == "[]" ? "[]" : "[1, 0, -2]");
  }
  EXPECT_TRUE(sameAttrValue(List{3, 4}, List{3, 4}));
  EXPECT_FALSE(sameAttrValue(List{3, 4}, List{4, 3}));
  EXPECT_FALSE(sameAttrValue(List{3, 4}, List{3, 4, 0}));
  EXPECT_FALSE(h.parseValue(kPads, "1, 2"));
  EXPECT_FALSE(h.parseValue(kPads, "[1 2]"));
  EXPECT_FALSE(h.parseValue(kPads, "[1, x]"));
  const std::string errors = h.diags.renderToString();
  EXPECT_NE(errors.find("1:1: error: expected '[' for pads, got"), std::string::npos) << errors;
  EXPECT_NE(errors.find("1:4: error: expected ',' between the integers of pads, got"),
            std::string::npos)
      << errors;
  EXPECT_NE(errors.find("1:5: error: expected an integer in pads, got"), std::string::npos)
      << errors;
}

TEST(Attributes, EnumPrintsParsesAndCompares) {
  Harness h;
  EXPECT_EQ(formatAttrValue(kMode, int64_t{1}), "\"reflect\"");
  auto back = h.parseValue(kMode, "\"reflect\"");
  ASSERT_TRUE(back) << h.diags.renderToString();
  EXPECT_TRUE(sameAttrValue(*back, AttrValue(int64_t{1})));
  EXPECT_FALSE(sameAttrValue(*back, kMode.defaultValue));
  EXPECT_FALSE(h.parseValue(kMode, "\"wrap\""));
  EXPECT_FALSE(h.parseValue(kMode, "reflect"));
  const std::string errors = h.diags.renderToString();
  EXPECT_NE(errors.find("1:1: error: unknown padding mode 'wrap'; use zeros or reflect"),
            std::string::npos)
      << errors;
  EXPECT_NE(errors.find("error: expected a padding mode string, got"), std::string::npos) << errors;
}

// Floats and activations compare bit for bit (cse merges only the same bits).
TEST(Attributes, FloatsCompareBitForBit) {
  const AttrInfo &eps = attrInfo(AttrId::epsilon);
  Harness h;
  auto back = h.parseValue(eps, formatAttrValue(eps, 1e-7f));
  ASSERT_TRUE(back) << h.diags.renderToString();
  EXPECT_TRUE(sameAttrValue(*back, AttrValue(1e-7f)));
  EXPECT_FALSE(sameAttrValue(AttrValue(0.0f), AttrValue(-0.0f)));
  EXPECT_TRUE(sameAttrValue(AttrValue(NAN), AttrValue(NAN)));
  Activation a = makeActivation(ActKind::LeakyRelu), b = a;
  b.param = -b.param;
  EXPECT_TRUE(sameAttrValue(a, a));
  EXPECT_FALSE(sameAttrValue(a, b));
}

// The verifier's ranges, by kind.
TEST(Attributes, RangesAreChecked) {
  EXPECT_FALSE(checkAttrValue(kGroups, int64_t{1}, "conv 'c'"));
  EXPECT_EQ(checkAttrValue(kGroups, int64_t{0}, "conv 'c'"),
            "conv 'c' has groups = 0; it must be positive");
  EXPECT_FALSE(checkAttrValue(kPads, std::vector<int64_t>{0, 2}, "conv 'c'"));
  EXPECT_EQ(checkAttrValue(kPads, std::vector<int64_t>{0, -1}, "conv 'c'"),
            "conv 'c' has pads = [0, -1]; every element must be non-negative");
  EXPECT_EQ(checkAttrValue(kMode, int64_t{2}, "conv 'c'"),
            "conv 'c' has mode = 2, not a padding mode");
  const AttrInfo &eps = attrInfo(AttrId::epsilon);
  EXPECT_FALSE(checkAttrValue(eps, 1e-5f, "batch_norm 'bn'"));
  for (float bad : {0.0f, -1.0f, INFINITY, NAN})
    EXPECT_EQ(checkAttrValue(eps, bad, "batch_norm 'bn'"),
              "batch_norm 'bn' needs a positive finite epsilon");
}
