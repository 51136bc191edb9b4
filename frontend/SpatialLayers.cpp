// Convolution, pooling and reshape layers to IR ops: conv1d and conv2d
// become one conv op (bias and activation fused, as the IR's conv takes
// them), maxpool and avgpool one max_pool or avg_pool op, global_avgpool one
// global_avg_pool, flatten and reshape one reshape. The language's short
// forms (an integer for every axis, padding = same) are resolved here into
// the IR's explicit per-axis and per-side lists, and every mistake is
// reported at the attribute or operand that makes it, before the IR's
// shape rule (soma/ir/Spatial.h) sees the op.
#include "MessageText.h"
#include "Sema.h"

#include <algorithm>

namespace soma::frontend {

namespace {

/// Largest kernel size, stride, dilation, pad or group count a layer may
/// give (the IR's limit too).
constexpr int64_t kMaxWindowParam = kMaxTensorElements;

const char *layoutFor(size_t rank) { return rank == 1 ? "[C, L]" : "[C, H, W]"; }

std::string axisName(size_t rank, size_t axis) {
  if (rank == 1)
    return "L";
  return axis == 0 ? "H" : "W";
}

bool isIntegerIn(const Expr &e, int64_t min, int64_t max) {
  return e.kind == Expr::Kind::Number && e.isInteger && e.number >= static_cast<double>(min) &&
         e.number <= static_cast<double>(max);
}

/// `name = N`, an integer from 1 to kMaxWindowParam; `out` unchanged when
/// the attribute is absent.
bool evalCount(const Attr *attr, const std::string &what, DiagnosticEngine &diags, int64_t &out) {
  if (!attr)
    return true;
  if (!isIntegerIn(attr->value, 1, kMaxWindowParam)) {
    diags.error(attr->value.loc, attr->name + " of " + what + " must be an integer from 1 to " +
                                     std::to_string(kMaxWindowParam));
    return false;
  }
  out = static_cast<int64_t>(attr->value.number);
  return true;
}

} // namespace

bool Sema::checkSpatialOperand(LayerBuild &layer, size_t rank) {
  const ir::Op *x = layer.ins[0];
  if (x->type.dims.size() == rank + 1)
    return true;
  diags.error(layer.stmt.operands[0].loc,
              layer.what + " expects an input " + layoutFor(rank) + " (channels first), got '" +
                  layer.stmt.operands[0].name + "' of type " + x->type.str());
  layer.ok = false;
  return false;
}

/// kernel, stride, dilation: one integer for every axis, or one per axis.
bool Sema::evalSpatialInts(const LayerBuild &layer, LayerAttr attr, size_t rank,
                           std::vector<int64_t> &out) {
  const Attr *given = layer.attrs[attr];
  if (!given)
    return true;
  const Expr &e = given->value;
  auto inRange = [](const Expr &v) { return isIntegerIn(v, 1, kMaxWindowParam); };
  if (inRange(e)) {
    out.assign(rank, static_cast<int64_t>(e.number));
    return true;
  }
  if (e.kind == Expr::Kind::Array && e.elems.size() == rank &&
      std::all_of(e.elems.begin(), e.elems.end(), inRange)) {
    out.clear();
    for (const Expr &v : e.elems)
      out.push_back(static_cast<int64_t>(v.number));
    return true;
  }
  diags.error(e.loc, std::string(layerAttrName(attr)) + " of " + layer.what +
                         " must be an integer from 1 to " + std::to_string(kMaxWindowParam) +
                         ", or a list of " + std::to_string(rank) +
                         " such integers (one per spatial axis)");
  return false;
}

/// padding = same | valid | P | [P per axis] | [begin per axis, end per
/// axis]; `spans` are the windows' extents (dilated) and `strides` the
/// steps, which `same` needs. `pads` gets the IR's [begin..., end...].
bool Sema::evalPadding(const LayerBuild &layer, const std::vector<int64_t> &spans,
                       const std::vector<int64_t> &strides, std::vector<int64_t> &pads) {
  const size_t rank = spans.size();
  pads.assign(2 * rank, 0);
  const Attr *given = layer.attrs[LayerAttr::Padding];
  if (!given)
    return true;
  const Expr &e = given->value;
  const std::vector<int64_t> &in = layer.ins[0]->type.dims;
  if (e.kind == Expr::Kind::Ident && (e.text == "same" || e.text == "valid")) {
    if (e.text == "valid")
      return true;
    // ONNX's SAME_UPPER: ceil(in / stride) outputs, the odd pad at the end.
    for (size_t a = 0; a < rank; ++a) {
      const int64_t out = (in[1 + a] + strides[a] - 1) / strides[a];
      const int64_t total = std::max<int64_t>((out - 1) * strides[a] + spans[a] - in[1 + a], 0);
      pads[a] = total / 2;
      pads[rank + a] = total - total / 2;
    }
    return true;
  }
  auto isPad = [](const Expr &v) { return isIntegerIn(v, 0, kMaxWindowParam); };
  if (isPad(e)) {
    pads.assign(2 * rank, static_cast<int64_t>(e.number));
    return true;
  }
  if (e.kind == Expr::Kind::Array && std::all_of(e.elems.begin(), e.elems.end(), isPad)) {
    if (e.elems.size() == rank) {
      for (size_t a = 0; a < rank; ++a)
        pads[a] = pads[rank + a] = static_cast<int64_t>(e.elems[a].number);
      return true;
    }
    if (e.elems.size() == 2 * rank) {
      for (size_t k = 0; k < 2 * rank; ++k)
        pads[k] = static_cast<int64_t>(e.elems[k].number);
      return true;
    }
  }
  std::string sides = rank == 1 ? "[left, right]" : "[top, left, bottom, right]";
  diags.error(e.loc, "padding of " + layer.what + " must be same, valid, an integer from 0 to " +
                         std::to_string(kMaxWindowParam) + ", a list of " + std::to_string(rank) +
                         " (one per axis) or of " + std::to_string(2 * rank) + " (" + sides + ")" +
                         (e.kind == Expr::Kind::Ident
                              ? ", got '" + e.text + "'" + suggest(e.text, {"same", "valid"})
                              : ""));
  return false;
}

/// Every window fits its padded input; a pooling window also holds at least
/// one element of the input.
bool Sema::checkWindows(const LayerBuild &layer, const std::vector<int64_t> &spans,
                        const std::vector<int64_t> &pads, bool pool) {
  const size_t rank = spans.size();
  const std::vector<int64_t> &in = layer.ins[0]->type.dims;
  for (size_t a = 0; a < rank; ++a) {
    const int64_t padded = in[1 + a] + pads[a] + pads[rank + a];
    const std::string axis = "axis " + axisName(rank, a);
    if (pool && (pads[a] >= spans[a] || pads[rank + a] >= spans[a])) {
      diags.error(layer.attrs[LayerAttr::Padding]->value.loc,
                  "padding of " + layer.what + " must be smaller than its kernel (" +
                      std::to_string(spans[a]) + ") along " + axis + ", got " +
                      std::to_string(std::max(pads[a], pads[rank + a])) +
                      ": a window could hold only padding");
      return false;
    }
    if (spans[a] > padded) {
      diags.error(layer.attrs[LayerAttr::Kernel]->value.loc,
                  "the window of " + layer.what + " spans " + std::to_string(spans[a]) +
                      " positions along " + axis + ", more than the " + std::to_string(padded) +
                      " of its input '" + layer.stmt.operands[0].name + "' " +
                      layer.ins[0]->type.str() + (pads[a] + pads[rank + a] ? " with padding" : ""));
      return false;
    }
  }
  return true;
}

ir::Op *Sema::buildConv(LayerBuild &layer, size_t rank) {
  const Stmt &stmt = layer.stmt;
  if (!checkSpatialOperand(layer, rank))
    return nullptr;
  ir::Op *x = layer.ins[0];
  int64_t filters = 0, groups = 1;
  std::vector<int64_t> kernel, strides(rank, 1), dilations(rank, 1), pads;
  bool ok = evalCount(layer.attrs[LayerAttr::Filters], layer.what, diags, filters);
  ok &= evalCount(layer.attrs[LayerAttr::Groups], layer.what, diags, groups);
  ok &= evalSpatialInts(layer, LayerAttr::Kernel, rank, kernel);
  ok &= evalSpatialInts(layer, LayerAttr::Stride, rank, strides);
  ok &= evalSpatialInts(layer, LayerAttr::Dilation, rank, dilations);
  if (!ok)
    return nullptr;
  const int64_t channels = x->type.dims[0];
  if (channels % groups != 0 || filters % groups != 0) {
    diags.error(layer.attrs[LayerAttr::Groups]->value.loc,
                "groups = " + std::to_string(groups) + " of " + layer.what +
                    " must divide its input's " + std::to_string(channels) + " channels and its " +
                    std::to_string(filters) + " filters");
    return nullptr;
  }
  std::vector<int64_t> spans;
  for (size_t a = 0; a < rank; ++a)
    spans.push_back(dilations[a] * (kernel[a] - 1) + 1);
  if (!evalPadding(layer, spans, strides, pads) || !checkWindows(layer, spans, pads, false))
    return nullptr;
  if (ir::isRowwise(layer.act.kind)) {
    diags.error(layer.attrs[LayerAttr::Activation]->value.loc,
                layer.what + " cannot apply " + ir::actName(layer.act.kind) +
                    " (it normalises rows of features, not channels at each position); use an "
                    "activation layer");
    return nullptr;
  }

  std::vector<int64_t> wDims = {filters, channels / groups};
  wDims.insert(wDims.end(), kernel.begin(), kernel.end());
  int64_t count = 0, taps = 0;
  if (!checkedElementCount(wDims, count) || !checkedElementCount(kernel, taps)) {
    diags.error(layer.attrs[LayerAttr::Weights]->value.loc,
                layer.what + " weights " + formatDims(wDims) + " exceed the limit of " +
                    std::to_string(kMaxTensorElements) + " elements");
    return nullptr;
  }
  const Attr &weights = *layer.attrs[LayerAttr::Weights];
  const char *weightsName = layerAttrName(LayerAttr::Weights);
  // Fans as PyTorch counts them: a filter's taps over its group's inputs,
  // and every filter's taps.
  auto w = evalTensor(weights.value, layer.what, weightsName, wDims, TensorRole::Matrix,
                      channels / groups * taps, filters * taps);
  if (!w)
    return nullptr;
  ir::Op *wOp = makeConst(stmt.name + "." + weightsName, std::move(w), weights.value.loc);
  ir::Op *b = vectorParam(layer, LayerAttr::Bias, filters, 0.0);
  if (!b)
    return nullptr;
  ir::Op *conv = makeOp(ir::OpKind::Conv, stmt.name, {x, wOp, b}, stmt.loc);
  conv->strides = strides;
  conv->pads = pads;
  conv->dilations = dilations;
  conv->groups = groups;
  conv->fn = layer.act;
  return conv;
}

ir::Op *Sema::buildPool(LayerBuild &layer, ir::OpKind kind) {
  const size_t rank = layer.ins[0]->type.dims.size() - 1;
  if (rank != 1 && rank != 2) {
    diags.error(layer.stmt.operands[0].loc,
                layer.what + " expects an input [C, L] or [C, H, W] (channels first), got '" +
                    layer.stmt.operands[0].name + "' of type " + layer.ins[0]->type.str());
    return nullptr;
  }
  std::vector<int64_t> kernel, strides, pads;
  if (!evalSpatialInts(layer, LayerAttr::Kernel, rank, kernel))
    return nullptr;
  strides = kernel; // PyTorch's default: windows side by side
  if (!evalSpatialInts(layer, LayerAttr::Stride, rank, strides) ||
      !evalPadding(layer, kernel, strides, pads) || !checkWindows(layer, kernel, pads, true))
    return nullptr;
  ir::PadCount padCount = ir::PadCount::Exclude;
  if (const Attr *count = layer.attrs[LayerAttr::CountIncludePad]) {
    const Expr &e = count->value;
    if (e.kind != Expr::Kind::Ident || (e.text != "true" && e.text != "false")) {
      diags.error(e.loc, "count_include_pad of " + layer.what + " must be true or false");
      return nullptr;
    }
    padCount = e.text == "true" ? ir::PadCount::Include : ir::PadCount::Exclude;
  }
  ir::Op *pool = makeOp(kind, layer.stmt.name, {layer.ins[0]}, layer.stmt.loc);
  pool->kernel = kernel;
  pool->strides = strides;
  pool->pads = pads;
  pool->padCount = padCount;
  return pool;
}

ir::Op *Sema::buildGlobalPool(LayerBuild &layer) {
  const size_t rank = layer.ins[0]->type.dims.size();
  if (rank != 2 && rank != 3) {
    diags.error(layer.stmt.operands[0].loc,
                layer.what + " expects an input [C, L] or [C, H, W] (channels first), got '" +
                    layer.stmt.operands[0].name + "' of type " + layer.ins[0]->type.str());
    return nullptr;
  }
  return makeOp(ir::OpKind::GlobalAvgPool, layer.stmt.name, {layer.ins[0]}, layer.stmt.loc);
}

/// flatten: one axis of every element; reshape: `shape`, whose one -1 (if
/// any) is what the other axes leave.
ir::Op *Sema::buildReshape(LayerBuild &layer, bool flatten) {
  const ir::Op *x = layer.ins[0];
  const int64_t total = x->type.sampleElements();
  std::vector<int64_t> shape = {total};
  if (!flatten) {
    const Expr &e = layer.attrs[LayerAttr::Shape]->value;
    auto isDim = [](const Expr &v) { return v.number == -1 || v.number >= 1; };
    bool ok = e.kind == Expr::Kind::Array && !e.elems.empty() && e.elems.size() <= kMaxRank &&
              std::all_of(e.elems.begin(), e.elems.end(), [&](const Expr &v) {
                return isIntegerIn(v, -1, kMaxTensorElements) && isDim(v);
              });
    const auto inferred = ok ? std::count_if(e.elems.begin(), e.elems.end(),
                                             [](const Expr &v) { return v.number == -1; })
                             : 0;
    if (!ok || inferred > 1) {
      diags.error(e.loc, "shape of " + layer.what + " must be a list of 1 to " +
                             std::to_string(kMaxRank) +
                             " integers from 1 to 2^28, at most one of them -1 (inferred)");
      return nullptr;
    }
    shape.clear();
    int64_t known = 1;
    for (const Expr &v : e.elems) {
      shape.push_back(static_cast<int64_t>(v.number));
      if (v.number != -1)
        known = known > kMaxTensorElements ? known : known * shape.back();
    }
    if (inferred && known <= total && total % known == 0)
      std::replace(shape.begin(), shape.end(), int64_t{-1}, total / known);
    int64_t count = 0;
    if (std::count(shape.begin(), shape.end(), -1) || !checkedElementCount(shape, count) ||
        count != total) {
      diags.error(e.loc, layer.what + " cannot give '" + layer.stmt.operands[0].name + "' (" +
                             x->type.str() + ", " + std::to_string(total) +
                             " elements per sample) the shape " + formatDims(shape));
      return nullptr;
    }
  }
  ir::Op *op = makeOp(ir::OpKind::Reshape, layer.stmt.name, {layer.ins[0]}, layer.stmt.loc);
  op->shape = shape;
  return op;
}

} // namespace soma::frontend
