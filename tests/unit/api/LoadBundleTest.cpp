// Model::loadBundle as an application uses it: the bundle of
// tests/bundle/deep.nn (two inputs, two outputs; built with `soma compile
// --emit=bundle` before this test, SOMA_DEEP_BUNDLE) runs as a Model with
// the JIT's bits, with every output or one bound, and is refused when the
// file is missing, not a shared library, or holds no bundle of that name.
//
// This file includes soma/soma.h only: it is built like an application.
#include "soma/soma.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

using namespace soma;

namespace {

const std::string kLibrary = SOMA_DEEP_BUNDLE;

std::vector<float> ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = scale * static_cast<float>(static_cast<int>(i % 23) - 11) / 7.0f;
  return v;
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST(LoadBundle, RunsAsTheJit) {
  BundleLoadOptions options;
  options.threads = 2;
  Result<Model> bundle = Model::loadBundle(kLibrary, options);
  ASSERT_TRUE(bundle) << bundle.error();
  CompileOptions jitOptions;
  jitOptions.engine = Engine::Jit;
  Result<Model> jit = Model::compileFile(SOMA_DEEP_NET, jitOptions);
  ASSERT_TRUE(jit) << jit.error();
  ASSERT_EQ(bundle->inputs().size(), 2u);
  EXPECT_EQ(bundle->inputs()[0].name, "x");
  EXPECT_EQ(bundle->inputs()[1].shape, std::vector<int64_t>{5});
  ASSERT_EQ(bundle->outputs().size(), 2u);
  EXPECT_EQ(bundle->outputs()[1].name, "features");
  EXPECT_EQ(bundle->engine(), Engine::Jit);
  EXPECT_EQ(bundle->activeEngine(), Engine::Jit);
  EXPECT_TRUE(bundle->waitForJit());

  const int64_t batch = 9;
  std::vector<float> x = ramp(batch * 37, 1.0f), z = ramp(batch * 5, -0.5f);
  std::vector<InputBuffer> in = {{"x", x.data(), {batch, 37}}, {"z", z.data(), {batch, 5}}};
  std::vector<float> probs[2], features[2];
  for (int k = 0; k < 2; ++k) {
    probs[k].assign(batch * 11, -1);
    features[k].assign(batch * 17, -1);
    const Model &m = k == 0 ? *bundle : *jit;
    Status s = m.run(in, {{"probs", probs[k].data(), {batch, 11}},
                          {"features", features[k].data(), {batch, 17}}});
    ASSERT_TRUE(s) << s.message();
  }
  EXPECT_EQ(std::memcmp(probs[0].data(), probs[1].data(), probs[0].size() * 4), 0);
  EXPECT_EQ(std::memcmp(features[0].data(), features[1].data(), features[0].size() * 4), 0);
  // One output bound: the bundle writes the other into a buffer of its own.
  std::vector<float> only(batch * 17, -1);
  Status s = bundle->run(in, {{"features", only.data(), {batch, 17}}});
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(only, features[1]);
  // The API's checks, naming the library.
  s = bundle->run({{"x", x.data(), {batch, 37}}}, {{"probs", probs[0].data(), {batch, 11}}});
  ASSERT_FALSE(s);
  EXPECT_TRUE(contains(s.message(), kLibrary + ": error: missing input 'z'")) << s.message();
  EXPECT_TRUE(bundle->run({{"x", nullptr, {0, 37}}, {"z", nullptr, {0, 5}}},
                          {{"probs", nullptr, {0, 11}}}));
}

TEST(LoadBundle, WhatIsNotABundleIsAnError) {
  Result<Model> missing = Model::loadBundle("/nonexistent/libdeep_net.so");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), "/nonexistent/libdeep_net.so: error: cannot open the bundle: No such "
                             "file or directory\n");
  const std::string text = ::testing::TempDir() + "libtext.so";
  std::ofstream(text) << "network text {}\n";
  Result<Model> notElf = Model::loadBundle(text);
  ASSERT_FALSE(notElf);
  EXPECT_TRUE(contains(notElf.error(), text + ": error: not a bundle's shared library ("))
      << notElf.error();
  std::remove(text.c_str());
  BundleLoadOptions other;
  other.name = "other";
  Result<Model> wrongName = Model::loadBundle(kLibrary, other);
  ASSERT_FALSE(wrongName);
  EXPECT_TRUE(contains(wrongName.error(), "not a bundle of network 'other': the library defines "
                                          "no soma_other_bundle"))
      << wrongName.error();
  Result<Model> unnamed = Model::loadBundle(SOMA_DEEP_NET);
  ASSERT_FALSE(unnamed);
  EXPECT_TRUE(contains(unnamed.error(), "cannot tell the bundle's network from the file name"))
      << unnamed.error();
  BundleLoadOptions negative;
  negative.threads = -1;
  Result<Model> threads = Model::loadBundle(kLibrary, negative);
  ASSERT_FALSE(threads);
  EXPECT_TRUE(contains(threads.error(), "threads must be 0 or more, got -1")) << threads.error();
}
