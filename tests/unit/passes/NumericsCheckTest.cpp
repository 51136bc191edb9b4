// The numerical contract: the checker behind soma-opt --check-numerics runs
// every pass on the reference interpreter and names the first one whose
// outputs drift beyond its tolerance class. A deliberately broken pass,
// defined only here, must be caught and named.
#include "NumericsCheck.h"
#include "soma/frontend/Frontend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

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
  EXPECT_EQ(passes::toleranceFor("fuse-dense-bias-act").rtol, 1e-6);
  EXPECT_STREQ(passes::toleranceFor("eliminate-dead-neurons").cls, "rounding");
  EXPECT_EQ(passes::toleranceFor("eliminate-dead-neurons").rtol, 1e-5);
  EXPECT_STREQ(passes::toleranceFor("fold-scale-shift").cls, "reassociating");
  EXPECT_EQ(passes::toleranceFor("fold-scale-shift").rtol, 1e-5);
  EXPECT_STREQ(passes::toleranceFor("prune").cls, "changes-results");
  EXPECT_TRUE(std::isinf(passes::toleranceFor("prune").rtol));
  EXPECT_STREQ(passes::toleranceFor("no-such-pass").cls, "exact");
  EXPECT_EQ(registered("prune").tolerance, passes::ToleranceClass::ChangesResults);
}

/// The checker holds a pass to the class its PassInfo carries, not to one
/// looked up by name: the same broken pass is only reported when it says it
/// changes results, and fails as reassociating.
TEST(NumericsCheck, ClassComesFromThePassInfo) {
  auto s = load();
  std::ostringstream log;
  std::vector<passes::PassInfo> asked = {
      registered("infer-shapes"),
      {"test-break-on-purpose", breakNumerics, "scales a weight constant (test only)",
       passes::ToleranceClass::ChangesResults},
      registered("fuse-dense-bias-act"),
  };
  EXPECT_TRUE(runChecked(*s, asked, log)) << s->diags.renderToString();
  EXPECT_NE(log.str().find("check-numerics: test-break-on-purpose (changes-results): max "
                           "relative drift"),
            std::string::npos)
      << log.str();
  // Later passes are checked against the changed graph.
  EXPECT_NE(log.str().find("check-numerics: fuse-dense-bias-act (exact)"), std::string::npos)
      << log.str();

  auto t = load();
  std::vector<passes::PassInfo> reassociating = {
      registered("infer-shapes"),
      {"test-break-regrouped", breakNumerics, "scales a weight constant (test only)",
       passes::ToleranceClass::Reassociating},
  };
  EXPECT_FALSE(runChecked(*t, reassociating, log));
  std::string report = t->diags.renderToString();
  EXPECT_NE(report.find("pass 'test-break-regrouped' (tolerance class reassociating, rtol 1e-05)"),
            std::string::npos)
      << report;
}

/// docs/passes.md states the contract: its table lists every class the code
/// has, with the code's rtol, and no other; and the section of each pass
/// names the pass's class from Passes.def.
TEST(NumericsCheck, DocsStateEveryToleranceClass) {
  std::ifstream in(SOMA_DOCS_DIR "/passes.md");
  ASSERT_TRUE(in) << "cannot read " SOMA_DOCS_DIR "/passes.md";
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);

  // The table after "| class | rtol | meaning |": `name` -> rtol cell.
  auto cells = [](const std::string &row) {
    std::vector<std::string> out;
    std::istringstream is(row);
    for (std::string cell; std::getline(is, cell, '|');) {
      size_t b = cell.find_first_not_of(" `"), e = cell.find_last_not_of(" `");
      out.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
    }
    return out; // out[0] is before the first '|'
  };
  std::map<std::string, std::string> table;
  auto header = std::find(lines.begin(), lines.end(), "| class | rtol | meaning |");
  ASSERT_TRUE(header != lines.end()) << "no tolerance class table in docs/passes.md";
  for (auto it = header + 2; it != lines.end() && it->rfind("|", 0) == 0; ++it) {
    std::vector<std::string> row = cells(*it);
    ASSERT_GE(row.size(), 3u) << *it;
    table[row[1]] = row[2];
  }
  for (passes::ToleranceClass cls : passes::kToleranceClasses) {
    passes::Tolerance tol = passes::toleranceOf(cls);
    auto row = table.find(tol.cls);
    ASSERT_TRUE(row != table.end()) << "docs/passes.md does not list class '" << tol.cls << "'";
    if (std::isinf(tol.rtol)) {
      EXPECT_EQ(row->second, "none") << tol.cls;
      continue;
    }
    char *end = nullptr;
    double documented = std::strtod(row->second.c_str(), &end);
    EXPECT_TRUE(!row->second.empty() && *end == '\0' && documented == tol.rtol)
        << tol.cls << ": docs/passes.md says rtol '" << row->second << "', the code " << tol.rtol;
  }
  EXPECT_EQ(table.size(), std::size(passes::kToleranceClasses));

  // "## <pass>" sections: their "Tolerance class: **X**" is the pass's class.
  for (const passes::PassInfo &p : passes::allPasses()) {
    auto section = std::find(lines.begin(), lines.end(), std::string("## ") + p.name);
    const std::string cls = passes::toleranceOf(p.tolerance).cls;
    if (section == lines.end()) {
      EXPECT_EQ(cls, "exact") << "pass '" << p.name << "' is " << cls
                              << " but has no section in docs/passes.md saying why";
      continue;
    }
    std::string stated;
    for (auto it = section + 1; it != lines.end() && it->rfind("## ", 0) != 0; ++it)
      if (size_t at = it->find("Tolerance class: **"); at != std::string::npos) {
        size_t from = at + 19;
        stated = it->substr(from, it->find("**", from) - from);
        break;
      }
    EXPECT_EQ(stated, cls) << "docs/passes.md, section '" << p.name << "'";
  }
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
