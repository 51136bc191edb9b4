// Result types for every op kind. Messages name the op as the user wrote it
// (`add 'r' ...`), because for a network these are user mistakes.
#include "soma/ir/ShapeInference.h"
#include "soma/ir/Spatial.h"

namespace soma::ir {

namespace {

std::string describe(const Op &op) { return std::string(opName(op.kind)) + " '" + op.name + "'"; }

/// Checks that `param` is an unbatched vector of `channels` elements.
bool checkPerFeature(const Op &op, const Op &param, const char *role, int64_t channels,
                     DiagnosticEngine &diags) {
  const TensorType &t = param.type;
  if (t.batched || t.dims.size() != 1 || t.dims[0] != channels) {
    diags.error(op.loc, describe(op) + " expects " + role + " of shape [" +
                            std::to_string(channels) + "], got " + t.str());
    return false;
  }
  return true;
}

bool checkWeights(const Op &op, const TensorType &x, const TensorType &w, DiagnosticEngine &diags) {
  if (w.batched || w.dims.size() != 2) {
    diags.error(op.loc,
                describe(op) + " expects weights of rank 2 [units, inputs], got " + w.str());
    return false;
  }
  if (w.dims[1] != x.sampleElements()) {
    diags.error(op.loc, describe(op) + " expects weights [" + std::to_string(w.dims[0]) + ", " +
                            std::to_string(x.sampleElements()) + "] for its " +
                            std::to_string(x.sampleElements()) + " inputs, got " +
                            formatDims(w.dims));
    return false;
  }
  return true;
}

} // namespace

TensorType inferResultType(const Op &op, DiagnosticEngine &diags) {
  const int want = opNumOperands(op.kind);
  if ((want >= 0 && op.operands.size() != static_cast<size_t>(want)) ||
      (want < 0 && op.operands.empty())) {
    diags.error(op.loc, describe(op) + " expects " +
                            (want < 0 ? std::string("at least one operand")
                                      : std::to_string(want) + " operands") +
                            ", got " + std::to_string(op.operands.size()));
    return {};
  }
  for (const Op *operand : op.operands)
    if (!operand->type.known)
      return {};

  auto operandType = [&](size_t i) -> const TensorType & { return op.operands[i]->type; };

  switch (op.kind) {
  case OpKind::Input:
    return op.type;
  case OpKind::Const:
    if (!op.data)
      return op.type; // elided in text: trust the written type
    return TensorType::make(false, op.data->dims);
  case OpKind::Linear: {
    const TensorType &x = operandType(0), &w = operandType(1);
    if (!checkWeights(op, x, w, diags))
      return {};
    return TensorType::make(x.batched, {w.dims[0]});
  }
  case OpKind::Dense:
  case OpKind::DenseAdd: {
    const TensorType &x = operandType(0), &w = operandType(1);
    if (!checkWeights(op, x, w, diags) ||
        !checkPerFeature(op, *op.operands[2], "bias", w.dims[0], diags))
      return {};
    TensorType result = TensorType::make(x.batched, {w.dims[0]});
    if (op.kind == OpKind::DenseAdd) {
      const TensorType &r = operandType(3);
      if (r != result) {
        diags.error(op.loc, describe(op) + " residual '" + op.operands[3]->name + "' is " +
                                r.str() + ", but the layer's result is " + result.str());
        return {};
      }
    }
    return result;
  }
  case OpKind::BiasAdd: {
    const TensorType &x = operandType(0);
    if (!checkPerFeature(op, *op.operands[1], "bias", x.lastDim(), diags))
      return {};
    return x;
  }
  case OpKind::Activation:
    return operandType(0);
#define SOMA_BINARY_OP(Enum, Name, Expr, Identity, Commutes, Doc) case OpKind::Enum:
#include "soma/ir/Ops.def"
    {
      const TensorType &a = operandType(0), &b = operandType(1);
      if (a.dims != b.dims) {
        diags.error(op.loc, describe(op) + " operands have different shapes: '" +
                                op.operands[0]->name + "' is " + a.str() + ", '" +
                                op.operands[1]->name + "' is " + b.str());
        return {};
      }
      return TensorType::make(a.batched || b.batched, a.dims);
    }
  case OpKind::Concat: {
    const TensorType &first = operandType(0);
    if (first.dims.empty()) {
      diags.error(op.loc, describe(op) + " needs operands of rank 1 or more");
      return {};
    }
    std::vector<int64_t> dims = first.dims;
    bool batched = first.batched;
    for (size_t i = 1; i < op.operands.size(); ++i) {
      const TensorType &t = operandType(i);
      bool sameLead =
          t.dims.size() == dims.size() && std::equal(dims.begin(), dims.end() - 1, t.dims.begin());
      if (!sameLead) {
        diags.error(op.loc, describe(op) + " operand '" + op.operands[i]->name + "' has shape " +
                                t.str() + ", which does not match " + first.str() +
                                " in all but the last axis");
        return {};
      }
      dims.back() += t.dims.back();
      batched |= t.batched;
      int64_t count;
      if (!checkedElementCount(dims, count)) {
        diags.error(op.loc, describe(op) + " result exceeds the limit of " +
                                std::to_string(kMaxTensorElements) + " elements per sample");
        return {};
      }
    }
    return TensorType::make(batched, dims);
  }
  case OpKind::ScaleShift:
  case OpKind::BatchNorm:
  case OpKind::Prelu: {
    const TensorType &x = operandType(0);
    const auto rank = static_cast<int64_t>(std::max<size_t>(1, x.dims.size()));
    if (op.axis < -rank || op.axis >= rank) {
      diags.error(op.loc, describe(op) + " axis " + std::to_string(op.axis) +
                              " is not an axis of its operand " + x.str() + " (-" +
                              std::to_string(rank) + " to " + std::to_string(rank - 1) + ")");
      return {};
    }
    const int64_t features = x.dims.empty() ? 1 : x.dims[featureAxis(op.axis, x.dims.size())];
    static const char *roles[] = {"mean", "variance", "scale", "shift", "slope"};
    const size_t first = op.kind == OpKind::BatchNorm ? 0 : op.kind == OpKind::Prelu ? 4 : 2;
    for (size_t i = 1; i < op.operands.size(); ++i)
      if (!checkPerFeature(op, *op.operands[i], roles[first + i - 1], features, diags))
        return {};
    return x;
  }
  case OpKind::LayerNorm: {
    const TensorType &x = operandType(0);
    if (!checkPerFeature(op, *op.operands[1], "scale", x.lastDim(), diags) ||
        !checkPerFeature(op, *op.operands[2], "shift", x.lastDim(), diags))
      return {};
    return x;
  }
  case OpKind::Conv:
  case OpKind::ConvAdd:
  case OpKind::MaxPool:
  case OpKind::AvgPool:
  case OpKind::GlobalAvgPool:
    return inferSpatialType(op, diags);
  case OpKind::Reshape: {
    const TensorType &x = operandType(0);
    int64_t count = 0;
    if (op.shape.empty() || !checkedElementCount(op.shape, count) || count != x.sampleElements()) {
      diags.error(op.loc, describe(op) + " cannot give '" + op.operands[0]->name + "' of type " +
                              x.str() + " (" + std::to_string(x.sampleElements()) +
                              " elements per sample) the shape " + formatDims(op.shape));
      return {};
    }
    return TensorType::make(x.batched, op.shape);
  }
  }
  return {};
}

} // namespace soma::ir
