// The JIT's kernel families and target (JitEngine.h). Each family says
// which ops and schedules its lowering in compiler/codegen handles, how it
// packs their weights, and how its kernels may be cut into tiles; the
// engine compiles every op its families run into one module, after the
// builder has assigned the slots the kernels bake in.
#include "soma/jit/JitEngine.h"
#include "soma/ir/Spatial.h"

#include "soma/ir/MachineRecord.h"
#include "soma/passes/CostModel.h"
#include "soma/passes/Passes.h"
#include "soma/runtime/Kernels.h"
#include "soma/runtime/Packing.h"
#include "soma/runtime/VecEngine.h"
#include "soma/support/Machine.h"

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <optional>
#include <string>
#include <unordered_map>

namespace soma::jit {

namespace {

using runtime::Fit;

/// The matrix-vector format runtime::packSparse adds for a sparse
/// schedule's lone samples.
runtime::SparseLoneFormat sparseLoneFormat(const ir::Schedule &schedule) {
  if (schedule.lone == ir::LonePath::Chunked)
    return runtime::SparseLoneFormat::Chunked;
  return schedule.lone == ir::LonePath::Packed ? runtime::SparseLoneFormat::None
                                               : runtime::SparseLoneFormat::Entries;
}

/// A schedule the op's data does not allow, as the families refuse it.
Fit refuse(const ir::Op &op, const std::string &why) {
  return Fit::refuses(std::string(ir::opName(op.kind)) + " '" + op.name + "': its schedule says " +
                      why);
}

/// The dense kernel's code grows with its register block (row_block x
/// panel_vectors accumulators, unrolled) and with lone_panels: a schedule
/// written in IR may ask for up to 4096 of each (row_block = 4096 took 32 s
/// and 1.5 MB of code), so the JIT bounds what it generates. The cost model
/// stays far inside (row_block <= 8, panel_vectors <= 2, lone_panels <= 8).
constexpr int64_t kMaxRowBlock = 32;
constexpr int64_t kMaxPanelVectors = 8;
constexpr int64_t kMaxAccumulators = 64;
constexpr int64_t kMaxLonePanels = 32;

/// Why the dense kernel will not be generated for `schedule`: the field
/// and the limit it is over.
std::optional<std::string> unboundedBlock(const ir::Schedule &schedule) {
  auto over = [](const char *field, int64_t value, int64_t limit) {
    return std::string(field) + " = " + std::to_string(value) + ", above the JIT's limit of " +
           std::to_string(limit);
  };
  if (schedule.rowBlock > kMaxRowBlock)
    return over("row_block", schedule.rowBlock, kMaxRowBlock);
  if (schedule.panelVectors > kMaxPanelVectors)
    return over("panel_vectors", schedule.panelVectors, kMaxPanelVectors);
  if (schedule.lonePanels > kMaxLonePanels)
    return over("lone_panels", schedule.lonePanels, kMaxLonePanels);
  if (schedule.rowBlock * schedule.panelVectors > kMaxAccumulators)
    return "row_block x panel_vectors = " + std::to_string(schedule.rowBlock) + " x " +
           std::to_string(schedule.panelVectors) + " accumulators, above the JIT's limit of " +
           std::to_string(kMaxAccumulators);
  return std::nullopt;
}

/// The rules of a weighted sum's kernel: column tiles on its panels (whole
/// rows with softmax), row tiles on its row block; a row costs its
/// multiply-adds and activation. (The tiles themselves come from the
/// schedule: Families::Family::makeStep.)
runtime::TileRules weightedSumRules(const ir::Op &op) {
  const int64_t cols = op.type.lastDim();
  const int64_t inputs = op.operands[0]->type.sampleElements();
  const ir::Schedule &schedule = *op.schedule;
  const ir::Activation act = op.kind != ir::OpKind::Linear ? op.fn : ir::Activation{};
  runtime::TileRules rules;
  rules.rowWork = cols * (inputs + runtime::activationWork(act));
  rules.rowGranularity = schedule.rowBlock;
  rules.colGranularity = ir::isRowwise(act.kind) ? 0 : schedule.panel();
  return rules;
}

/// The sparse kernel's rules: whole rows wherever it has sample blocks (a
/// row's blocks share one scratch); runs of fewer than V / 2 rows have no
/// block and take the lone-sample path, which takes column ranges on
/// neuron groups of V (but for softmax, over whole rows).
runtime::TileRules sparseRules(const ir::Op &op) {
  runtime::TileRules rules = weightedSumRules(op);
  const int64_t cols = op.type.lastDim();
  const int64_t inputs = op.operands[0]->type.sampleElements();
  const ir::Schedule &schedule = *op.schedule;
  const ir::Activation act = op.kind != ir::OpKind::Linear ? op.fn : ir::Activation{};
  using runtime::activationWork;
  // A multiply-add per nonzero (about two dense ones: its index and
  // broadcast loads), a transposed input, the epilogue; whole rows.
  // The verifier keeps density in [0, 1]; beyond it (or NaN) the work
  // below would overflow its conversion to an integer.
  const double density = op.sparsity && op.sparsity->density >= 0 && op.sparsity->density <= 1
                             ? op.sparsity->density
                             : 1.0;
  const double nonzeros = density * static_cast<double>(cols * inputs);
  rules.rowWork = static_cast<int64_t>(2 * nonzeros) + inputs + cols * (1 + activationWork(act));
  rules.colGranularity = 0;
  if (ir::isRowwise(act.kind))
    return rules;
  // On the scalar path a nonzero is a scalar FMA with its loads, about a
  // cycle, i.e. 2 V dense multiply-adds (at 1024 x 1024 with 10 % nonzeros
  // a batch-1 call took 36 us on Zen 4: 34 units per nonzero); the chunked
  // path takes about half that (15.6 us). lone = packed is the dense
  // kernel, whose tiles keep its side-by-side panels whole.
  const int64_t V = schedule.vectorWidth;
  rules.smallRows = std::max<int64_t>(1, V / 2);
  if (schedule.lone == ir::LonePath::Packed) {
    rules.smallColGranularity = ir::Schedule::kLonePackedPanels * V;
    rules.smallRowWork = cols * (inputs + activationWork(act));
  } else {
    const double perNonzero =
        static_cast<double>(schedule.lone == ir::LonePath::Chunked ? V : 2 * V);
    rules.smallColGranularity = V;
    rules.smallRowWork =
        static_cast<int64_t>(perNonzero * nonzeros) + cols * (1 + activationWork(act));
  }
  return rules;
}

/// Elementwise kernels take any column range (tiles on whole vectors);
/// softmax, layer_norm and concat compute whole rows.
runtime::TileRules elementwiseRules(const ir::Op &op, int64_t vectorWidth) {
  using runtime::activationWork, runtime::kElementWork;
  const int64_t cols = op.type.lastDim();
  runtime::TileRules rules;
  switch (op.kind) {
  case ir::OpKind::Activation:
    rules.rowWork = cols * (kElementWork + activationWork(op.fn));
    rules.colGranularity = ir::isRowwise(op.fn.kind) ? 0 : vectorWidth;
    break;
  case ir::OpKind::BiasAdd:
  case ir::OpKind::ScaleShift:
  case ir::OpKind::BatchNorm:
  case ir::OpKind::Prelu:
#define SOMA_BINARY_OP(Enum, Name, Expr, Identity, Commutes, Doc) case ir::OpKind::Enum:
#include "soma/ir/Ops.def"
    rules.rowWork = cols * kElementWork;
    rules.colGranularity = vectorWidth;
    break;
  case ir::OpKind::LayerNorm:
  case ir::OpKind::Concat:
  case ir::OpKind::Input: // no kernel: the families decline them
  case ir::OpKind::Conv:
  case ir::OpKind::ConvAdd:
  case ir::OpKind::MaxPool:
  case ir::OpKind::AvgPool:
  case ir::OpKind::GlobalAvgPool:
  case ir::OpKind::Reshape:
  case ir::OpKind::Const:
  case ir::OpKind::Linear:
  case ir::OpKind::Dense:
  case ir::OpKind::DenseAdd:
    rules.rowWork = cols * 2 * kElementWork;
    rules.colGranularity = 0;
    break;
  }
  return rules;
}

} // namespace

/// The JIT's families. Each makes its step from the kernel the engine
/// compiled for the op.
class JitEngine::Families {
public:
  /// A family of the JIT: `accepts` says which ops, `rules` how its kernels
  /// tile.
  class Family : public runtime::KernelFamily {
  public:
    Family(const JitEngine &engine, const char *name) : engine(engine), familyName(name) {}
    const char *name() const override { return familyName; }
    runtime::Tier tier() const override { return runtime::Tier::Jit; }
    Expected<bool> makeStep(const runtime::ProgramBuilder &b, size_t i,
                            runtime::Step &step) const override {
      const ir::Op &op = *b.graph().ops[i];
      step.fn = engine.kernels.at(i);
      if (!step.fn)
        return Error{"jit: no kernel was compiled for '" + op.name + "'"};
      if (i < engine.plan.views.size())
        step.view = engine.plan.views[i];
      if (const size_t owner = kernelOwner(engine.plan, i); owner != i)
        step.sharedKernelOf = b.graph().ops[owner]->name;
      runtime::planTiles(step, rules(op));
      if (op.schedule) { // a weighted sum: its tiles are the schedule's, printed in the IR
        step.colTile = op.schedule->colTile < step.cols ? op.schedule->colTile : 0;
        step.rowTile = op.schedule->rowTile;
      }
      // The sparse kernel: whole rows, row tiles of whole sample blocks (the
      // parser checks row_tile; the cost model makes it so). Runs of fewer
      // than V / 2 rows have no block, so no scratch: column tiles of whole
      // neuron groups (planTiles, from sparseRules).
      if (!step.scratch.empty())
        step.colTile = 0;
      return true;
    }

