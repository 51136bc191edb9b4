// The vec engine's kernel families (VecEngine.h): each op's step is a
// ContextKernelFn over a small context struct calling soma's xsimd kernels
// (Kernels.h). Slot numbers, sizes and parameters live in the context; the
// buffers themselves are the run's slots, so one program serves every run
// context and every batch size. Dense weights are packed by the program
// builder, once, at the active instruction set's panel width.
#include "soma/runtime/VecEngine.h"

#include "soma/runtime/Kernels.h"
#include "soma/runtime/Packing.h"
#include "soma/support/Machine.h"

#include <algorithm>
#include <cassert>
#include <memory>

namespace soma::runtime {

namespace {

namespace k = kernels;

/// An operand read as a matrix: its slot, row length and, for an unbatched
/// value broadcast over the batch, the rows after which it repeats.
struct Operand {
  int slot = -1;
  int64_t stride = 0;
  int64_t period = 0;

  k::Src src(void *const *slots) const {
    return {static_cast<const float *>(slots[slot]), stride, period};
  }
};

const float *param(void *const *slots, int slot) {
  return slot < 0 ? nullptr : static_cast<const float *>(slots[slot]);
}

k::Dst dst(void *const *slots, int slot, int64_t cols) {
  return {static_cast<float *>(slots[slot]), cols};
}

/// A weighted sum's step (vec.dense, vec.sparse): its operands' slots,
/// shape and activation; `panel` for dense()'s packed weights, `scratch` for
/// sparse()'s rows.
struct WeightedSumContext {
  Operand x, residual; // residual.slot -1: none
  int packed = -1;     // the weights, packed by the family
  int scratch = -1;
  int64_t panel = 0, inputs = 0, units = 0;
  int64_t rowBlock = 0; // dense: the register block's rows
  int bias = -1, y = -1;
  ir::Activation act;

