// The executor on hand-built programs whose kernels are plain C++ that
// record every call: tiles (fixed at compile time, each element computed by
// one call, the same calls for any thread count; small runs' tiles of their
// own), the serial cut-off (no
// arena entry for small runs), the model's arena and the caller's, many
// callers sharing the arena without oversubscription, no threads left
// spinning, and the liveness memory plan.
#include "soma/runtime/Executor.h"

#include <gtest/gtest.h>

#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

using namespace soma;
using namespace soma::runtime;

namespace {

/// current_thread_index() on a thread that is in no task arena.
const int kNoArena = tbb::task_arena::not_initialized;

/// Runs `f` on a new thread, one that has never been in a task arena.
template <class F> void onFreshThread(F f) { std::thread(f).join(); }

struct Call {
  int64_t r0, r1, c0, c1;
  std::thread::id thread;
  int arenaIndex;       // tbb::this_task_arena::current_thread_index()
  int arenaConcurrency; // tbb::this_task_arena::max_concurrency()
  bool operator<(const Call &o) const {
    return std::tie(r0, r1, c0, c1) < std::tie(o.r0, o.r1, o.c0, o.c1);
  }
  bool sameTile(const Call &o) const {
    return std::tie(r0, r1, c0, c1) == std::tie(o.r0, o.r1, o.c0, o.c1);
  }
};

/// y[r, c] = 2 * x[r, c] + 1 over the tile, recording the call; slots are
/// the recorder's own. `spinMicros` makes each call take that long;
/// `awaitSecondThread` makes the calls wait until a second thread has
/// entered the kernel too, or until 5 s after the first call.
struct Recorder {
  int in = 0, out = 1;
  int64_t cols = 1;
  int spinMicros = 0;
  bool awaitSecondThread = false;
  mutable std::atomic<std::thread::id> firstThread{};
  mutable std::atomic<bool> secondArrived{false};
  mutable std::once_flag started;
  mutable std::chrono::steady_clock::time_point deadline;
  mutable std::mutex mutex;
  mutable std::vector<Call> calls;
  mutable std::atomic<int> inside{0}, maxInside{0};

  static void kernel(const void *context, void *const *slots, int64_t r0, int64_t r1, int64_t c0,
                     int64_t c1) {
    const Recorder &rec = *static_cast<const Recorder *>(context);
    int now = ++rec.inside;
    int seen = rec.maxInside.load();
    while (now > seen && !rec.maxInside.compare_exchange_weak(seen, now)) {
    }
    const float *x = static_cast<const float *>(slots[rec.in]);
    float *y = static_cast<float *>(slots[rec.out]);
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = c0; c < c1; ++c)
        y[r * rec.cols + c] = 2 * x[r * rec.cols + c] + 1;
    if (rec.awaitSecondThread) {
      std::call_once(rec.started, [&] {
        rec.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      });
      std::thread::id none{}, me = std::this_thread::get_id();
      if (!rec.firstThread.compare_exchange_strong(none, me) && none != me)
        rec.secondArrived = true;
      while (!rec.secondArrived && std::chrono::steady_clock::now() < rec.deadline)
        std::this_thread::yield();
    }
    if (rec.spinMicros) {
      auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(rec.spinMicros);
      while (std::chrono::steady_clock::now() < until) {
      }
    }
    // (max_concurrency() would attach a thread to the default arena.)
    const int index = tbb::this_task_arena::current_thread_index();
    const int concurrency = index >= 0 ? tbb::this_task_arena::max_concurrency() : 0;
    {
      std::lock_guard<std::mutex> lock(rec.mutex);
      rec.calls.push_back({r0, r1, c0, c1, std::this_thread::get_id(), index, concurrency});
    }
    --rec.inside;
  }
  std::vector<Call> take() const {
    std::lock_guard<std::mutex> lock(mutex);
    std::vector<Call> c = std::move(calls);
    calls.clear();
    return c;
  }
};

