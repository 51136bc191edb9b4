// soma in an application that uses oneTBB itself: a model built with
// ThreadArena::Caller runs its parallel layers in the application's arena,
// and either kind of model may be run from inside the application's own
// parallel loops. Every result has the bits of a one-thread run. Also the
// thread-count option's checks.
#include "soma/soma.h"

#include <gtest/gtest.h>

#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace soma;

namespace {

// Big enough at batch 48 that its first two layers run over tiles.
const char *const mlpNet = R"(network mlp {
  input x: f32[300]
  dense a(x) { units = 400; weights = he(seed = 1); bias = 0.1; activation = gelu }
  dense b(a) { units = 257; weights = he(seed = 2); activation = relu }
  dense c(b) { units = 10; weights = he(seed = 3); activation = softmax }
  output c
  output b
}
)";

Model compileOrDie(const CompileOptions &options) {
  Result<Model> m = Model::compileString(mlpNet, options, "mlp.nn");
  if (!m) {
    ADD_FAILURE() << m.error();
    std::abort();
  }
  return std::move(*m);
}

/// Outputs of `model` on seeded inputs of `batch` samples.
std::vector<std::vector<float>> runOn(const Model &model, int64_t batch, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(batch * 300));
  for (float &v : x)
    v = dist(rng);
  std::vector<std::vector<float>> out = {std::vector<float>(static_cast<size_t>(batch * 10)),
                                         std::vector<float>(static_cast<size_t>(batch * 257))};
  Status s = model.run({{"x", x.data(), {batch, 300}}},
                       {{"c", out[0].data(), {batch, 10}}, {"b", out[1].data(), {batch, 257}}});
  EXPECT_TRUE(s) << s.message();
  return out;
}

/// The JIT (the default, Auto, may answer on either engine).
CompileOptions withThreads(int threads, ThreadArena arena = ThreadArena::Model) {
  CompileOptions o;
  o.engine = Engine::Jit;
  o.threads = threads;
  o.arena = arena;
  return o;
}

} // namespace

TEST(Arena, ThreadCountMustBeSensible) {
  for (int threads : {-1, 5000}) {
    Result<Model> m = Model::compileString(mlpNet, withThreads(threads));
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error(), "soma: error: thread count " + std::to_string(threads) +
                             " is not in 0..1024 (0: all cores)\n");
  }
}

TEST(Arena, CallerArenaMatchesOneThread) {
  Model one = compileOrDie(withThreads(1));
  Model caller = compileOrDie(withThreads(0, ThreadArena::Caller));
  const auto expected = runOn(one, 48, 7);
  // In an application's arena, outside any arena (oneTBB's default one),
  // and in an arena of one thread.
  tbb::task_arena two(2), single(1);
  two.execute([&] { EXPECT_EQ(runOn(caller, 48, 7), expected); });
  EXPECT_EQ(runOn(caller, 48, 7), expected);
  single.execute([&] { EXPECT_EQ(runOn(caller, 48, 7), expected); });
}

TEST(Arena, ModelsRunInsideTheApplicationsParallelLoops) {
  Model one = compileOrDie(withThreads(1));
  Model own = compileOrDie(withThreads(0));
  Model caller = compileOrDie(withThreads(0, ThreadArena::Caller));
  std::vector<std::vector<std::vector<float>>> expected;
  for (int i = 0; i < 12; ++i)
    expected.push_back(runOn(one, 17 + 3 * i, 100 + static_cast<unsigned>(i)));
  for (const Model *m : {&own, &caller}) {
    std::vector<int> same(12, 0);
    tbb::parallel_for(0, 12, [&](int i) {
      same[static_cast<size_t>(i)] =
          runOn(*m, 17 + 3 * i, 100 + static_cast<unsigned>(i)) == expected[static_cast<size_t>(i)];
    });
    EXPECT_EQ(same, std::vector<int>(12, 1)) << (m == &own ? "model's arena" : "caller's arena");
  }
}
