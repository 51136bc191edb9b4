// CompileOptions::cpu and features that LLVM cannot generate code for (it
// stopped the process with a fatal error) or that this machine cannot run
// (the first run died of SIGILL): compile refuses them with a message, on
// the JIT and on Engine::Auto, whose background compile would otherwise
// meet them.
//
// This file includes soma/soma.h only: it is built like an application.
#include "ApiTestSupport.h"
#include "soma/soma.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace soma;

namespace {

using testnets::neuronNet;

/// The compile error for `cpu` and `features` on `engine` (empty if it
/// compiled).
std::string compileError(Engine engine, const std::string &cpu, const std::string &features) {
  CompileOptions options;
  options.engine = engine;
  options.cpu = cpu;
  options.features = features;
  Result<Model> m = Model::compileString(neuronNet, options);
  if (m)
    return {};
  return m.error();
}

TEST(Target, CpusThatAreNotX8664AreRefused) {
  for (const char *cpu : {"i386", "i686", "pentium4", "athlon", "yonah"})
    for (Engine engine : {Engine::Jit, Engine::Auto}) {
      EXPECT_EQ(compileError(engine, cpu, ""), "soma: error: CPU '" + std::string(cpu) +
                                                   "' is not x86-64: soma generates 64-bit code\n");
    }
}

TEST(Target, FeaturesLLVMCannotGenerateCodeForAreRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"+soft-float",
       "CPU feature 'soft-float' is not supported: soma's kernels compute in hardware floats"},
      {"-64bit-mode", "CPU feature '64bit-mode' cannot be changed: soma generates 64-bit code"},
      {"+32bit-mode", "CPU feature '32bit-mode' cannot be changed: soma generates 64-bit code"},
      {"-64bit", "with '-64bit' is not x86-64: soma generates 64-bit code"},
      {"-sse", "with '-sse' has no SSE2, which soma's code needs"},
      {"-sse2", "with '-sse2' has no SSE2, which soma's code needs"},
  };
  for (const auto &[features, message] : cases)
    for (Engine engine : {Engine::Jit, Engine::Auto}) {
      std::string error = compileError(engine, "", features);
      EXPECT_NE(error.find(message), std::string::npos) << features << ": " << error;
    }
  // The interpreter generates no code: the target means nothing to it.
  EXPECT_EQ(compileError(Engine::Interp, "i386", "+soft-float"), "");
}

TEST(Target, FeaturesThisMachineLacksAreRefused) {
  if (__builtin_cpu_supports("fma4") || __builtin_cpu_supports("xop"))
    GTEST_SKIP() << "this machine has FMA4 and XOP";
  for (Engine engine : {Engine::Jit, Engine::Auto}) {
    std::string error = compileError(engine, "", "+fma4,-fma");
    EXPECT_NE(error.find("this machine cannot run code for CPU '"), std::string::npos) << error;
    EXPECT_NE(error.find("with '+fma4,-fma': it lacks fma4 (remove them with the features '-fma4'"),
              std::string::npos)
        << error;
    error = compileError(engine, "bdver1", "");
    EXPECT_NE(error.find("this machine cannot run code for CPU 'bdver1': it lacks "),
              std::string::npos)
        << error;
    EXPECT_NE(error.find("xop"), std::string::npos) << error;
  }
  // Without them, the same CPU runs.
  EXPECT_EQ(compileError(Engine::Jit, "bdver1", "-fma4,-xop,-lwp,-tbm"), "");
}

TEST(Target, AvxFiveTwelveWithoutItsWideRegistersRuns) {
  // -evex512 keeps AVX-512 at 256 bits: 8-float vectors (16 stopped LLVM
  // with a fatal error in the sparse kernel).
  if (!__builtin_cpu_supports("avx512f"))
    GTEST_SKIP() << "this machine has no AVX-512";
  for (Sparsity sparsity : {Sparsity::Dense, Sparsity::Sparse}) {
    CompileOptions options;
    options.engine = Engine::Jit;
    options.features = "-evex512";
    options.sparsity = sparsity;
    Result<Model> m = Model::compileString(testnets::richNet, options);
    ASSERT_TRUE(m) << m.error();
    testnets::Buffers buffers(*m, 5, 1);
    Status s = m->run(buffers.inputs, buffers.outputs);
    EXPECT_TRUE(s) << s.message();
  }
}

} // namespace