/// One step from input 0 to output 0, [N, cols], tiled by `rules`.
Program oneStep(std::shared_ptr<Recorder> rec, int64_t cols, const TileRules &rules) {
  Program p;
  p.slots.resize(2);
  p.slots[0].kind = SlotKind::Input;
  p.slots[0].index = 0;
  p.slots[0].sampleElements = cols;
  p.slots[1].kind = SlotKind::Output;
  p.slots[1].index = 0;
  p.slots[1].sampleElements = cols;
  rec->cols = cols;
  Step step;
  step.contextFn = &Recorder::kernel;
  step.context = rec;
  step.name = "y";
  step.cols = cols;
  step.result = 1;
  step.reads = {0};
  planTiles(step, rules);
  p.steps.push_back(std::move(step));
  return p;
}

/// A dense-like layer: panels of 32 columns, row blocks of 4, 1000 inputs.
TileRules denseRules(int64_t cols) { return {32, 4, cols * 1000}; }

/// A sparse-like layer: whole rows in row tiles of 16-row blocks, but runs
/// of fewer than 8 rows over column tiles of 16-column groups, at 40 units
/// per column and input of 1000 (the lone-sample path); 2 per one otherwise.
TileRules sparseRules(int64_t cols) {
  TileRules rules;
  rules.colGranularity = 0;
  rules.rowGranularity = 16;
  rules.rowWork = cols * 2 * 1000;
  rules.smallRows = 8;
  rules.smallColGranularity = 16;
  rules.smallRowWork = cols * 40 * 1000;
  return rules;
}

std::vector<float> iota(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>(i % 1000) * 0.5f;
  return v;
}

/// Runs `exec` on `batch` samples of `cols` (`rowsPerSample` rows each);
/// checks every element and returns the calls made.
std::vector<Call> runChecked(const Executor &exec, const Recorder &rec, int64_t batch, int64_t cols,
                             int64_t rowsPerSample = 1) {
  std::vector<float> x = iota(batch * rowsPerSample * cols), y(x.size(), -1.0f);
  const float *in[] = {x.data()};
  float *out[] = {y.data()};
  exec.run(batch, in, out);
  for (size_t i = 0; i < y.size(); ++i)
    if (y[i] != 2 * x[i] + 1) {
      ADD_FAILURE() << "element " << i << " is " << y[i];
      break;
    }
  return rec.take();
}

double processCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

} // namespace

// --- Tiles -------------------------------------------------------------

TEST(PlanTiles, DenseColumnTilesStartOnPanels) {
  Step step;
  step.cols = 1000;
  planTiles(step, {32, 4, 1000 * 1024});
  EXPECT_GT(step.colTile, 0);
  EXPECT_LT(step.colTile, 1000);
  EXPECT_EQ(step.colTile % 32, 0);
  EXPECT_GT(step.rowTile, 0);
  EXPECT_EQ(step.rowTile % 4, 0);
  EXPECT_EQ(step.rowWork, 1000 * 1024);
}

TEST(PlanTiles, WholeRowKernelsAndNarrowLayersKeepWholeRows) {
  Step softmax;
  softmax.cols = 5000;
  planTiles(softmax, {0, 1, 5000 * 40});
  EXPECT_EQ(softmax.colTile, 0);
  EXPECT_GE(softmax.rowTile, 1);
  Step narrow; // fewer columns than one panel
  narrow.cols = 20;
  planTiles(narrow, {32, 4, 20 * 4096});
  EXPECT_EQ(narrow.colTile, 0);
  Step cheap; // a cheap elementwise layer: whole rows, many per tile
  cheap.cols = 100;
  planTiles(cheap, {16, 1, 800});
  EXPECT_EQ(cheap.colTile, 0);
  EXPECT_GT(cheap.rowTile, 100);
}

TEST(PlanTiles, SmallRunsGetColumnTilesOnTheirGranularity) {
  Step step;
  step.cols = 1000;
  planTiles(step, sparseRules(1000));
  EXPECT_EQ(step.colTile, 0);
  EXPECT_EQ(step.rowTile % 16, 0);
  EXPECT_EQ(step.smallRows, 8);
  EXPECT_GT(step.smallColTile, 0);
  EXPECT_LT(step.smallColTile, 1000);
  EXPECT_EQ(step.smallColTile % 16, 0);
  EXPECT_EQ(step.smallRowWork, 1000 * 40 * 1000);
  // No small tiling when only one column tile would hold the work, or when
  // the rules ask for none.
  Step cheap;
  cheap.cols = 1000;
  TileRules rules = sparseRules(1000);
  rules.smallRowWork = 1000;
  planTiles(cheap, rules);
  EXPECT_EQ(cheap.smallRows, 0);
  EXPECT_EQ(cheap.smallColTile, 0);
  Step none;
  none.cols = 1000;
  planTiles(none, denseRules(1000));
  EXPECT_EQ(none.smallRows, 0);
  EXPECT_EQ(none.smallColTile, 0);
}

