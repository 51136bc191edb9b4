// remove-identity: ops that pass their operand through unchanged are
// removed, their uses (graph outputs included) pointing at the operand
// instead. Removed: activation {fn = identity}; scale_shift whose scale is
// a constant of ones and whose shift a constant of zeros; a binary op (add,
// ...: Ops.def's SOMA_BINARY_OP rows) with no activation, one of whose
// operands is a constant filled with the op's identity (0 for add), on the
// side the op allows; concat of a single operand; reshape to the shape its
// operand already has.
//
// Preconditions: the kept operand has the op's type (so an add that
// broadcasts an unbatched operand over the batch is kept), and for
// scale_shift and the binary ops the parameters are const ops. An output that pointed
// at a removed op keeps its name: output names are separate from value
// names, so it prints as `output %operand as "name"`. The removed ops are
// left to dce.
//
// Tolerance class: exact. The one bit that can change is the sign of a
// zero: x * 1 + 0 and x + 0 turn -0 into +0, which now stays -0 (they
// compare equal).
#include "soma/passes/Passes.h"

#include <algorithm>
#include <string>

namespace soma::passes {
namespace {

bool isConstFilledWith(const ir::Op *op, float value) {
  if (op->kind != ir::OpKind::Const || !op->data)
    return false;
  return std::all_of(op->data->values.begin(), op->data->values.end(),
                     [&](float v) { return v == value; }); // -0 == 0
}

/// An operand an op passes through unchanged, and the counter of its kind.
struct PassedThrough {
  ir::Op *operand = nullptr;
  std::string counter;
};

/// The operand `op` passes through unchanged; none (nullptr) if it computes
/// something.
PassedThrough passedThrough(const ir::Op &op) {
  switch (op.kind) {
  case ir::OpKind::Activation:
    if (op.fn.kind != ir::ActKind::Identity)
      return {};
    return {op.operands[0], "remove-identity.activations-removed"};
  case ir::OpKind::ScaleShift:
    if (!isConstFilledWith(op.operands[1], 1.0f) || !isConstFilledWith(op.operands[2], 0.0f))
      return {};
    return {op.operands[0], "remove-identity.scale-shifts-removed"};
#define SOMA_BINARY_OP(Enum, Name, Expr, Identity, Commutes, Doc) case ir::OpKind::Enum:
#include "soma/ir/Ops.def"
    {
      if (op.fn.kind != ir::ActKind::Identity)
        return {}; // x + 0 still goes through the activation
      const std::string counter =
          std::string("remove-identity.") + ir::opName(op.kind) + "s-removed";
      const float identity = ir::binaryIdentity(op.kind);
      if (isConstFilledWith(op.operands[1], identity))
        return {op.operands[0], counter};
      if (ir::binaryCommutes(op.kind) && isConstFilledWith(op.operands[0], identity))
        return {op.operands[1], counter};
      return {};
    }
  case ir::OpKind::Concat:
    if (op.operands.size() != 1)
      return {};
    return {op.operands[0], "remove-identity.concats-removed"};
  case ir::OpKind::Reshape:
    if (op.shape != op.operands[0]->type.dims)
      return {};
    return {op.operands[0], "remove-identity.reshapes-removed"};
  case ir::OpKind::Prelu:
    if (!isConstFilledWith(op.operands[1], 1.0f))
      return {};
    return {op.operands[0], "remove-identity.prelus-removed"};
  case ir::OpKind::Conv:
  case ir::OpKind::ConvAdd: // a 1x1 conv with identity weights is not worth looking for
  case ir::OpKind::MaxPool:
  case ir::OpKind::AvgPool:
  case ir::OpKind::GlobalAvgPool:
  case ir::OpKind::Input:
  case ir::OpKind::Const:
  case ir::OpKind::Linear:
  case ir::OpKind::BiasAdd:
  case ir::OpKind::Dense:
  case ir::OpKind::DenseAdd:
  case ir::OpKind::BatchNorm:
  case ir::OpKind::LayerNorm:
    return {}; // these always compute something
  }
  return {};
}

} // namespace

bool removeIdentity(ir::Graph &graph, PassContext &ctx) {
  ir::UseRewriter uses;
  for (auto &opPtr : graph.ops) {
    ir::Op *op = opPtr.get();
    uses.rewriteOperands(*op); // past the ops removed so far
    const PassedThrough through = passedThrough(*op);
    if (!through.operand)
      continue;
    if (!(through.operand->type == op->type))
      continue; // the op broadcasts (an unbatched operand over N): not a no-op
    uses.replace(op, through.operand);
    ctx.count(through.counter);
  }
  uses.rewriteOutputs(graph);
  return true;
}

} // namespace soma::passes
