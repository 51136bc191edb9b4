// cse: two ops that compute the same value are merged: the later one's uses
// (graph outputs included) go to the earlier one. Two ops compute the same
// value when they have the same kind, type, attributes (those of Ops.def
// the kind takes, compared bit for bit) and the same operands; two
// constants when their data is bit-identical and of the same shape.
//
// Inputs are never merged: each is a separate argument of the network.
// Ops are visited in order, so once the operands of two ops are merged the
// ops themselves merge in the same run. The merged-away ops are left to dce.
//
// Tolerance class: exact (the same computation on the same values).
#include "soma/passes/Passes.h"

#include <bit>
#include <cstring>
#include <functional>
#include <unordered_map>

namespace soma::passes {
namespace {

size_t combine(size_t seed, size_t v) {
  return seed ^ (v + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
}

size_t hashOp(const ir::Op &op) {
  size_t h = static_cast<size_t>(op.kind);
  for (const ir::Op *operand : op.operands)
    h = combine(h, std::hash<const ir::Op *>{}(operand));
  for (int64_t d : op.type.dims)
    h = combine(h, static_cast<size_t>(d));
  if (op.kind == ir::OpKind::Const && op.data) {
    // At most 64 values, spread over the constant: a model's weights are
    // tens of millions of floats, and a hash is only a filter (sameValue
    // compares every bit of the constants whose hashes match).
    const auto &v = op.data->values;
    const size_t step = v.size() > 64 ? v.size() / 64 : 1;
    h = combine(h, v.size());
    for (size_t i = 0; i < v.size(); i += step)
      h = combine(h, std::bit_cast<uint32_t>(v[i]));
  }
  return h;
}

/// Every value of a constant's data, hashed: computed only for constants
/// whose sampled hashes collide, so that many constants alike in their
/// samples still cost one pass each, not a comparison with each other.
size_t hashData(const ir::Op &op) {
  size_t h = 0;
  if (op.data)
    for (float v : op.data->values)
      h = combine(h, std::bit_cast<uint32_t>(v));
  return h;
}

bool sameValue(const ir::Op &a, const ir::Op &b) {
  if (a.kind != b.kind || !(a.type == b.type) || a.operands != b.operands)
    return false;
  if (!(a.hints == b.hints))
    return false; // same value, but asked to be pruned or scheduled differently
  if (!ir::sameAttributes(a.kind, a, b))
    return false; // bit for bit, the attributes of Ops.def the kind takes
  if (a.kind == ir::OpKind::Const) {
    if (a.data == b.data)
      return true;
    if (!a.data || !b.data || a.data->dims != b.data->dims ||
        a.data->values.size() != b.data->values.size())
      return false;
    // Bit-identical: 0 and -0 differ, and a NaN matches only the same NaN.
    return std::memcmp(a.data->values.data(), b.data->values.data(),
                       a.data->values.size() * sizeof(float)) == 0;
  }
  return true;
}

} // namespace

bool eliminateCommonSubexpressions(ir::Graph &graph, PassContext &ctx) {
  std::unordered_multimap<size_t, ir::Op *> seen;
  seen.reserve(graph.ops.size());
  std::unordered_map<const ir::Op *, size_t> dataHashes;
  auto dataHash = [&](const ir::Op *op) {
    auto [it, added] = dataHashes.try_emplace(op, 0);
    if (added)
      it->second = hashData(*op);
    return it->second;
  };
  ir::UseRewriter uses;
  for (auto &opPtr : graph.ops) {
    ir::Op *op = opPtr.get();
    uses.rewriteOperands(*op); // to the ops merged into so far
    if (op->kind == ir::OpKind::Input)
      continue; // each input is its own argument
    if (!op->type.known)
      continue;
    size_t h = hashOp(*op);
    ir::Op *earlier = nullptr;
    auto [begin, end] = seen.equal_range(h);
    for (auto it = begin; it != end && !earlier; ++it)
      if ((op->kind != ir::OpKind::Const || dataHash(it->second) == dataHash(op)) &&
          sameValue(*it->second, *op))
        earlier = it->second;
    if (!earlier) {
      seen.emplace(h, op);
      continue;
    }
    uses.replace(op, earlier);
    ctx.count(op->kind == ir::OpKind::Const ? "cse.constants-merged" : "cse.ops-merged");
  }
  uses.rewriteOutputs(graph);
  return true;
}

} // namespace soma::passes