  /// The kernel arguments both kernels share.
  k::LayerArgs layer(void *const *slots) const {
    k::LayerArgs a;
    a.x = x.src(slots);
    a.packed = static_cast<const float *>(slots[packed]);
    a.inputs = inputs;
    a.units = units;
    a.bias = param(slots, bias);
    if (residual.slot >= 0)
      a.residual = residual.src(slots);
    a.y = dst(slots, y, units);
    a.act = act;
    return a;
  }
};

void runDense(const void *context, void *const *slots, int64_t r0, int64_t r1, int64_t c0,
              int64_t c1) {
  const auto &c = *static_cast<const WeightedSumContext *>(context);
  const k::DenseArgs args{c.layer(slots), c.panel, c.rowBlock};
  k::dense(args, r0, r1, c0, c1);
}

void runSparse(const void *context, void *const *slots, int64_t r0, int64_t r1, int64_t c0,
               int64_t c1) {
  const auto &c = *static_cast<const WeightedSumContext *>(context);
  const k::SparseArgs args{c.layer(slots), static_cast<float *>(slots[c.scratch])};
  k::sparse(args, r0, r1, c0, c1);
}

/// The elementwise ops and the row ops, one context for all: `kind` picks
/// the kernel, `a`/`b` are the batched operands, `p` the per-feature ones.
struct EltContext {
  ir::OpKind kind;
  Operand a, b;
  int p[4] = {-1, -1, -1, -1};
  int y = -1;
  int64_t cols = 0;
  ir::Activation act;
  float epsilon = 0;
  k::PreluShape prelu;
};

/// A prelu along the channels of a [C, L] or [C, H, W] value: it reads and
/// writes either layout (one, the same for both: chooseLayouts).
bool preluOnChannels(const ir::Op &op) {
  const size_t rank = op.type.dims.size();
  return op.kind == ir::OpKind::Prelu && (rank == 2 || rank == 3) &&
         ir::featureAxis(op.axis, rank) == 0;
}

/// Where op's per-channel parameter runs (kernels::PreluShape).
k::PreluShape preluShape(const ir::Op &op) {
  k::PreluShape s;
  if (ir::paramsAlongLastAxis(op))
    return s;
  const std::vector<int64_t> &dims = op.type.dims;
  const size_t axis = ir::featureAxis(op.axis, dims.size());
  s.rowsPerChannel = 1;
  for (size_t d = axis + 1; d + 1 < dims.size(); ++d)
    s.rowsPerChannel *= dims[d];
  s.rowsPerSample = s.rowsPerChannel;
  for (size_t d = 0; d <= axis; ++d)
    s.rowsPerSample *= dims[d];
  s.channels = dims[axis];
  return s;
}

void runElementwise(const void *context, void *const *slots, int64_t r0, int64_t r1, int64_t c0,
                    int64_t c1) {
  const auto &c = *static_cast<const EltContext *>(context);
  const k::Dst y = dst(slots, c.y, c.cols);
  switch (c.kind) {
  case ir::OpKind::BiasAdd:
    k::biasAdd(c.a.src(slots), param(slots, c.p[0]), y, r0, r1, c0, c1);
    break;
  case ir::OpKind::Activation:
    k::activation(c.a.src(slots), y, c.act, r0, r1, c0, c1);
    break;
#define SOMA_BINARY_OP(Enum, Name, Expr, Identity, Commutes, Doc) case ir::OpKind::Enum:
#include "soma/ir/Ops.def"
    if (ir::isRowwise(c.act.kind)) { // whole rows: the op, then softmax in place
      k::binary(c.kind, c.a.src(slots), c.b.src(slots), y, ir::Activation{}, r0, r1, 0, c.cols);
      k::rowActivation(c.act.kind, {y.data, y.stride, 0}, y, c.cols, r0, r1);
    } else {
      k::binary(c.kind, c.a.src(slots), c.b.src(slots), y, c.act, r0, r1, c0, c1);
    }
    break;
  case ir::OpKind::ScaleShift:
    k::scaleShift(c.a.src(slots), param(slots, c.p[0]), param(slots, c.p[1]), y, r0, r1, c0, c1);
    break;
  case ir::OpKind::Prelu:
    k::prelu(c.a.src(slots), param(slots, c.p[0]), c.prelu, y, r0, r1, c0, c1);
    break;
  case ir::OpKind::BatchNorm:
    k::batchNorm(c.a.src(slots), param(slots, c.p[0]), param(slots, c.p[1]), param(slots, c.p[2]),
                 param(slots, c.p[3]), c.epsilon, y, r0, r1, c0, c1);
    break;
  case ir::OpKind::LayerNorm:
    k::layerNorm(c.a.src(slots), param(slots, c.p[0]), param(slots, c.p[1]), c.epsilon, y, c.cols,
                 r0, r1);
    break;
  case ir::OpKind::Input: // not elementwise: VecElementwiseFamily::fit declines them
  case ir::OpKind::Const:
  case ir::OpKind::Linear:
  case ir::OpKind::Dense:
  case ir::OpKind::DenseAdd:
  case ir::OpKind::Concat:
  case ir::OpKind::Conv:
  case ir::OpKind::ConvAdd:
  case ir::OpKind::MaxPool:
  case ir::OpKind::AvgPool:
  case ir::OpKind::GlobalAvgPool:
  case ir::OpKind::Reshape:
    break;
  }
}

struct ConcatContext {
  struct Part {
    Operand x;
    int64_t offset;
  };
  std::vector<Part> parts;
  int y = -1;
  int64_t cols = 0;
};

void runConcat(const void *context, void *const *slots, int64_t r0, int64_t r1, int64_t, int64_t) {
  const auto &c = *static_cast<const ConcatContext *>(context);
  for (const ConcatContext::Part &part : c.parts)
    k::concat(part.x.src(slots), part.x.stride, dst(slots, c.y, c.cols), part.offset, r0, r1);
}

/// An operand read as a matrix: its slot, its row length and, for an
/// unbatched value broadcast over the batch, the rows after which it
/// repeats.
Operand operandOf(const ProgramBuilder &b, const ir::Op *v) {
  Operand r;
  r.slot = b.slotOf(v);
  r.stride = v->type.lastDim();
  if (!v->type.batched)
    r.period = std::max<int64_t>(1, v->type.sampleElements() / std::max<int64_t>(r.stride, 1));
  return r;
}

/// Why operand k of `op` is not a per-feature parameter (a constant vector
/// of the op's `cols` values, once unbatched values are folded); empty when
/// it is.
std::string notPerFeature(const ir::Op &op, size_t k) {
  const ir::Op *p = op.operands.at(k);
  const int64_t cols = op.type.lastDim();
  if (p->kind == ir::OpKind::Const && p->type.sampleElements() == cols)
    return {};
  return "operand " + std::to_string(k) + " of '" + op.name + "' is not a constant vector of " +
         std::to_string(cols) + " values";
}

/// The context of op i, a weighted sum the vec kernels run, making `step`.
std::shared_ptr<WeightedSumContext> weightedSumContext(const ProgramBuilder &b, size_t i,
                                                       const Step &step) {
  const ir::Op &op = *b.graph().ops[i];
  auto c = std::make_shared<WeightedSumContext>();
  c->inputs = op.operands[1]->type.dims[1];
  c->x = {b.slotOf(op.operands[0]), c->inputs, 0};
  c->units = step.cols;
  c->packed = b.slotOf(op.operands[1]);
  c->y = step.result;
  if (op.kind != ir::OpKind::Linear) {
    c->bias = b.slotOf(op.operands[2]);
    c->act = op.fn;
  }
  if (op.kind == ir::OpKind::DenseAdd)
    c->residual = operandOf(b, op.operands.at(3));
  return c;
}

/// Why `op` is not a weighted sum the vec kernels run (a constant [units,
/// inputs] matrix of weights over batched samples of `inputs` values, a
/// constant bias vector); empty when it is one.
std::string notVecWeightedSum(const ir::Op &op) {
  if (!ir::isWeightedSum(op.kind))
    return "not a weighted sum";
  const ir::Op &w = *op.operands.at(1);
  const int64_t cols = op.type.lastDim();
  if (w.kind != ir::OpKind::Const || w.type.dims.size() != 2 || w.type.dims[0] != cols)
    return "the weights are not a constant [" + std::to_string(cols) + ", inputs] matrix";
  const ir::Op &x = *op.operands[0];
  if (x.type.sampleElements() != w.type.dims[1] || !x.type.batched ||
      op.type.sampleElements() != cols)
    return "it reads samples of " + std::to_string(x.type.sampleElements()) +
           " values with weights for " + std::to_string(w.type.dims[1]);
  if (op.kind != ir::OpKind::Linear)
    return notPerFeature(op, 2);
  return {};
}

/// linear, dense, dense_add with a sparse schedule: kernels::sparse over the
/// nonzero weights only, packed by packSparseGroups in strips of the
/// instruction set's width; sample blocks of one vector of rows (each
/// row's transposed inputs and partial sums in the step's scratch), lone
/// rows (fewer than half a block) one at a time over column ranges of
/// whole neuron groups. The schedule's kernel choice is honoured; its
/// geometry is the JIT's, this family has its own (kernels::sparseRowBlock).
class VecSparseFamily final : public KernelFamily {
public:
  const char *name() const override { return "vec.sparse"; }
  Tier tier() const override { return Tier::Vec; }

