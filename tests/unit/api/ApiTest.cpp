// The public API (soma/soma.h) as an application sees it: compiling from
// text and files, introspection, running on caller-owned buffers, every
// misuse returned as a failure, batch sizes, moves, many threads on one
// model, and the compile options. The JIT's numbers are checked against the
// reference interpreter (Engine::Interp) through the same API.
//
// This file includes soma/soma.h only: it is built like an application.
#include "soma/soma.h"

#include "ApiTestSupport.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace soma;

namespace {

using testnets::neuronNet;
using testnets::richNet;

std::string examplePath(const std::string &name) {
  return std::string(SOMA_EXAMPLES_DIR) + "/" + name;
}

Model compileOrDie(const char *text, const CompileOptions &options = {}) {
  Result<Model> m = Model::compileString(text, options, "t.nn");
  if (!m) {
    ADD_FAILURE() << m.error();
    std::abort();
  }
  return std::move(*m);
}

using testnets::batched;
using testnets::Buffers;
using testnets::product;

/// Runs `model` on the inputs of `b` into fresh outputs.
std::vector<std::vector<float>> runOn(const Model &model, const Buffers &b) {
  std::vector<std::vector<float>> out;
  std::vector<OutputBuffer> outputs;
  for (const OutputBuffer &o : b.outputs)
    out.emplace_back(static_cast<size_t>(product(o.shape)), -12345.0f);
  for (size_t o = 0; o < out.size(); ++o)
    outputs.push_back({b.outputs[o].name, out[o].data(), b.outputs[o].shape});
  Status s = model.run(b.inputs, outputs);
  EXPECT_TRUE(s.ok()) << s.message();
  return out;
}

/// |got - expected| <= 1e-5 |expected| (plus 1e-6 so values that cancel to
/// about zero are not held to a relative bound). On the networks here the
/// worst element uses about a fifth of that (AVX-512, znver4).
void expectClose(const std::vector<std::vector<float>> &got,
                 const std::vector<std::vector<float>> &expected, const Model &model) {
  ASSERT_EQ(got.size(), expected.size());
  for (size_t o = 0; o < got.size(); ++o) {
    ASSERT_EQ(got[o].size(), expected[o].size());
    int bad = 0;
    for (size_t i = 0; i < got[o].size(); ++i) {
      double g = got[o][i], e = expected[o][i];
      if (std::fabs(g - e) <= 1e-5 * std::fabs(e) + 1e-6)
        continue;
      if (++bad <= 5)
        ADD_FAILURE() << "output '" << model.outputs()[o].name << "'[" << i << "]: got " << g
                      << ", interpreter " << e;
    }
    EXPECT_EQ(bad, 0) << "elements out of tolerance in '" << model.outputs()[o].name << "'";
  }
}

/// The JIT model (built with `options`) against the interpreter on the
/// same seeded inputs.
void expectMatchesInterp(const char *text, const CompileOptions &options, int64_t batch,
                         unsigned seed = 1) {
  Model jit = compileOrDie(text, options);
  CompileOptions interpOptions;
  interpOptions.engine = Engine::Interp;
  Model interp = compileOrDie(text, interpOptions);
  Buffers b(jit, batch, seed);
  expectClose(runOn(jit, b), runOn(interp, b), jit);
}

/// A run of the neuron (compiled as "t.nn") with the given buffers;
/// returns the failure's text without its `t.nn: error: ` and newline
/// (checked here: every run failure has them), or "ok".
std::string neuronRun(const Model &m, const std::vector<InputBuffer> &in,
                      const std::vector<OutputBuffer> &out) {
  Status s = m.run(in, out);
  if (s.ok())
    return "ok";
  const std::string prefix = "t.nn: error: ", &text = s.message();
  EXPECT_EQ(text.rfind(prefix, 0), 0u) << text;
  EXPECT_TRUE(!text.empty() && text.back() == '\n' && text.find('\n') == text.size() - 1) << text;
  if (text.rfind(prefix, 0) != 0 || text.back() != '\n')
    return text;
  return text.substr(prefix.size(), text.size() - prefix.size() - 1);
}

} // namespace

// --- Compiling ---------------------------------------------------------

