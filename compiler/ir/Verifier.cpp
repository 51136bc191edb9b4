// Structural invariants of a graph. A pass that breaks one is a bug; the
// verifier runs after parsing and (in debug builds or with --verify-each)
// after every pass.
#include "soma/ir/Verifier.h"
#include "soma/ir/ShapeInference.h"
#include "soma/support/Limits.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace soma::ir {

bool verifyGraph(const Graph &graph, DiagnosticEngine &diags) {
  unsigned errorsBefore = diags.errorCount();
  std::unordered_map<std::string_view, const Op *> names(graph.ops.size());
  OpSet defined(graph.ops.size());

  for (auto &opPtr : graph.ops) {
    const Op &op = *opPtr;
    // Composed only for a message: most ops have none.
    auto what = [&] { return std::string(opName(op.kind)) + " '" + op.name + "'"; };
    if (op.name.empty())
      diags.error(op.loc, std::string(opName(op.kind)) + " op has no name");
    else if (auto [it, inserted] = names.emplace(op.name, &op); !inserted) {
      diags.error(op.loc, "value '" + op.name + "' is defined twice");
      diags.note(it->second->loc, "first defined here");
    }
    if (op.operands.size() > static_cast<size_t>(kMaxOperands))
      diags.error(op.loc, what() + " has " + std::to_string(op.operands.size()) +
                              " operands, above the limit of " + std::to_string(kMaxOperands) +
                              " operands per op");
    for (const Op *operand : op.operands)
      if (!defined.contains(operand))
        diags.error(op.loc, what() + " uses '" + (operand ? operand->name : "<null>") +
                                "' before it is defined");
    defined.insert(&op);

    if (!op.type.known) {
      diags.error(op.loc, what() + " has no type");
      continue;
    }
    if (op.type.dims.size() > kMaxRank)
      diags.error(op.loc, what() + " has rank " + std::to_string(op.type.dims.size()) +
                              ", more than the limit of " + std::to_string(kMaxRank));
    int64_t count;
    if (!checkedElementCount(op.type.dims, count))
      diags.error(op.loc, what() + " has shape " + op.type.str() + ", more than the limit of " +
                              std::to_string(kMaxTensorElements) + " elements");

    switch (op.kind) {
    case OpKind::Input:
      if (!op.type.batched || op.type.dims.empty() ||
          std::find(op.type.dims.begin(), op.type.dims.end(), 0) != op.type.dims.end())
        diags.error(op.loc, what() + " must have type f32[N, dims...] with every dim >= 1, got " +
                                op.type.str());
      if (!op.operands.empty())
        diags.error(op.loc, what() + " takes no operands");
      continue;
    case OpKind::Const:
      if (op.type.batched)
        diags.error(op.loc, what() + " cannot have the batch dimension N");
      if (op.data && op.data->dims != op.type.dims)
        diags.error(op.loc, what() + " holds data of shape " + formatDims(op.data->dims) +
                                " but has type " + op.type.str());
      continue;
    case OpKind::Linear:
    case OpKind::BiasAdd:
    case OpKind::Activation:
    case OpKind::Dense:
    case OpKind::DenseAdd:
    case OpKind::Concat:
    case OpKind::ScaleShift:
    case OpKind::BatchNorm:
    case OpKind::LayerNorm:
    case OpKind::Conv:
    case OpKind::ConvAdd:
    case OpKind::MaxPool:
    case OpKind::AvgPool:
    case OpKind::GlobalAvgPool:
    case OpKind::Reshape:
    case OpKind::Prelu:
#define SOMA_BINARY_OP(Enum, Name, Expr, Identity, Commutes, Doc) case OpKind::Enum:
#include "soma/ir/Ops.def"
      break;
    }
    bool attrsOk = true;
    for (const OpAttr &attr : opAttributes(op.kind))
      if (auto err = checkAttrValue(attrInfo(attr.id), getAttr(op, attr.id), what())) {
        diags.error(op.loc, *err);
        attrsOk = false;
      }
    if (isBinary(op.kind) && isRowwise(op.fn.kind))
      diags.error(op.loc, what() + " cannot apply " + actName(op.fn.kind) +
                              ": it needs whole rows; use an activation op");
    if (op.hints.any() && !isWeightedSum(op.kind))
      diags.error(op.loc, what() + " cannot carry layer hints (only linear, dense and dense_add)");
    if (op.hints.prune && !(*op.hints.prune >= 0 && *op.hints.prune < 1))
      diags.error(op.loc, what() + " has prune " + std::to_string(*op.hints.prune) +
                              ", not a fraction in [0, 1)");
    if (op.sparsity && !(op.sparsity->density >= 0 && op.sparsity->density <= 1))
      diags.error(op.loc, what() + " has density " + std::to_string(op.sparsity->density) +
                              ", not a fraction in [0, 1]");

    // The shape rules divide by strides and groups: only in-range ones.
    if (!attrsOk)
      continue;
    TensorType inferred = inferResultType(op, diags);
    if (inferred.known && inferred != op.type)
      diags.error(op.loc, what() + " has type " + op.type.str() + " but its operands give " +
                              inferred.str());
  }

  if (graph.outputs.empty())
    diags.error(graph.loc, "graph '" + graph.name + "' has no outputs");
  std::unordered_set<std::string> outNames;
  for (const GraphOutput &out : graph.outputs) {
    if (!defined.contains(out.value))
      diags.error(out.loc, "output '" + out.name + "' refers to a value not in the graph");
    else if (!out.value->type.batched)
      diags.error(out.loc, "output '" + out.name + "' does not depend on any input");
    if (!outNames.insert(out.name).second)
      diags.error(out.loc, "output '" + out.name + "' is declared twice");
  }
  return diags.errorCount() == errorsBefore;
}

} // namespace soma::ir
