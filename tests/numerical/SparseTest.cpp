// Sparse weights: seeded random networks whose dense layers have 0%, 50%,
// 90%, 95%, 99% or 100% zero weights (drawn per layer), sometimes a whole
// row and column of zeros, odd widths; compiled for the JIT (whose cost
// model gives the layers of at least 4096 weights and at most 12% density
// the sparse kernel, docs/passes.md#schedule; one test forces the sparse
// kernel on every layer, dense ones included) with 1 and 2 threads, run at
// batch 1, 3, 8, 17 and 300 (one test without AVX-512). Every output must be within the JIT's error
// bound of the harness's exact evaluation (Reference.h), and the two-thread
// result must have the same bits as the one-thread result. Batch 1 and 3
// take the sparse kernel's matrix-vector path, 8 a partial sample block,
// 17 a block and a lone sample, 300 several row tiles. Batches of fewer
// than V / 2 samples (1..7 with AVX-512) run over column tiles of whole
// neuron groups (Step::smallRows): wide layers there, with 1, 2 and 3
// threads, and a check that such runs really use a second thread.
//
// Environment: SOMA_NUMERICAL_SEED=S reruns only network S.
#include "Harness.h"
#include "RandomNetwork.h"
#include "Reference.h"

#include <gtest/gtest.h>

#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_scheduler_observer.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <thread>

using namespace soma;
using namespace soma::numerical;

