// remove-identity: ops that pass their operand through unchanged are
// removed, their uses (graph outputs included) pointing at the operand
// instead. Removed: activation {fn = identity}; scale_shift whose scale is
// a constant of ones and whose shift a constant of zeros; add of a constant
// of zeros; concat of a single operand.
//
// Preconditions: the kept operand has the op's type (so an add that
// broadcasts an unbatched operand over the batch is kept), and for
// scale_shift and add the parameters are const ops. An output that pointed
// at a removed op keeps its name: output names are separate from value
// names, so it prints as `output %operand as "name"`. The removed ops are
// left to dce.
//
// Tolerance class: exact. The one bit that can change is the sign of a
// zero: x * 1 + 0 and x + 0 turn -0 into +0, which now stays -0 (they
// compare equal).
#include "soma/passes/Passes.h"

#include <algorithm>

namespace soma::passes {
namespace {

bool isConstFilledWith(const ir::Op *op, float value) {
  if (op->kind != ir::OpKind::Const || !op->data)
    return false;
  return std::all_of(op->data->values.begin(), op->data->values.end(),
                     [&](float v) { return v == value; }); // -0 == 0
}

/// The operand `op` passes through unchanged, or nullptr.
ir::Op *passedThrough(const ir::Op &op) {
  switch (op.kind) {
  case ir::OpKind::Activation:
    return op.fn.kind == ir::ActKind::Identity ? op.operands[0] : nullptr;
  case ir::OpKind::ScaleShift:
    return isConstFilledWith(op.operands[1], 1.0f) && isConstFilledWith(op.operands[2], 0.0f)
               ? op.operands[0]
               : nullptr;
  case ir::OpKind::Add:
    if (op.fn.kind != ir::ActKind::Identity)
      return nullptr; // x + 0 still goes through the activation
    if (isConstFilledWith(op.operands[1], 0.0f))
      return op.operands[0];
    if (isConstFilledWith(op.operands[0], 0.0f))
      return op.operands[1];
    return nullptr;
  case ir::OpKind::Concat:
    return op.operands.size() == 1 ? op.operands[0] : nullptr;
  default:
    return nullptr;
  }
}

const char *counterFor(ir::OpKind kind) {
  switch (kind) {
  case ir::OpKind::Activation:
    return "remove-identity.activations-removed";
  case ir::OpKind::ScaleShift:
    return "remove-identity.scale-shifts-removed";
  case ir::OpKind::Add:
    return "remove-identity.adds-removed";
  default:
    return "remove-identity.concats-removed";
  }
}

} // namespace

bool removeIdentity(ir::Graph &graph, PassContext &ctx) {
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    ir::Op *op = graph.ops[i].get();
    ir::Op *operand = passedThrough(*op);
    if (!operand)
      continue;
    if (!(operand->type == op->type))
      continue; // the op broadcasts (an unbatched operand over N): not a no-op
    graph.replaceAllUses(op, operand);
    ctx.count(counterFor(op->kind));
  }
  return true;
}

} // namespace soma::passes
