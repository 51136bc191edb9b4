// Runs a Program: binds the caller's buffers and a run context's arena to
// slots and calls each step's kernel, on the calling thread or, for steps
// with enough work, over their tiles with oneTBB. Safe to call from many
// threads at once: each call takes its own run context from a pool. After
// the first run at a batch size (or a larger one) a run allocates nothing.
#pragma once

#include "soma/runtime/Program.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace soma::runtime {

struct ExecutorOptions {
  /// Threads a run may use: 0: all cores (oneTBB's default concurrency);
  /// 1: every step on the calling thread; more than the cores: the cores.
  int threads = 0;
  /// Run parallel steps in the task arena the calling thread is in (an
  /// application's own, or oneTBB's default one) instead of the executor's
  /// own arena; `threads` is then ignored (the caller's arena decides).
  bool callerArena = false;
};

/// Temporaries placed by liveness: temporaries whose lifetimes do not
/// overlap share a buffer. Sizes are per sample; a run lays the buffers out
/// back to back, each rounded up to 64 bytes for its batch.
struct MemoryPlan {
  /// Per slot: its buffer, or -1 for slots that are not temporaries.
  std::vector<int> bufferOf;
  /// Per buffer: floats per sample (the largest temporary it holds).
  std::vector<int64_t> bufferSampleElements;
  /// Floats per sample of all temporaries, were each in its own buffer.
  int64_t unsharedSampleElements = 0;
};

/// Plans `program`'s temporaries by liveness (Step::reads and each step's
/// result; OutputCopy sources live to the end).
MemoryPlan planMemory(const Program &program);

class Executor {
  struct Context;

public:
  explicit Executor(Program program, ExecutorOptions options = {});
  ~Executor();
  Executor(const Executor &) = delete;
  Executor &operator=(const Executor &) = delete;

  /// A run context taken from the executor's pool for one run: bind every
  /// input and any of the outputs, then run(). Back to the pool when
  /// destroyed.
  class Lease {
  public:
    Lease(Lease &&other) noexcept : exec(other.exec), ctx(other.ctx) { other.ctx = nullptr; }
    Lease &operator=(Lease &&) = delete;
    ~Lease();

    void setInput(size_t i, const float *data);
    void setOutput(size_t o, float *data);
    /// Runs `batch` samples from the bound inputs into the bound outputs.
    /// Outputs left unbound are computed only where a bound one needs
    /// them (into the context's own memory); steps that no bound output
    /// needs are skipped.
    void run(int64_t batch);
    /// run(), adding each step's wall time in seconds to stepSeconds[i]
    /// (resized to the program's steps if it is not; a skipped step adds
    /// 0). For `soma bench --profile`.
    void runProfiled(int64_t batch, std::vector<double> &stepSeconds);

  private:
    friend class Executor;
    Lease(const Executor &exec, Context *ctx) : exec(&exec), ctx(ctx) {}
    const Executor *exec;
    Context *ctx;
  };
  Lease lease() const;

  /// `inputs[i]` / `outputs[i]` point at the i-th input / output, each
  /// holding `batch` samples; a null output is left unbound (Lease::run).
  /// Shapes are the caller's responsibility (the public API checks them).
  void run(int64_t batch, const float *const *inputs, float *const *outputs) const;

  const Program &program() const { return prog; }
  const MemoryPlan &memoryPlan() const { return plan; }
  /// Threads a run may use (1: all serial); with callerArena, the calling
  /// arena's concurrency at the time of the call.
  int concurrency() const;
  /// Whether a run of `batch` samples uses threads: some step has enough
  /// work and tiles for them. Otherwise the run stays on the calling thread
  /// without entering any arena.
  bool runsParallel(int64_t batch) const;
  /// Bytes of the arena a run of `batch` samples needs.
  int64_t arenaBytes(int64_t batch) const;

private:
  Context *acquire() const;
  void release(Context *ctx) const;
  /// stepSeconds: null, or one sum of wall times per step (runProfiled).
  void execute(Context &ctx, int64_t batch, double *stepSeconds = nullptr) const;
  bool stepParallel(size_t step, int64_t batch) const;
  /// Whether some step runs over tiles at `batch` (whatever the threads).
  bool anyStepParallel(int64_t batch) const;
  /// For a run with unbound outputs: marks in ctx.stepNeeded the steps the
  /// bound outputs need and points each needed unbound output slot at the
  /// context's spare memory. False when every step is needed.
  bool planPartialRun(Context &ctx, int64_t batch) const;

  Program prog;
  ExecutorOptions options;
  MemoryPlan plan;
  /// Input and output slots, bound on every run.
  std::vector<int> ioSlots;
  /// Whether every step lists what it reads (Step::reads): only then can a
  /// run with unbound outputs skip the steps they alone need.
  bool readsKnown = true;
  /// Per step: the smallest batch at which it is worth running over its
  /// tiles, and over its small-run tiles (INT64_MAX: never). A step runs
  /// over tiles at the batches from `smallTiles` on that are small runs
  /// (Step::smallRows) and at those from `tiles` on that are not. The two
  /// tilings differ (a sparse layer: column tiles below V / 2 rows, row
  /// tiles of 2 V or more above), so a step may be parallel at batch 1 and
  /// serial at batch 8.
  struct ParallelFrom {
    int64_t tiles = INT64_MAX, smallTiles = INT64_MAX;
  };
  std::vector<ParallelFrom> parallelFrom;
  /// The smallest of them all: below it a run is serial.
  int64_t minParallelBatch = INT64_MAX;

  struct Threads;
  std::unique_ptr<Threads> threads;

  // The pool of run contexts: one cached for the common uncontended case
  // (an atomic exchange instead of a lock), the rest on a free list.
  mutable std::atomic<Context *> cached{nullptr};
  mutable std::mutex poolMutex;
  mutable Context *freeList = nullptr;
  mutable std::vector<std::unique_ptr<Context>> contexts;
};

} // namespace soma::runtime
