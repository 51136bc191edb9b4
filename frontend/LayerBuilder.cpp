// One layer statement to IR ops: its operand count and attributes checked
// against its Layers.def row, then the ops of its kind (a dense layer or
// neuron: [concat ->] linear -> bias_add -> activation; add: a chain of
// adds; the normalisations: one op with per-feature constants). A layer that
// fails is marked broken so the layers reading it stay quiet.
#include "Sema.h"
#include "soma/ir/Printer.h"
#include "soma/ir/ShapeInference.h"

#include <algorithm>
#include <cassert>

namespace soma::frontend {

ir::Op *Sema::makeConst(const std::string &name, std::shared_ptr<Tensor> data, SourceLoc loc) {
  ir::Op *op = graph->append(ir::OpKind::Const, name, {}, loc);
  op->type = ir::TensorType::make(false, data->dims);
  op->data = std::move(data);
  return op;
}

ir::Op *Sema::makeOp(ir::OpKind kind, const std::string &name, std::vector<ir::Op *> operands,
                     SourceLoc loc) {
  ir::Op *op = graph->append(kind, name, std::move(operands), loc);
  return op;
}

/// Gives `op` its type; a failure (already diagnosed) fails the layer.
ir::Op *Sema::typed(LayerBuild &layer, ir::Op *op) {
  op->type = ir::inferResultType(*op, diags);
  layer.ok &= op->type.known;
  return op;
}

bool Sema::checkOperandCount(const LayerBuild &layer) {
  const LayerInfo &info = layer.info;
  size_t count = layer.stmt.operands.size();
  if (count > static_cast<size_t>(kMaxOperands)) {
    diags.error(layer.stmt.nameLoc, layer.what + " has " + std::to_string(count) +
                                        " operands, above the limit of " +
                                        std::to_string(kMaxOperands) + " operands per layer");
    return false;
  }
  if (count >= info.minOperands && count <= info.maxOperands)
    return true;
  std::string want = info.minOperands == info.maxOperands
                         ? std::to_string(info.minOperands)
                         : "at least " + std::to_string(info.minOperands);
  diags.error(layer.stmt.nameLoc, layer.what + " takes " + want + " operand" +
                                      (info.minOperands == 1 ? "" : "s") + ", got " +
                                      std::to_string(count));
  return false;
}

/// The operands' values; false when one of them failed (and said so).
bool Sema::resolveOperands(LayerBuild &layer) {
  for (const Operand &operand : layer.stmt.operands) {
    auto it = values.find(operand.name);
    if (it == values.end() || broken.count(operand.name))
      return false;
    layer.ins.push_back(it->second);
  }
  return true;
}

/// A per-feature constant of `channels` elements: the attribute's tensor, or
/// `fill` when the layer does not set it. Null after an error.
ir::Op *Sema::vectorParam(LayerBuild &layer, LayerAttr attr, int64_t channels, double fill) {
  const char *name = layerAttrName(attr);
  const Attr *given = layer.attrs[attr];
  std::shared_ptr<Tensor> t;
  if (given) {
    t = evalTensor(given->value, layer.what, name, {channels}, TensorRole::Vector, channels,
                   channels);
  } else {
    t = std::make_shared<Tensor>(std::vector<int64_t>{channels});
    std::fill(t->values.begin(), t->values.end(), static_cast<float>(fill));
  }
  if (!t) {
    layer.ok = false;
    return nullptr;
  }
  return makeConst(layer.stmt.name + "." + name, std::move(t),
                   given ? given->value.loc : layer.stmt.nameLoc);
}

/// A dense layer's or neuron's input: its operand, or its operands joined
/// along their last axis by a concat op. Null after an error.
ir::Op *Sema::joinOperands(LayerBuild &layer) {
  const std::vector<ir::Op *> &ins = layer.ins;
  if (ins.size() == 1)
    return ins[0];
  // Say what is wrong in the layer's terms rather than through the hidden
  // concat op.
  for (size_t i = 1; i < ins.size(); ++i) {
    const std::vector<int64_t> &a = ins[0]->type.dims, &b = ins[i]->type.dims;
    if (a.size() != b.size() || !std::equal(a.begin(), a.end() - 1, b.begin())) {
      diags.error(layer.stmt.operands[i].loc,
                  layer.what +
                      " joins its operands along their last axis, so they must agree in "
                      "the others: '" +
                      ins[0]->name + "' is " + ins[0]->type.str() + ", '" + ins[i]->name + "' is " +
                      ins[i]->type.str());
      return nullptr;
    }
  }
  return typed(layer, makeOp(ir::OpKind::Concat, layer.stmt.name + ".in", ins, layer.stmt.loc));
}

/// A neuron or dense layer: activation(linear(x, weights) + bias).
namespace {
/// A [rows, cols] matrix as [cols, rows].
std::shared_ptr<Tensor> transposed(const Tensor &t) {
  int64_t rows = t.dims[0], cols = t.dims[1];
  auto out = std::make_shared<Tensor>(std::vector<int64_t>{cols, rows});
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      out->values[c * rows + r] = t.values[r * cols + c];
  return out;
}
} // namespace

ir::Op *Sema::buildWeightedSum(LayerBuild &layer) {
  const Stmt &stmt = layer.stmt;
  bool isNeuron = layer.info.kind == LayerKind::Neuron;
  int64_t units = 1;
  if (!isNeuron && !evalUnits(*layer.attrs[LayerAttr::Units], layer.what, units))
    return nullptr;
  ir::Op *x = joinOperands(layer);
  if (!x || !layer.ok)
    return nullptr;
  int64_t fanIn = x->type.sampleElements();
  const Attr &weights = *layer.attrs[LayerAttr::Weights];
  const char *weightsName = layerAttrName(LayerAttr::Weights);
  const Attr *layout = layer.attrs[LayerAttr::Layout];
  bool inOut = false;
  if (layout && !evalLayout(*layout, layer.what, inOut))
    return nullptr;
  std::string transposeNote =
      isNeuron ? ""
      : inOut  ? "it holds the transpose, [units, inputs]: that is layout = out_in, the default"
               : "it holds the transpose, [inputs, units]: declare layout = in_out to read it "
                 "as it is (scikit-learn's and Keras's layout)";
  std::vector<int64_t> expected =
      inOut ? std::vector<int64_t>{fanIn, units} : std::vector<int64_t>{units, fanIn};
  auto w = evalTensor(weights.value, layer.what, weightsName, expected, TensorRole::Matrix, fanIn,
                      units, /*acceptFlatRow=*/isNeuron, transposeNote);
  if (!w)
    return nullptr;
  if (inOut)
    w = transposed(*w);
  // A square matrix from a file fits either layout: say which one is read.
  bool fromFile = weights.value.kind == Expr::Kind::Call &&
                  (weights.value.text == "npy" || weights.value.text == "safetensors");
  if (!isNeuron && !layout && fromFile && units == fanIn && units > 1)
    diags.warning(weights.value.loc,
                  layer.what + " reads a square " + formatDims({units, fanIn}) +
                      " weight matrix from a file, which fits either layout; it is taken as "
                      "[units, inputs] (PyTorch's): declare layout = out_in, or layout = in_out "
                      "for scikit-learn's and Keras's [inputs, units]");
  ir::Op *wOp = makeConst(stmt.name + "." + weightsName, std::move(w), weights.value.loc);
  ir::Op *b = vectorParam(layer, LayerAttr::Bias, units, 0.0);
  if (!b)
    return nullptr;
  ir::Op *sum = typed(layer, makeOp(ir::OpKind::Linear, stmt.name + ".sum", {x, wOp}, stmt.loc));
  sum->hints = layer.hints;
  ir::Op *biased =
      typed(layer, makeOp(ir::OpKind::BiasAdd, stmt.name + ".biased", {sum, b}, stmt.loc));
  ir::Op *result = makeOp(ir::OpKind::Activation, stmt.name, {biased}, stmt.loc);
  result->fn = layer.act;
  return result;
}

/// `kind` applied left to right over the operands: ((a + b) + c). The last
/// op takes the layer's name, the others NAME.1, NAME.2, ...
ir::Op *Sema::buildChain(LayerBuild &layer, ir::OpKind kind) {
  const std::vector<ir::Op *> &ins = layer.ins;
  ir::Op *acc = ins[0];
  for (size_t i = 1; i < ins.size() && layer.ok; ++i) {
    std::string name =
        i + 1 == ins.size() ? layer.stmt.name : layer.stmt.name + "." + std::to_string(i);
    acc = typed(layer, makeOp(kind, name, {acc, ins[i]}, layer.stmt.loc));
  }
  return acc;
}

/// batchnorm, layernorm, scaleshift, prelu: one op of `kind` over the
/// operand and its per-feature constants (mean and variance for batchnorm,
/// then scale and shift; prelu's slope).
ir::Op *Sema::buildNormalization(LayerBuild &layer, ir::OpKind kind) {
  int64_t axis = -1;
  if (!evalFeatureAxis(layer, axis))
    return nullptr;
  const std::vector<int64_t> &dims = layer.ins[0]->type.dims;
  int64_t channels = dims.empty() ? 1 : dims[ir::featureAxis(axis, dims.size())];
  std::vector<ir::Op *> operands = {layer.ins[0]};
  if (kind == ir::OpKind::BatchNorm) {
    operands.push_back(vectorParam(layer, LayerAttr::Mean, channels, 0.0));
    ir::Op *var = vectorParam(layer, LayerAttr::Variance, channels, 1.0);
    operands.push_back(var);
    if (var) {
      const AlignedVector<float> &v = var->data->values;
      auto neg = std::find_if(v.begin(), v.end(), [](float f) { return !(f >= 0); });
      if (neg != v.end()) {
        diags.error(var->loc, "variance of " + layer.what + " must be >= 0; element " +
                                  std::to_string(neg - v.begin()) + " is " + ir::formatFloat(*neg));
        layer.ok = false;
      }
    }
  }
  if (kind == ir::OpKind::Prelu) {
    operands.push_back(vectorParam(layer, LayerAttr::Slope, channels, 0.0)); // required
  } else {
    operands.push_back(vectorParam(layer, LayerAttr::Scale, channels, 1.0));
    operands.push_back(vectorParam(layer, LayerAttr::Shift, channels, 0.0));
  }
  if (std::find(operands.begin(), operands.end(), nullptr) != operands.end() || !layer.ok)
    return nullptr;
  ir::Op *result = makeOp(kind, layer.stmt.name, operands, layer.stmt.loc);
  result->epsilon = layer.epsilon;
  if (kind != ir::OpKind::LayerNorm)
    result->axis = axis;
  return result;
}

/// `axis = A` of batchnorm and scaleshift: -1 (the last axis, the default)
/// or any per-sample axis of the operand, counted from the end when
/// negative.
bool Sema::evalFeatureAxis(LayerBuild &layer, int64_t &axis) {
  const Attr *attr = layer.attrs[LayerAttr::Axis];
  if (!attr)
    return true;
  const Expr &e = attr->value;
  const ir::TensorType &x = layer.ins[0]->type;
  const auto rank = static_cast<int64_t>(std::max<size_t>(1, x.dims.size()));
  if (e.kind != Expr::Kind::Number || !e.isInteger || e.number < static_cast<double>(-rank) ||
      e.number >= static_cast<double>(rank)) {
    diags.error(e.loc, "axis of " + layer.what + " must be an integer from -" +
                           std::to_string(rank) + " to " + std::to_string(rank - 1) +
                           " (an axis of '" + layer.stmt.operands[0].name + "' of type " + x.str() +
                           ")");
    layer.ok = false;
    return false;
  }
  axis = static_cast<int64_t>(e.number);
  return true;
}

void Sema::buildLayer(const Stmt &stmt) {
  const LayerInfo *info = findLayerKind(stmt.keyword);
  assert(info && "the parser makes layers of the kinds in Layers.def only");
  LayerBuild layer(stmt, *info);
  if (!checkOperandCount(layer)) {
    broken.insert(stmt.name);
    return;
  }
  layer.attrs = collectAttrs(stmt, *info, layer.what);
  // An operand that failed has been reported; so has a bad attribute.
  if (!resolveOperands(layer) || broken.count(stmt.name)) {
    broken.insert(stmt.name);
    return;
  }
  evalCommonAttrs(layer);

  // A new layer kind in Layers.def gets its semantics here.
  ir::Op *result = nullptr;
  switch (info->kind) {
  case LayerKind::Neuron:
  case LayerKind::Dense:
    result = buildWeightedSum(layer);
    break;
#define SOMA_BINARY_LAYER(Enum, keyword, Op, semantics)                                            \
  case LayerKind::Enum:                                                                            \
    result = buildChain(layer, ir::OpKind::Op);                                                    \
    break;
#include "soma/frontend/Layers.def"
  case LayerKind::Concat:
    result = makeOp(ir::OpKind::Concat, stmt.name, layer.ins, stmt.loc);
    break;
  case LayerKind::BatchNorm:
    result = buildNormalization(layer, ir::OpKind::BatchNorm);
    break;
  case LayerKind::LayerNorm:
    result = buildNormalization(layer, ir::OpKind::LayerNorm);
    break;
  case LayerKind::Activation:
    result = makeOp(ir::OpKind::Activation, stmt.name, layer.ins, stmt.loc);
    result->fn = layer.act;
    break;
  case LayerKind::ScaleShift:
    result = buildNormalization(layer, ir::OpKind::ScaleShift);
    break;
  case LayerKind::Prelu:
    result = buildNormalization(layer, ir::OpKind::Prelu);
    break;
  case LayerKind::Conv1d:
    result = buildConv(layer, 1);
    break;
  case LayerKind::Conv2d:
    result = buildConv(layer, 2);
    break;
  case LayerKind::MaxPool:
    result = buildPool(layer, ir::OpKind::MaxPool);
    break;
  case LayerKind::AvgPool:
    result = buildPool(layer, ir::OpKind::AvgPool);
    break;
  case LayerKind::GlobalAvgPool:
    result = buildGlobalPool(layer);
    break;
  case LayerKind::Flatten:
    result = buildReshape(layer, true);
    break;
  case LayerKind::Reshape:
    result = buildReshape(layer, false);
    break;
  }
  if (layer.ok && result && !result->type.known)
    typed(layer, result);
  if (!layer.ok || !result) {
    broken.insert(stmt.name);
    return;
  }
  values[stmt.name] = result;
}

} // namespace soma::frontend
