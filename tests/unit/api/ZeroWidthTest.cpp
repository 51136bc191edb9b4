// Values of zero width (f32[N, 0]: a weighted sum of no units) through the
// public API on every engine: they run, an output of no elements may be
// bound with a null pointer, and a batch too large for another value is
// refused (it once divided by the zero-width value's size: SIGFPE).
//
// This file includes soma/soma.h only: it is built like an application.
#include "ApiTestSupport.h"
#include "soma/soma.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace soma;

namespace {

const Engine kEngines[] = {Engine::Interp, Engine::Vec, Engine::Jit, Engine::Auto};

const char *engineName(Engine e) {
  switch (e) {
  case Engine::Interp:
    return "interp";
  case Engine::Vec:
    return "vec";
  case Engine::Jit:
    return "jit";
  case Engine::Auto:
    return "auto";
  }
  return "?";
}

/// A zero-width value read by a concat and by a dense layer of no inputs,
/// and exported as an output of its own.
const char *const zeroWidthIR = R"(graph @zw {
  %x = input : f32[N, 3]
  %w0 = const [] : f32[0, 3]
  %z = linear(%x, %w0) : f32[N, 0]
  %wz = const [] : f32[2, 0]
  %bz = const [0.5, -0.5] : f32[2]
  %d = dense(%z, %wz, %bz) {fn = relu} : f32[N, 2]
  %c = concat(%z, %x, %d) : f32[N, 5]
  output %c as "y"
  output %z as "empty"
}
)";

TEST(ZeroWidth, RunsOnEveryEngineWithANullOutputPointer) {
  for (Engine engine : kEngines)
    for (int level : {0, 2}) {
      SCOPED_TRACE(std::string(engineName(engine)) + " -O" + std::to_string(level));
      CompileOptions options;
      options.engine = engine;
      options.optLevel = level;
      Result<Model> m = Model::compileString(zeroWidthIR, options, "zw.sir");
      ASSERT_TRUE(m) << m.error();
      ASSERT_EQ(m->outputs().size(), 2u);
      EXPECT_EQ(m->outputs()[1].shape, std::vector<int64_t>{0});
      for (int64_t batch : {0, 1, 3, 37}) {
        std::vector<float> x(static_cast<size_t>(batch * 3)), y(static_cast<size_t>(batch * 5));
        for (size_t i = 0; i < x.size(); ++i)
          x[i] = static_cast<float>(i % 7) - 3;
        Status s = m->run({{"x", x.data(), {batch, 3}}},
                          {{"y", y.data(), {batch, 5}}, {"empty", nullptr, {batch, 0}}});
        ASSERT_TRUE(s) << s.message();
        for (int64_t n = 0; n < batch; ++n) {
          for (int64_t i = 0; i < 3; ++i)
            EXPECT_EQ(y[static_cast<size_t>(n * 5 + i)], x[static_cast<size_t>(n * 3 + i)]);
          EXPECT_EQ(y[static_cast<size_t>(n * 5 + 3)], 0.5f);
          EXPECT_EQ(y[static_cast<size_t>(n * 5 + 4)], 0.0f);
        }
      }
    }
}

TEST(ZeroWidth, BatchTooLargeForAnotherValueIsRefused) {
  // Beside the zero-width value, a 1024-wide temporary: 262,145 samples of
  // it exceed the 2^28 elements a value may hold.
  std::string ones;
  for (int i = 0; i < 1024; ++i)
    ones += i ? ", 0.001" : "0.001";
  const std::string ir = "graph @zw {\n"
                         "  %x = input : f32[N, 1]\n"
                         "  %w0 = const [] : f32[0, 1]\n"
                         "  %z = linear(%x, %w0) : f32[N, 0]\n"
                         "  %w1 = const [" +
                         ones +
                         "] : f32[1024, 1]\n"
                         "  %t = linear(%x, %w1) : f32[N, 1024]\n"
                         "  %w2 = const [" +
                         ones +
                         "] : f32[1, 1024]\n"
                         "  %s = linear(%t, %w2) : f32[N, 1]\n"
                         "  %c = concat(%z, %s) : f32[N, 1]\n"
                         "  output %c as \"y\"\n"
                         "}\n";
  const int64_t batch = 262145;
  std::vector<float> x(batch, 1.0f), y(batch);
  for (Engine engine : kEngines) {
    SCOPED_TRACE(engineName(engine));
    CompileOptions options;
    options.engine = engine;
    options.optLevel = 0; // keeps %z and %t as they are
    Result<Model> m = Model::compileString(ir, options, "zw.sir");
    ASSERT_TRUE(m) << m.error();
    Status s = m->run({{"x", x.data(), {batch, 1}}}, {{"y", y.data(), {batch, 1}}});
    ASSERT_FALSE(s);
    EXPECT_NE(s.message().find("262145"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("'t'"), std::string::npos) << s.message();
    // The model still runs a batch that fits.
    s = m->run({{"x", x.data(), {3, 1}}}, {{"y", y.data(), {3, 1}}});
    ASSERT_TRUE(s) << s.message();
    EXPECT_NEAR(y[0], 1.024f * 0.001f, 1e-7f);
  }
}

} // namespace
