// The executor: per run, a context from the pool (slot table, arena), then
// one pass over the steps. A step whose work for this batch is below the
// cut-off runs as one kernel call on the calling thread; a bigger one runs
// over its tiles, with tbb::parallel_for in the executor's task arena (or
// the caller's). A run in which no step is big enough never touches TBB.
//
// Tiles are fixed per step when the model is compiled (planTiles) and the
// choice between one call and tiles depends on the batch only, so a run
// makes the same kernel calls on one thread as on eight: results are
// bit-identical for any thread count. A step may have a second tiling for
// runs of few rows (Step::smallRows: the sparse kernel's lone samples take
// column ranges, its sample blocks whole rows); which tiling a run uses
// depends on the batch too.
#include "soma/runtime/Executor.h"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstring>

namespace soma::runtime {

namespace {

/// Work units (about one multiply-add of the dense kernel, ~10 ps at full
/// speed on one core) that make one row of a column tile: a batch-1 dense
/// layer of 32k multiply-adds or more splits over its output neurons.
constexpr int64_t kColTileWork = int64_t(1) << 15;
/// Work units per tile: big enough that a task's overhead (about a
/// microsecond) is small against it.
constexpr int64_t kTileWork = int64_t(1) << 19;
/// A step runs over tiles only when a batch gives it at least this much
/// work: below it, waking a second thread costs more than it saves.
constexpr int64_t kParallelWork = int64_t(1) << 18;

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Rounds a float count up to a whole number of 64-byte lines.
int64_t alignedFloats(int64_t n) { return (n + 15) / 16 * 16; }

void callKernel(const Step &step, void *const *slots, int64_t r0, int64_t r1, int64_t c0,
                int64_t c1) {
  void *view[kMaxKernelView];
  if (!step.view.empty()) {
    assert(step.view.size() <= kMaxKernelView && "a kernel's view fits kMaxKernelView");
    for (size_t k = 0; k < step.view.size(); ++k)
      view[k] = slots[step.view[k]];
    slots = view;
  }
  if (step.contextFn)
    step.contextFn(step.context.get(), slots, r0, r1, c0, c1);
  else
    step.fn(slots, r0, r1, c0, c1);
}

/// Whether a run of `rows` rows of `step` takes its small-run tiling.
bool smallRun(const Step &step, int64_t rows) { return rows < step.smallRows; }

/// A step's tiles for `rows` rows, numbered column tile by column tile:
/// consecutive tiles share their columns (a dense layer's weights), and
/// parallel_for hands each thread a run of consecutive tiles. A small run
/// has column tiles of all its rows.
struct TileGrid {
  int64_t rows, cols, rowTile, colTile, rowTiles, colTiles;