namespace {

std::optional<Model> compileJit(const Network &net, int threads, Sparsity sparsity,
                                const std::string &features, std::string &error) {
  CompileOptions options;
  options.engine = Engine::Jit;
  options.threads = threads;
  options.sparsity = sparsity;
  options.features = features;
  return compileNetwork(net, options, error);
}

/// Runs networks base .. base + n - 1 of `p` at each of `batches` with
/// each of `threads` (the first is the one checked against the bound; the
/// others must have its bits). `features`: LLVM target features for the
/// JIT ("-avx512f": 8-lane groups, and the scalar matrix-vector path
/// instead of the chunked one).
void checkSparse(const Profile &p, uint64_t base, int n, Sparsity sparsity = Sparsity::Auto,
                 const std::vector<int64_t> &batches = {1, 3, 8, 17, 300},
                 const std::vector<int> &threads = {1, 2}, const std::string &features = "") {
  const char *only = std::getenv("SOMA_NUMERICAL_SEED");
  for (uint64_t seed = base; seed < base + static_cast<uint64_t>(n); ++seed) {
    if (only && *only && std::strtoull(only, nullptr, 0) != seed)
      continue;
    Network net = generateNetwork(p, seed);
    net.batch = *std::max_element(batches.begin(), batches.end());
    std::vector<std::vector<float>> inputs = generateInputs(net, seed);
    const std::vector<BoundedValue> exact = evaluate(net, inputs);
    const std::string where = "network seed " + std::to_string(seed) +
                              " (reproduce: SOMA_NUMERICAL_SEED=" + std::to_string(seed) +
                              " soma_numerical_tests --gtest_filter='NumericalSparse.*')\n" +
                              net.text().substr(0, 4000);
    setCrashContext(where);
    std::string error;
    std::vector<Model> models;
    for (int t : threads) {
      std::optional<Model> m = compileJit(net, t, sparsity, features, error);
      ASSERT_TRUE(m) << error << "\n" << where;
      models.push_back(std::move(*m));
    }
    for (int64_t batch : batches) {
      auto a = runNetwork(models[0], net, inputs, batch, error);
      ASSERT_TRUE(a) << error << "\n" << where;
      for (size_t o = 0; o < a->size(); ++o) {
        const int id = net.outputs[o].second;
        const size_t count =
            static_cast<size_t>(batch * net.values[static_cast<size_t>(id)].size());
        std::string bad = outOfJitBound((*a)[o], exact[static_cast<size_t>(id)], count);
        EXPECT_TRUE(bad.empty()) << "output '" << net.outputs[o].first << "' at batch " << batch
                                 << ": " << bad << where;
      }
      for (size_t m = 1; m < models.size(); ++m) {
        auto b = runNetwork(models[m], net, inputs, batch, error);
        ASSERT_TRUE(b) << error << "\n" << where;
        for (size_t o = 0; o < a->size(); ++o) {
          const int id = net.outputs[o].second;
          const size_t count =
              static_cast<size_t>(batch * net.values[static_cast<size_t>(id)].size());
          EXPECT_EQ(std::memcmp((*a)[o].data(), (*b)[o].data(), count * sizeof(float)), 0)
              << "output '" << net.outputs[o].first << "' at batch " << batch << " differs between "
              << threads[0] << " and " << threads[m] << " threads\n"
              << where;
        }
      }
    }
    setCrashContext("");
    if (testing::Test::HasFailure())
      break;
  }
}

Profile sparseProfile(std::vector<double> zeroFractions) {
  Profile p;
  p.acts = allActs();
  p.widths = {17, 33, 65, 100, 129, 257, 300};
  p.maxDepth = 4;
  p.maxInputs = 2;
  p.zeroFractions = std::move(zeroFractions);
  return p;
}

/// The model of graph IR `text` on `engine` with `threads` threads (the
/// test stops when it does not compile).
Model compileIr(const std::string &text, int threads, Engine engine = Engine::Jit,
                Sparsity sparsity = Sparsity::Auto) {
  CompileOptions options;
  options.engine = engine;
  options.threads = threads;
  options.sparsity = sparsity;
  Result<Model> m = Model::compileString(text, options, "schedule.sir");
  if (!m) {
    ADD_FAILURE() << m.error();
    std::abort();
  }
  return std::move(*m);
}

/// Runs each of `models` (input x: `inputs` values per sample, output d:
/// `units`) on `x`, and expects every output to have the first's bits;
/// returns the outputs.
std::vector<std::vector<float>> expectSameBits(const std::vector<const Model *> &models,
                                               const std::vector<float> &x, int64_t batch,
                                               int64_t inputs, int64_t units,
                                               const std::string &what) {
  std::vector<std::vector<float>> y(models.size(),
                                    std::vector<float>(static_cast<size_t>(batch * units)));
  for (size_t m = 0; m < models.size(); ++m) {
    Status s = models[m]->run({{"x", const_cast<float *>(x.data()), {batch, inputs}}},
                              {{"d", y[m].data(), {batch, units}}});
    EXPECT_TRUE(s) << s.message();
  }
  for (size_t m = 1; m < models.size(); ++m)
    EXPECT_EQ(std::memcmp(y[0].data(), y[m].data(), y[0].size() * sizeof(float)), 0)
        << what << ", batch " << batch << ": model " << m << " changed the bits";
  return y;
}

} // namespace

// Mostly zeros: the layers take the sparse kernel.
TEST(NumericalSparse, MostlyZeroWeights) {
  checkSparse(sparseProfile({0.9, 0.95, 0.99}), 70000, 10);
}

// Every fraction, whole networks of zeros included.
TEST(NumericalSparse, EveryZeroFraction) {
  checkSparse(sparseProfile({0, 0.5, 0.9, 0.95, 0.99, 1}), 71000, 10);
}

// The sparse kernel forced on every weighted sum (CompileOptions::sparsity),
// so dense weights (0% and 50% zeros) and small layers run it too.
TEST(NumericalSparse, ForcedSparseEveryZeroFraction) {
  checkSparse(sparseProfile({0, 0.5, 0.9, 0.99, 1}), 73000, 10, Sparsity::Sparse);
}

// Without AVX-512: groups and sample blocks of 8, and lone samples on the
// scalar matrix-vector path (the chunked one needs 16-lane permutes; with
// AVX-512 the cost model gives these small layers the chunked path).
TEST(NumericalSparse, ForcedSparseWithoutAvx512) {
  checkSparse(sparseProfile({0, 0.5, 0.9, 0.99, 1}), 74000, 8, Sparsity::Sparse, {1, 3, 8, 17, 300},
              {1, 2}, "-avx512f");
}