  Fit fit(const ir::Op &op) const override {
    if (!ir::isWeightedSum(op.kind) || !op.schedule || !op.schedule->isSparse())
      return Fit::declines("not a weighted sum with a sparse schedule");
    if (std::string why = notVecWeightedSum(op); !why.empty())
      return Fit::declines(why);
    return Fit::runs();
  }

  std::shared_ptr<const AlignedVector<float>> pack(const ir::Op &op, size_t k) const override {
    if (k != 1)
      return nullptr; // the bias is read as it is
    const Tensor &w = *op.operands[1]->data;
    return std::make_shared<const AlignedVector<float>>(
        packSparseGroups(w, k::sparseStripInputs(w.dims[1])));
  }

  void addSlots(ProgramBuilder &b, size_t i) const override {
    const ir::Op &op = *b.graph().ops[i];
    const int64_t inputs = op.operands[1]->type.dims[1], units = op.type.lastDim();
    Slot scratch;
    scratch.kind = SlotKind::Temp;
    scratch.sampleElements = k::sparseScratchPerRow(inputs, units, k::sparseStripInputs(inputs));
    b.setScratch(i, b.addSlot(std::move(scratch)));
  }

  Expected<bool> makeStep(const ProgramBuilder &b, size_t i, Step &step) const override {
    const ir::Op &op = *b.graph().ops[i];
    auto c = weightedSumContext(b, i, step);
    c->scratch = b.choices()[i].scratch;
    // About two dense multiply-adds per nonzero (its position and the
    // broadcast), a transposed input, the epilogue; whole rows for sample
    // blocks (a row's blocks share its scratch), column ranges on neuron
    // groups for runs of lone rows (but for softmax, whole rows).
    const double nonzeros = static_cast<double>(countNonzeros(*op.operands[1]->data));
    const int64_t epilogue = step.cols * (1 + activationWork(c->act));
    TileRules rules;
    rules.rowWork = static_cast<int64_t>(2 * nonzeros) + c->inputs + epilogue;
    rules.rowGranularity = k::sparseRowBlock();
    rules.colGranularity = 0;
    if (!ir::isRowwise(c->act.kind)) {
      rules.smallRows = k::sparseLoneRows();
      rules.smallColGranularity = k::kSparseGroup;
      rules.smallRowWork = static_cast<int64_t>(2 * nonzeros) + epilogue;
    }
    step.contextFn = runSparse;
    step.context = std::move(c);
    planTiles(step, rules);
    return true;
  }

