// The JIT's target checks below the public API (ApiTest and TargetTest hold
// the API's side): an error LLVM reports while generating code comes back
// as an error value, where LLVM's default would print it and exit(1), and
// resolveTarget refuses for running what it accepts for emitting.
#include "soma/ir/Parser.h"
#include "soma/ir/Verifier.h"
#include "soma/jit/Jit.h"

#include <gtest/gtest.h>

using namespace soma;

namespace {

std::unique_ptr<ir::Graph> softmaxGraph(SourceManager &sm, DiagnosticEngine &diags) {
  const char *text = R"(graph @g {
  %x = input : f32[N, 5]
  %p = activation(%x) {fn = softmax} : f32[N, 5]
  output %p
}
)";
  auto graph = ir::parseGraph(sm.addBuffer("g.sir", text), sm, diags);
  if (!graph || !ir::verifyGraph(*graph, diags))
    return nullptr;
  return graph;
}

TEST(JitTarget, LLVMErrorsAreErrorValuesNotAnExit) {
  // resolveTarget refuses -sse; past it, LLVM reports "SSE register return
  // with SSE disabled" for softmax's exp and, by default, exits.
  SourceManager sm;
  DiagnosticEngine diags(sm);
  auto graph = softmaxGraph(sm, diags);
  ASSERT_TRUE(graph) << diags.renderToString();
  auto host = jit::resolveTarget({});
  ASSERT_TRUE(host) << host.error();
  jit::TargetInfo target = *host;
  target.cpu = "x86-64";
  target.features = "-sse";
  target.vectorWidth = 4;
  jit::LoweringPlan plan;
  plan.slotOf = {0, 1};
  for (int level : {0, 2}) {
    auto compiled = jit::compileGraph(*graph, plan, target, level);
    ASSERT_FALSE(compiled);
    EXPECT_NE(compiled.error().find("LLVM cannot generate code for this target: "),
              std::string::npos)
        << compiled.error();
    auto emitted = jit::emitGraph(*graph, plan, target, level, jit::EmitKind::Assembly);
    ASSERT_FALSE(emitted);
    EXPECT_NE(emitted.error().find("SSE"), std::string::npos) << emitted.error();
  }
}

TEST(JitTarget, AnotherMachinesFeaturesMayBeEmittedNotRun) {
  if (__builtin_cpu_supports("xop"))
    GTEST_SKIP() << "this machine has XOP";
  auto run = jit::resolveTarget({"bdver1", "", /*runsHere=*/true});
  ASSERT_FALSE(run);
  EXPECT_NE(run.error().find("this machine cannot run code for CPU 'bdver1'"), std::string::npos)
      << run.error();
  auto emit = jit::resolveTarget({"bdver1", "", /*runsHere=*/false});
  ASSERT_TRUE(emit) << emit.error();
  EXPECT_EQ(emit->vectorWidth, 8);
}

} // namespace