  TileGrid(const Step &step, int64_t rows)
      : rows(rows), cols(step.cols),
        rowTile(step.rowTile > 0 && !smallRun(step, rows) ? step.rowTile : rows),
        colTile(smallRun(step, rows) ? step.smallColTile
                : step.colTile > 0   ? step.colTile
                                     : step.cols),
        rowTiles(ceilDiv(rows, std::max<int64_t>(rowTile, 1))),
        colTiles(ceilDiv(cols, std::max<int64_t>(colTile, 1))) {}
  int64_t count() const { return rowTiles * colTiles; }
  void run(const Step &step, void *const *slots, int64_t t) const {
    const int64_t r = t % rowTiles, c = t / rowTiles;
    callKernel(step, slots, r * rowTile, std::min(rows, (r + 1) * rowTile), c * colTile,
               std::min(cols, (c + 1) * colTile));
  }
};

} // namespace

int64_t activationWork(const ir::Activation &act) {
  switch (act.kind) {
  case ir::ActKind::Identity:
  case ir::ActKind::Relu:
  case ir::ActKind::LeakyRelu:
  case ir::ActKind::HardSigmoid:
  case ir::ActKind::Step:
  case ir::ActKind::Clip:
    return 0;
  default:
    return kTranscendentalWork;
  }
}

namespace {

/// Columns per tile for rows costing `rowWork` over `cols` columns, tiles
/// starting on multiples of `granularity`: about kColTileWork per row of a
/// tile. 0 (whole rows) when there is no granularity or only one tile.
int64_t columnTile(int64_t rowWork, int64_t granularity, int64_t cols) {
  if (granularity <= 0 || cols <= granularity)
    return 0;
  const int64_t unitWork = std::max<int64_t>(1, rowWork * granularity / cols);
  const int64_t colTile = granularity * ceilDiv(kColTileWork, unitWork);
  return colTile < cols ? colTile : 0;
}

} // namespace

void planTiles(Step &step, const TileRules &rules) {
  step.rowWork = std::max<int64_t>(rules.rowWork, 1);
  const int64_t cols = std::max<int64_t>(step.cols, 1);
  step.colTile = columnTile(step.rowWork, rules.colGranularity, cols);
  // Small runs: column tiles only (each over the run's few rows).
  const int64_t smallRowWork = std::max<int64_t>(rules.smallRowWork, 1);
  const int64_t smallColTile =
      rules.smallRows > 0 ? columnTile(smallRowWork, rules.smallColGranularity, cols) : 0;
  step.smallRows = smallColTile ? rules.smallRows : 0;
  step.smallColTile = smallColTile;
  step.smallRowWork = smallColTile ? smallRowWork : 0;
  const int64_t tileRowWork =
      step.colTile ? std::max<int64_t>(1, step.rowWork * step.colTile / cols) : step.rowWork;
  const int64_t rg = std::max<int64_t>(rules.rowGranularity, 1);
  step.rowTile = rg * ceilDiv(kTileWork, rg * tileRowWork);
}

MemoryPlan planMemory(const Program &program) {
  MemoryPlan plan;
  const size_t nSlots = program.slots.size(), nSteps = program.steps.size();
  plan.bufferOf.assign(nSlots, -1);
  bool readsKnown = true;
  for (const Step &step : program.steps)
    readsKnown = readsKnown && !step.reads.empty();
  // Live range of each temporary: [the step that writes it, its last reader].
  // Without a writer (none today) or without read lists, the whole run.
  const int64_t end = static_cast<int64_t>(nSteps);
  std::vector<int64_t> first(nSlots, -1), last(nSlots, -1);
  for (size_t i = 0; i < nSteps; ++i) {
    const Step &step = program.steps[i];
    if (step.result >= 0 && first[step.result] < 0)
      first[step.result] = static_cast<int64_t>(i);
    for (int s : step.reads)
      last[s] = std::max(last[s], static_cast<int64_t>(i));
  }
  for (const OutputCopy &c : program.copies)
    last[c.fromSlot] = end;
  for (size_t i = 0; i < nSteps; ++i)
    for (int s : program.steps[i].scratch)
      first[s] = last[s] = static_cast<int64_t>(i);
  std::vector<int> order; // temporaries by the start of their live range
  for (size_t s = 0; s < nSlots; ++s) {
    if (program.slots[s].kind != SlotKind::Temp)
      continue;
    plan.unsharedSampleElements += alignedFloats(program.slots[s].sampleElements);
    if (!readsKnown || first[s] < 0) {
      first[s] = -1;
      last[s] = end;
    }
    last[s] = std::max(last[s], first[s]);
    order.push_back(static_cast<int>(s));
  }
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return first[a] < first[b]; });

  // Greedy: a buffer is free once the last reader of what it holds has run
  // (a step never writes a buffer it reads). Best fit among the free ones,
  // else grow the largest free one, else a new buffer.
  std::vector<int64_t> busyUntil; // per buffer: last step of its current value
  for (int s : order) {
    const int64_t need = program.slots[s].sampleElements;
    int best = -1, largest = -1;
    for (size_t b = 0; b < busyUntil.size(); ++b) {
      if (busyUntil[b] >= first[s])
        continue;
      const int64_t size = plan.bufferSampleElements[b];
      if (size >= need && (best < 0 || size < plan.bufferSampleElements[best]))
        best = static_cast<int>(b);
      if (largest < 0 || size > plan.bufferSampleElements[largest])
        largest = static_cast<int>(b);
    }
    int b = best >= 0 ? best : largest;
    if (b < 0) {
      b = static_cast<int>(busyUntil.size());
      busyUntil.push_back(-1);
      plan.bufferSampleElements.push_back(0);
    }
    plan.bufferSampleElements[b] = std::max(plan.bufferSampleElements[b], need);
    busyUntil[b] = last[s];
    plan.bufferOf[s] = b;
  }
  return plan;
}

