// The vec engine (VecEngine.h): one Step per op, each a ContextKernelFn
// over a small context struct. Slot numbers, sizes and parameters live in
// the context; the buffers themselves are the run's slots, so one program
// serves every run context and every batch size. Dense weights are packed
// here, once, at the active instruction set's panel width, and owned by the
// step's context.
#include "soma/runtime/VecEngine.h"

#include "soma/runtime/Interpreter.h"
#include "soma/runtime/Kernels.h"
#include "soma/runtime/Packing.h"

#include <algorithm>
#include <memory>
#include <unordered_map>

namespace soma::runtime {

void foldUnbatched(ir::Graph &graph) {
  for (auto &opPtr : graph.ops) {
    ir::Op &op = *opPtr;
    if (op.type.batched || op.kind == ir::OpKind::Const || op.kind == ir::OpKind::Input)
      continue;
    ir::Graph single;
    single.name = graph.name;
    std::vector<ir::Op *> operands;
    for (ir::Op *operand : op.operands) {
      ir::Op *c = single.append(ir::OpKind::Const, operand->name, {});
      c->type = operand->type;
      c->data = operand->data;
      operands.push_back(c);
    }
    ir::Op *copy = single.append(op.kind, op.name, operands);
    copy->type = op.type;
    copy->fn = op.fn;
    copy->epsilon = op.epsilon;
    single.outputs.push_back({op.name, copy, {}});
    auto result = Interpreter(single).run({});
    op.kind = ir::OpKind::Const;
    op.operands.clear();
    op.data = std::make_shared<Tensor>(std::move((*result)[0].tensor));
  }
}

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

struct DenseContext {
  Operand x, residual; // residual.slot -1: none
  std::shared_ptr<const AlignedVector<float>> packed;
  int64_t panel = 0, inputs = 0, units = 0;
  int bias = -1, y = -1;
  ir::Activation act;
};

void runDense(const void *context, void *const *slots, int64_t r0, int64_t r1, int64_t c0,
              int64_t c1) {
  const auto &c = *static_cast<const DenseContext *>(context);
  k::DenseArgs args;
  args.x = c.x.src(slots);
  args.packed = c.packed->data();
  args.panel = c.panel;
  args.inputs = c.inputs;
  args.units = c.units;
  args.bias = param(slots, c.bias);
  if (c.residual.slot >= 0)
    args.residual = c.residual.src(slots);
  args.y = dst(slots, c.y, c.units);
  args.act = c.act;
  k::dense(args, r0, r1, c0, c1);
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
};

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
  case ir::OpKind::Add:
    if (c.act.kind == ir::ActKind::Softmax) { // whole rows: the sum, then softmax in place
      k::add(c.a.src(slots), c.b.src(slots), y, ir::Activation{}, r0, r1, 0, c.cols);
      k::softmax({y.data, y.stride, 0}, y, c.cols, r0, r1);
    } else {
      k::add(c.a.src(slots), c.b.src(slots), y, c.act, r0, r1, c0, c1);
    }
    break;
  case ir::OpKind::ScaleShift:
    k::scaleShift(c.a.src(slots), param(slots, c.p[0]), param(slots, c.p[1]), y, r0, r1, c0, c1);
    break;
  case ir::OpKind::BatchNorm:
    k::batchNorm(c.a.src(slots), param(slots, c.p[0]), param(slots, c.p[1]),
                 param(slots, c.p[2]), param(slots, c.p[3]), c.epsilon, y, r0, r1, c0, c1);
    break;
  case ir::OpKind::LayerNorm:
    k::layerNorm(c.a.src(slots), param(slots, c.p[0]), param(slots, c.p[1]), c.epsilon, y, c.cols,
                 r0, r1);
    break;
  default:
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

void runConcat(const void *context, void *const *slots, int64_t r0, int64_t r1, int64_t,
               int64_t) {
  const auto &c = *static_cast<const ConcatContext *>(context);
  for (const ConcatContext::Part &part : c.parts)
    k::concat(part.x.src(slots), part.x.stride, dst(slots, c.y, c.cols), part.offset, r0, r1);
}

int64_t denseRowBlock(k::Isa isa) {
  // The kernels' register blocks (KernelsImpl.h kBlockRows).
  switch (k::vectorWidth(isa)) {
  case 16:
    return 8;
  case 8:
    return 6;
  default:
    return 4;
  }
}

} // namespace