TEST(Api, CompileStringRunsTheWorkedExample) {
  Result<Model> m = Model::compileString(neuronNet);
  ASSERT_TRUE(m) << m.error();
  EXPECT_EQ(m->engine(), Engine::Auto); // the default
  EXPECT_EQ(m->warnings(), "");
  std::vector<float> x = {0.5f, 0.3f}, y = {-1};
  Status s = m->run({{"x", x.data(), {1, 2}}}, {{"n", y.data(), {1, 1}}});
  ASSERT_TRUE(s) << s.message();
  EXPECT_NEAR(y[0], 0.78f, 1e-6f); // relu(0.8 * 0.5 + 0.6 * 0.3 + 0.2)
}

TEST(Api, CompileStringErrorCarriesTheDiagnostic) {
  Result<Model> m = Model::compileString(
      "network n {\n  input x: f32[2]\n  neuron a(y) { weights = [1, 2] }\n  output a\n}\n", {},
      "broken.nn");
  ASSERT_FALSE(m);
  EXPECT_FALSE(m.status().ok());
  EXPECT_NE(m.error().find("broken.nn:3:12: error: unknown name 'y'"), std::string::npos)
      << m.error();
  // The source line and the caret follow, as the tools print them.
  EXPECT_NE(m.error().find("  neuron a(y) { weights = [1, 2] }\n           ^"), std::string::npos)
      << m.error();
}

TEST(Api, CompileStringWarningsAreKeptOnSuccess) {
  Result<Model> m = Model::compileString("network n {\n  input x: f32[2]\n  input unused: f32[1]\n "
                                         " neuron a(x) { weights = [1, 2] }\n  output a\n}\n",
                                         {}, "warn.nn");
  ASSERT_TRUE(m) << m.error();
  EXPECT_NE(m->warnings().find("warn.nn:3:9: warning: input 'unused' is never used"),
            std::string::npos)
      << m->warnings();
}

TEST(Api, CompileFileFindsWeightsNextToTheFile) {
  Result<Model> m = Model::compileFile(examplePath("files.nn"));
  ASSERT_TRUE(m) << m.error();
  ASSERT_EQ(m->outputs().size(), 2u);
  EXPECT_EQ(m->outputs()[0].name, "logits");
  EXPECT_EQ(m->outputs()[1].name, "probs");
  std::vector<float> x = {1, -2, 0.5f}, logits(2), probs(2);
  Status s = m->run({{"x", x.data(), {1, 3}}},
                    {{"logits", logits.data(), {1, 2}}, {"probs", probs.data(), {1, 2}}});
  ASSERT_TRUE(s) << s.message();
  EXPECT_NEAR(probs[0] + probs[1], 1.0f, 1e-6f);
  EXPECT_NEAR(probs[0] / probs[1], std::exp(logits[0] - logits[1]), 1e-4f);
}

TEST(Api, CompileFileNeuronExample) {
  Result<Model> m = Model::compileFile(examplePath("neuron.nn"));
  ASSERT_TRUE(m) << m.error();
  std::vector<float> x = {0.5f, 0.3f, 1, 1}, y(2);
  Status s = m->run({{"x", x.data(), {2, 2}}}, {{"n", y.data(), {2, 1}}});
  ASSERT_TRUE(s) << s.message();
  EXPECT_NEAR(y[0], 0.78f, 1e-6f);
  EXPECT_NEAR(y[1], 1.6f, 1e-6f);
}

TEST(Api, CompileFileMissingFile) {
  Result<Model> m = Model::compileFile("/nonexistent/dir/net.nn");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().find("error:"), std::string::npos) << m.error();
  EXPECT_NE(m.error().find("/nonexistent/dir/net.nn"), std::string::npos) << m.error();
}

TEST(Api, CompileFileErrorNamesTheFile) {
  std::string path = ::testing::TempDir() + "soma_api_bad.nn";
  {
    std::ofstream f(path);
    f << "network n {\n  input x: f32[2]\n  dense d(x) { units = 2; weights = [1, 2] }\n  output "
         "d\n}\n";
  }
  Result<Model> m = Model::compileFile(path);
  std::remove(path.c_str());
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().find(path + ":3:"), std::string::npos) << m.error();
  EXPECT_NE(m.error().find(": error: "), std::string::npos) << m.error();
}

// --- Introspection -----------------------------------------------------