  std::string describe(const ir::Op &op) const override {
    const k::Isa isa = k::activeIsa();
    return std::string(k::isaName(isa)) + ": nonzeros in groups of " +
           std::to_string(k::kSparseGroup) + " neurons, strips of " +
           std::to_string(k::sparseStripInputs(isa, op.operands[1]->type.dims[1])) +
           " inputs, sample blocks of " + std::to_string(k::sparseRowBlock(isa)) +
           " rows, one row at a time below " + std::to_string(k::sparseLoneRows(isa));
  }
};

/// The rows of the dense kernel's register block on this machine: the cost
/// model's (MachineInfo::blockRows, as for the JIT's schedules), for this
/// kernel's panel of two vectors and its registers (a row holds its two
/// accumulators; one broadcast at a time). The schedule's row_block is the
/// JIT's kernel's, which holds a broadcast per row: not read here.
int64_t vecDenseRowBlock() {
  const k::Isa isa = k::activeIsa();
  MachineInfo m = hostMachine();
  if (m.vectorWidth != k::vectorWidth(isa)) { // a narrower table forced (tests)
    m.vectorWidth = k::vectorWidth(isa);
    m.vectorRegisters = k::vectorRegisters(isa);
  }
  return k::denseRowBlock(isa, m.blockRows(2, 2, 1));
}

/// linear, dense, dense_add: kernels::dense over weights packed in panels
/// of the active instruction set (kernels::panelWidth), rows in the
/// register blocks the cost model picks (vecDenseRowBlock); bias, residual
/// and activation in registers.
class VecDenseFamily final : public KernelFamily {
public:
  const char *name() const override { return "vec.dense"; }
  Tier tier() const override { return Tier::Vec; }

  Fit fit(const ir::Op &op) const override {
    if (std::string why = notVecWeightedSum(op); !why.empty())
      return Fit::declines(why);
    if (op.schedule && op.schedule->isSparse())
      return Fit::runs(
          "the dense kernel over all weights (the schedule's sparse kernel is the JIT's)");
    return Fit::runs();
  }

  std::shared_ptr<const AlignedVector<float>> pack(const ir::Op &op, size_t k) const override {
    if (k != 1)
      return nullptr; // the bias is read as it is
    return std::make_shared<const AlignedVector<float>>(
        packPanels(*op.operands[1]->data, k::panelWidth()));
  }

  Expected<bool> makeStep(const ProgramBuilder &b, size_t i, Step &step) const override {
    auto c = weightedSumContext(b, i, step);
    c->panel = k::panelWidth();
    c->rowBlock = vecDenseRowBlock();
    TileRules rules;
    rules.rowWork = step.cols * (c->inputs + activationWork(c->act));
    rules.rowGranularity = c->rowBlock;
    rules.colGranularity = ir::isRowwise(c->act.kind) ? 0 : c->panel;
    step.contextFn = runDense;
    step.context = std::move(c);
    planTiles(step, rules);
    return true;
  }

  std::string describe(const ir::Op &) const override {
    const k::Isa isa = k::activeIsa();
    return std::string(k::isaName(isa)) + ": weights in panels of " +
           std::to_string(k::panelWidth(isa)) + ", blocks of " +
           std::to_string(vecDenseRowBlock()) + " rows x 2 vectors";
  }
};

/// The elementwise ops and the row ops (layer_norm, softmax): one kernel
/// each, sharing one context.
class VecElementwiseFamily final : public KernelFamily {
public:
  const char *name() const override { return "vec.elementwise"; }
  Tier tier() const override { return Tier::Vec; }