Expected<Program> buildVecProgram(ir::Graph &graph) {
  foldUnbatched(graph);
  const k::Isa isa = k::activeIsa();
  const int64_t panel = k::panelWidth(isa);
  const int64_t vector = k::vectorWidth(isa);

  Program program;
  std::unordered_map<const ir::Op *, int> firstOutput;
  for (size_t o = 0; o < graph.outputs.size(); ++o)
    firstOutput.emplace(graph.outputs[o].value, static_cast<int>(o));
  std::vector<ir::Op *> inputs = graph.inputs();
  std::unordered_map<const ir::Op *, int> slotOf;
  for (auto &opPtr : graph.ops) {
    const ir::Op &op = *opPtr;
    Slot slot;
    slot.sampleElements = op.type.sampleElements();
    if (op.kind == ir::OpKind::Input) {
      slot.kind = SlotKind::Input;
      slot.index = static_cast<int>(std::find(inputs.begin(), inputs.end(), &op) - inputs.begin());
    } else if (op.kind == ir::OpKind::Const) {
      slot.kind = SlotKind::Constant;
      if (!op.data)
        return Error{"vec engine: constant '" + op.name + "' has no data"};
      slot.data = std::shared_ptr<const AlignedVector<float>>(op.data, &op.data->values);
    } else if (auto out = firstOutput.find(&op); out != firstOutput.end()) {
      slot.kind = SlotKind::Output;
      slot.index = out->second;
    } else {
      slot.kind = SlotKind::Temp;
    }
    slotOf[&op] = static_cast<int>(program.slots.size());
    program.slots.push_back(std::move(slot));
  }
  for (size_t o = 0; o < graph.outputs.size(); ++o) {
    const ir::Op *value = graph.outputs[o].value;
    if (value->kind == ir::OpKind::Input || firstOutput.at(value) != static_cast<int>(o))
      program.copies.push_back({slotOf.at(value), static_cast<int>(o), value->type.sampleElements()});
  }

  auto operand = [&](const ir::Op *v) {
    Operand r;
    r.slot = slotOf.at(v);
    r.stride = v->type.lastDim();
    if (!v->type.batched)
      r.period = std::max<int64_t>(1, v->type.sampleElements() / std::max<int64_t>(r.stride, 1));
    return r;
  };
  // A per-feature parameter (bias, scale, ...): an unbatched vector of
  // `cols` values, a constant once unbatched values are folded.
  auto perFeature = [&](const ir::Op &op, size_t k, int64_t cols) -> Expected<int> {
    const ir::Op *p = op.operands.at(k);
    if (p->kind != ir::OpKind::Const || p->type.sampleElements() != cols)
      return Error{"vec engine: operand " + std::to_string(k) + " of '" + op.name +
                   "' must be a constant vector of " + std::to_string(cols) + " values"};
    return slotOf.at(p);
  };

  for (auto &opPtr : graph.ops) {
    const ir::Op &op = *opPtr;
    if (op.kind == ir::OpKind::Input || op.kind == ir::OpKind::Const)
      continue;
    Step step;
    step.name = op.name;
    step.cols = op.type.lastDim();
    step.rowsPerSample = op.type.sampleElements() / std::max<int64_t>(step.cols, 1);
    step.result = slotOf.at(&op);
    for (const ir::Op *o : op.operands)
      step.reads.push_back(slotOf.at(o));
    const int64_t cols = step.cols;
    TileRules rules;
    switch (op.kind) {
    case ir::OpKind::Linear:
    case ir::OpKind::Dense:
    case ir::OpKind::DenseAdd: {
      const ir::Op &w = *op.operands.at(1);
      if (w.kind != ir::OpKind::Const || w.type.dims.size() != 2 || w.type.dims[0] != cols)
        return Error{"vec engine: the weights of '" + op.name + "' must be a constant [" +
                     std::to_string(cols) + ", inputs] matrix"};
      auto c = std::make_shared<DenseContext>();
      // x is flattened per sample: one row of `inputs` values per sample.
      const ir::Op &x = *op.operands[0];
      c->inputs = w.type.dims[1];
      if (x.type.sampleElements() != c->inputs || !x.type.batched || step.rowsPerSample != 1)
        return Error{"vec engine: '" + op.name + "' reads samples of " +
                     std::to_string(x.type.sampleElements()) + " values with weights for " +
                     std::to_string(c->inputs)};
      c->x = {slotOf.at(&x), c->inputs, 0};
      c->units = cols;
      c->panel = panel;
      c->packed = std::make_shared<const AlignedVector<float>>(packPanels(*w.data, panel));
      c->y = step.result;
      if (op.kind != ir::OpKind::Linear) {
        auto bias = perFeature(op, 2, cols);
        if (!bias)
          return Error{bias.error()};
        c->bias = *bias;
        c->act = op.fn;
      }
      if (op.kind == ir::OpKind::DenseAdd)
        c->residual = operand(op.operands.at(3));
      rules.rowWork = cols * (c->inputs + activationWork(c->act));
      rules.rowGranularity = denseRowBlock(isa);
      rules.colGranularity = c->act.kind == ir::ActKind::Softmax ? 0 : panel;
      step.contextFn = runDense;
      step.context = std::move(c);
      break;
    }
    case ir::OpKind::BiasAdd:
    case ir::OpKind::Activation:
    case ir::OpKind::Add:
    case ir::OpKind::ScaleShift:
    case ir::OpKind::BatchNorm:
    case ir::OpKind::LayerNorm: {
      auto c = std::make_shared<EltContext>();
      c->kind = op.kind;
      c->a = operand(op.operands.at(0));
      c->y = step.result;
      c->cols = cols;
      c->epsilon = op.epsilon;
      if (op.kind == ir::OpKind::Add) {
        c->b = operand(op.operands.at(1));
        c->act = op.fn;
      } else if (op.kind == ir::OpKind::Activation) {
        c->act = op.fn;
      } else {
        for (size_t k = 1; k < op.operands.size() && k <= 4; ++k) {
          auto p = perFeature(op, k, cols);
          if (!p)
            return Error{p.error()};
          c->p[k - 1] = *p;
        }
      }
      const bool wholeRows =
          op.kind == ir::OpKind::LayerNorm || c->act.kind == ir::ActKind::Softmax;
      rules.rowWork = cols * ((wholeRows ? 2 : 1) * kElementWork + activationWork(c->act));
      rules.colGranularity = wholeRows ? 0 : vector;
      step.contextFn = runElementwise;
      step.context = std::move(c);
      break;
    }
    case ir::OpKind::Concat: {
      auto c = std::make_shared<ConcatContext>();
      int64_t offset = 0;
      for (const ir::Op *part : op.operands) {
        c->parts.push_back({operand(part), offset});
        offset += part->type.lastDim();
      }
      c->y = step.result;
      c->cols = cols;
      rules.rowWork = cols * 2 * kElementWork;
      rules.colGranularity = 0;
      step.contextFn = runConcat;
      step.context = std::move(c);
      break;
    }
    default:
      return Error{std::string("vec engine: no kernel for op '") + ir::opName(op.kind) + "' ('" +
                   op.name + "')"};
    }
    planTiles(step, rules);
    program.steps.push_back(std::move(step));
  }
  return program;
}

} // namespace soma::runtime
