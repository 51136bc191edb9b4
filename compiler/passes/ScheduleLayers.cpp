// schedule: gives every linear, dense and dense_add op the Schedule its
// kernel runs with, from a cost model over the layer's shape and the
// machine (PassContext::machine, soma/support/Machine.h: vector width and
// registers, FMA pipes and latency, cache sizes). The graph's values do not
// change, only how they are computed. The cost model:
//
//   1. Vector width: the machine's widest f32 vector (16 with AVX-512).
//   2. Panel: 2 vectors of output neurons when the layer is wider than one
//      vector, so each broadcast input feeds 2 FMAs; else 1.
//   3. Row block: one sample per FMA in flight (the machine's pipes x
//      latency: 4 on Zen 4, 8 on a core with two 512-bit pipes, 10 on
//      Haswell), so the block's row_block x panel_vectors accumulators are
//      at least the FMAs in flight and each weight vector loaded feeds that
//      many FMAs; at most as many rows as fit in the registers left after
//      the panel's weight vectors, each row holding its accumulators and
//      its broadcast (LLVM issues a block's broadcasts together: Haswell's
//      6 x 2 block spilled, tests/perf), and at most 8 samples (a
//      call's rows after its last full block run as one half block, then
//      as lone samples: LowerDense.cpp). Measured on a two-pipe AVX-512
//      core (Zen 5, 1024 x 1024 relu, 1 thread, docs/passes.md#schedule):
//      8 x 2 blocks 0.90x the time of 4 x 2 at batch 64, 0.89x at 256.
//   4. Lone panels: samples after the last full row block (all of batch 1)
//      are computed for several panels at once, 8 / panel_vectors of them,
//      so a single sample also has 8 independent accumulators; each weight
//      is still read once, contiguously within its panel.
//   5. Column tile: the panels whose weights, for all inputs, fit in half
//      the L2 cache, so a tile's weights stay in L2 while its rows stream
//      through, and at most 1 / (4 * cores) of the layer, so a batch-1
//      layer still splits into enough tiles to balance the cores; at least
//      one panel. A softmax dense needs whole rows: its tile is the full
//      width.
//   6. Row tile: 64 samples, rounded up to a multiple of the row block:
//      enough work per tile to amortise scheduling and few enough to split
//      a batch of 128+.
//
// No K tile (k_tile): the kernel can sum the inputs in tiles (LowerDense.cpp),
// but on the machine measured (docs/passes.md#schedule) every K tile tried
// was 1-13% slower: the prefetchers stream a panel from L2 as fast as the
// FMAs consume it, and K tiles cut those streams short.
//
// The kernel: "sparse" (compiler/codegen/LowerSparse.cpp: sums over the
// nonzero weights only) when sparseKernelPays, else "packed" (the above):
//
//   7. Sparse when the weights are a constant whose density (nonzeros /
//      all, from sparsity-analysis) is at most kSparseDensity, measured on
//      this machine (docs/passes.md#schedule) at 1024x1024 (where batch 1
//      breaks even), or at most kSparseDensityChunked when lone samples
//      take the chunked format (step 9, which moves batch 1's break-even
//      to about 35%; batch 64 gains from 50%; precisely, at most such a
//      layer's padded entries per chunk, step 11), or at most
//      kSparseDensityBeyondL3 when the dense weights do not fit in half the
//      last-level cache (then the dense kernel streams them from memory
//      at every call, and the sparse one reads fewer bytes: bench/run
//      sparse at 4096x4096, 70% zeros: sparse 1.3-2x faster than dense at
//      batch 1 and 64, 50% zeros: dense faster at batch 64; 35% rather
//      than 30% so that a layer of exactly 30% nonzeros, whose density
//      may round just above 0.3, is in; or lone samples chunked within
//      step 11's entries), and the layer is big enough
//      (inputs * units >= kSparseMinWeights) for the saved multiply-adds to
//      outweigh the sparse kernel's fixed costs (the transpose of each
//      sample block, the strips' start table and partial sums).
//   8. A sparse schedule: groups of one vector of neurons (panel_vectors =
//      1), sample blocks of one vector (row_block = vector_width), no
//      lone-panel grouping (lone_panels = 1), whole rows (col_tile = the
//      units rounded up to the vector: its sample blocks share a scratch
//      per row), row tiles of whole blocks holding about 2^18 multiply-adds
//      over the nonzeros, at least 2 blocks (the kernel runs pairs of
//      blocks over each strip of the inputs) and at most 64 samples.
//   9. Lone samples (batch 1): with 16-lane vectors, the chunked format
//      (lone_chunk = 32: one permute and one vector FMA per 16 nonzeros)
//      where it is not bound by memory, else the scalar chains (one load
//      of x and one FMA per nonzero, but fewer bytes: the chunked format
//      pads each chunk's entries to the group's neuron with the most
//      nonzeros in it, about 2x at 10% density against 1.2x). Both sizes
//      are estimated from the density (the expected longest of 16 binomial
//      counts), and chunked is chosen when its bytes fit in a quarter of
//      the last-level cache and either fit in L2 or are at most twice the
//      scalar format's. Measured at batch 1, 1 thread (docs/performance.md):
//      1024 x 1024 chunked 1.3-3x faster than scalar at 50-99% zeros; 4096 x
//      4096 (memory-bound) scalar faster from 70% zeros on, up to 2x at 99%.
//  10. Between step 7's threshold and kSparseDensityBlocks nonzeros, with
//      16-lane vectors and weights within half the L3: the sparse kernel
//      with lone = "packed", so sample blocks run sparse (1024 x 1024, 50%
//      zeros, batch 64: 0.99 ms against dense's 1.24) and lone samples
//      (batch 1: dense 44 us against chunked 68) run the dense kernel over
//      panels of one vector packed beside the sparse entries. The choice
//      is per call, by its rows: below vector_width / 2 the packed path.
//      Only on a core with one FMA pipe (Zen 4, where it was measured): with
//      two, the dense kernel does twice the FMAs per cycle and the sparse
//      one does not gain (Zen 5, 50% zeros, batch 64, 1 thread: dense 586
//      us against 652; 2 threads 330 against 723, docs/performance.md).
//  11. The recognised pattern: steps 7 and 9 estimate the padded entries
//      (groupEntries) from the density, except that under block = "2:4"
//      (at most 2 nonzeros in every aligned 4 inputs, from
//      sparsity-analysis) a group has at most 16 entries per chunk of 32
//      and inputs / 2 per row, where uniformly random 50% nonzeros need
//      about 21.5 and inputs / 2 + 1.766 sqrt(inputs / 4). Step 7's
//      chunked rule is on these entries, not on the density: sparse when
//      a chunk has at most the entries of a uniformly random layer of
//      kSparseDensityChunked nonzeros (about 16.5), which a 2:4 layer
//      meets, also beyond half the L3; and step 9 takes the chunked format
//      whenever its bytes are at most the scalar format's (for a 2:4 layer
//      5/6 of them). Measured on exact 2:4 relu layers, 1 thread, median
//      of adjacent-pair ratios (docs/passes.md#the-sparse-kernel): 1024 x
//      1024 batch 1 chunked 40.0 us against dense 46.0 (1.15x; before, step
//      10's packed path, 0.94x), batch 64 sparse 1.36x; 4096 x 4096
//      batch 1 chunked 1.33 ms against dense 2.33 (1.75x; 1.66-3.1x over
//      three runs; scalar 0.88x), batch 64 0.98x (dense before).
//  12. Block pattern "4x1" (every aligned 4 neurons share their nonzero
//      inputs): the sparse schedule's block = "4x1", so the sample blocks
//      load each input once for 4 neurons (1024 x 1024, 90% zeros, batch
//      64: 149 us against 217 us without). "1x4" and "2:4" give the sample
//      blocks nothing to share (docs/passes.md#the-sparse-kernel).
//  13. Activation sparsity (packed schedules): skip_zero_inputs when the
//      layer's input comes from a relu (any op whose fn is relu: dense,
//      dense_add, activation, a binary op), its weights are finite, it has at least
//      kSkipZeroInputsMinUnits units and at most kSkipZeroInputsMax inputs,
//      and the vectors have 16 lanes (the list is built by a compress). Its
//      lone samples (batch 1) then list their nonzero inputs and, when at
//      most 3/8 of them are nonzero, run over the list only
//      (codegen/LowerDense.cpp; the bits are the full loop's). Measured at
//      batch 1 on a 1024 x 1024 layer fed by a relu layer, 1 thread
//      (docs/passes.md#activation-sparsity): about 46 us without; with it
//      the same at 50% zero inputs (the weight panels' rows are 128 bytes,
//      so the prefetcher still streams every line), about 20 us at 72%, 11
//      us at 86%, 3 us at 97%.
//  14. Code from the pattern (sparse schedules): baked = true when the
//      weights have at most Schedule::kBakedMaxNonzeros nonzeros, no block
//      pattern is used and the vectors have 16 lanes: the sample blocks
//      run straight-line code with every nonzero's input and place as
//      constants (codegen/LowerSparse.cpp). Measured at 90% zeros, batch
//      64 / 16, 1 thread (docs/passes.md#the-sparse-kernel): 64 x 64 2.5
//      -> 2.2 us, 128 x 128 5.6 -> 4.7 / 2.1 -> 2.0 us, 256 x 256 16.3 ->
//      14.1 / 5.0 -> 4.3 us (6554 nonzeros, beyond the limit: its compile
//      took 3.9 s against 0.14, which grows faster than the nonzeros; 1638
//      nonzeros 0.55 s against 0.11). With 8 lanes 0-6%, so not chosen.
//
// A schedule already in the IR (written by hand, or printed by an earlier
// run) is kept, not re-planned: counted as schedule.layers-kept.
//
// Tolerance class: exact (no value changes; every schedule reduces each
// output over all inputs in input order in one kernel call).
#include "soma/ir/MachineRecord.h"
#include "soma/passes/CostModel.h"
#include "soma/passes/Passes.h"