TEST(Executor, TilesCoverEveryElementOnceWithTheSameCallsForAnyThreadCount) {
  for (int64_t cols : {1000, 77, 4096}) {
    std::vector<Call> first;
    for (int threads : {1, 2, 3, 8}) {
      auto rec = std::make_shared<Recorder>();
      Executor exec(oneStep(rec, cols, denseRules(cols)), {threads, false});
      const Step &step = exec.program().steps[0];
      const int64_t batch = 37;
      ASSERT_TRUE(exec.runsParallel(batch) || threads == 1) << cols;
      std::vector<Call> calls = runChecked(exec, *rec, batch, cols);
      // Tiles: column tiles start on panels, row tiles on row tiles.
      std::vector<int> covered(static_cast<size_t>(batch * cols), 0);
      for (const Call &c : calls) {
        EXPECT_EQ(c.c0 % 32, 0);
        if (step.colTile) {
          EXPECT_EQ(c.c0 % step.colTile, 0);
        }
        EXPECT_EQ(c.r0 % step.rowTile, 0);
        for (int64_t r = c.r0; r < c.r1; ++r)
          for (int64_t k = c.c0; k < c.c1; ++k)
            ++covered[static_cast<size_t>(r * cols + k)];
      }
      EXPECT_EQ(std::count(covered.begin(), covered.end(), 1), batch * cols)
          << "cols " << cols << ", " << threads << " threads";
      EXPECT_GT(calls.size(), 1u) << "a big layer is cut into tiles";
      std::sort(calls.begin(), calls.end());
      if (first.empty()) {
        first = calls;
        continue;
      }
      ASSERT_EQ(calls.size(), first.size()) << threads << " threads";
      for (size_t i = 0; i < calls.size(); ++i)
        EXPECT_TRUE(calls[i].sameTile(first[i])) << threads << " threads, tile " << i;
    }
  }
}

// Below smallRows rows a step runs over its small-run tiles (column tiles of
// all the rows), at and above them over its ordinary tiles (whole rows
// here), with the same calls for any thread count. The step's rows at 8
// and 16 samples are one row tile: serial, though batch 1 is parallel.
TEST(Executor, SmallRunsUseTheirOwnTilesBelowTheirRows) {
  const int64_t cols = 1000;
  std::vector<std::vector<Call>> first(41);
  for (int threads : {1, 2, 3}) {
    auto rec = std::make_shared<Recorder>();
    Executor exec(oneStep(rec, cols, sparseRules(cols)), {threads, false});
    const Step &step = exec.program().steps[0];
    ASSERT_EQ(step.rowTile, 16);
    ASSERT_EQ(step.smallRows, 8);
    for (int64_t batch : {1, 2, 3, 7, 8, 16, 40}) {
      const bool small = batch < 8;
      const bool parallel = small || batch > 16;
      EXPECT_EQ(exec.runsParallel(batch), parallel && threads > 1) << "batch " << batch;
      std::vector<Call> calls = runChecked(exec, *rec, batch, cols);
      std::vector<int> covered(static_cast<size_t>(batch * cols), 0);
      for (const Call &c : calls) {
        for (int64_t r = c.r0; r < c.r1; ++r)
          for (int64_t k = c.c0; k < c.c1; ++k)
            ++covered[static_cast<size_t>(r * cols + k)];
        if (small) {
          EXPECT_EQ(c.r0, 0);
          EXPECT_EQ(c.r1, batch);
          EXPECT_EQ(c.c0 % step.smallColTile, 0) << "batch " << batch;
          EXPECT_TRUE(c.c1 == cols || c.c1 % step.smallColTile == 0) << "batch " << batch;
        } else {
          EXPECT_EQ(c.c0, 0) << "batch " << batch << ": the kernel needs whole rows";
          EXPECT_EQ(c.c1, cols) << "batch " << batch;
          EXPECT_EQ(c.r0 % step.rowTile, 0);
        }
      }
      EXPECT_EQ(std::count(covered.begin(), covered.end(), 1), batch * cols) << "batch " << batch;
      const size_t want =
          small      ? static_cast<size_t>((cols + step.smallColTile - 1) / step.smallColTile)
          : parallel ? static_cast<size_t>((batch + 15) / 16)
                     : 1u;
      EXPECT_EQ(calls.size(), want) << "batch " << batch << ", " << threads << " threads";
      std::sort(calls.begin(), calls.end());
      std::vector<Call> &expected = first[static_cast<size_t>(batch)];
      if (threads == 1) {
        expected = calls;
        continue;
      }
      ASSERT_EQ(calls.size(), expected.size())
          << "batch " << batch << ", " << threads << " threads";
      for (size_t i = 0; i < calls.size(); ++i)
        EXPECT_TRUE(calls[i].sameTile(expected[i]))
            << "batch " << batch << ", " << threads << " threads, tile " << i;
    }
  }
}