  protected:
    virtual runtime::TileRules rules(const ir::Op &op) const = 0;
    const JitEngine &engine;

  private:
    const char *familyName;
  };

  /// linear, dense, dense_add with a sparse schedule (codegen/LowerSparse.cpp).
  class Sparse final : public Family {
  public:
    using Family::Family;
    Fit fit(const ir::Op &op) const override {
      if (!ir::isWeightedSum(op.kind) || !op.schedule || !op.schedule->isSparse())
        return Fit::declines("not a weighted sum with a sparse schedule");
      const ir::Op &w = *op.operands[1];
      // Code grows with every nonzero it is generated from.
      if (const int64_t nonzeros = passes::bakedNonzeros(op);
          op.schedule->baked && nonzeros > ir::Schedule::kBakedMaxNonzeros)
        return refuse(op, "baked = true, but its weights have " + std::to_string(nonzeros) +
                              " nonzeros (at most " +
                              std::to_string(ir::Schedule::kBakedMaxNonzeros) +
                              " are generated as code)");
      // The kernel relies on the block pattern it is told of.
      if (op.schedule->block == ir::BlockPattern::FourByOne &&
          !runtime::inAlignedBlocks(*w.data, 4, 1))
        return refuse(
            op, "block = \"4x1\", but its weights are not all-zero or all-nonzero in every aligned "
                "4x1 block");
      return Fit::runs();
    }
    std::shared_ptr<const AlignedVector<float>> pack(const ir::Op &op, size_t k) const override {
      const ir::Schedule &s = *op.schedule;
      const Tensor &data = *op.operands[k]->data;
      return std::make_shared<const AlignedVector<float>>(
          k == 1 ? runtime::packSparse(data, s.vectorWidth, sparseLoneFormat(s))
                 : runtime::padVector(data.values, s.panel()));
    }
    void addSlots(runtime::ProgramBuilder &b, size_t i) const override {
      // Sample blocks transposed to feature-major and their partial sums
      // (runtime::sparseScratchPerSample).
      const ir::Op &op = *b.graph().ops[i];
      runtime::Slot scratch;
      scratch.kind = runtime::SlotKind::Temp;
      scratch.sampleElements = runtime::sparseScratchPerSample(
          op.operands[0]->type.sampleElements(), op.type.lastDim(), op.schedule->vectorWidth);
      b.setScratch(i, b.addSlot(std::move(scratch)));
      if (op.schedule->lone != ir::LonePath::Packed)
        return;
      // Lone samples run the dense kernel: panels of one vector as well.
      runtime::Slot panels;
      panels.kind = runtime::SlotKind::Constant;
      panels.data = std::make_shared<const AlignedVector<float>>(
          runtime::packPanels(*op.operands[1]->data, op.schedule->vectorWidth));
      b.setAux(i, b.addSlot(std::move(panels)));
    }
    std::string describe(const ir::Op &op) const override {
      const ir::Schedule &s = *op.schedule;
      return std::string("nonzeros in strips of neuron groups of ") +
             std::to_string(s.vectorWidth) + ", sample blocks of " + std::to_string(s.rowBlock) +
             ", lone samples " + ir::spelling(s.lone) +
             (s.lone == ir::LonePath::Packed ? " (panels of one vector beside)" : "");
    }