// Wide layers over several strips of the inputs (runtime::
// sparseStripInputs: 256 inputs with AVX-512, 512 without), at batches
// that make pairs of sample blocks, an odd block and a partial one.
TEST(NumericalSparse, SampleBlocksOverStrips) {
  Profile p = sparseProfile({0.5, 0.9, 0.99});
  p.widths = {520, 777, 1100};
  p.maxDepth = 2;
  checkSparse(p, 76000, 4, Sparsity::Sparse, {8, 17, 40, 64}, {1, 2});
  checkSparse(p, 76000, 4, Sparsity::Sparse, {8, 17, 40, 64}, {1, 2}, "-avx512f");
}

// Chains of sparse layers (jit::LoweringPlan::featureMajorOut): a sparse
// layer whose only user is the next sparse layer's x stores its full
// sample blocks feature-major, and the next one reads them as they are;
// partial blocks and lone samples stay sample-major. Deep single-input
// chains of dense layers with every activation, some with no bias, and
// residual layers (a dense_add ends a chain; the value it adds has two
// users, so does not chain either); batches of a partial block (8), one
// full block (16), a block and a lone sample (17), a block and a partial
// one (24), pairs of blocks and a partial one (40, 300). With and without
// AVX-512, forced and chosen by the cost model.
TEST(NumericalSparse, ChainsOfSparseLayers) {
  Profile p = sparseProfile({0.5, 0.9, 0.99});
  p.minDepth = 3;
  p.maxDepth = 6;
  p.maxInputs = 1;
  p.previousOperand = 1;
  p.secondOperand = 0;
  p.neuron = p.concat = p.batchnorm = p.layernorm = p.scaleshift = p.activation = 0;
  p.residual = 1;
  p.widths = {17, 40, 100, 300, 520};
  const std::vector<int64_t> batches = {8, 16, 17, 24, 40, 300};
  checkSparse(p, 78000, 8, Sparsity::Sparse, batches);
  checkSparse(p, 78000, 4, Sparsity::Auto, batches);
  checkSparse(p, 78000, 4, Sparsity::Sparse, batches, {1, 2}, "-avx512f");
}

// Zeros in aligned blocks of 4 neurons (the "4x1" pattern: the schedule's
// block = "4x1", each load of an input feeding 4 neurons) where a layer's
// units are a multiple of 4; elsewhere uniformly random. Wide layers over
// several strips and small ones, batches with pairs of sample blocks, odd
// and partial ones and lone samples, with and without AVX-512.
TEST(NumericalSparse, FourNeuronBlocks) {
  Profile p = sparseProfile({0.5, 0.9, 0.99});
  p.widths = {20, 36, 64, 100, 300, 520};
  p.zeroBlockRows = 4;
  checkSparse(p, 77000, 8, Sparsity::Auto, {1, 8, 17, 40, 64});
  checkSparse(p, 77000, 4, Sparsity::Sparse, {1, 8, 17, 40, 64}, {1, 2}, "-avx512f");
}

// 40-45% nonzeros: on AVX-512 the cost model gives layers of at least 4096
// weights the sparse kernel with lone = "packed" (sample blocks sparse,
// lone samples on the dense kernel), elsewhere the dense kernel.
TEST(NumericalSparse, HalfZeroWeightsLonePacked) {
  checkSparse(sparseProfile({0.55, 0.6}), 75000, 8);
}

// Residual (dense_add) layers among sparse ones.
TEST(NumericalSparse, ResidualLayers) {
  Profile p = sparseProfile({0.95, 0.99});
  p.residual = 6;
  checkSparse(p, 72000, 6);
}