// The small-run threshold counts rows, not samples: 3 rows per sample and
// smallRows 8 make batches 1 and 2 small runs, batch 3 (9 rows) not.
TEST(Executor, SmallRunsCountRows) {
  const int64_t cols = 1000, rowsPerSample = 3;
  auto rec = std::make_shared<Recorder>();
  Program p = oneStep(rec, cols, sparseRules(cols));
  p.slots[0].sampleElements = p.slots[1].sampleElements = rowsPerSample * cols;
  p.steps[0].rowsPerSample = rowsPerSample;
  Executor exec(std::move(p), {2, false});
  for (int64_t batch : {1, 2, 3}) {
    std::vector<Call> calls = runChecked(exec, *rec, batch, cols, rowsPerSample);
    ASSERT_FALSE(calls.empty());
    for (const Call &c : calls)
      EXPECT_EQ(c.r1, batch * rowsPerSample);
    if (batch < 3) {
      EXPECT_GT(calls.size(), 1u) << "batch " << batch;
    } else {
      EXPECT_EQ(calls.size(), 1u) << "batch " << batch << " is no small run";
    }
  }
}

TEST(Executor, SmallRunsStayOnTheCallingThreadWithoutAnArena) {
  // A 2-input neuron's worth of work: one call, the whole range, on this
  // thread, outside any task arena.
  auto rec = std::make_shared<Recorder>();
  Executor exec(oneStep(rec, 1, {1, 1, 2}), {2, false});
  EXPECT_FALSE(exec.runsParallel(1));
  EXPECT_FALSE(exec.runsParallel(1000));
  onFreshThread([&] {
    std::vector<Call> calls = runChecked(exec, *rec, 1000, 1);
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].r0, 0);
    EXPECT_EQ(calls[0].r1, 1000);
    EXPECT_EQ(calls[0].thread, std::this_thread::get_id());
    EXPECT_EQ(calls[0].arenaIndex, kNoArena) << "a small run entered a task arena";
  });
}

TEST(Executor, ProfiledRunsAddEachStepsWallTimeAndComputeTheSame) {
  // Each call spins 2 ms: a profiled run adds at least that to the step's
  // sum, a second one adds to it again, and the results are the run's.
  auto rec = std::make_shared<Recorder>();
  rec->spinMicros = 2000;
  Executor exec(oneStep(rec, 3, {1, 1, 2}), {1, false});
  std::vector<float> x = iota(2 * 3), y(x.size(), -1.0f);
  Executor::Lease lease = exec.lease();
  lease.setInput(0, x.data());
  lease.setOutput(0, y.data());
  std::vector<double> seconds;
  lease.runProfiled(2, seconds);
  ASSERT_EQ(seconds.size(), 1u);
  EXPECT_GE(seconds[0], 0.002);
  for (size_t i = 0; i < y.size(); ++i)
    EXPECT_EQ(y[i], 2 * x[i] + 1) << "element " << i;
  const double first = seconds[0];
  lease.runProfiled(2, seconds);
  EXPECT_GE(seconds[0], first + 0.002);
  EXPECT_EQ(rec->take().size(), 2u);
}

