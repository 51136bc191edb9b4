// A compiled network as the runtime sees it: a table of slots (pointers to
// inputs, weights, intermediate buffers, outputs) and a list of steps, each
// a generated kernel that reads and writes slots. The runtime knows nothing
// of LLVM: kernels arrive as plain function pointers.
#pragma once

#include "soma/ir/Activation.h"
#include "soma/support/Tensor.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace soma::runtime {

/// The signature of every generated kernel. `slots` is the run's slot
/// table, or the step's view of it (Step::view); the kernel knows (as
/// constants) which of its entries it reads and writes.
/// It computes rows [rowBegin, rowEnd) of its result and, where the kernel
/// allows it, columns [colBegin, colEnd) (output features), so an executor
/// can split a layer into tiles without recompiling.
using KernelFn = void (*)(void *const *slots, int64_t rowBegin, int64_t rowEnd, int64_t colBegin,
                          int64_t colEnd);

/// The most entries a Step::view may have (the executor gathers a view on
/// the stack).
constexpr size_t kMaxKernelView = 16;

/// The kernel form of engines whose kernels need data of their own (a
/// compiled schedule, a function table): the same contract as KernelFn,
/// with the step's `context` passed first.
using ContextKernelFn = void (*)(const void *context, void *const *slots, int64_t rowBegin,
                                 int64_t rowEnd, int64_t colBegin, int64_t colEnd);

enum class SlotKind {
  Input,    // a caller's input buffer
  Constant, // model-owned data (weights, packed panels, parameters)
  Temp,     // an intermediate value, in the run's arena
  Output,   // a caller's output buffer, written by the step that computes it
};

struct Slot {
  SlotKind kind = SlotKind::Temp;
  /// Input/Output: index into the model's input/output list.
  int index = -1;
  /// Temp/Output: elements per sample ([N, dims...] holds N times this).
  int64_t sampleElements = 0;
  /// Constant: the data, 64-byte aligned.
  std::shared_ptr<const AlignedVector<float>> data;
  /// Constant without `data`: the data held elsewhere (a bundle's read-only
  /// weights, or its mapped weights file), 64-byte aligned, outliving the
  /// program.
  const float *view = nullptr;
};

struct Step {
  /// Exactly one of `fn` and `contextFn` is set; the executor calls it.
  KernelFn fn = nullptr;
  ContextKernelFn contextFn = nullptr;
  /// What `contextFn` receives as its first argument; kept alive by the
  /// step (and so by the model).
  std::shared_ptr<const void> context;
  /// When not empty, the kernel sees the slot table through this view: its
  /// slot k is the run's slot view[k] (at most kMaxKernelView entries).
  /// Kernels compiled for views hold no slot numbers of their own, so
  /// layers of the same shape and schedule can share one kernel.
  std::vector<int> view;
  /// The IR value whose kernel this step shares (empty: its own), for
  /// printing.
  std::string sharedKernelOf;
  std::string name; // the IR value it computes, for errors and profiles
  /// The kernel family that made the step ("vec.dense", "jit.sparse"), for
  /// `soma run -v`; a string literal of the family's.
  const char *family = "";
  /// Rows per sample of the result (product of all but the last dim); the
  /// step runs over N * rowsPerSample rows.
  int64_t rowsPerSample = 1;
  /// Columns of the result (its last dim).
  int64_t cols = 1;
  /// The result slot (for sizing and zero-batch handling).
  int result = -1;
  /// Every slot the kernel reads. The memory plan reuses a temporary's
  /// buffer once its last reader has run; a step that lists no reads makes
  /// the plan keep every temporary alive for the whole run.
  std::vector<int> reads;
  /// Temp slots the kernel uses as its own scratch, live during this step
  /// only (the kernel writes them before it reads them).
  std::vector<int> scratch;

  /// The tiles the executor may cut the step into, fixed when the model is
  /// compiled (by planTiles), never by the thread count: every element of
  /// the result is computed by one kernel call, in one order, so results
  /// are bit-identical for any number of threads.
  /// Rows per tile; 0: all rows in one tile.
  int64_t rowTile = 0;
  /// Columns per tile; 0: whole rows (the kernel ignores column ranges or
  /// needs whole rows).
  int64_t colTile = 0;
  /// Estimated cost of one row over all its columns, in work units (one
  /// unit: about one multiply-add of the dense kernel). Steps whose rows
  /// cost too little in total for a batch run on the calling thread.
  int64_t rowWork = 0;

  /// A second tiling, for runs of fewer than `smallRows` rows (batch *
  /// rowsPerSample), whose kernel takes another path (the sparse kernel's
  /// lone samples): column tiles of `smallColTile` columns, each over all
  /// the run's rows, with rows costing `smallRowWork` units. Also fixed
  /// when the model is compiled (by planTiles). 0: every run uses the tiles
  /// above.
  int64_t smallRows = 0;
  int64_t smallColTile = 0;
  int64_t smallRowWork = 0;
};

/// Work units for TileRules::rowWork, shared by the engines' tile rules: one
/// unit is a multiply-add of the dense kernel; an elementwise element (a
/// load, an operation, a store) costs about kElementWork, and a vector
/// exp/erf/log of an activation about kTranscendentalWork more.
constexpr int64_t kElementWork = 8, kTranscendentalWork = 24;
/// The extra work units of applying `act` to one element.
int64_t activationWork(const ir::Activation &act);

/// What a kernel allows when it is cut into tiles, and what one of its rows
/// costs: the input of planTiles.
struct TileRules {
  /// Column tiles start on multiples of this (a dense kernel's panel); 0:
  /// the kernel needs whole rows.
  int64_t colGranularity = 0;
  /// Row tiles are multiples of this (a kernel's row block).
  int64_t rowGranularity = 1;
  /// Step::rowWork.
  int64_t rowWork = 1;
  /// Runs of fewer rows than this take a kernel path of their own that
  /// honours column ranges (Step::smallRows); 0: none. Its column tiles
  /// start on multiples of smallColGranularity, its rows cost smallRowWork.
  int64_t smallRows = 0;
  int64_t smallColGranularity = 0;
  int64_t smallRowWork = 1;
};

/// Fills `step`'s rowTile, colTile and rowWork, and its small-run tiling,
/// from `rules` and the step's shape: tiles big enough to be worth a task,
/// small enough that a batch-1 dense layer still splits over its output
/// neurons.
void planTiles(Step &step, const TileRules &rules);

/// A copy made after the steps: an output that is an input, or a second
/// output naming a value another output already receives.
struct OutputCopy {
  int fromSlot;
  int toOutput;
  int64_t sampleElements;
};

struct Program {
  std::vector<Slot> slots;
  std::vector<Step> steps;
  std::vector<OutputCopy> copies;
};

} // namespace soma::runtime
