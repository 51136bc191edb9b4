// fuse-elementwise: folds elementwise chains into the op that produces
// their input, so the chain runs in that op's kernel with no intermediate
// buffer. Two rewrites, in this order:
//
//   1. activation(add(a, b))       -> add(a, b) {fn}
//      and the same for every binary op (Ops.def's SOMA_BINARY_OP rows).
//      The add has exactly one user (the activation), is not an output,
//      has no activation of its own, and the activation is not softmax
//      (softmax needs whole rows; an add computes element by element).
//   2. add(dense(x, w, b), r) {fn} -> dense_add(x, w, b, r) {fn}
//      (either operand of the add may be the dense). The dense has an
//      identity activation (the residual is added before the activation),
//      exactly one user (the add), is not an output, and has the add's
//      type; so does r (dense_add's residual is read like its result).
//      When both operands qualify, the first is fused. The same for a
//      conv: add(conv(x, w, b), r) {fn} -> conv_add(x, w, b, r) {fn}, with
//      the conv's attributes (strides, pads, dilations, groups).
//
// Like fuse-dense-bias-act, each rewrite keeps the last op of the chain in
// place (its name and position: every operand is defined earlier) and
// erases the absorbed op.
//
// Tolerance class: exact. The fused op computes the same sums in the same
// order; the reference interpreter no longer rounds the intermediate sum to
// f32 before the activation (as for fuse-dense-bias-act), which moves a
// result by at most half an ulp of the intermediate before the activation.
#include "soma/passes/Passes.h"

#include <algorithm>
#include <string>

namespace soma::passes {

namespace {

/// Rewrite 1: activation(add) -> add {fn}, for every binary op.
void fuseActivationsIntoBinaries(ir::Graph &graph, PassContext &ctx) {
  // A fusion hands the operands of the op it erases to the op it keeps, so
  // these counts stay right for every op that stays (in rewrite 2 too).
  const ir::UseCounts uses(graph);
  ir::OpSet erase;
  for (auto &opPtr : graph.ops) {
    ir::Op *act = opPtr.get();
    if (act->kind != ir::OpKind::Activation || ir::isRowwise(act->fn.kind))
      continue;
    ir::Op *add = act->operands[0];
    if (!ir::isBinary(add->kind) || add->fn.kind != ir::ActKind::Identity)
      continue; // not a binary op, or it already applies an activation
    if (uses.soleUser(add) != act)
      continue; // the sum itself is used elsewhere (or is an output)
    act->kind = add->kind;
    act->operands = add->operands;
    erase.insert(add);
    ctx.count(std::string("fuse-elementwise.activations-fused-into-") + ir::opName(add->kind) +
              "s");
  }
  std::erase_if(graph.ops, [&](auto &op) { return erase.contains(op.get()); });
}

/// Rewrite 2: add(dense, r) {fn} -> dense_add(x, w, b, r) {fn}, and
/// add(conv, r) {fn} -> conv_add(x, w, b, r) {fn}.
void fuseResidualAdds(ir::Graph &graph, PassContext &ctx) {
  const ir::UseCounts uses(graph);
  ir::OpSet erase;
  for (auto &opPtr : graph.ops) {
    ir::Op *add = opPtr.get();
    if (add->kind != ir::OpKind::Add)
      continue;
    for (size_t i = 0; i < 2; ++i) {
      ir::Op *dense = add->operands[i], *residual = add->operands[1 - i];
      const bool conv = dense->kind == ir::OpKind::Conv;
      if ((dense->kind != ir::OpKind::Dense && !conv) || dense->fn.kind != ir::ActKind::Identity)
        continue; // the layer's own activation would come before the add
      if (uses.soleUser(dense) != add || erase.contains(dense))
        continue; // the layer's result is needed on its own
      if (!(dense->type == add->type) || !(residual->type == add->type))
        continue; // an unbatched operand: the add broadcasts it
      const ir::Activation fn = add->fn;
      if (conv)
        add->attributes() = dense->attributes();
      add->fn = fn;
      add->kind = conv ? ir::OpKind::ConvAdd : ir::OpKind::DenseAdd;
      add->hints = dense->hints;
      add->operands = {dense->operands[0], dense->operands[1], dense->operands[2], residual};
      erase.insert(dense);
      ctx.count(conv ? "fuse-elementwise.residual-adds-fused-into-convs"
                     : "fuse-elementwise.residual-adds-fused");
      break;
    }
  }
  std::erase_if(graph.ops, [&](auto &op) { return erase.contains(op.get()); });
}

} // namespace

bool fuseElementwise(ir::Graph &graph, PassContext &ctx) {
  fuseActivationsIntoBinaries(graph, ctx);
  fuseResidualAdds(graph, ctx);
  return true;
}

} // namespace soma::passes