struct Executor::Threads {
  int concurrency;
  tbb::task_arena arena;
  explicit Threads(int concurrency) : concurrency(concurrency), arena(concurrency) {}
};

/// One run's state: the slot table and the arena behind its temporaries.
struct Executor::Context {
  AlignedVector<float> storage;
  /// The batch the temporaries' slots are laid out for (-1: none yet).
  int64_t laidOut = -1;
  std::vector<void *> slots;
  std::vector<const float *> inputs;
  std::vector<float *> outputs;
  /// Per output: bound for this run (Lease::setOutput), and how many are.
  std::vector<uint8_t> outputBound;
  size_t boundOutputs = 0;
  /// A run with unbound outputs: the steps and slots the bound ones need,
  /// and per output the memory an unbound but needed output is written to.
  std::vector<uint8_t> stepNeeded, slotNeeded;
  std::vector<AlignedVector<float>> spare;
  std::vector<int64_t> bufferOffset;
  Context *next = nullptr; // the pool's free list
};

Executor::Executor(Program program, ExecutorOptions opts)
    : prog(std::move(program)), options(opts), plan(planMemory(prog)) {
  for (size_t i = 0; i < prog.slots.size(); ++i)
    if (prog.slots[i].kind == SlotKind::Input || prog.slots[i].kind == SlotKind::Output)
      ioSlots.push_back(static_cast<int>(i));
  for (const Step &step : prog.steps) {
    readsKnown = readsKnown && !step.reads.empty();
    // The smallest batch with at least kParallelWork and two tiles (of the
    // tiling that batch uses).
    ParallelFrom from;
    const int64_t rps = step.rowsPerSample;
    if (rps > 0 && step.rowWork > 0) {
      const int64_t colTiles = step.colTile > 0 ? ceilDiv(step.cols, step.colTile) : 1;
      from.tiles = ceilDiv(kParallelWork, rps * step.rowWork);
      if (colTiles < 2)
        from.tiles = step.rowTile > 0 ? std::max(from.tiles, step.rowTile / rps + 1) : INT64_MAX;
    }
    if (rps > 0 && step.smallRows > 0 && step.smallColTile > 0 && step.smallColTile < step.cols &&
        step.smallRowWork > 0)
      from.smallTiles = ceilDiv(ceilDiv(kParallelWork, step.smallRowWork), rps);
    parallelFrom.push_back(from);
    minParallelBatch = std::min({minParallelBatch, from.tiles, from.smallTiles});
  }
  if (!options.callerArena) {
    // More threads than cores would only oversubscribe them (and make
    // oneTBB warn that it cannot add the workers).
    const int cores = tbb::info::default_concurrency();
    const int n = options.threads > 0 ? std::min(options.threads, cores) : cores;
    if (n > 1)
      threads = std::make_unique<Threads>(n);
  }
}

Executor::~Executor() = default;

int Executor::concurrency() const {
  if (options.callerArena)
    return tbb::this_task_arena::max_concurrency();
  return threads ? threads->concurrency : 1;
}

bool Executor::stepParallel(size_t step, int64_t batch) const {
  const ParallelFrom &from = parallelFrom[step];
  return smallRun(prog.steps[step], batch * prog.steps[step].rowsPerSample)
             ? batch >= from.smallTiles
             : batch >= from.tiles;
}

bool Executor::anyStepParallel(int64_t batch) const {
  if (batch < minParallelBatch)
    return false;
  for (size_t i = 0; i < prog.steps.size(); ++i)
    if (stepParallel(i, batch))
      return true;
  return false;
}

bool Executor::runsParallel(int64_t batch) const {
  return anyStepParallel(batch) && concurrency() > 1;
}

int64_t Executor::arenaBytes(int64_t batch) const {
  int64_t floats = 0;
  for (int64_t size : plan.bufferSampleElements)
    floats += alignedFloats(batch * size);
  return floats * static_cast<int64_t>(sizeof(float));
}