TEST(Executor, ABigLayerOnOneThreadRunsItsTilesInOrderHere) {
  auto rec = std::make_shared<Recorder>();
  Executor exec(oneStep(rec, 1000, denseRules(1000)), {1, false});
  EXPECT_EQ(exec.concurrency(), 1);
  EXPECT_FALSE(exec.runsParallel(64));
  onFreshThread([&] {
    std::vector<Call> calls = runChecked(exec, *rec, 64, 1000);
    EXPECT_GT(calls.size(), 1u);
    for (const Call &c : calls) {
      EXPECT_EQ(c.thread, std::this_thread::get_id());
      EXPECT_EQ(c.arenaIndex, kNoArena);
    }
  });
}

TEST(Executor, ParallelLayersRunInTheModelsArena) {
  // Every tile waits (up to 5 s, on a busy machine) for a second thread to
  // take one too: run serially, the test would fail.
  auto rec = std::make_shared<Recorder>();
  rec->awaitSecondThread = true;
  Executor exec(oneStep(rec, 1024, denseRules(1024)), {2, false});
  EXPECT_EQ(exec.concurrency(), 2);
  ASSERT_TRUE(exec.runsParallel(16));
  std::vector<Call> calls = runChecked(exec, *rec, 16, 1024);
  std::vector<std::thread::id> ids;
  for (const Call &c : calls) {
    EXPECT_GE(c.arenaIndex, 0);
    EXPECT_EQ(c.arenaConcurrency, 2);
    ids.push_back(c.thread);
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()) - ids.begin(), 2) << "two threads share the tiles";
}

TEST(Executor, CallerArenaRunsInTheCallersArena) {
  auto rec = std::make_shared<Recorder>();
  Executor exec(oneStep(rec, 1024, denseRules(1024)), {0, true});
  tbb::task_arena two(2);
  two.execute([&] {
    EXPECT_EQ(exec.concurrency(), 2);
    for (const Call &c : runChecked(exec, *rec, 16, 1024)) {
      EXPECT_EQ(c.arenaConcurrency, 2);
      EXPECT_GE(c.arenaIndex, 0);
    }
  });
  // An arena of one: the tiles run in order on the calling thread.
  tbb::task_arena one(1);
  one.execute([&] {
    EXPECT_FALSE(exec.runsParallel(16));
    for (const Call &c : runChecked(exec, *rec, 16, 1024))
      EXPECT_EQ(c.thread, std::this_thread::get_id());
  });
}

TEST(Executor, ManyCallersShareTheArenaWithoutOversubscription) {
  auto rec = std::make_shared<Recorder>();
  rec->spinMicros = 20;
  Executor exec(oneStep(rec, 1024, denseRules(1024)), {2, false});
  std::atomic<int> bad{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 6; ++t)
    callers.emplace_back([&, t] {
      for (int r = 0; r < 10; ++r) {
        const int64_t batch = 8 + t + r;
        std::vector<float> x = iota(batch * 1024), y(x.size(), -1.0f);
        const float *in[] = {x.data()};
        float *out[] = {y.data()};
        exec.run(batch, in, out);
        for (size_t i = 0; i < y.size(); ++i)
          if (y[i] != 2 * x[i] + 1) {
            ++bad;
            break;
          }
      }
    });
  for (std::thread &t : callers)
    t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_LE(rec->maxInside.load(), 2) << "kernels ran on more threads than the arena has";
}

TEST(Executor, NoThreadsAreLeftSpinning) {
  auto rec = std::make_shared<Recorder>();
  Executor exec(oneStep(rec, 1024, denseRules(1024)), {0, false});
  for (int r = 0; r < 20; ++r)
    runChecked(exec, *rec, 64, 1024);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const double cpu0 = processCpuSeconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double idle = processCpuSeconds() - cpu0;
  EXPECT_LT(idle, 0.03) << "CPU seconds used by an idle process after parallel runs";
}

// --- Memory ------------------------------------------------------------