  protected:
    runtime::TileRules rules(const ir::Op &op) const override { return sparseRules(op); }
  };

  /// linear, dense, dense_add with a packed schedule (codegen/LowerDense.cpp).
  class Dense final : public Family {
  public:
    using Family::Family;
    Fit fit(const ir::Op &op) const override {
      if (!ir::isWeightedSum(op.kind) || !op.schedule || op.schedule->isSparse())
        return Fit::declines("not a weighted sum with a packed schedule");
      if (std::optional<std::string> why = unboundedBlock(*op.schedule))
        return refuse(op, *why);
      // Skipping zero inputs keeps the bits only with finite weights.
      if (op.schedule->skipZeroInputs && !passes::zeroInputsSkippable(op))
        return refuse(
            op, "skip_zero_inputs = true, which needs finite weights and at most 8192 inputs");
      return Fit::runs();
    }
    std::shared_ptr<const AlignedVector<float>> pack(const ir::Op &op, size_t k) const override {
      const Tensor &data = *op.operands[k]->data;
      const int64_t panel = op.schedule->panel();
      return std::make_shared<const AlignedVector<float>>(
          k == 1 ? runtime::packPanels(data, panel) : runtime::padVector(data.values, panel));
    }
    std::string describe(const ir::Op &op) const override {
      const ir::Schedule &s = *op.schedule;
      return "weights in panels of " + std::to_string(s.panel()) + ", blocks of " +
             std::to_string(s.rowBlock) + " rows x " + std::to_string(s.panelVectors) +
             " vectors, " + std::to_string(s.lonePanels) + " panels side by side for lone rows";
    }