TEST(Api, InputsAndOutputsInDeclarationOrder) {
  Model m = compileOrDie(richNet);
  ASSERT_EQ(m.inputs().size(), 2u);
  EXPECT_EQ(m.inputs()[0].name, "grid");
  EXPECT_EQ(m.inputs()[0].shape, (std::vector<int64_t>{2, 17}));
  EXPECT_EQ(m.inputs()[1].name, "meta");
  EXPECT_EQ(m.inputs()[1].shape, (std::vector<int64_t>{4}));
  ASSERT_EQ(m.outputs().size(), 5u);
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected = {
      {"g", {2, 17}}, {"probs", {19}}, {"h", {37}}, {"echo", {4}}, {"again", {37}}};
  for (size_t o = 0; o < expected.size(); ++o) {
    EXPECT_EQ(m.outputs()[o].name, expected[o].first);
    EXPECT_EQ(m.outputs()[o].shape, expected[o].second) << expected[o].first;
  }
}

// --- Running: numbers --------------------------------------------------

TEST(Api, JitMatchesInterpreterOnEveryOutput) {
  Model m = compileOrDie(richNet);
  Buffers b(m, 5, 7);
  Status s = m.run(b.inputs, b.outputs);
  ASSERT_TRUE(s) << s.message();
  // The exported input is copied exactly; a value exported twice is equal.
  EXPECT_EQ(b.out[3], b.in[1]);
  EXPECT_EQ(b.out[4], b.out[2]);
  // Softmax rows sum to one.
  for (int n = 0; n < 5; ++n) {
    double sum = 0;
    for (int i = 0; i < 19; ++i)
      sum += b.out[1][n * 19 + i];
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  CompileOptions interp;
  interp.engine = Engine::Interp;
  Model ref = compileOrDie(richNet, interp);
  EXPECT_EQ(ref.engine(), Engine::Interp);
  expectClose(b.out, runOn(ref, b), m);
}

TEST(Api, BatchSizesThatAreNotMultiplesOfAnything) {
  for (int64_t batch : {1, 3, 17, 300}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    expectMatchesInterp(richNet, {}, batch, static_cast<unsigned>(batch));
  }
}

TEST(Api, BatchZeroWritesNothing) {
  for (Engine engine : {Engine::Jit, Engine::Interp}) {
    CompileOptions options;
    options.engine = engine;
    Model m = compileOrDie(richNet, options);
    // Null data is fine when there are no samples.
    std::vector<InputBuffer> in = {{"grid", nullptr, {0, 2, 17}}, {"meta", nullptr, {0, 4}}};
    std::vector<OutputBuffer> out;
    for (const TensorInfo &t : m.outputs())
      out.push_back({t.name, nullptr, batched(0, t.shape)});
    Status s = m.run(in, out);
    EXPECT_TRUE(s) << s.message();
    // And real pointers are left untouched.
    Buffers b(m, 0, 1);
    float sentinel = 42;
    for (OutputBuffer &o : b.outputs)
      o.data = &sentinel;
    s = m.run(b.inputs, b.outputs);
    EXPECT_TRUE(s) << s.message();
    EXPECT_EQ(sentinel, 42.0f);
  }
}

TEST(Api, BuffersMayBeGivenInAnyOrder) {
  Model m = compileOrDie(richNet);
  Buffers b(m, 2, 3);
  std::vector<std::vector<float>> forward = runOn(m, b);
  std::vector<InputBuffer> reversedIn(b.inputs.rbegin(), b.inputs.rend());
  std::vector<std::vector<float>> out = forward;
  std::vector<OutputBuffer> reversedOut;
  for (size_t o = out.size(); o-- > 0;)
    reversedOut.push_back({b.outputs[o].name, out[o].data(), b.outputs[o].shape});
  Status s = m.run(reversedIn, reversedOut);
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(out, forward);
}

// --- Running: mistakes are failures, never crashes ---------------------

struct NeuronCalls : ::testing::TestWithParam<Engine> {
  Model m = compileOrDie(neuronNet, [] {
    CompileOptions o;
    o.engine = GetParam();
    return o;
  }());
  std::vector<float> x = {0.5f, 0.3f, 1, 1, 0, 0}, y = {-1, -1, -1};
};

TEST_P(NeuronCalls, UnknownInputName) {
  EXPECT_EQ(
      neuronRun(m, {{"x", x.data(), {1, 2}}, {"z", x.data(), {1, 2}}}, {{"n", y.data(), {1, 1}}}),
      "the model has no input named 'z'; its inputs are 'x'");
}

TEST_P(NeuronCalls, MissingInput) {
  EXPECT_EQ(neuronRun(m, {}, {{"n", y.data(), {1, 1}}}), "missing input 'x' of shape f32[N, 2]");
}

TEST_P(NeuronCalls, InputBoundTwice) {
  EXPECT_EQ(
      neuronRun(m, {{"x", x.data(), {1, 2}}, {"x", x.data(), {1, 2}}}, {{"n", y.data(), {1, 1}}}),
      "input 'x' is bound twice");
}

TEST_P(NeuronCalls, WrongRank) {
  EXPECT_EQ(neuronRun(m, {{"x", x.data(), {2}}}, {{"n", y.data(), {1, 1}}}),
            "input 'x' must have shape f32[N, 2], got [2]");
  EXPECT_EQ(neuronRun(m, {{"x", x.data(), {1, 1, 2}}}, {{"n", y.data(), {1, 1}}}),
            "input 'x' must have shape f32[N, 2], got [1, 1, 2]");
  EXPECT_EQ(neuronRun(m, {{"x", x.data(), {}}}, {{"n", y.data(), {1, 1}}}),
            "input 'x' must have shape f32[N, 2], got []");
  EXPECT_EQ(neuronRun(m, {{"x", x.data(), {1, 2}}}, {{"n", y.data(), {1}}}),
            "output 'n' must have shape f32[N, 1], got [1]");
}

TEST_P(NeuronCalls, WrongPerSampleDims) {
  EXPECT_EQ(neuronRun(m, {{"x", x.data(), {2, 3}}}, {{"n", y.data(), {2, 1}}}),
            "input 'x' must have shape f32[N, 2], got [2, 3]");
  EXPECT_EQ(neuronRun(m, {{"x", x.data(), {1, 2}}}, {{"n", y.data(), {1, 2}}}),
            "output 'n' must have shape f32[N, 1], got [1, 2]");
}

TEST_P(NeuronCalls, NegativeBatch) {
  EXPECT_EQ(neuronRun(m, {{"x", x.data(), {-1, 2}}}, {{"n", y.data(), {-1, 1}}}),
            "input 'x' must have shape f32[N, 2], got [-1, 2]");
}

TEST_P(NeuronCalls, BatchMismatchBetweenBuffers) {
  EXPECT_EQ(neuronRun(m, {{"x", x.data(), {3, 2}}}, {{"n", y.data(), {2, 1}}}),
            "output 'n' has batch size 2, but other buffers have 3");
  EXPECT_EQ(y, (std::vector<float>{-1, -1, -1})); // nothing was written
}

TEST_P(NeuronCalls, NullDataWithSamples) {
  EXPECT_EQ(neuronRun(m, {{"x", nullptr, {1, 2}}}, {{"n", y.data(), {1, 1}}}),
            "input 'x' has no data pointer");
  EXPECT_EQ(neuronRun(m, {{"x", x.data(), {1, 2}}}, {{"n", nullptr, {1, 1}}}),
            "output 'n' has no data pointer");
}

TEST_P(NeuronCalls, NoOutputBound) {
  EXPECT_EQ(neuronRun(m, {{"x", x.data(), {1, 2}}}, {}),
            "no output is bound; bind at least one of 'n'");
}

TEST_P(NeuronCalls, UnknownOutput) {
  EXPECT_EQ(
      neuronRun(m, {{"x", x.data(), {1, 2}}}, {{"n", y.data(), {1, 1}}, {"q", y.data(), {1, 1}}}),
      "the model has no output named 'q'; its outputs are 'n'");
  EXPECT_EQ(
      neuronRun(m, {{"x", x.data(), {1, 2}}}, {{"n", y.data(), {1, 1}}, {"n", y.data(), {1, 1}}}),
      "output 'n' is bound twice");
}

TEST_P(NeuronCalls, BatchTooLargeForAnOutput) {
  // [2^62, 8] elements do not fit in int64: refused before anything runs.
  CompileOptions options;
  options.engine = GetParam();
  Model wide = compileOrDie(
      "network w {\n  input x: f32[1]\n  dense d(x) { units = 8; weights = ones }\n  output d\n}\n",
      options);
  int64_t huge = int64_t(1) << 62;
  EXPECT_EQ(neuronRun(wide, {{"x", x.data(), {huge, 1}}}, {{"d", y.data(), {huge, 8}}}),
            "batch size 4611686018427387904 is too large for output 'd'");
}

TEST_P(NeuronCalls, CorrectCallStillWorksAfterMistakes) {
  EXPECT_NE(neuronRun(m, {}, {}), "ok");
  EXPECT_EQ(neuronRun(m, {{"x", x.data(), {3, 2}}}, {{"n", y.data(), {3, 1}}}), "ok");
  EXPECT_NEAR(y[0], 0.78f, 1e-6f);
  EXPECT_NEAR(y[1], 1.6f, 1e-6f);
  EXPECT_NEAR(y[2], 0.2f, 1e-6f);
}

INSTANTIATE_TEST_SUITE_P(Engines, NeuronCalls, ::testing::Values(Engine::Jit, Engine::Interp),
                         [](const ::testing::TestParamInfo<Engine> &info) {
                           return info.param == Engine::Jit ? "Jit" : "Interp";
                         });

// --- Lifetime ----------------------------------------------------------

TEST(Api, MovedFromModelFailsCleanly) {
  Model a = compileOrDie(neuronNet);
  Model b = std::move(a);
  std::vector<float> x = {0.5f, 0.3f}, y = {-1};
  // The moved-from model refuses to run; the new owner runs.
  Status s = a.run({{"x", x.data(), {1, 2}}},
                   {{"n", y.data(), {1, 1}}}); // NOLINT(bugprone-use-after-move)
  EXPECT_FALSE(s);
  EXPECT_EQ(s.message(), "soma: error: run called on a moved-from model\n");
  EXPECT_EQ(y[0], -1.0f);
  // Its accessors answer as an empty model instead of crashing.
  EXPECT_TRUE(a.inputs().empty()); // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(a.outputs().empty());
  EXPECT_TRUE(a.warnings().empty());
  s = b.run({{"x", x.data(), {1, 2}}}, {{"n", y.data(), {1, 1}}});
  ASSERT_TRUE(s) << s.message();
  EXPECT_NEAR(y[0], 0.78f, 1e-6f);

  // Move assignment, and a model that outlives its Result.
  Model c = compileOrDie(richNet);
  c = std::move(b);
  ASSERT_EQ(c.inputs().size(), 1u);
  y[0] = -1;
  s = c.run({{"x", x.data(), {1, 2}}}, {{"n", y.data(), {1, 1}}});
  ASSERT_TRUE(s) << s.message();
  EXPECT_NEAR(y[0], 0.78f, 1e-6f);
  EXPECT_FALSE(b.run({}, {})); // NOLINT(bugprone-use-after-move)
}

TEST(Api, ModelsAreIndependent) {
  // Many models alive at once, destroyed in another order than created.
  std::vector<Model> models;
  for (int i = 0; i < 6; ++i)
    models.push_back(compileOrDie(i % 2 ? neuronNet : richNet));
  models.erase(models.begin() + 2);
  models.erase(models.begin());
  for (const Model &m : models) {
    Buffers b(m, 4, 11);
    Status s = m.run(b.inputs, b.outputs);
    EXPECT_TRUE(s) << s.message();
  }
}

// --- Threads -----------------------------------------------------------

TEST(Api, ManyThreadsOnOneModelMatchSerialRuns) {
  constexpr int threads = 8, runsPerThread = 50;
  Model m = compileOrDie(richNet);
  // One engine for all runs: Auto (the default) switches from vec to the
  // JIT, whose results may differ in the last bits.
  ASSERT_TRUE(m.waitForJit());
  // Every (thread, run) has its own inputs and batch size; the serial
  // results come first, from the same model.
  auto batchOf = [](int t, int r) { return static_cast<int64_t>((t * runsPerThread + r) % 9 + 1); };
  auto seedOf = [](int t, int r) { return static_cast<unsigned>(1000 + t * runsPerThread + r); };
  std::vector<std::vector<std::vector<std::vector<float>>>> serial(threads);
  for (int t = 0; t < threads; ++t)
    for (int r = 0; r < runsPerThread; ++r) {
      Buffers b(m, batchOf(t, r), seedOf(t, r));
      serial[t].push_back(runOn(m, b));
    }

  std::vector<int> mismatches(threads, 0), failures(threads, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int r = 0; r < runsPerThread; ++r) {
        Buffers b(m, batchOf(t, r), seedOf(t, r));
        if (!m.run(b.inputs, b.outputs))
          ++failures[t];
        else if (b.out != serial[t][r]) // bit-identical
          ++mismatches[t];
      }
    });
  for (std::thread &th : pool)
    th.join();
  for (int t = 0; t < threads; ++t) {
    EXPECT_EQ(failures[t], 0) << "thread " << t;
    EXPECT_EQ(mismatches[t], 0) << "thread " << t;
  }
}

