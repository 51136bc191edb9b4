// How long the pipeline takes, for the MLP the compile-speed goal names
// (784-512-512-10): network text to a checked, optimised graph (seeded
// weights and every weight written inline), text to a runnable JIT model,
// and the compiled model's speed next to the reference interpreter's.
//
// Every soma::Model here is compiled with its engine and threads stated,
// CompileOptions::engine = Engine::Jit (compiled synchronously, no vec
// engine answering while a background compile runs, as Engine::Auto would)
// and CompileOptions::threads = 1, and each benchmark's name says so
// (.../engine:jit/threads:1). The CPU time reported is the whole process's
// (MeasureProcessCPUTime: CLOCK_PROCESS_CPUTIME_ID), not only the calling
// thread's, so work done on any other thread (oneTBB workers, LLVM) counts.
#include "soma/frontend/Frontend.h"
#include "soma/passes/Passes.h"
#include "soma/runtime/Interpreter.h"
#include "soma/soma.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <random>
#include <stdexcept>

using namespace soma;

namespace {

const char *const mlpSeeded = R"(network mlp {
  input x: f32[784]
  dense fc1(x)   { units = 512; weights = he(seed = 1); bias = zeros; activation = relu }
  dense fc2(fc1) { units = 512; weights = he(seed = 2); bias = zeros; activation = relu }
  dense fc3(fc2) { units = 10; weights = xavier(seed = 3); activation = softmax }
  output fc3
})";

/// The same MLP with all 669,706 parameters written as literals.
std::string mlpInline() {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-0.1f, 0.1f);
  std::string text = "network mlp {\n  input x: f32[784]\n";
  auto layer = [&](const char *name, const char *in, int units, int inputs, const char *act) {
    text += std::string("  dense ") + name + "(" + in + ") { units = " + std::to_string(units) +
            "\n    weights = [";
    char buf[32];
    for (int o = 0; o < units; ++o) {
      text += o ? ",\n      [" : "[";
      for (int i = 0; i < inputs; ++i) {
        std::snprintf(buf, sizeof buf, i ? ", %.6g" : "%.6g", static_cast<double>(dist(rng)));
        text += buf;
      }
      text += "]";
    }
    text += std::string("]\n    activation = ") + act + " }\n";
  };
  layer("fc1", "x", 512, 784, "relu");
  layer("fc2", "fc1", 512, 512, "relu");
  layer("fc3", "fc2", 10, 512, "softmax");
  return text + "  output fc3\n}\n";
}

std::unique_ptr<ir::Graph> compileText(const std::string &text) {
  SourceManager sm;
  DiagnosticEngine diags(sm);
  auto graph = frontend::loadGraph(sm.addBuffer("mlp.nn", text), sm, diags);
  passes::PassContext ctx(diags);
  if (!graph || !passes::runPipeline(*graph, passes::pipelineForLevel(2), ctx, {}))
    throw std::runtime_error(diags.renderToString());
  return graph;
}

void BM_FrontendSeededMLP(benchmark::State &state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(compileText(mlpSeeded));
}
BENCHMARK(BM_FrontendSeededMLP)->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);

void BM_FrontendInlineMLP(benchmark::State &state) {
  std::string text = mlpInline();
  for (auto _ : state)
    benchmark::DoNotOptimize(compileText(text));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_FrontendInlineMLP)->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);

/// The options of every model compiled here (see the file comment).
soma::CompileOptions jitOneThread(int64_t optLevel) {
  soma::CompileOptions options;
  options.engine = soma::Engine::Jit;
  options.threads = 1;
  options.optLevel = static_cast<int>(optLevel);
  return options;
}

/// The compile-speed goal: text to a runnable JIT model (process start
/// excluded; the first compile in the process also pays for creating the
/// LLJIT, which the warm-up iteration absorbs).
void BM_JitCompileMLP(benchmark::State &state) {
  const soma::CompileOptions options = jitOneThread(state.range(0));
  for (auto _ : state) {
    auto model = soma::Model::compileString(mlpSeeded, options);
    if (!model)
      throw std::runtime_error(model.error());
    benchmark::DoNotOptimize(model->inputs().data());
  }
}
BENCHMARK(BM_JitCompileMLP)
    ->Name("BM_JitCompileMLP/engine:jit/threads:1")
    ->ArgName("O")
    ->Arg(0)
    ->Arg(2)
    ->Arg(3)
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

/// Running the compiled MLP: how -O2's short LLVM pipeline compares with
/// -O3's full one (GFLOP/s at batch 1 and 64, one thread).
void BM_JitRunMLP(benchmark::State &state) {
  const soma::CompileOptions options = jitOneThread(state.range(0));
  const int64_t batch = state.range(1);
  auto model = soma::Model::compileString(mlpSeeded, options);
  if (!model)
    throw std::runtime_error(model.error());
  std::vector<float> x(static_cast<size_t>(batch * 784)), y(static_cast<size_t>(batch * 10));
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>(i % 17) * 0.05f;
  for (auto _ : state) {
    soma::Status s = model->run({{"x", x.data(), {batch, 784}}}, {{"fc3", y.data(), {batch, 10}}});
    if (!s)
      throw std::runtime_error(s.message());
    benchmark::DoNotOptimize(y.data());
  }
  double flops = 2.0 * (784 * 512 + 512 * 512 + 512 * 10) * static_cast<double>(batch);
  state.counters["GFLOP/s"] = benchmark::Counter(
      flops * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_JitRunMLP)
    ->Name("BM_JitRunMLP/engine:jit/threads:1")
    ->ArgNames({"O", "batch"})
    ->Args({2, 1})
    ->Args({3, 1})
    ->Args({2, 64})
    ->Args({3, 64})
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMicrosecond);

/// The oracle's speed, for scale: it is written to be obviously right, not
/// fast. No engine and no threads: the interpreter runs on the calling thread.
void BM_InterpreterMLP(benchmark::State &state) {
  auto graph = compileText(mlpSeeded);
  runtime::NamedTensor x{"x", Tensor({state.range(0), 784})};
  for (size_t i = 0; i < x.tensor.values.size(); ++i)
    x.tensor.values[i] = static_cast<float>(i % 17) * 0.05f;
  runtime::Interpreter interp(*graph);
  for (auto _ : state) {
    auto out = interp.run({x});
    if (!out)
      throw std::runtime_error(out.error());
    benchmark::DoNotOptimize(out->front().tensor.values.data());
  }
  // 2 flops per multiply-add.
  double flops = 2.0 * (784 * 512 + 512 * 512 + 512 * 10) * static_cast<double>(state.range(0));
  state.counters["GFLOP/s"] = benchmark::Counter(
      flops * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_InterpreterMLP)
    ->Name("BM_InterpreterMLP/interpreter/threads:1")
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(64)
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
