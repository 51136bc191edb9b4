// The engines through the public API: Engine::Vec against the interpreter,
// and tiered execution (Engine::Auto): runs served by the vec engine until
// the background JIT compile is done, then by the JIT, with 8 threads
// calling run while the switch happens and every result checked.
//
// This file includes soma/soma.h only: it is built like an application.
#include "ApiTestSupport.h"
#include "soma/soma.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace soma;

namespace {

/// Every layer kind the language has, odd widths, an input exported as it
/// is and a value exported twice.
using testnets::richNet;

/// A mid-size network: its JIT compile takes long enough for runs to start
/// on the vec engine.
const char *const midNet = R"(network mid {
  input x: f32[129]
  dense a(x) { units = 257; weights = he(seed = 1); bias = 0.01; activation = relu }
  dense b(a) { units = 255; weights = he(seed = 2); bias = -0.01; activation = gelu }
  dense c(b) { units = 131; weights = xavier(seed = 3); activation = tanh }
  dense d(c) { units = 67; weights = xavier(seed = 4); activation = silu }
  dense e(d) { units = 10; weights = xavier(seed = 5); activation = softmax }
  output e
  output d
}
)";

Model compileOrDie(const char *text, Engine engine, const std::string &cpu = "") {
  CompileOptions options;
  options.engine = engine;
  options.cpu = cpu;
  Result<Model> m = Model::compileString(text, options, "t.nn");
  if (!m) {
    ADD_FAILURE() << m.error();
    std::abort();
  }
  return std::move(*m);
}

using testnets::product;

using Outputs = std::vector<std::vector<float>>;

/// Seeded inputs in [-2, 2] for `batch` samples.
Outputs makeInputs(const Model &m, int64_t batch, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  Outputs in;
  for (const TensorInfo &t : m.inputs()) {
    in.emplace_back(static_cast<size_t>(batch * product(t.shape)));
    for (float &v : in.back())
      v = dist(rng);
  }
  return in;
}

Status runModel(const Model &m, const Outputs &in, int64_t batch, Outputs &out) {
  std::vector<InputBuffer> inputs;
  std::vector<OutputBuffer> outputs;
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    std::vector<int64_t> dims = {batch};
    dims.insert(dims.end(), m.inputs()[i].shape.begin(), m.inputs()[i].shape.end());
    inputs.push_back({m.inputs()[i].name, in[i].data(), dims});
  }
  for (const TensorInfo &t : m.outputs())
    out.emplace_back(static_cast<size_t>(batch * product(t.shape)), -12345.0f);
  for (size_t o = 0; o < out.size(); ++o) {
    std::vector<int64_t> dims = {batch};
    dims.insert(dims.end(), m.outputs()[o].shape.begin(), m.outputs()[o].shape.end());
    outputs.push_back({m.outputs()[o].name, out[o].data(), dims});
  }
  return m.run(inputs, outputs);
}

/// |got - expected| <= 1e-5 |expected| + 1e-6, as in ApiTest.cpp.
void expectClose(const Outputs &got, const Outputs &expected, const char *what) {
  ASSERT_EQ(got.size(), expected.size());
  for (size_t o = 0; o < got.size(); ++o) {
    ASSERT_EQ(got[o].size(), expected[o].size());
    int bad = 0;
    for (size_t i = 0; i < got[o].size(); ++i) {
      double g = got[o][i], e = expected[o][i];
      if (!(std::fabs(g - e) <= 1e-5 * std::fabs(e) + 1e-6) && ++bad <= 5)
        ADD_FAILURE() << what << " output " << o << "[" << i << "]: got " << g << ", interpreter "
                      << e;
    }
    EXPECT_EQ(bad, 0) << what << " output " << o;
  }
}

bool sameBits(const Outputs &a, const Outputs &b) {
  if (a.size() != b.size())
    return false;
  for (size_t o = 0; o < a.size(); ++o)
    if (a[o].size() != b[o].size() ||
        std::memcmp(a[o].data(), b[o].data(), a[o].size() * sizeof(float)) != 0)
      return false;
  return true;
}

} // namespace

TEST(Engines, VecMatchesTheInterpreter) {
  Model vec = compileOrDie(richNet, Engine::Vec);
  Model interp = compileOrDie(richNet, Engine::Interp);
  EXPECT_EQ(vec.engine(), Engine::Vec);
  EXPECT_EQ(vec.activeEngine(), Engine::Vec);
  EXPECT_TRUE(vec.waitForJit());
  for (int64_t batch : {1, 3, 17, 300, 0}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    Outputs in = makeInputs(vec, batch, static_cast<unsigned>(batch) + 1), got, want;
    ASSERT_TRUE(runModel(vec, in, batch, got));
    ASSERT_TRUE(runModel(interp, in, batch, want));
    expectClose(got, want, "vec");
  }
}