TEST(Api, InterpreterModelIsThreadSafeToo) {
  CompileOptions options;
  options.engine = Engine::Interp;
  Model m = compileOrDie(richNet, options);
  std::vector<std::vector<std::vector<float>>> serial;
  for (int t = 0; t < 4; ++t) {
    Buffers b(m, t + 2, 77 + t);
    serial.push_back(runOn(m, b));
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&, t] {
      for (int r = 0; r < 10; ++r) {
        Buffers b(m, t + 2, 77 + t);
        if (!m.run(b.inputs, b.outputs) || b.out != serial[t])
          ++mismatches[t];
      }
    });
  for (std::thread &th : pool)
    th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

// Regression: concurrent compiles for one target share one LLJIT; before it
// was built for concurrent compilation, its compilers shared one
// TargetMachine and LLVM aborted the process ("symbol 'soma.rich.g' is
// already defined").
TEST(Api, ModelsCompileOnManyThreadsAtOnce) {
  // Compiling shares LLVM and the JIT between models: concurrent compiles
  // (for two targets) must each give a working model.
  Model reference = compileOrDie(richNet);
  Buffers b(reference, 3, 99);
  std::vector<std::vector<float>> expected = runOn(reference, b);
  constexpr int threads = 6;
  std::vector<int> bad(threads, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      CompileOptions options;
      if (t % 2)
        options.cpu = "haswell";
      for (int r = 0; r < 3; ++r) {
        Result<Model> m = Model::compileString(richNet, options, "t.nn");
        if (!m) {
          ++bad[t];
          continue;
        }
        Buffers mine(*m, 3, 99);
        if (!m->run(mine.inputs, mine.outputs))
          ++bad[t];
        else if (t % 2 == 0 && mine.out != expected) // same target: bit-identical
          ++bad[t];
      }
    });
  for (std::thread &th : pool)
    th.join();
  EXPECT_EQ(bad, std::vector<int>(threads, 0));
}

