// The interpreter's kernels as a kernel family (VecEngine.h interpFamily):
// an op no faster family runs is evaluated by ir::evaluateOp, the reference
// semantics, over the run's slots. Its step owns a copy of the op (with
// stand-in operands), so it outlives the graph it was built from.
#include "soma/ir/Evaluate.h"
#include "soma/runtime/VecEngine.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace soma::runtime {

namespace {

struct InterpContext {
  /// The op and its operands: constants keep their data, other operands
  /// are stand-ins of their type whose values come from the slots.
  ir::Graph graph;
  const ir::Op *op = nullptr;
  std::vector<int> operandSlots;
  int result = -1;
  int64_t rowsPerSample = 1;
};

/// Rows [r0, r1) are whole samples (the step is one tile of all rows).
void runInterp(const void *context, void *const *slots, int64_t r0, int64_t r1, int64_t, int64_t) {
  const auto &c = *static_cast<const InterpContext *>(context);
  const int64_t s0 = r0 / c.rowsPerSample, batch = (r1 - r0) / c.rowsPerSample;
  std::vector<Tensor> values;
  values.reserve(c.op->operands.size());
  std::vector<ir::EvalOperand> operands;
  for (size_t k = 0; k < c.op->operands.size(); ++k) {
    const ir::Op &operand = *c.op->operands[k];
    if (operand.data) { // a constant (unbatched values are folded to constants)
      operands.push_back({operand.data.get(), operand.type.batched});
      continue;
    }
    values.emplace_back(ir::concreteShape(operand.type, batch));
    const int64_t sample = operand.type.sampleElements();
    if (!values.back().values.empty())
      std::memcpy(values.back().values.data(),
                  static_cast<const float *>(slots[c.operandSlots[k]]) + s0 * sample,
                  values.back().values.size() * sizeof(float));
    operands.push_back({&values.back(), operand.type.batched});
  }
  const Tensor out = ir::evaluateOp(*c.op, operands, batch);
  if (!out.values.empty())
    std::memcpy(static_cast<float *>(slots[c.result]) + s0 * c.op->type.sampleElements(),
                out.values.data(), out.values.size() * sizeof(float));
}

class InterpFamily final : public KernelFamily {
public:
  const char *name() const override { return "interp"; }
  Tier tier() const override { return Tier::Interp; }

  Fit fit(const ir::Op &op) const override {
    if (!op.type.batched)
      return Fit::declines("its value depends on no input");
    return Fit::runs("the reference semantics, whole rows on one thread");
  }

  Expected<bool> makeStep(const ProgramBuilder &b, size_t i, Step &step) const override {
    const ir::Op &op = *b.graph().ops[i];
    auto c = std::make_shared<InterpContext>();
    c->graph.name = b.graph().name;
    std::vector<ir::Op *> operands;
    for (const ir::Op *operand : op.operands) {
      const bool constant = operand->kind == ir::OpKind::Const;
      ir::Op *copy =
          c->graph.append(constant ? ir::OpKind::Const : ir::OpKind::Input, operand->name, {});
      copy->type = operand->type;
      if (constant)
        copy->data = operand->data;
      operands.push_back(copy);
      c->operandSlots.push_back(b.slotOf(operand));
    }
    ir::Op *copy = c->graph.append(op.kind, op.name, operands);
    copy->type = op.type;
    copy->attributes() = op.attributes();
    c->op = copy;
    c->result = step.result;
    c->rowsPerSample = std::max<int64_t>(1, step.rowsPerSample);
    step.contextFn = runInterp;
    step.context = std::move(c);
    // One call over all rows, on the calling thread.
    step.rowTile = 0;
    step.colTile = 0;
    step.rowWork = step.cols * kElementWork;
    return true;
  }
};

} // namespace

const KernelFamily &interpFamily() {
  static const InterpFamily family;
  return family;
}

} // namespace soma::runtime