  protected:
    runtime::TileRules rules(const ir::Op &op) const override { return weightedSumRules(op); }
  };

  /// bias_add, activation, add, scale_shift, batch_norm, prelu
  /// (codegen/LowerElementwise.cpp; softmax: LowerRowwise.cpp), layer_norm
  /// and concat (LowerRowwise.cpp).
  class Elementwise final : public Family {
  public:
    using Family::Family;
    Fit fit(const ir::Op &op) const override {
      switch (op.kind) {
      case ir::OpKind::ScaleShift:
      case ir::OpKind::BatchNorm:
        if (!ir::paramsAlongLastAxis(op)) // the lowering reads a parameter per column
          return Fit::declines("its parameters run along axis " + std::to_string(op.axis) +
                               ", not the last");
        return Fit::runs();
      case ir::OpKind::BiasAdd:
      case ir::OpKind::Activation:
      case ir::OpKind::LayerNorm:
      case ir::OpKind::Concat:
      case ir::OpKind::Prelu: // a slope per column, or per row (LowerElementwise.cpp)
#define SOMA_BINARY_OP(Enum, Name, Expr, Identity, Commutes, Doc) case ir::OpKind::Enum:
#include "soma/ir/Ops.def"
        return Fit::runs();
      case ir::OpKind::Input:
      case ir::OpKind::Const:
      case ir::OpKind::Linear:
      case ir::OpKind::Dense:
      case ir::OpKind::DenseAdd:
      case ir::OpKind::Conv:
      case ir::OpKind::ConvAdd:
      case ir::OpKind::MaxPool:
      case ir::OpKind::AvgPool:
      case ir::OpKind::GlobalAvgPool:
      case ir::OpKind::Reshape:
        break;
      }
      return Fit::declines("not an elementwise or row op");
    }

  protected:
    runtime::TileRules rules(const ir::Op &op) const override {
      return elementwiseRules(op, engine.info.vectorWidth);
    }
  };