namespace {

/// dst = a + b (b: optional second operand, slot -1 for none) + 1, over the
/// tile; the slot numbers are in the context.
struct AddOne {
  int a, b, dst;
  int64_t cols;
  static void kernel(const void *context, void *const *slots, int64_t r0, int64_t r1, int64_t,
                     int64_t) {
    const AddOne &k = *static_cast<const AddOne *>(context);
    const float *a = static_cast<const float *>(slots[k.a]);
    const float *b = k.b >= 0 ? static_cast<const float *>(slots[k.b]) : nullptr;
    float *d = static_cast<float *>(slots[k.dst]);
    for (int64_t i = r0 * k.cols; i < r1 * k.cols; ++i)
      d[i] = a[i] + (b ? b[i] : 0.0f) + 1.0f;
  }
};

/// x -> t1 -> t2 -> ... -> t_n -> y with widths `widths` (all temporaries
/// [N, w] read as [N, 4]: the kernels use the first 4 columns), and, with
/// `skip`, y = t_n + t1 (t1 live to the end).
Program chain(const std::vector<int64_t> &widths, bool skip, bool listReads = true) {
  Program p;
  auto slot = [&](SlotKind kind, int index, int64_t elems) {
    Slot s;
    s.kind = kind;
    s.index = index;
    s.sampleElements = elems;
    p.slots.push_back(s);
    return static_cast<int>(p.slots.size()) - 1;
  };
  int prev = slot(SlotKind::Input, 0, 4);
  int t1 = -1;
  auto step = [&](int a, int b, int dst) {
    Step s;
    s.contextFn = &AddOne::kernel;
    s.context = std::make_shared<AddOne>(AddOne{a, b, dst, 4});
    s.cols = 4;
    s.result = dst;
    if (listReads) {
      s.reads.push_back(a);
      if (b >= 0)
        s.reads.push_back(b);
    }
    p.steps.push_back(std::move(s));
  };
  for (int64_t w : widths) {
    int t = slot(SlotKind::Temp, -1, w);
    if (t1 < 0)
      t1 = t;
    step(prev, -1, t);
    prev = t;
  }
  step(prev, skip ? t1 : -1, slot(SlotKind::Output, 0, 4));
  return p;
}

} // namespace

TEST(MemoryPlan, AChainNeedsTwoBuffers) {
  MemoryPlan plan = planMemory(chain({8, 4, 16, 4, 8, 4}, false));
  EXPECT_EQ(plan.bufferSampleElements.size(), 2u);
  EXPECT_EQ(plan.unsharedSampleElements, 16 + 16 + 16 + 16 + 16 + 16); // each rounded to 64 bytes
}

TEST(MemoryPlan, AValueReadLaterKeepsItsBuffer) {
  Program p = chain({8, 8, 8, 8}, true);
  MemoryPlan plan = planMemory(p);
  EXPECT_EQ(plan.bufferSampleElements.size(), 3u);
  const int t1 = 1; // slot 0 is x
  for (size_t s = 2; s < p.slots.size(); ++s)
    if (plan.bufferOf[s] >= 0) {
      EXPECT_NE(plan.bufferOf[s], plan.bufferOf[t1]) << "slot " << s << " overwrites t1";
    }
}

TEST(MemoryPlan, WithoutReadListsNothingIsShared) {
  MemoryPlan plan = planMemory(chain({8, 8, 8, 8}, false, /*listReads=*/false));
  EXPECT_EQ(plan.bufferSampleElements.size(), 4u);
}

TEST(MemoryPlan, SharedBuffersComputeTheRightValues) {
  for (bool skip : {false, true}) {
    Executor exec(chain({4, 12, 4, 9, 4, 4}, skip), {1, false});
    for (int64_t batch : {5, 1, 17, 3}) { // the arena grows, then is reused
      std::vector<float> x = iota(batch * 4), y(x.size(), -1.0f);
      const float *in[] = {x.data()};
      float *out[] = {y.data()};
      exec.run(batch, in, out);
      for (size_t i = 0; i < y.size(); ++i) {
        // t_k = x + k; y = t_6 + 1 (+ t_1 with skip)
        float want = skip ? (x[i] + 6) + (x[i] + 1) + 1 : x[i] + 7;
        ASSERT_EQ(y[i], want) << "batch " << batch << ", element " << i;
      }
    }
  }
}

// --- Unbound outputs -------------------------------------------------------