  Fit fit(const ir::Op &op) const override {
    switch (op.kind) {
    case ir::OpKind::BiasAdd:
    case ir::OpKind::ScaleShift:
    case ir::OpKind::BatchNorm:
    case ir::OpKind::LayerNorm:
      if (op.kind != ir::OpKind::BiasAdd && op.kind != ir::OpKind::LayerNorm &&
          !ir::paramsAlongLastAxis(op))
        return Fit::declines("its parameters run along axis " + std::to_string(op.axis) +
                             ", not the last");
      for (size_t k = 1; k < op.operands.size() && k <= 4; ++k)
        if (std::string why = notPerFeature(op, k); !why.empty())
          return Fit::declines(why);
      return Fit::runs();
    case ir::OpKind::Prelu:
      if (op.operands[1]->kind != ir::OpKind::Const)
        return Fit::declines("its slope is not a constant");
      return Fit::runs(ir::paramsAlongLastAxis(op) ? "a slope per column" : "a slope per row");
    case ir::OpKind::Activation:
#define SOMA_BINARY_OP(Enum, Name, Expr, Identity, Commutes, Doc) case ir::OpKind::Enum:
#include "soma/ir/Ops.def"
      return Fit::runs();
    case ir::OpKind::Input:
    case ir::OpKind::Const:
    case ir::OpKind::Linear:
    case ir::OpKind::Dense:
    case ir::OpKind::DenseAdd:
    case ir::OpKind::Concat:
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

  bool readsBlocked(const ir::Op &op, size_t k) const override {
    return k == 0 && preluOnChannels(op);
  }
  bool writesBlocked(const ir::Op &op) const override { return preluOnChannels(op); }

  Expected<bool> makeStep(const ProgramBuilder &b, size_t i, Step &step) const override {
    const ir::Op &op = *b.graph().ops[i];
    auto c = std::make_shared<EltContext>();
    c->kind = op.kind;
    c->a = operandOf(b, op.operands.at(0));
    c->y = step.result;
    c->cols = step.cols;
    c->epsilon = op.epsilon;
    if (op.kind == ir::OpKind::Prelu)
      c->prelu = preluShape(op);
    if (ir::isBinary(op.kind)) {
      c->b = operandOf(b, op.operands.at(1));
      c->act = op.fn;
    } else if (op.kind == ir::OpKind::Activation) {
      c->act = op.fn;
    } else {
      for (size_t k = 1; k < op.operands.size() && k <= 4; ++k)
        c->p[k - 1] = b.slotOf(op.operands[k]);
    }
    const bool wholeRows = op.kind == ir::OpKind::LayerNorm || ir::isRowwise(c->act.kind);
    TileRules rules;
    rules.rowWork = step.cols * ((wholeRows ? 2 : 1) * kElementWork + activationWork(c->act));
    rules.colGranularity = wholeRows ? 0 : k::vectorWidth(k::activeIsa());
    if (op.kind == ir::OpKind::Prelu && b.layoutOf(i) == k::ChannelLayout::Blocked) {
      assert(b.layoutOf(op.operands[0]) == k::ChannelLayout::Blocked && "one layout");
      c->prelu.block = b.channelBlock();
      rules.rowGranularity = c->prelu.block * c->prelu.rowsPerChannel; // whole blocks
      rules.colGranularity = 0;
    }
    step.contextFn = runElementwise;
    step.context = std::move(c);
    planTiles(step, rules);
    return true;
  }
};

/// concat: one kernels::concat per operand, whole rows.
class VecConcatFamily final : public KernelFamily {
public:
  const char *name() const override { return "vec.concat"; }
  Tier tier() const override { return Tier::Vec; }

  Fit fit(const ir::Op &op) const override {
    return op.kind == ir::OpKind::Concat ? Fit::runs() : Fit::declines("not a concat");
  }

  Expected<bool> makeStep(const ProgramBuilder &b, size_t i, Step &step) const override {
    const ir::Op &op = *b.graph().ops[i];
    auto c = std::make_shared<ConcatContext>();
    int64_t offset = 0;
    for (const ir::Op *part : op.operands) {
      c->parts.push_back({operandOf(b, part), offset});
      offset += part->type.lastDim();
    }
    c->y = step.result;
    c->cols = step.cols;
    TileRules rules;
    rules.rowWork = step.cols * 2 * kElementWork;
    rules.colGranularity = 0;
    step.contextFn = runConcat;
    step.context = std::move(c);
    planTiles(step, rules);
    return true;
  }
};

} // namespace

const std::vector<const KernelFamily *> &vecFamilies() {
  static const VecSparseFamily sparse;
  static const VecDenseFamily dense;
  static const VecElementwiseFamily elementwise;
  static const VecConcatFamily concat;
  static const std::vector<const KernelFamily *> families = {
      &sparse, &dense, &elementwise, &concat, &vecConvFamily(), &vecPoolFamily()};
  return families;
}

Target vecTarget() {
  Target target;
  target.name = "vec";
  target.families = vecFamilies();
  target.families.push_back(&interpFamily());
  return target;
}

Expected<Program> buildVecProgram(ir::Graph &graph) {
  return ProgramBuilder(graph).build(vecTarget());
}

} // namespace soma::runtime