  /// conv and conv_add with constant filters and bias (codegen/LowerConv.cpp): any
  /// range of rows, column ranges on whole vectors of output positions.
  /// It leaves to vec.conv (next in the list) a depthwise convolution
  /// (DepthwiseImpl.h: 8 FMA chains instead of this kernel's one), a
  /// convolution whose groups' output channels come in multiples of 8
  /// (vec.conv's position-lane kernel then shares each input load among 8
  /// output channels: 1.4x faster on MobileNetV2's 24-channel projections)
  /// and one whose groups' output channels fill whole vectors of the vec
  /// kernels' instruction set: vec.conv runs those with the output channels in the lanes and a
  /// register block of positions, 5 to 20 times faster than this kernel's
  /// one chain of output positions on the ResNet layers of bench/run conv
  /// (docs/performance.md, Convolutions).
  class Conv final : public Family {
  public:
    using Family::Family;
    Fit fit(const ir::Op &op) const override {
      if (std::string why = ir::convNotPackable(op); !why.empty())
        return Fit::declines(why);
      namespace k = runtime::kernels;
      // (On this machine only: a program for another one holds no vec steps.)
      const int64_t channels = op.operands[0]->type.dims[0], outChannels = op.type.dims[0];
      const bool vecHere = engine.info.native && op.operands[0]->type.batched;
      if (vecHere && k::convIsDepthwise(channels, outChannels, op.groups))
        return Fit::declines("vec.conv runs a depthwise convolution with 8 vectors in flight");
      const int64_t block = k::convBlock(channels, outChannels, op.groups);
      if (vecHere && block >= k::vectorWidth(k::activeIsa()))
        return Fit::declines("vec.conv runs it with its output channels in the vector lanes");
      if (vecHere && block >= 8)
        return Fit::declines("vec.conv runs it with 8 output channels per input load");
      return Fit::runs();
    }

  protected:
    runtime::TileRules rules(const ir::Op &op) const override {
      const ir::WindowGeometry g = ir::windowGeometry(op);
      runtime::TileRules rules;
      rules.rowWork =
          g.outW * (g.inChannelsPerGroup() * g.kH * g.kW + 1 + runtime::activationWork(op.fn));
      rules.colGranularity = engine.info.vectorWidth;
      return rules;
    }
  };

