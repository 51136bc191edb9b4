// Model::run with a subset of the outputs bound, on every engine: each
// subset of the rich network's five outputs (one an input passed through,
// one a second copy of another) gives the same bits as a run that binds
// them all, for several batches, with subsets alternating on one model so
// a run context never keeps an earlier run's bindings.
//
// This file includes soma/soma.h only: it is built like an application.
#include "ApiTestSupport.h"
#include "soma/soma.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

using namespace soma;
using testnets::batched;
using testnets::Buffers;

namespace {

struct OutputSubsets : ::testing::TestWithParam<Engine> {};

Model compileRich(Engine engine) {
  CompileOptions options;
  options.engine = engine;
  Result<Model> m = Model::compileString(testnets::richNet, options, "rich.nn");
  if (!m) {
    ADD_FAILURE() << m.error();
    std::abort();
  }
  return std::move(*m);
}

} // namespace

TEST_P(OutputSubsets, EverySubsetGivesTheBitsOfAFullRun) {
  Model m = compileRich(GetParam());
  if (GetParam() == Engine::Auto) {
    ASSERT_TRUE(m.waitForJit());
  }
  const size_t nOut = m.outputs().size();
  ASSERT_EQ(nOut, 5u);
  for (int64_t batch : {1, 3, 17}) {
    Buffers full(m, batch, static_cast<unsigned>(batch));
    Status s = m.run(full.inputs, full.outputs);
    ASSERT_TRUE(s) << s.message();
    for (unsigned mask = 1; mask < (1u << nOut); ++mask) {
      SCOPED_TRACE("batch " + std::to_string(batch) + ", outputs mask " + std::to_string(mask));
      std::vector<std::vector<float>> got(nOut);
      std::vector<OutputBuffer> bound;
      for (size_t o = 0; o < nOut; ++o)
        if (mask & (1u << o)) {
          got[o].assign(full.out[o].size(), -12345.0f);
          bound.push_back(
              {m.outputs()[o].name, got[o].data(), batched(batch, m.outputs()[o].shape)});
        }
      s = m.run(full.inputs, bound);
      ASSERT_TRUE(s) << s.message();
      for (size_t o = 0; o < nOut; ++o) {
        if (!(mask & (1u << o)))
          continue;
        EXPECT_EQ(std::memcmp(got[o].data(), full.out[o].data(), got[o].size() * sizeof(float)), 0)
            << "output " << m.outputs()[o].name;
      }
    }
  }
}

TEST_P(OutputSubsets, AFullRunAfterAPartialOneWritesEveryOutput) {
  Model m = compileRich(GetParam());
  Buffers first(m, 4, 7), second(m, 4, 7);
  std::vector<OutputBuffer> onlyProbs = {first.outputs[1]};
  Status s = m.run(first.inputs, onlyProbs);
  ASSERT_TRUE(s) << s.message();
  for (size_t o : {0u, 2u, 3u, 4u})
    EXPECT_EQ(first.out[o][0], -12345.0f) << "unbound output " << o << " was written";
  s = m.run(second.inputs, second.outputs);
  ASSERT_TRUE(s) << s.message();
  for (size_t o = 0; o < second.out.size(); ++o)
    for (float v : second.out[o])
      ASSERT_NE(v, -12345.0f) << "output " << o << " left unwritten";
  EXPECT_EQ(second.out[1], first.out[1]);
}

INSTANTIATE_TEST_SUITE_P(Engines, OutputSubsets,
                         ::testing::Values(Engine::Interp, Engine::Vec, Engine::Jit, Engine::Auto),
                         [](const auto &info) { return std::string(name(info.param)); });
