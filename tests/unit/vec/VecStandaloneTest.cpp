// The vec engine without LLVM: this executable links soma_runtime, soma_ir
// and soma_support only (the ctest vec_standalone_has_no_llvm checks its
// link line and symbols). It parses graph IR text with every op kind, odd
// widths and an unbatched value to fold, runs it on the vec engine through
// the Executor, and compares every output with the reference interpreter.
#include "soma/ir/Parser.h"
#include "soma/ir/Verifier.h"
#include "soma/runtime/Executor.h"
#include "soma/runtime/Interpreter.h"
#include "soma/runtime/VecEngine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>
#include <string>

using namespace soma;

namespace {

std::string randomConst(std::mt19937 &rng, const std::string &name, std::vector<int64_t> dims,
                        float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  std::ostringstream s;
  s.precision(9);
  s << "  %" << name << " = const [";
  for (int64_t i = 0; i < n; ++i)
    s << (i ? ", " : "") << dist(rng);
  s << "] : f32[";
  for (size_t i = 0; i < dims.size(); ++i)
    s << (i ? ", " : "") << dims[i];
  s << "]\n";
  return s.str();
}

/// Every op kind; widths 13, 37, 19 leave vector tails on every ISA; `u`
/// depends on no input and is folded; `grid` has two rows per sample.
std::string networkText() {
  std::mt19937 rng(7);
  std::string t = "graph @standalone {\n"
                  "  %x = input : f32[N, 13]\n"
                  "  %grid = input : f32[N, 2, 19]\n";
  t += randomConst(rng, "w1", {37, 13}, -0.5f, 0.5f);
  t += randomConst(rng, "b1", {37}, -0.2f, 0.2f);
  t += randomConst(rng, "w2", {37, 37}, -0.3f, 0.3f);
  t += randomConst(rng, "b2", {37}, -0.2f, 0.2f);
  t += randomConst(rng, "w3", {19, 37}, -0.3f, 0.3f);
  t += randomConst(rng, "c19", {19}, 0.5f, 1.5f);
  t += randomConst(rng, "d19", {19}, -0.5f, 0.5f);
  t += randomConst(rng, "e37", {37}, -1.0f, 1.0f);
  t += "  %u = activation(%e37) {fn = tanh} : f32[37]\n"
       "  %h = dense(%x, %w1, %b1) {fn = gelu} : f32[N, 37]\n"
       "  %r = dense_add(%h, %w2, %b2, %h) {fn = silu} : f32[N, 37]\n"
       "  %su = add(%r, %u) {fn = leaky_relu(alpha = 0.1)} : f32[N, 37]\n"
       "  %l = linear(%su, %w3) : f32[N, 19]\n"
       "  %lb = bias_add(%l, %c19) : f32[N, 19]\n"
       "  %p = activation(%lb) {fn = softmax} : f32[N, 19]\n"
       "  %ss = scale_shift(%grid, %c19, %d19) : f32[N, 2, 19]\n"
       "  %bn = batch_norm(%ss, %d19, %c19, %c19, %d19) {epsilon = 0.001} : f32[N, 2, 19]\n"
       "  %ln = layer_norm(%bn, %c19, %d19) {epsilon = 1e-05} : f32[N, 2, 19]\n"
       "  %sm = dense(%su, %w3, %c19) {fn = softmax} : f32[N, 19]\n"
       "  %cat = concat(%p, %lb, %sm, %x) : f32[N, 70]\n"
       "  output %cat\n"
       "  output %ln as \"normed\"\n"
       "  output %x as \"echo\"\n"
       "}\n";
  return t;
}

std::unique_ptr<ir::Graph> parse(const std::string &text) {
  SourceManager sm;
  DiagnosticEngine diags(sm);
  uint32_t file = sm.addBuffer("standalone.sir", text);
  std::unique_ptr<ir::Graph> g = ir::parseGraph(file, sm, diags);
  if (!g || !ir::verifyGraph(*g, diags) || diags.hasErrors()) {
    ADD_FAILURE() << diags.renderToString();
    return nullptr;
  }
  return g;
}

} // namespace

TEST(VecStandalone, MatchesTheInterpreterWithoutLlvm) {
  std::unique_ptr<ir::Graph> graph = parse(networkText());
  ASSERT_TRUE(graph);
  std::unique_ptr<ir::Graph> reference = graph->clone();
  Expected<runtime::Program> program = runtime::buildVecProgram(*graph);
  ASSERT_TRUE(program) << program.error();
  runtime::Executor exec(std::move(*program));
  runtime::Interpreter interp(*reference);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  for (int64_t batch : {1, 5, 19, 64}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    std::vector<runtime::NamedTensor> in = {{"x", Tensor({batch, 13})},
                                            {"grid", Tensor({batch, 2, 19})}};
    for (auto &t : in)
      for (float &v : t.tensor.values)
        v = dist(rng);
    auto want = interp.run(in);
    ASSERT_TRUE(want) << want.error();
    std::vector<std::vector<float>> got;
    for (const runtime::NamedTensor &o : *want)
      got.emplace_back(o.tensor.values.size(), -12345.0f);
    const float *inputs[] = {in[0].tensor.values.data(), in[1].tensor.values.data()};
    float *outputs[] = {got[0].data(), got[1].data(), got[2].data()};
    exec.run(batch, inputs, outputs);
    for (size_t o = 0; o < got.size(); ++o) {
      int bad = 0;
      for (size_t i = 0; i < got[o].size(); ++i) {
        double g = got[o][i], e = (*want)[o].tensor.values[i];
        if (!(std::fabs(g - e) <= 1e-5 * std::fabs(e) + 1e-6) && ++bad <= 5)
          ADD_FAILURE() << (*want)[o].name << "[" << i << "]: vec " << g << ", interpreter " << e;
      }
      EXPECT_EQ(bad, 0) << (*want)[o].name;
    }
  }
}
