// fuse-conv-bias-act: a per-channel bias added to a convolution's result,
// and an activation applied to it, join the conv op's epilogue, so the
// convolution, its bias and its activation run in one kernel with no
// intermediate buffer. Two rewrites, applied in one walk over the ops:
//
//   1. add(conv(x, w, b) {fn = identity}, c) {fn}  ->  conv(x, w, b') {fn}
//      where c is a constant of the conv's per-sample shape [O, spatial...]
//      that holds one value per output channel (every element of channel
//      o's plane has the same bits, c_o): b'[o] = b[o] + c_o, computed in
//      double and rounded to f32 once, a new constant `<b>.fused`. Either
//      operand of the add may be the conv.
//   2. activation(conv(x, w, b) {fn = identity}) {fn}  ->  conv(x, w, b) {fn}
//      for any fn but softmax (it normalises rows of the last axis, not
//      each element).
//
// Preconditions (both): the conv has an identity activation (its own
// activation would come before the add or the activation), exactly one
// user (the add or the activation) and is not an output; for 1, its bias
// is a constant and the add has the conv's type (an add that broadcasts the
// conv is not a bias). The walk is in graph order, so conv -> add -> relu
// becomes one conv: the add turns into an identity conv that the
// activation then absorbs. Each rewrite keeps the later op's name and place
// (every operand is defined earlier); the absorbed conv and constants are
// left to dce.
//
// Tolerance class: rounding. Rewrite 2 changes no arithmetic (the reference
// interpreter no longer rounds the sum to f32 before the activation);
// rewrite 1 rounds b[o] + c_o to f32 once where the engines added c_o to
// the rounded conv result: the pre-activation value moves by at most an ulp
// of |b[o]| + |c_o| and half an ulp of the result.
#include "soma/passes/Passes.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>

namespace soma::passes {
namespace {

/// The per-channel values of `c`, a constant of shape `dims` ([O, spatial...])
/// whose every channel plane holds one value (bit for bit), or nullopt.
std::optional<std::vector<float>> perChannelConstant(const ir::Op &c,
                                                     const std::vector<int64_t> &dims) {
  if (c.kind != ir::OpKind::Const || !c.data || c.type.batched || c.type.dims != dims)
    return std::nullopt;
  const int64_t channels = dims.front();
  const int64_t plane = c.type.sampleElements() / channels;
  std::vector<float> values(static_cast<size_t>(channels));
  for (int64_t o = 0; o < channels; ++o) {
    const float *p = c.data->values.data() + o * plane;
    for (int64_t i = 1; i < plane; ++i)
      if (std::memcmp(&p[i], &p[0], sizeof(float)) != 0)
        return std::nullopt; // varies within the plane: not a bias
    values[static_cast<size_t>(o)] = p[0];
  }
  return values;
}

/// `op`'s operand `k` when it is a conv that may absorb `op` as its epilogue:
/// identity activation, `op` its only user.
ir::Op *fusableConv(const ir::Op *op, size_t k, const ir::UseCounts &uses) {
  ir::Op *conv = op->operands[k];
  if (conv->kind != ir::OpKind::Conv || conv->fn.kind != ir::ActKind::Identity)
    return nullptr; // not a conv, or its own activation comes first
  if (uses.soleUser(conv) != op)
    return nullptr; // its result is needed elsewhere (or is an output)
  return conv;
}

/// `later` becomes `conv` with the operands given and activation `fn`.
void absorb(ir::Op *later, ir::Op *conv, std::vector<ir::Op *> operands, ir::Activation fn,
            ir::UseCounts &uses) {
  later->kind = ir::OpKind::Conv;
  later->attributes() = conv->attributes();
  later->fn = fn;
  uses.setOperands(later, std::move(operands));
  uses.setOperands(conv, {});
}

/// Rewrite 1 on `add`, when one operand is a conv and the other a
/// per-channel constant: the conv it absorbed, or null.
ir::Op *fuseBias(ir::OpInserter &inserter, ir::Op *add, ir::UseCounts &uses) {
  for (size_t k = 0; k < 2; ++k) {
    ir::Op *conv = fusableConv(add, k, uses);
    if (!conv || !(conv->type == add->type))
      continue;
    ir::Op *bias = conv->operands[2];
    if (bias->kind != ir::OpKind::Const || !bias->data)
      continue; // the bias is computed at run time
    std::optional<std::vector<float>> c =
        perChannelConstant(*add->operands[1 - k], conv->type.dims);
    if (!c)
      continue; // not one value per channel
    auto data = std::make_shared<Tensor>(bias->type.dims);
    for (size_t o = 0; o < c->size(); ++o)
      data->values[o] = static_cast<float>(static_cast<double>(bias->data->values[o]) + (*c)[o]);
    ir::Op *fused = inserter.insertConstBefore(add, bias->name + ".fused", std::move(data));
    absorb(add, conv, {conv->operands[0], conv->operands[1], fused}, add->fn, uses);
    return conv;
  }
  return nullptr;
}

} // namespace

bool fuseConvBiasAct(ir::Graph &graph, PassContext &ctx) {
  // Kept current by absorb (setOperands), so a conv that absorbed an add is
  // seen with the add's users when the activation after it is visited.
  ir::UseCounts uses(graph);
  ir::OpInserter inserter(graph); // the fused biases, committed after the walk
  ir::OpSet erase;
  for (auto &opPtr : graph.ops) {
    ir::Op *op = opPtr.get();
    if (op->kind == ir::OpKind::Add) {
      if (ir::Op *conv = fuseBias(inserter, op, uses)) {
        erase.insert(conv);
        ctx.count("fuse-conv-bias-act.biases-fused");
      }
      continue;
    }
    if (op->kind != ir::OpKind::Activation || ir::isRowwise(op->fn.kind))
      continue; // softmax needs whole rows of the last axis
    ir::Op *conv = fusableConv(op, 0, uses);
    if (!conv)
      continue;
    absorb(op, conv, conv->operands, op->fn, uses);
    erase.insert(conv);
    ctx.count("fuse-conv-bias-act.activations-fused");
  }
  inserter.commit();
  std::erase_if(graph.ops, [&](auto &op) { return erase.contains(op.get()); });
  return true;
}

} // namespace soma::passes