// Batches of fewer rows than V / 2 (1..7 with AVX-512) have no sample
// block: every row takes the lone-sample path, and the executor cuts a
// sparse layer with enough work into column tiles of whole neuron groups
// (Step::smallRows; SmallBatchesUseASecondThread shows that a 2-thread
// run does). Wide layers whose widths are no multiple of the vector (a
// partial last group), 90-95% zeros, the sparse kernel forced on every
// layer; softmax (which needs whole rows) and residual layers made
// likelier. Seeds 74000..74007 hold residual blocks, four softmax layers
// and a [4, 520] input per sample. Batch 1..8 with 1, 2 and 3 threads.
TEST(NumericalSparse, SmallBatchesOverColumnTiles) {
  Profile p = sparseProfile({0.9, 0.95});
  p.acts.push_back(Act::Softmax);
  p.acts.push_back(Act::Softmax);
  p.residual = 6;
  p.widths = {300, 520, 777};
  p.maxDepth = 2;
  p.maxInputs = 1;
  p.multiDimInputs = 0.3;
  checkSparse(p, 74000, 8, Sparsity::Sparse, {1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 3});
}

namespace {

/// Counts the worker threads (not the thread that called execute) that
/// enter `arena`: a run brings them in only with a parallel loop.
class WorkerCounter : public tbb::task_scheduler_observer {
public:
  explicit WorkerCounter(tbb::task_arena &arena) : tbb::task_scheduler_observer(arena) {
    observe(true);
  }
  ~WorkerCounter() override { observe(false); }
  void on_scheduler_entry(bool worker) override {
    if (worker) {
      ++entries;
      ++inside;
    }
  }
  void on_scheduler_exit(bool worker) override {
    if (worker)
      --inside;
  }
  /// Waits (at most `seconds`) until no worker is in the arena: oneTBB
  /// frees a stopped observer that a worker still holds only when that
  /// worker leaves, which may be never before exit (LeakSanitizer saw the
  /// 40 bytes of its proxy).
  void waitForWorkersToLeave(double seconds) const {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (inside > 0 && std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::atomic<int> entries{0}, inside{0};
};

/// Whether runs of `model` at `batch` (in a fresh arena of 2 threads the
/// model runs in, until a worker has joined or for `seconds`) let a worker
/// thread into the arena. On a busy machine the worker may wake only after
/// a short parallel loop has ended, so one run proves nothing.
bool workerJoins(const Model &model, int64_t batch, double seconds) {
  std::vector<float> x(static_cast<size_t>(batch * 1024), 0.5f), y(x.size());
  tbb::task_arena arena(2);
  WorkerCounter workers(arena);
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  arena.execute([&] {
    while (workers.entries == 0 && std::chrono::steady_clock::now() < end) {
      Status s = model.run({{"x", x.data(), {batch, 4, 256}}}, {{"fc", y.data(), {batch, 1024}}});
      ASSERT_TRUE(s) << s.message();
    }
  });
  workers.waitForWorkersToLeave(5);
  return workers.entries > 0;
}

} // namespace

// The numerical tier sees only the public API, so it cannot ask the
// executor which path a run takes; a model in the caller's arena shows it:
// oneTBB lets a worker into the arena only for a parallel loop. A layer of
// 1024 x 1024 weights, 90% zeros (a [4, 256] input per sample): at batch 1
// its sparse kernel runs over column tiles on both threads. (That batch 8,
// sample blocks in one row tile, stays on the calling thread is checked
// by ExecutorTest through Executor::runsParallel: checked here, with a
// worker observer, it failed once in an ASan run under ctest -j2 although
// the executor's choice depends on the batch only, so a worker can enter
// the arena without a parallel loop.)
TEST(NumericalSparse, SmallBatchesUseASecondThread) {
  if (tbb::info::default_concurrency() < 2)
    GTEST_SKIP() << "one core: no worker thread to join";
  CompileOptions options;
  options.engine = Engine::Jit;
  options.arena = ThreadArena::Caller;
  Result<Model> m = Model::compileString(R"(network wide {
  input x: f32[4, 256]
  dense fc(x) { units = 1024; weights = he(seed = 5); bias = 0.1; activation = relu; prune = 0.9; sparsity = sparse }
  output fc
}
)",
                                         options);
  ASSERT_TRUE(m) << m.error();
  EXPECT_TRUE(workerJoins(*m, 1, 10)) << "batch 1 never used a second thread (in 10 s)";
}

