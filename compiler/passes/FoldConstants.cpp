// fold-constants: an op whose operands are all constants is evaluated at
// compile time and becomes a constant holding its value, so the engines
// never compute it per batch.
//
// Preconditions: the op's type is known (infer-shapes ran) and every operand
// is a const op. Input and const ops are left alone. Ops are visited in
// order and turned into constants in place (same name, same position), so a
// chain of constant-only ops folds in one run; the operands it no longer
// uses are left to dce.
//
// Tolerance class: exact. The value comes from ir::evaluateOp, the same
// double-accumulating evaluation the reference interpreter runs, rounded
// once to f32 as there.
#include "soma/ir/Evaluate.h"
#include "soma/passes/Passes.h"

#include <algorithm>
#include <memory>

namespace soma::passes {

bool foldConstants(ir::Graph &graph, PassContext &ctx) {
  for (auto &opPtr : graph.ops) {
    ir::Op &op = *opPtr;
    if (op.kind == ir::OpKind::Input || op.kind == ir::OpKind::Const)
      continue;
    if (!op.type.known || op.type.batched)
      continue; // a batched value depends on an input
    bool allConst = std::all_of(op.operands.begin(), op.operands.end(),
                                [](const ir::Op *o) { return o->kind == ir::OpKind::Const; });
    if (!allConst)
      continue;
    std::vector<ir::EvalOperand> operands;
    for (const ir::Op *o : op.operands)
      operands.push_back({o->data.get(), false});
    auto value = std::make_shared<const Tensor>(ir::evaluateOp(op, operands, /*batch=*/1));
    op.kind = ir::OpKind::Const;
    op.operands.clear();
    op.attributes() = ir::OpAttributes{};
    op.data = std::move(value);
    ctx.count("fold-constants.ops-folded");
  }
  return true;
}

} // namespace soma::passes