Executor::Context *Executor::acquire() const {
  if (Context *ctx = cached.exchange(nullptr, std::memory_order_acquire))
    return ctx;
  std::lock_guard<std::mutex> lock(poolMutex);
  if (freeList) {
    Context *ctx = freeList;
    freeList = ctx->next;
    return ctx;
  }
  auto ctx = std::make_unique<Context>();
  ctx->slots.assign(prog.slots.size(), nullptr);
  size_t nIn = 0, nOut = 0;
  for (size_t i = 0; i < prog.slots.size(); ++i) {
    const Slot &s = prog.slots[i];
    if (s.kind == SlotKind::Constant)
      ctx->slots[i] = const_cast<float *>(s.data ? s.data->data() : s.view);
    else if (s.kind == SlotKind::Input)
      nIn = std::max(nIn, static_cast<size_t>(s.index) + 1);
    else if (s.kind == SlotKind::Output)
      nOut = std::max(nOut, static_cast<size_t>(s.index) + 1);
  }
  for (const OutputCopy &c : prog.copies)
    nOut = std::max(nOut, static_cast<size_t>(c.toOutput) + 1);
  ctx->inputs.assign(nIn, nullptr);
  ctx->outputs.assign(nOut, nullptr);
  ctx->outputBound.assign(nOut, 0);
  ctx->spare.resize(nOut);
  ctx->stepNeeded.assign(prog.steps.size(), 1);
  ctx->slotNeeded.assign(prog.slots.size(), 0);
  ctx->bufferOffset.assign(plan.bufferSampleElements.size(), 0);
  contexts.push_back(std::move(ctx));
  return contexts.back().get();
}

void Executor::release(Context *ctx) const {
  Context *expected = nullptr;
  if (cached.compare_exchange_strong(expected, ctx, std::memory_order_release))
    return;
  std::lock_guard<std::mutex> lock(poolMutex);
  ctx->next = freeList;
  freeList = ctx;
}

Executor::Lease Executor::lease() const {
  Context *ctx = acquire();
  // Outputs bound by an earlier run are not bound in this one.
  std::fill(ctx->outputBound.begin(), ctx->outputBound.end(), 0);
  std::fill(ctx->outputs.begin(), ctx->outputs.end(), nullptr);
  ctx->boundOutputs = 0;
  return Lease(*this, ctx);
}

Executor::Lease::~Lease() {
  if (ctx)
    exec->release(ctx);
}

void Executor::Lease::setInput(size_t i, const float *data) { ctx->inputs[i] = data; }
void Executor::Lease::setOutput(size_t o, float *data) {
  ctx->outputs[o] = data;
  if (!ctx->outputBound[o]) {
    ctx->outputBound[o] = 1;
    ++ctx->boundOutputs;
  }
}
void Executor::Lease::run(int64_t batch) { exec->execute(*ctx, batch); }

void Executor::Lease::runProfiled(int64_t batch, std::vector<double> &stepSeconds) {
  stepSeconds.resize(exec->prog.steps.size());
  exec->execute(*ctx, batch, stepSeconds.data());
}

void Executor::run(int64_t batch, const float *const *inputs, float *const *outputs) const {
  Lease l = lease();
  for (size_t i = 0; i < l.ctx->inputs.size(); ++i)
    l.setInput(i, inputs[i]);
  for (size_t o = 0; o < l.ctx->outputs.size(); ++o)
    if (outputs[o])
      l.setOutput(o, outputs[o]);
  l.run(batch);
}

bool Executor::planPartialRun(Context &ctx, int64_t batch) const {
  std::fill(ctx.slotNeeded.begin(), ctx.slotNeeded.end(), 0);
  for (const OutputCopy &c : prog.copies)
    if (ctx.outputBound[c.toOutput])
      ctx.slotNeeded[c.fromSlot] = 1;
  for (int s : ioSlots)
    if (prog.slots[s].kind == SlotKind::Output && ctx.outputBound[prog.slots[s].index])
      ctx.slotNeeded[s] = 1;
  // Steps are in order: a step's readers come after it.
  for (size_t i = prog.steps.size(); i-- > 0;) {
    const Step &step = prog.steps[i];
    const bool needed = !readsKnown || ctx.slotNeeded[static_cast<size_t>(step.result)];
    ctx.stepNeeded[i] = needed;
    if (needed)
      for (int s : step.reads)
        ctx.slotNeeded[s] = 1;
  }
  // An unbound output a needed step writes goes to the context's memory.
  for (int s : ioSlots) {
    const Slot &slot = prog.slots[s];
    if (slot.kind != SlotKind::Output || ctx.outputBound[slot.index] ||
        !(ctx.slotNeeded[s] || !readsKnown))
      continue;
    AlignedVector<float> &spare = ctx.spare[static_cast<size_t>(slot.index)];
    const auto floats = static_cast<size_t>(batch * slot.sampleElements);
    if (spare.size() < floats)
      spare = AlignedVector<float>(floats);
    ctx.slots[s] = spare.data();
  }
  return readsKnown;
}