// A dense op with a softmax `fn` (only graph IR spells one: the language's
// softmax stays a layer of its own) makes the sparse kernel normalise
// whole rows at the end of each call, so it must never be cut into column
// tiles, small runs included. 300 x 300 weights, 90% zeros, forced sparse:
// batch 1..7 on 1 and 2 threads bit-identical and within 1e-5 of the
// interpreter (column tiles would leave rows normalised piecewise).
TEST(NumericalSparse, SoftmaxDenseKeepsWholeRowsAtSmallBatches) {
  const int64_t n = 300;
  Rng rng(75000);
  std::string text = "graph @g {\n  %x = input : f32[N, 300]\n  %w = const [";
  for (int64_t i = 0; i < n * n; ++i) {
    const double v = rng.chance(0.9) ? 0.0 : rng.uniform(-0.2, 0.2);
    text += (i ? ", " : "") + std::to_string(static_cast<float>(v));
  }
  text += "] : f32[300, 300]\n  %b = const [";
  for (int64_t i = 0; i < n; ++i)
    text += (i ? ", " : "") + std::to_string(static_cast<float>(rng.uniform(-1, 1)));
  text += "] : f32[300]\n  %d = dense(%x, %w, %b) {fn = softmax} : f32[N, 300]\n  output %d\n}\n";
  const Model interp = compileIr(text, 1, Engine::Interp, Sparsity::Sparse);
  const Model one = compileIr(text, 1, Engine::Jit, Sparsity::Sparse);
  const Model two = compileIr(text, 2, Engine::Jit, Sparsity::Sparse);
  for (int64_t batch = 1; batch <= 7; ++batch) {
    std::vector<float> x(static_cast<size_t>(batch * n));
    for (float &v : x)
      v = static_cast<float>(rng.uniform(-4, 4));
    std::vector<std::vector<float>> y(3, std::vector<float>(x.size()));
    const Model *models[] = {&interp, &one, &two};
    for (size_t m = 0; m < 3; ++m) {
      Status s = models[m]->run({{"x", x.data(), {batch, n}}}, {{"d", y[m].data(), {batch, n}}});
      ASSERT_TRUE(s) << s.message();
    }
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_NEAR(y[1][i], y[0][i], 1e-5) << "batch " << batch << ", element " << i;
    EXPECT_EQ(std::memcmp(y[1].data(), y[2].data(), x.size() * sizeof(float)), 0)
        << "batch " << batch << " differs between 1 and 2 threads";
  }
}

// Activation sparsity (schedule skip_zero_inputs, docs/passes.md): a lone
// sample's packed kernel lists its nonzero inputs and, when at most 3/8
// are nonzero, skips the weight rows of the rest. Skipped terms are w * +-0
// with finite w, so the bits must be those of the same schedule without the
// field, at every batch of lone rows (1..7: batch 5..7 has a full block of
// 4 and lone rows after it), on 1 and 2 threads, for inputs from all-zero
// to mostly nonzero (both sides of 3/8), and a NaN input (never skipped)
// must reach the outputs. 300 inputs (a masked last vector of the list),
// 200 units.
TEST(NumericalSparse, SkipZeroInputsKeepsTheBits) {
  const int64_t n = 300, units = 200;
  Rng rng(78000);
  auto literal = [&](int64_t count, double lo, double hi) {
    std::string s;
    for (int64_t i = 0; i < count; ++i)
      s += (i ? ", " : "") + std::to_string(static_cast<float>(rng.uniform(lo, hi)));
    return s;
  };
  const std::string w = literal(units * n, -0.3, 0.3), b = literal(units, -0.5, 0.5);
  auto text = [&](bool skip) {
    return "graph @g {\n  %x = input : f32[N, 300]\n  %r = activation(%x) {fn = relu} : f32[N, 300]\n"
           "  %w = const [" +
           w + "] : f32[200, 300]\n  %b = const [" + b +
           "] : f32[200]\n"
           "  %d = dense(%r, %w, %b) {fn = identity} {schedule = {kernel = \"packed\", vector_width = 16, "
           "panel_vectors = 2, row_block = 4, lone_panels = 4, row_tile = 64, col_tile = 64" +
           std::string(skip ? ", skip_zero_inputs = true" : "") +
           "}} : f32[N, 200]\n  output %d\n}\n";
  };
  // (Without AVX-512 the JIT re-plans both schedules for its vectors,
  // without the field: the same check, trivially.)
  const Model full = compileIr(text(false), 1), skip1 = compileIr(text(true), 1),
              skip2 = compileIr(text(true), 2);
  for (double nonzero : {0.0, 0.05, 0.3, 0.375, 0.5, 0.9}) {
    for (int64_t batch = 1; batch <= 7; ++batch) {
      std::vector<float> x(static_cast<size_t>(batch * n));
      for (float &v : x)
        v = rng.chance(nonzero) ? static_cast<float>(rng.uniform(0.01, 2))
                                : (rng.chance(0.5) ? -1.0f : -0.0f);
      if (batch == 3)
        x[static_cast<size_t>(n + 17)] = std::numeric_limits<float>::quiet_NaN();
      // Models 1 and 2 skip (on 1 and 2 threads).
      const auto y = expectSameBits({&full, &skip1, &skip2}, x, batch, n, units,
                                    "nonzero share " + std::to_string(nonzero));
      if (batch == 3) {
        EXPECT_TRUE(std::isnan(y[1][static_cast<size_t>(units)])) << "the NaN input was skipped";
      }
    }
  }
}

