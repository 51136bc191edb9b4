// fuse-dense-bias-act: linear -> bias_add [-> activation] becomes one dense
// op, so the weighted sum, bias and activation run in one kernel with no
// intermediate buffer.
//
// Preconditions: the linear has exactly one user (the bias_add), the bias
// is a per-feature constant, and, for the activation to join, the bias_add
// has exactly one user (the activation). Softmax never joins: it needs the
// whole row, so it stays a separate op after an identity dense.
//
// The rewrite keeps the last op of the chain in place, turned into the
// dense op (same name, same position: its operands are all defined
// earlier), and erases the ops it absorbed. Tolerance class: exact (the
// engines compute the same sums and apply the same functions; only the
// intermediate f32 roundings between the three steps disappear).
#include "soma/passes/Passes.h"

#include <algorithm>

namespace soma::passes {

bool fuseDenseBiasAct(ir::Graph &graph, PassContext &ctx) {
  // A fusion hands the operands of the ops it erases to the op it keeps, so
  // these counts stay right for every op that stays.
  const ir::UseCounts uses(graph);
  ir::OpSet erase;
  for (auto &opPtr : graph.ops) {
    ir::Op *bias = opPtr.get();
    if (bias->kind != ir::OpKind::BiasAdd)
      continue;
    ir::Op *linear = bias->operands[0];
    if (linear->kind != ir::OpKind::Linear || uses.of(linear) != 1)
      continue; // the weighted sum is needed elsewhere too
    if (bias->operands[1]->kind != ir::OpKind::Const || bias->type.dims.size() != 1)
      continue;
    ir::Op *last = bias;
    ir::Activation fn = ir::makeActivation(ir::ActKind::Identity);
    ir::Op *user = uses.soleUser(bias);
    if (user && user->kind == ir::OpKind::Activation && !ir::isRowwise(user->fn.kind)) {
      last = user;
      fn = user->fn;
      erase.insert(bias);
      ctx.count("fuse-dense-bias-act.activations-fused");
    }
    std::vector<ir::Op *> operands = {linear->operands[0], linear->operands[1], bias->operands[1]};
    last->kind = ir::OpKind::Dense;
    last->operands = std::move(operands);
    last->fn = fn;
    last->hints = linear->hints;
    erase.insert(linear);
    ctx.count("fuse-dense-bias-act.dense-formed");
  }
  std::erase_if(graph.ops, [&](auto &op) { return erase.contains(op.get()); });
  return true;
}

} // namespace soma::passes
