// The numerical contract: the checker behind soma-opt --check-numerics runs
// every pass on the reference interpreter and names the first one whose
// outputs drift beyond its tolerance class. A deliberately broken pass,
// defined only here, must be caught and named.
#include "NumericsCheck.h"
#include "soma/frontend/Frontend.h"

#include <gtest/gtest.h>

#include <sstream>

using namespace soma;

namespace {

const char *const network = R"(network n {
  input x: f32[3]
  dense fc1(x) { units = 4; weights = he(seed = 7); bias = 0.1; activation = relu }
  dense fc2(fc1) { units = 2; weights = [[1, 0, -1, 0.5], [0, 0, 0, 0]]; bias = [0, 0.25]; activation = tanh }
  output fc2
})";

struct Setup {
  SourceManager sm;
  DiagnosticEngine diags{sm};
  std::unique_ptr<ir::Graph> graph;
};

std::unique_ptr<Setup> load() {
  auto s = std::make_unique<Setup>();
  s->graph = frontend::loadGraph(s->sm.addBuffer("n.nn", network), s->sm, s->diags);
  EXPECT_TRUE(s->graph) << s->diags.renderToString();
  return s;
}

/// Scales the first weight constant by (1 + 1e-3): far beyond any
/// tolerance class, like a fold that used the wrong operand.
bool breakNumerics(ir::Graph &graph, passes::PassContext &) {
  for (auto &op : graph.ops)
    if (op->kind == ir::OpKind::Const && op->data && op->data->numElements() > 1) {
      Tensor t = *op->data;
      for (float &v : t.values)
        v *= 1.001f;
      op->data = std::make_shared<const Tensor>(std::move(t));
      return true;
    }
  return true;
}

/// Leaves the graph alone: exact by construction.
bool doNothing(ir::Graph &, passes::PassContext &) { return true; }

bool runChecked(Setup &s, const std::vector<passes::PassInfo> &list, std::ostream &log,
                uint64_t seed = 1) {
  cli::NumericsChecker checker(cli::randomInputs(*s.graph, seed), s.diags, &log);
  EXPECT_TRUE(checker.start(*s.graph)) << s.diags.renderToString();
  passes::PassContext ctx(s.diags);
  passes::PipelineOptions options;
  options.observer = &checker;
  return passes::runPasses(*s.graph, list, ctx, options);
}

const passes::PassInfo &registered(const char *name) {
  const passes::PassInfo *p = passes::findPass(name);
  EXPECT_NE(p, nullptr) << name;
  return *p;
}

} // namespace

TEST(NumericsCheck, BrokenPassIsCaughtAndNamed) {
  auto s = load();
  std::ostringstream log;
  std::vector<passes::PassInfo> list = {
      registered("infer-shapes"),
      registered("fuse-dense-bias-act"),
      {"test-break-numerics", breakNumerics, "scales a weight constant (test only)"},
      {"test-after-the-break", doNothing, "never reached"},
  };
  EXPECT_FALSE(runChecked(*s, list, log));
  std::string report = s->diags.renderToString();
  EXPECT_NE(report.find("pass 'test-break-numerics' (tolerance class exact"), std::string::npos)
      << report;
  EXPECT_NE(report.find("beyond its tolerance"), std::string::npos) << report;
  // The passes before it were checked and passed; the one after never ran.
  EXPECT_NE(log.str().find("check-numerics: fuse-dense-bias-act (exact)"), std::string::npos)
      << log.str();
  EXPECT_EQ(log.str().find("test-after-the-break"), std::string::npos) << log.str();
}

TEST(NumericsCheck, O3PipelineKeepsItsContract) {
  for (uint64_t seed : {1, 2, 3}) {
    auto s = load();
    std::ostringstream log;
    std::vector<passes::PassInfo> list;
    for (const std::string &name : passes::pipelineForLevel(3))
      list.push_back(registered(name.c_str()));
    EXPECT_TRUE(runChecked(*s, list, log, seed)) << "seed " << seed << ":\n"
                                                 << s->diags.renderToString() << log.str();
  }
}

TEST(NumericsCheck, ToleranceClasses) {
  EXPECT_STREQ(passes::toleranceFor("fuse-dense-bias-act").cls, "exact");
  EXPECT_STREQ(passes::toleranceFor("eliminate-dead-neurons").cls, "rounding");
  EXPECT_STREQ(passes::toleranceFor("no-such-pass").cls, "exact");
}

TEST(NumericsCheck, RandomInputsAreSeeded) {
  auto s = load();
  auto a = cli::randomInputs(*s->graph, 5), b = cli::randomInputs(*s->graph, 5),
       c = cli::randomInputs(*s->graph, 6);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].tensor.dims, (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(a[0].tensor.values, b[0].tensor.values);
  EXPECT_NE(a[0].tensor.values, c[0].tensor.values);
  for (float v : a[0].tensor.values) {
    EXPECT_GE(v, -1.0f);
    EXPECT_LT(v, 1.0f);
  }
}