// baked = true (code generated from the weights, cost model step 14) runs
// the strips' chains in the strips' order, so its bits must be those of
// the same schedule without the field: 300 inputs (two strips), 40 units
// (a partial group), 10 % nonzeros with a NaN weight (a nonzero) and -0
// weights (zeros), at batches of a partial block, one block, a block and a
// lone sample, pairs of blocks and odd ones, on 1 and 2 threads.
TEST(NumericalSparse, BakedKeepsTheBits) {
  const int64_t n = 300, units = 40;
  Rng rng(79000);
  std::string w, b;
  for (int64_t i = 0; i < units * n; ++i) {
    const float v = rng.chance(0.1) ? static_cast<float>(rng.uniform(-0.5, 0.5))
                                    : (rng.chance(0.5) ? 0.0f : -0.0f);
    w += (i ? ", " : "") + (i == 5 * n + 7 ? std::string("nan") : std::to_string(v));
  }
  for (int64_t i = 0; i < units; ++i)
    b += (i ? ", " : "") + std::to_string(static_cast<float>(rng.uniform(-0.5, 0.5)));
  auto text = [&](bool baked) {
    return "graph @g {\n  %x = input : f32[N, 300]\n  %w = const [" + w +
           "] : f32[40, 300]\n  %b = const [" + b +
           "] : f32[40]\n  %d = dense(%x, %w, %b) {fn = relu} {schedule = {kernel = \"sparse\", vector_width = 16, "
           "panel_vectors = 1, row_block = 16, lone_panels = 1, row_tile = 64, col_tile = 48, lone = \"chunked\"" +
           std::string(baked ? ", baked = true" : "") + "}} : f32[N, 40]\n  output %d\n}\n";
  };
  // (Without AVX-512 the JIT re-plans both schedules for its vectors,
  // without the field: the same check, trivially.)
  const Model loops = compileIr(text(false), 1), baked1 = compileIr(text(true), 1),
              baked2 = compileIr(text(true), 2);
  for (int64_t batch : {8, 16, 17, 24, 40, 64, 71}) {
    std::vector<float> x(static_cast<size_t>(batch * n));
    for (float &v : x)
      v = static_cast<float>(rng.uniform(-2, 2));
    // Models 1 and 2 run the baked code (on 1 and 2 threads).
    const auto y = expectSameBits({&loops, &baked1, &baked2}, x, batch, n, units, "baked");
    EXPECT_TRUE(std::isnan(y[1][5])) << "the NaN weight was dropped";
  }
}