  Families(const JitEngine &engine)
      : sparse(engine, "jit.sparse"), dense(engine, "jit.dense"),
        elementwise(engine, "jit.elementwise"), conv(engine, "jit.conv") {}
  Sparse sparse;
  Dense dense;
  Elementwise elementwise;
  Conv conv;
};

JitEngine::JitEngine(const JitOptions &options, TargetInfo info)
    : options(options), info(std::move(info)), families(std::make_unique<Families>(*this)) {}
JitEngine::~JitEngine() = default;

Expected<std::unique_ptr<JitEngine>> JitEngine::create(const JitOptions &options) {
  auto info = resolveTarget(options.target);
  if (!info)
    return Error{info.error()};
  return std::unique_ptr<JitEngine>(new JitEngine(options, std::move(*info)));
}

runtime::Target JitEngine::target() {
  runtime::Target t;
  t.name = "jit";
  t.families = {&families->sparse, &families->dense, &families->elementwise, &families->conv};
  for (const runtime::KernelFamily *f : runtime::vecFamilies())
    t.families.push_back(f);
  t.families.push_back(&runtime::interpFamily());
  t.prepareGraph = [this](ir::Graph &graph) { return prepareGraph(graph); };
  t.prepareSteps = [this](runtime::ProgramBuilder &b) { return compile(b); };
  return t;
}

Expected<bool> JitEngine::prepareGraph(ir::Graph &graph) const {
  // Every weighted sum runs with a schedule for this target's vectors: the
  // schedule pass's, or the same cost model's when the pipeline had none
  // (-O0, -O1) or planned for another vector width (--mcpu, --mattr).
  // The machine model is the host's, or a named target's published one.
  // Another machine's (--mtriple) is its modelled or generic CPU's.
  const MachineInfo machine = planningMachine(info);
  // A kernel already chosen (by the cost model or the user) is kept; its
  // geometry is planned again when it was planned for another machine (the
  // graph's machine record) or is for other vectors.
  const bool replan = graph.machine && !ir::samePlanningMachine(*graph.machine, machine);
  bool any = false;
  for (auto &op : graph.ops) {
    if (!ir::isWeightedSum(op->kind))
      continue;
    any = true;
    if (!op->schedule || replan || op->schedule->vectorWidth != machine.vectorWidth)
      op->schedule = op->schedule ? passes::scheduleFor(*op, machine, op->schedule->kernel)
                                  : passes::chooseSchedule(*op, machine, options.sparsity);
  }
  if (any)
    graph.machine = machine;
  // The sparse kernel packs its weights: they must be a constant matrix.
  for (auto &op : graph.ops)
    if (ir::isWeightedSum(op->kind) && op->schedule->isSparse()) {
      const ir::Op &w = *op->operands[1];
      if (w.kind != ir::OpKind::Const || !w.data || w.type.dims.size() != 2)
        op->schedule = passes::scheduleFor(*op, machine, ir::ScheduleKernel::Packed);
    }
  return true;
}

LoweringPlan JitEngine::lowering(const runtime::ProgramBuilder &b) const {
  const ir::Graph &graph = b.graph();
  const size_t n = graph.ops.size();
  LoweringPlan plan;
  plan.slotOf = b.slots();
  plan.lowered.assign(n, false);
  plan.scratchOf.assign(n, -1);
  plan.panelsOf.assign(n, -1);
  for (size_t i = 0; i < n; ++i) {
    const runtime::OpChoice &choice = b.choices()[i];
    plan.lowered[i] = choice.family && choice.family->tier() == runtime::Tier::Jit;
    if (choice.family == &families->sparse) {
      plan.scratchOf[i] = choice.scratch;
      plan.panelsOf[i] = choice.aux;
    }
  }
  // A chain of sparse kernels keeps the full sample blocks of the
  // activations between them feature-major: a sparse op whose value is no
  // output, has no residual or softmax to apply row by row, and feeds only
  // the x operand of one sparse op of the same vector width stores its
  // blocks as that op reads them.
  const std::vector<size_t> uses = ir::countUses(graph); // operands and outputs
  plan.featureMajorIn.assign(n, false);
  plan.featureMajorOut.assign(n, false);
  auto sparse = [&](size_t i) { return b.choices()[i].family == &families->sparse; };
  for (size_t i = 0; i < n; ++i) {
    const ir::Op &user = *graph.ops[i];
    if (!sparse(i))
      continue;
    const ir::Op &x = *user.operands[0];
    const size_t xi = b.indexOf(&x);
    if (!sparse(xi) || x.kind == ir::OpKind::DenseAdd || ir::isRowwise(x.fn.kind) ||
        uses[xi] != 1 || x.schedule->vectorWidth != user.schedule->vectorWidth)
      continue;
    plan.featureMajorOut[xi] = true;
    plan.featureMajorIn[i] = true;
  }
  shareKernels(graph, plan);
  return plan;
}

namespace {

/// The kernel of every JIT step in a program for another machine
/// (--mtriple): such a program is only serialized into a bundle, whose
/// object holds the real kernels; running it here is a broken invariant.
void foreignKernel(void *const *, int64_t, int64_t, int64_t, int64_t) noexcept {
  assert(false && "a program for another machine was run here");
  std::abort();
}

} // namespace

Expected<bool> JitEngine::compile(runtime::ProgramBuilder &b) {
  plan = lowering(b);
  if (!info.native) {
    // Code for another machine is only emitted (emitBundle, emit), never
    // compiled into this process.
    kernels.assign(b.graph().ops.size(), nullptr);
    for (size_t i = 0; i < kernels.size(); ++i)
      if (lowers(plan, b.graph(), i))
        kernels[i] = &foreignKernel;
    return true;
  }
  auto compiled = compileGraph(b.graph(), plan, info, options.optLevel, &compileTimes);
  if (!compiled)
    return Error{compiled.error()};
  code = std::move(compiled->code);
  kernels = std::move(compiled->kernels);
  return true;
}

Expected<std::string> JitEngine::emit(const runtime::ProgramBuilder &b, EmitKind kind) const {
  return emitGraph(b.graph(), lowering(b), info, options.optLevel, kind);
}

Expected<std::string> JitEngine::emitBundle(const runtime::ProgramBuilder &b,
                                            const BundleSpec &spec) const {
  return emitBundleObject(b.graph(), lowering(b), info, options.optLevel, spec);
}

} // namespace soma::jit