#include <algorithm>
#include <cmath>

namespace soma::passes {

namespace {

// Step 7's thresholds.
constexpr double kSparseDensity = 0.12;
constexpr double kSparseDensityChunked = 0.35;
constexpr double kSparseDensityBeyondL3 = 0.35;
constexpr double kSparseDensityBlocks = 0.5;
constexpr int64_t kSparseMinWeights = 4096;
/// Step 13: the most inputs whose list of nonzeros (4 bytes each) the
/// packed kernel keeps on its stack: 32 KiB (small enough for the stacks
/// of threads an embedding program may call from).
constexpr int64_t kSkipZeroInputsMax = 8192;
/// Step 13: the fewest units for which listing the inputs (about a cycle
/// per 16) costs little beside the multiply-adds (units / 16 per input).
constexpr int64_t kSkipZeroInputsMinUnits = 64;
// Step 9's chunk: the inputs one two-source permute of two 16-lane vectors
// picks from (runtime::kSparseChunk, which the lowering checks).
constexpr int64_t kLoneChunk = 32;

/// The expected nonzeros of the longest of 16 neurons over `inputs` inputs
/// at `density`: a normal approximation of the largest of 16 binomial
/// counts (1.766 is the expected largest of 16 standard normals).
double longestOf16(double inputs, double density) {
  const double mean = inputs * density;
  return std::min(inputs, mean + 1.766 * std::sqrt(mean * (1 - density)) + 0.5);
}

/// Step 11: the entries a group of 16 neurons gets over `inputs` inputs (a
/// whole row, or one chunk): its longest neuron's nonzeros, which the
/// others are padded to. Under the "2:4" pattern (inputs % 4 == 0, chunks
/// start on multiples of 4) no neuron has more than inputs / 2.
double groupEntries(double inputs, const ir::SparsityInfo &info) {
  const double longest = longestOf16(inputs, info.density);
  return info.block == "2:4" ? std::min(longest, inputs / 2) : longest;
}

/// Step 9: whether lone samples take the chunked format (16-lane vectors).
bool loneChunked(int64_t inputs, int64_t units, const ir::SparsityInfo &info,
                 const MachineInfo &machine) {
  if (machine.vectorWidth != 16)
    return false;
  const double groups = std::ceil(static_cast<double>(units) / 16);
  const double chunks = std::ceil(static_cast<double>(inputs) / kLoneChunk);
  // Per entry: 16 values and 16 one-byte positions (chunked), or 16 values
  // and 16 indices of 2 bytes (scalar; 4 beyond 65536 inputs).
  const double chunkedBytes = groups * chunks * groupEntries(kLoneChunk, info) * (64 + 16);
  const double scalarBytes =
      groups * groupEntries(static_cast<double>(inputs), info) * (64 + (inputs <= 65536 ? 32 : 64));
  if (chunkedBytes <= scalarBytes)
    return true; // fewer bytes and fewer instructions (step 11)
  return chunkedBytes <= static_cast<double>(machine.l3Bytes) / 4 &&
         (chunkedBytes <= static_cast<double>(machine.l2Bytes) || chunkedBytes <= 2 * scalarBytes);
}

/// Steps 7 and 11: whether lone samples on the chunked format beat the
/// dense kernel: at most as many entries per chunk as a uniformly random
/// layer of kSparseDensityChunked nonzeros needs (about 16.5 of 32), and
/// the chunked format chosen.
bool chunkedPays(int64_t inputs, int64_t units, const ir::SparsityInfo &info,
                 const MachineInfo &machine) {
  return groupEntries(kLoneChunk, info) <= longestOf16(kLoneChunk, kSparseDensityChunked) &&
         loneChunked(inputs, units, info, machine);
}

ir::Schedule sparseSchedule(const ir::Op &op, const MachineInfo &machine) {
  const int64_t units = op.type.lastDim();
  const int64_t inputs = op.operands[0]->type.sampleElements();
  const ir::SparsityInfo info = op.sparsity ? *op.sparsity : ir::SparsityInfo{};
  const double density = info.density;
  ir::Schedule s;
  s.kernel = ir::ScheduleKernel::Sparse;
  s.vectorWidth = machine.vectorWidth;
  s.panelVectors = 1;
  s.rowBlock = s.vectorWidth;
  s.lonePanels = 1;
  s.colTile = (units + s.vectorWidth - 1) / s.vectorWidth * s.vectorWidth;
  const double blockWork = std::max(1.0, density * static_cast<double>(inputs * units)) *
                           static_cast<double>(s.vectorWidth);
  const int64_t blocks = static_cast<int64_t>(std::ceil(static_cast<double>(1 << 18) / blockWork));
  s.rowTile =
      s.vectorWidth * std::clamp<int64_t>(blocks, 2, std::max<int64_t>(2, 64 / s.vectorWidth));
  s.lone = loneChunked(inputs, units, info, machine) ? ir::LonePath::Chunked : ir::LonePath::Scalar;
  if (info.block == "4x1")
    s.block = ir::BlockPattern::FourByOne;
  // Step 14.
  const int64_t nonzeros = bakedNonzeros(op);
  s.baked = machine.vectorWidth == 16 && s.block == ir::BlockPattern::None && nonzeros >= 0 &&
            nonzeros <= ir::Schedule::kBakedMaxNonzeros;
  return s;
}

/// The cost model's kernels: the packed one, the sparse one, or the sparse
/// one whose lone samples run the packed one (lone = "packed").
enum class AutoKernel { Packed, Sparse, SparseLonePacked };

/// Steps 7, 10 and 11: the kernel the cost model gives `op`.
AutoKernel autoKernel(const ir::Op &op, const MachineInfo &machine) {
  if (!op.sparsity || op.operands.size() < 2 || op.operands[1]->kind != ir::OpKind::Const)
    return AutoKernel::Packed;
  const int64_t units = op.type.lastDim();
  const int64_t inputs = op.operands[0]->type.sampleElements();
  // Packed offsets are unsigned 32-bit floats, below 3 * inputs * units.
  if (inputs * units < kSparseMinWeights || inputs * units >= (int64_t{1} << 30))
    return AutoKernel::Packed;
  const bool beyondL3 = inputs * units * 4 > machine.l3Bytes / 2;
  const ir::SparsityInfo &info = *op.sparsity;
  const double density = info.density;
  if (beyondL3)
    return density <= kSparseDensityBeyondL3 || chunkedPays(inputs, units, info, machine)
               ? AutoKernel::Sparse
               : AutoKernel::Packed;
  if (density <= kSparseDensity || chunkedPays(inputs, units, info, machine))
    return AutoKernel::Sparse;
  if (density <= kSparseDensityBlocks && machine.vectorWidth == 16 && machine.fmaPipes == 1)
    return AutoKernel::SparseLonePacked;
  return AutoKernel::Packed;
}

} // namespace

int64_t bakedNonzeros(const ir::Op &op) {
  if (op.operands.size() < 2)
    return -1;
  const ir::Op &w = *op.operands[1];
  if (w.kind != ir::OpKind::Const || !w.data)
    return -1;
  return countNonzeros(*w.data);
}

bool zeroInputsSkippable(const ir::Op &op) {
  if (op.operands[0]->type.sampleElements() > kSkipZeroInputsMax || op.operands.size() < 2)
    return false;
  const ir::Op &w = *op.operands[1];
  return w.kind == ir::OpKind::Const && w.data &&
         std::all_of(w.data->values.begin(), w.data->values.end(),
                     [](float v) { return std::isfinite(v); });
}

bool sparseKernelPays(const ir::Op &op, const MachineInfo &machine) {
  return autoKernel(op, machine) != AutoKernel::Packed;
}

bool sparseKernelApplies(const ir::Op &op) {
  if (op.operands.size() < 2)
    return false;
  const ir::Op &w = *op.operands[1];
  return w.kind == ir::OpKind::Const && w.data && w.type.dims.size() == 2 &&
         w.type.dims[0] * w.type.dims[1] < (int64_t{1} << 30);
}

ir::SparsityMode sparsityRequest(const ir::Op &op, ir::SparsityMode global) {
  return op.hints.sparsity != ir::SparsityMode::Auto ? op.hints.sparsity : global;
}

ir::Schedule chooseSchedule(const ir::Op &op, const MachineInfo &machine, ir::SparsityMode global) {
  // The user's choice beats the cost model: the layer's hint, else the
  // global option (docs/passes.md#schedule). Forced sparse still needs
  // weights the sparse kernel can pack.
  switch (sparsityRequest(op, global)) {
  case ir::SparsityMode::Dense:
    return scheduleFor(op, machine, ir::ScheduleKernel::Packed);
  case ir::SparsityMode::Sparse:
    return scheduleFor(op, machine,
                       sparseKernelApplies(op) ? ir::ScheduleKernel::Sparse
                                               : ir::ScheduleKernel::Packed);
  case ir::SparsityMode::Auto:
    break;
  }
  const AutoKernel kernel = autoKernel(op, machine);
  if (kernel == AutoKernel::Packed)
    return scheduleFor(op, machine, ir::ScheduleKernel::Packed);
  ir::Schedule s = scheduleFor(op, machine, ir::ScheduleKernel::Sparse);
  if (kernel == AutoKernel::SparseLonePacked)
    s.lone = ir::LonePath::Packed;
  return s;
}

ir::Schedule scheduleFor(const ir::Op &op, const MachineInfo &machine, ir::ScheduleKernel kernel) {
  if (kernel == ir::ScheduleKernel::Sparse)
    return sparseSchedule(op, machine);
  const int64_t units = op.type.lastDim();
  const int64_t inputs = op.operands[0]->type.sampleElements();
  ir::Schedule s;
  s.vectorWidth = machine.vectorWidth;
  s.panelVectors = units > s.vectorWidth ? 2 : 1;
  // LLVM issues a block's broadcasts together: a row holds its
  // accumulators and its broadcast.
  s.rowBlock = machine.blockRows(s.panelVectors, s.panelVectors + 1, 0);
  s.lonePanels = 8 / s.panelVectors;
  const int64_t panel = s.panel();
  const int64_t panels = std::max<int64_t>(1, (units + panel - 1) / panel);
  const int64_t panelBytes = std::max<int64_t>(1, inputs) * panel * 4;
  const int64_t fit = std::max<int64_t>(1, machine.l2Bytes / 2 / panelBytes);
  const int64_t share = std::max<int64_t>(1, panels / (4 * std::max<int64_t>(1, machine.cores)));
  const bool wholeRows = op.kind != ir::OpKind::Linear && ir::isRowwise(op.fn.kind);
  s.colTile = (wholeRows ? panels : std::min({fit, share, panels})) * panel;
  s.rowTile = (64 + s.rowBlock - 1) / s.rowBlock * s.rowBlock;
  // Step 13: inputs from a relu are often zero.
  const ir::Op &x = *op.operands[0];
  const bool reluInput = x.fn.kind == ir::ActKind::Relu; // of any op that takes fn
  s.skipZeroInputs = reluInput && machine.vectorWidth == 16 && units >= kSkipZeroInputsMinUnits &&
                     zeroInputsSkippable(op);
  return s;
}

bool scheduleLayers(ir::Graph &graph, PassContext &ctx) {
  // The graph's machine record says which machine its schedules were
  // planned for: when that is not this one, they are planned again.
  const bool replan = graph.machine && !ir::samePlanningMachine(*graph.machine, ctx.machine);
  if (replan)
    ctx.remark(graph.loc, "schedules planned for machine '" + graph.machine->name +
                              "' planned again for '" + ctx.machine.name + "'");
  bool any = false;
  for (auto &op : graph.ops) {
    if (!ir::isWeightedSum(op->kind))
      continue;
    any = true;
    if (op->schedule && !replan) {
      // Written in the IR (by hand, or by an earlier run for this
      // machine): kept (the JIT re-plans one made for another vector width).
      ctx.count("schedule.layers-kept");
      continue;
    }
    if (op->schedule)
      ctx.count("schedule.layers-replanned");
    op->schedule = chooseSchedule(*op, ctx.machine, ctx.sparsity);
    ctx.count("schedule.layers-scheduled");
    ctx.count(std::string("schedule.layers-") + ir::spelling(op->schedule->kernel));
    if (ir::SparsityMode want = sparsityRequest(*op, ctx.sparsity);
        want != ir::SparsityMode::Auto) {
      const std::string by = op->hints.sparsity != ir::SparsityMode::Auto
                                 ? std::string("its hint sparsity = ") + ir::sparsityModeName(want)
                                 : std::string("--sparsity=") + ir::sparsityModeName(want);
      const std::string what = std::string(ir::opName(op->kind)) + " '" + op->name + "'";
      if (want == ir::SparsityMode::Sparse && !op->schedule->isSparse())
        ctx.diags.warning(op->loc, what + " cannot use the sparse kernel asked for by " + by +
                                       ": its weights are not a constant matrix; dense kernel");
      else
        ctx.remark(op->loc, what + ": kernel \"" + ir::spelling(op->schedule->kernel) +
                                "\", chosen by " + by);
      ctx.count("schedule.layers-forced");
    }
  }
  if (any)
    graph.machine = ctx.machine;
  return true;
}

} // namespace soma::passes