namespace {

/// AddOne that counts its calls (the runs below are serial).
struct CountedAdd {
  AddOne op;
  mutable int calls = 0;
  static void kernel(const void *context, void *const *slots, int64_t r0, int64_t r1, int64_t c0,
                     int64_t c1) {
    const CountedAdd &k = *static_cast<const CountedAdd *>(context);
    ++k.calls;
    AddOne::kernel(&k.op, slots, r0, r1, c0, c1);
  }
};

/// x -> a (output 0) -> b (output 1); x -> c (temporary) -> d (output 2);
/// output 3 a copy of a. Every value [N, 4]; each step adds one.
struct TwoBranches {
  Program program;
  std::vector<std::shared_ptr<CountedAdd>> steps; // a, b, c, d
  explicit TwoBranches(bool listReads) {
    auto slot = [&](SlotKind kind, int index) {
      Slot s;
      s.kind = kind;
      s.index = index;
      s.sampleElements = 4;
      program.slots.push_back(s);
      return static_cast<int>(program.slots.size()) - 1;
    };
    auto step = [&](int from, int to) {
      steps.push_back(std::make_shared<CountedAdd>(CountedAdd{{from, -1, to, 4}}));
      Step s;
      s.contextFn = &CountedAdd::kernel;
      s.context = steps.back();
      s.cols = 4;
      s.result = to;
      if (listReads)
        s.reads = {from};
      program.steps.push_back(std::move(s));
    };
    const int x = slot(SlotKind::Input, 0), a = slot(SlotKind::Output, 0),
              b = slot(SlotKind::Output, 1), c = slot(SlotKind::Temp, -1),
              d = slot(SlotKind::Output, 2);
    step(x, a);
    step(a, b);
    step(x, c);
    step(c, d);
    program.copies.push_back({a, 3, 4});
  }
  /// Runs `batch` samples with the outputs in `bound` (the others null);
  /// checks each bound output (a, b, c, d, copy of a: x + 1, 2, -, 2, 1)
  /// and returns the calls per step.
  std::vector<int> run(const Executor &exec, int64_t batch, const std::vector<int> &bound) {
    for (auto &s : steps)
      s->calls = 0;
    std::vector<float> x = iota(batch * 4);
    std::vector<std::vector<float>> out(4, std::vector<float>(x.size(), -1.0f));
    const float *in[] = {x.data()};
    float *outs[4] = {};
    for (int o : bound)
      outs[o] = out[static_cast<size_t>(o)].data();
    exec.run(batch, in, outs);
    const float added[] = {1, 2, 2, 1};
    for (int o : bound)
      for (size_t i = 0; i < x.size(); ++i)
        if (out[static_cast<size_t>(o)][i] != x[i] + added[o]) {
          ADD_FAILURE() << "output " << o << " element " << i << ": "
                        << out[static_cast<size_t>(o)][i];
          break;
        }
    std::vector<int> calls;
    for (auto &s : steps)
      calls.push_back(s->calls);
    return calls;
  }
};

} // namespace

TEST(Executor, UnboundOutputsSkipTheStepsNoBoundOutputNeeds) {
  TwoBranches net(/*listReads=*/true);
  Executor exec(net.program, {1, false});
  for (int64_t batch : {3, 1, 9}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    EXPECT_EQ(net.run(exec, batch, {1}), (std::vector<int>{1, 1, 0, 0})); // a unbound, needed
    EXPECT_EQ(net.run(exec, batch, {2}), (std::vector<int>{0, 0, 1, 1}));
    EXPECT_EQ(net.run(exec, batch, {3}), (std::vector<int>{1, 0, 0, 0})); // the copy needs a
    EXPECT_EQ(net.run(exec, batch, {0, 2}), (std::vector<int>{1, 0, 1, 1}));
    EXPECT_EQ(net.run(exec, batch, {0, 1, 2, 3}), (std::vector<int>{1, 1, 1, 1}));
    EXPECT_EQ(net.run(exec, batch, {}), (std::vector<int>{0, 0, 0, 0}));
  }
}

TEST(Executor, WithoutReadListsUnboundOutputsStillRunEveryStep) {
  TwoBranches net(/*listReads=*/false);
  Executor exec(net.program, {1, false});
  EXPECT_EQ(net.run(exec, 5, {1}), (std::vector<int>{1, 1, 1, 1}));
  EXPECT_EQ(net.run(exec, 2, {3}), (std::vector<int>{1, 1, 1, 1}));
}