void Executor::execute(Context &ctx, int64_t batch, double *stepSeconds) const {
  for (int s : ioSlots) {
    const Slot &slot = prog.slots[s];
    ctx.slots[s] = slot.kind == SlotKind::Input ? const_cast<float *>(ctx.inputs[slot.index])
                                                : ctx.outputs[slot.index];
  }
  if (batch != ctx.laidOut) {
    // The arena only grows: a smaller batch reuses it as it is.
    int64_t floats = 0;
    for (size_t b = 0; b < plan.bufferSampleElements.size(); ++b) {
      ctx.bufferOffset[b] = floats;
      floats += alignedFloats(batch * plan.bufferSampleElements[b]);
    }
    if (static_cast<int64_t>(ctx.storage.size()) < floats)
      ctx.storage = AlignedVector<float>(static_cast<size_t>(floats));
    for (size_t s = 0; s < prog.slots.size(); ++s)
      if (plan.bufferOf[s] >= 0)
        ctx.slots[s] = ctx.storage.data() + ctx.bufferOffset[static_cast<size_t>(plan.bufferOf[s])];
    ctx.laidOut = batch;
  }
  if (batch <= 0)
    return;
  // Unbound outputs: only the steps the bound ones need run.
  const bool partial = ctx.boundOutputs < ctx.outputs.size() && planPartialRun(ctx, batch);
  auto skipped = [&](size_t i) { return partial && !ctx.stepNeeded[i]; };
  void *const *slots = ctx.slots.data();

  if (!anyStepParallel(batch) && !stepSeconds) {
    for (size_t i = 0; i < prog.steps.size(); ++i)
      if (!skipped(i))
        callKernel(prog.steps[i], slots, 0, batch * prog.steps[i].rowsPerSample, 0,
                   prog.steps[i].cols);
  } else {
    // Some step runs over tiles (with one thread they run in order here),
    // or each step is timed.
    const int threadsNow = concurrency();
    auto runStep = [&](size_t i) {
      const Step &step = prog.steps[i];
      const int64_t rows = batch * step.rowsPerSample;
      if (!stepParallel(i, batch)) {
        callKernel(step, slots, 0, rows, 0, step.cols);
        return;
      }
      const TileGrid grid(step, rows);
      if (threadsNow <= 1) {
        for (int64_t t = 0; t < grid.count(); ++t)
          grid.run(step, slots, t);
        return;
      }
      tbb::parallel_for(tbb::blocked_range<int64_t>(0, grid.count()),
                        [&](const tbb::blocked_range<int64_t> &r) {
                          for (int64_t t = r.begin(); t < r.end(); ++t)
                            grid.run(step, slots, t);
                        });
    };
    auto steps = [&] {
      for (size_t i = 0; i < prog.steps.size(); ++i) {
        if (skipped(i))
          continue;
        if (!stepSeconds) {
          runStep(i);
          continue;
        }
        const auto t0 = std::chrono::steady_clock::now();
        runStep(i);
        stepSeconds[i] +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      }
    };
    if (threadsNow > 1 && threads)
      threads->arena.execute(steps);
    else
      steps();
  }
  for (const OutputCopy &c : prog.copies)
    if (ctx.outputBound[c.toOutput])
      std::memcpy(ctx.outputs[c.toOutput], ctx.slots[c.fromSlot],
                  static_cast<size_t>(batch * c.sampleElements) * sizeof(float));
}

} // namespace soma::runtime
