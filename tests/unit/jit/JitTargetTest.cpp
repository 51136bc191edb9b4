// The JIT's target checks below the public API (ApiTest and TargetTest hold
// the API's side): an error LLVM reports while generating code comes back
// as an error value, where LLVM's default would print it and exit(1), and
// resolveTarget refuses for running what it accepts for emitting.
#include "soma/ir/Parser.h"
#include "soma/ir/Verifier.h"
#include "soma/jit/Jit.h"
#include "soma/runtime/CpuFeatures.h"

#include <llvm/ADT/StringMap.h>
#include <llvm/TargetParser/Host.h>

#include <gtest/gtest.h>

#include <algorithm>

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
  auto run = jit::resolveTarget({"bdver1", "", /*runsHere=*/true, ""});
  ASSERT_FALSE(run);
  EXPECT_NE(run.error().find("this machine cannot run code for CPU 'bdver1'"), std::string::npos)
      << run.error();
  auto emit = jit::resolveTarget({"bdver1", "", /*runsHere=*/false, ""});
  ASSERT_TRUE(emit) << emit.error();
  EXPECT_EQ(emit->vectorWidth, 8);
}

TEST(JitTarget, AnotherArchitectureIsEmittedForItsGenericCpu) {
  // No CPU named: aarch64's generic CPU, with none of this machine's
  // features; NEON's four lanes, with SVE too.
  auto arm = jit::resolveTarget({"", "", /*runsHere=*/false, "aarch64-linux-gnu"});
  ASSERT_TRUE(arm) << arm.error();
  EXPECT_EQ(arm->triple, "aarch64-unknown-linux-gnu");
  EXPECT_EQ(arm->arch, jit::TargetArch::AArch64);
  EXPECT_FALSE(arm->native);
  EXPECT_EQ(arm->cpu, "generic");
  EXPECT_FALSE(arm->cpuNamed);
  EXPECT_EQ(arm->features, "");
  EXPECT_EQ(arm->vectorWidth, 4);
  auto sve = jit::resolveTarget({"neoverse-v1", "+sve", /*runsHere=*/false, "aarch64-linux-gnu"});
  ASSERT_TRUE(sve) << sve.error();
  EXPECT_EQ(sve->features, "+sve");
  EXPECT_EQ(sve->vectorWidth, 4);
  // It is never run here.
  auto run = jit::resolveTarget({"", "", /*runsHere=*/true, "aarch64-linux-gnu"});
  ASSERT_FALSE(run);
  EXPECT_NE(run.error().find("cannot run on this machine"), std::string::npos) << run.error();
  // This machine's own triple is this machine.
  auto host = jit::resolveTarget({"", "", /*runsHere=*/true, "x86_64-linux-gnu"});
  ASSERT_TRUE(host) << host.error();
  EXPECT_TRUE(host->native);
}

TEST(JitTarget, AnotherArchitectureIsPlannedForItsOwnModel) {
  // The generic NEON core, or a modelled aarch64 CPU: never this machine's
  // measured model.
  auto generic = jit::resolveTarget({"", "", false, "aarch64-linux-gnu"});
  ASSERT_TRUE(generic) << generic.error();
  const MachineInfo m = jit::planningMachine(*generic);
  EXPECT_EQ(m.name, "neon");
  EXPECT_EQ(m.vectorWidth, 4);
  EXPECT_EQ(m.vectorRegisters, 32);
  EXPECT_EQ(m.fmaPipes, 2);
  EXPECT_EQ(m.l1ReadGBs, 0); // not measured
  auto v1 = jit::resolveTarget({"neoverse-v1", "", false, "aarch64-linux-gnu"});
  ASSERT_TRUE(v1) << v1.error();
  EXPECT_EQ(jit::planningMachine(*v1).name, "neoverse-v1");
  EXPECT_EQ(jit::planningMachine(*v1).fmaPipes, 4);
  auto unmodelled = jit::resolveTarget({"cortex-a53", "", false, "aarch64-linux-gnu"});
  ASSERT_TRUE(unmodelled) << unmodelled.error();
  EXPECT_EQ(jit::planningMachine(*unmodelled).name, "neon");
}

std::vector<std::string> split(const std::string &list) {
  std::vector<std::string> names;
  for (size_t start = 0; start <= list.size();) {
    const size_t comma = std::min(list.find(',', start), list.size());
    if (comma > start)
      names.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return names;
}

bool has(const std::vector<std::string> &names, const std::string &name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

TEST(JitTarget, TheRuntimeSeesThisCpuAsLLVMDoes) {
  // The runtime's table (runtime/CpuFeatures.cpp, no LLVM) checks bundles
  // and the JIT's code; LLVM's host detection is the oracle: every feature
  // LLVM looks for here, the runtime looks for too, and finds the same.
  const auto &table = runtime::checkableFeatures(runtime::hostArch());
  for (const auto &f : llvm::sys::getHostCPUFeatures()) {
    const std::string name = f.first().str();
    EXPECT_NE(std::find(table.begin(), table.end(), name), table.end())
        << "the runtime cannot look for '" << name << "'";
    EXPECT_EQ(runtime::hostHasFeature(name), f.second) << name;
  }
}

TEST(JitTarget, TheCodesNeedsAreTheTargetsFeatures) {
  // What a bundle records: the target's instruction-set features, whatever
  // this machine has.
  auto haswell = jit::resolveTarget({"haswell", "", /*runsHere=*/false, ""});
  ASSERT_TRUE(haswell) << haswell.error();
  const std::vector<std::string> h = split(haswell->requiredFeatures);
  for (const char *f : {"sse2", "avx", "avx2", "fma", "bmi2"})
    EXPECT_TRUE(has(h, f)) << f << " not in " << haswell->requiredFeatures;
  EXPECT_FALSE(has(h, "avx512f")) << haswell->requiredFeatures;
  auto skx = jit::resolveTarget({"skylake-avx512", "-avx512bw", false, ""});
  ASSERT_TRUE(skx) << skx.error();
  EXPECT_TRUE(has(split(skx->requiredFeatures), "avx512f")) << skx->requiredFeatures;
  EXPECT_FALSE(has(split(skx->requiredFeatures), "avx512bw")) << skx->requiredFeatures;
  // aarch64: NEON, and SVE only when asked.
  auto arm = jit::resolveTarget({"", "", false, "aarch64-linux-gnu"});
  ASSERT_TRUE(arm) << arm.error();
  EXPECT_TRUE(has(split(arm->requiredFeatures), "neon")) << arm->requiredFeatures;
  EXPECT_FALSE(has(split(arm->requiredFeatures), "sve")) << arm->requiredFeatures;
  auto sve = jit::resolveTarget({"", "+sve", false, "aarch64-linux-gnu"});
  ASSERT_TRUE(sve) << sve.error();
  EXPECT_TRUE(has(split(sve->requiredFeatures), "sve")) << sve->requiredFeatures;
  // This machine's code needs only what this machine has.
  auto host = jit::resolveTarget({"", "", /*runsHere=*/true, ""});
  ASSERT_TRUE(host) << host.error();
  EXPECT_TRUE(runtime::missingHostFeatures(host->requiredFeatures).empty());
}

} // namespace