TEST(Engines, VecRefusesBadBuffersLikeTheJit) {
  Model vec = compileOrDie(richNet, Engine::Vec);
  Outputs in = makeInputs(vec, 2, 1), out;
  std::vector<float> y(10);
  Status s = vec.run({{"grid", in[0].data(), {2, 2, 17}}}, {{"probs", y.data(), {2, 19}}});
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("missing input 'meta'"), std::string::npos) << s.message();
}

TEST(Engines, AutoIsTheDefaultAndEndsOnTheJit) {
  Result<Model> m = Model::compileString(richNet);
  ASSERT_TRUE(m) << m.error();
  EXPECT_EQ(m->engine(), Engine::Auto);
  Model interp = compileOrDie(richNet, Engine::Interp);
  Outputs in = makeInputs(*m, 5, 3), got, want;
  ASSERT_TRUE(runModel(interp, in, 5, want));
  ASSERT_TRUE(runModel(*m, in, 5, got)); // on either engine
  expectClose(got, want, "auto (first call)");
  Status jit = m->waitForJit();
  ASSERT_TRUE(jit) << jit.message();
  EXPECT_EQ(m->activeEngine(), Engine::Jit);
  ASSERT_TRUE(runModel(*m, in, 5, got));
  expectClose(got, want, "auto (after the switch)");
  // The same bits as a model compiled for the JIT alone.
  Model jitOnly = compileOrDie(richNet, Engine::Jit);
  Outputs jitOut;
  ASSERT_TRUE(runModel(jitOnly, in, 5, jitOut));
  EXPECT_TRUE(sameBits(got, jitOut));
}

TEST(Engines, AutoReportsABadTargetFromCompile) {
  // cpu and features are checked before compile returns, as for the JIT.
  for (Engine engine : {Engine::Auto, Engine::Jit}) {
    CompileOptions options;
    options.engine = engine;
    options.cpu = "no-such-cpu";
    Result<Model> m = Model::compileString(richNet, options);
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().find("no-such-cpu"), std::string::npos) << m.error();
  }
}

TEST(Engines, AutoModelDestroyedWhileItsJitCompiles) {
  // The destructor waits for the background compile (run under ASan too).
  for (int i = 0; i < 3; ++i) {
    Model m = compileOrDie(midNet, Engine::Auto);
    Model moved = std::move(m);
    EXPECT_EQ(m.activeEngine(), Engine::Vec); // a moved-from model answers as empty
  }
}

// 8 threads call run in a loop on an auto model while the JIT compile ends.
// Results of the vec engine and of the JIT are each deterministic (the same
// tiles for any thread count), so every call must give the bits of a Vec or
// a Jit model run alone; those two are checked against the interpreter.
// activeEngine() read before and after each call says which engine served
// it: Jit before means the JIT (the switch is one-way), Vec after means vec.
TEST(Engines, EightThreadsRunWhileTheTierSwitches) {
  constexpr int kThreads = 8;
  const int64_t batches[kThreads] = {1, 2, 3, 5, 8, 13, 1, 33};
  Model vec = compileOrDie(midNet, Engine::Vec);
  Model jit = compileOrDie(midNet, Engine::Jit);
  Model interp = compileOrDie(midNet, Engine::Interp);
  std::vector<Outputs> inputs, vecOut(kThreads), jitOut(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    inputs.push_back(makeInputs(vec, batches[t], 100u + static_cast<unsigned>(t)));
    Outputs want;
    ASSERT_TRUE(runModel(interp, inputs[t], batches[t], want));
    ASSERT_TRUE(runModel(vec, inputs[t], batches[t], vecOut[t]));
    ASSERT_TRUE(runModel(jit, inputs[t], batches[t], jitOut[t]));
    expectClose(vecOut[t], want, "vec");
    expectClose(jitOut[t], want, "jit");
  }

  Model m = compileOrDie(midNet, Engine::Auto);
  std::atomic<int> onVec{0}, onJit{0}, either{0}, wrong{0}, failed{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      while (!go.load())
        std::this_thread::yield();
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      int afterSwitch = 0;
      Outputs out;
      while (afterSwitch < 20 && std::chrono::steady_clock::now() < deadline) {
        const Engine before = m.activeEngine();
        if (!runModel(m, inputs[t], batches[t], out)) {
          ++failed;
          return;
        }
        const Engine after = m.activeEngine();
        if (before == Engine::Jit) {
          ++onJit;
          ++afterSwitch;
          wrong += !sameBits(out, jitOut[t]);
        } else if (after == Engine::Vec) {
          ++onVec;
          wrong += !sameBits(out, vecOut[t]);
        } else {
          ++either;
          wrong += !sameBits(out, vecOut[t]) && !sameBits(out, jitOut[t]);
        }
      }
    });
  go = true;
  for (std::thread &t : threads)
    t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(onVec.load(), 0) << "no call ran on the vec engine before the switch";
  EXPECT_GT(onJit.load(), 0) << "no call ran on the JIT after the switch";
  EXPECT_TRUE(m.waitForJit());
  std::printf("[ stats    ] calls: %d on vec, %d on the JIT, %d during the switch\n", onVec.load(),
              onJit.load(), either.load());
}