// --- Compile options ---------------------------------------------------

TEST(Api, EveryOptLevelMatchesTheInterpreter) {
  for (int level = 0; level <= 3; ++level) {
    SCOPED_TRACE("optLevel " + std::to_string(level));
    CompileOptions options;
    options.optLevel = level;
    expectMatchesInterp(richNet, options, 17, 5);
    options.engine = Engine::Interp;
    EXPECT_TRUE(Model::compileString(richNet, options));
  }
}

TEST(Api, InvalidOptLevelIsAnError) {
  for (int level : {5, -1}) {
    for (Engine engine : {Engine::Jit, Engine::Interp}) {
      CompileOptions options;
      options.optLevel = level;
      options.engine = engine;
      Result<Model> m = Model::compileString(neuronNet, options);
      ASSERT_FALSE(m);
      EXPECT_EQ(m.error(),
                "soma: error: optimisation level " + std::to_string(level) + " is not in 0..3\n");
    }
  }
}

TEST(Api, HaswellCodeMatches) {
  // AVX2 without AVX-512: 8-wide vectors and a different dense schedule.
  CompileOptions options;
  options.cpu = "haswell";
  for (int64_t batch : {1, 3, 17})
    expectMatchesInterp(richNet, options, batch, 21);
}

TEST(Api, FeatureRemovalMatches) {
  CompileOptions options;
  options.features = "-avx512f";
  expectMatchesInterp(richNet, options, 17, 22);
  options.features = "-avx512f,-avx2,-fma,-avx";
  expectMatchesInterp(richNet, options, 17, 23);
}

TEST(Api, UnknownFeatureIsAnError) {
  CompileOptions options;
  options.features = "+nosuchfeature";
  Result<Model> m = Model::compileString(neuronNet, options);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error(), "soma: error: unknown CPU feature 'nosuchfeature'\n");
  options.features = "avx2";
  m = Model::compileString(neuronNet, options);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error(), "soma: error: CPU feature 'avx2' must start with '+' or '-'\n");
}

TEST(Api, UnknownCpuIsAnError) {
  CompileOptions options;
  options.cpu = "nosuchcpu";
  Result<Model> m = Model::compileString(neuronNet, options);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().find("unknown CPU 'nosuchcpu'"), std::string::npos) << m.error();
  // The interpreter generates no code, so it has no use for the CPU.
  options.engine = Engine::Interp;
  EXPECT_TRUE(Model::compileString(neuronNet, options));
}
