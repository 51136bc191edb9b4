// ONNX's shape and pass-through ops: Identity, Dropout (inference),
// Constant, Flatten, Reshape and Concat. A shape op on a constant is
// folded; on a value it becomes soma's flatten, reshape or concat, or
// nothing when the shape does not change.
#include "Importer.h"

#include <algorithm>

namespace soma::frontend::onnximport {

namespace {
int64_t product(const std::vector<int64_t> &v, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i)
    p *= v[i];
  return p;
}
} // namespace

void Importer::importShapeOp(const onnx::NodeProto &n) {
  const std::string &op = n.op_type();
  if (op == "Identity") {
    allowAttrs(n, {});
    defineAlias(n, value(n, 0));
    return;
  }
  if (op == "Pad") {
    // PyTorch puts a Pad of zeros before an AvgPool2d: nothing to do.
    allowAttrs(n, {"mode", "pads", "value"});
    std::string mode = stringAttr(n, "mode");
    std::vector<int64_t> pads = intsAttr(n, "pads");
    if (opset >= 11 && hasInput(n, 1))
      pads = constant(n, 1).ints;
    bool none = std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p == 0; });
    if (!none || (!mode.empty() && mode != "constant"))
      fail(n, "pads " + intsText(pads) + (mode.empty() ? "" : ", mode '" + mode + "'") +
                  "; soma imports a Pad that adds nothing (pad a Conv or a pool instead)");
    defineAlias(n, value(n, 0));
    return;
  }
  if (op == "Dropout") {
    allowAttrs(n, {"ratio", "is_test", "seed"});
    onlyFirstOutput(n);
    if (hasInput(n, 2)) {
      const ConstTensor &training = constant(n, 2);
      if (training.count() != 1 || training.values[0] != 0.f)
        fail(n, "training_mode is not false; soma imports Dropout for inference only");
    }
    defineAlias(n, value(n, 0));
    return;
  }
  if (op == "Constant") {
    allowAttrs(n, {"value", "value_float", "value_floats", "value_int", "value_ints"});
    Value v;
    v.isConst = true;
    if (const onnx::AttributeProto *a = attr(n, "value"))
      v.c = toConst(a->t(), "'" + path + "': the value of " + nodeLabel(n));
    else if ((a = attr(n, "value_float"))) {
      v.c.values = {a->f()};
    } else if ((a = attr(n, "value_floats"))) {
      v.c.dims = {a->floats_size()};
      v.c.values.assign(a->floats().begin(), a->floats().end());
    } else if ((a = attr(n, "value_int"))) {
      v.c.isInt = true;
      v.c.ints = {a->i()};
      v.c.values = {static_cast<float>(a->i())};
    } else if ((a = attr(n, "value_ints"))) {
      v.c.isInt = true;
      v.c.dims = {a->ints_size()};
      v.c.ints.assign(a->ints().begin(), a->ints().end());
      v.c.values.assign(a->ints().begin(), a->ints().end());
    } else
      fail(n, "the Constant sets no value");
    defineValue(n.output(0), std::move(v));
    return;
  }
  if (op == "Flatten") {
    allowAttrs(n, {"axis"});
    const Value &x = value(n, 0);
    std::vector<int64_t> shape = x.isConst ? x.c.dims : x.shape;
    int64_t rank = static_cast<int64_t>(shape.size());
    int64_t axis = x.isConst ? intAttr(n, "axis", 1) : axisOf(intAttr(n, "axis", 1), rank);
    if (x.isConst && axis < 0)
      axis += rank;
    if (axis < 0 || axis > rank)
      fail(n, "axis = " + std::to_string(intAttr(n, "axis", 1)) + " is outside a value of shape " +
                  shapeText(shape));
    if (x.isConst) {
      Value v = x;
      v.c.dims = {product(shape, 0, axis), product(shape, axis, rank)};
      defineValue(n.output(0), std::move(v));
      return;
    }
    if (wholeSample) {
      // [N, a, b]: the ONNX result, as one sample.
      std::string in = x.layer;
      std::vector<int64_t> out = {-1, product(shape, 1, axis), product(shape, axis, rank)};
      Layer &layer = addLayer(n, "reshape", {in}, out);
      layer.attrs.push_back({"shape", intsText({out[1], out[2]}), -1});
      return;
    }
    if (axis != 1)
      fail(n, "axis = " + std::to_string(axis) +
                  " would mix the batch axis into the features; soma flattens from axis 1");
    if (rank == 2) {
      defineAlias(n, x);
      return;
    }
    std::string in = x.layer;
    addLayer(n, "flatten", {in}, {-1, product(shape, 1, rank)});
    return;
  }
  importReshape(n);
}

/// Reshape: a constant target shape; 0 copies the input's dimension, -1
/// takes what the others leave.
void Importer::importReshape(const onnx::NodeProto &n) {
  allowAttrs(n, {"allowzero"});
  const Value &x = value(n, 0);
  const ConstTensor &target = constant(n, 1);
  if (!target.isInt || target.dims.size() != 1)
    fail(n, "the shape input must be a 1-D int64 constant");
  std::vector<int64_t> shape = x.isConst ? x.c.dims : x.shape;
  std::vector<int64_t> out = target.ints;
  if (wholeSample && !x.isConst)
    out.insert(out.begin(), -1); // the ONNX shape is one sample's
  bool allowZero = intAttr(n, "allowzero", 0) != 0;
  int64_t known = 1, minus = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 0 && !allowZero) {
      if (i >= shape.size())
        fail(n, "shape " + intsText(target.ints) + " copies axis " + std::to_string(i) +
                    " of a value of shape " + shapeText(shape) + ", which has no such axis");
      out[i] = shape[i];
    }
    if (out[i] == -1 && i == 0 && !x.isConst)
      continue; // the batch axis
    if (out[i] == -1) {
      if (minus >= 0)
        fail(n, "shape " + intsText(target.ints) + " has two -1 dimensions");
      minus = static_cast<int64_t>(i);
    } else if ((out[i] < 1 && !(i == 0 && out[i] == -1)) || out[i] > kMaxDim)
      fail(n, "shape " + intsText(target.ints) + " has dimension " + std::to_string(out[i]) +
                  "; soma's dimensions are 1 to 268435456");
    else if ((i > 0 || x.isConst) && (known *= out[i]) > kMaxDim)
      fail(n, "shape " + intsText(target.ints) + " holds more than 268435456 elements");
  }
  int64_t elements = x.isConst ? x.c.count() : product(shape, 1, shape.size());
  if (minus >= 0) {
    if (known == 0 || elements % known != 0)
      fail(n, "shape " + intsText(target.ints) + " does not divide the " +
                  std::to_string(elements) + " elements of a value of shape " + shapeText(shape));
    out[minus] = elements / known;
    known *= out[minus];
  }
  if (x.isConst) {
    if (known != elements)
      fail(n, "shape " + intsText(target.ints) + " holds " + std::to_string(known) +
                  " elements, the constant " + std::to_string(elements));
    Value v = x;
    v.c.dims = out;
    defineValue(n.output(0), std::move(v));
    return;
  }
  if (out.empty() || out[0] != -1 || minus == 0)
    fail(n, "shape " + intsText(target.ints) + " changes the batch axis of a value of shape " +
                shapeText(shape) + "; soma keeps axis 0 (write 0 or -1 there)");
  if (known != elements || out.size() < 2)
    fail(n, "shape " + intsText(target.ints) + " does not hold the " + std::to_string(elements) +
                " elements per sample of a value of shape " + shapeText(shape));
  out[0] = -1;
  if (out == shape) {
    defineAlias(n, x);
    return;
  }
  std::string in = x.layer;
  Layer &layer = addLayer(n, out.size() == 2 ? "flatten" : "reshape", {in}, out);
  if (out.size() > 2)
    layer.attrs.push_back(
        {"shape", intsText(std::vector<int64_t>(out.begin() + 1, out.end())), -1});
}

void Importer::importConcat(const onnx::NodeProto &n) {
  allowAttrs(n, {"axis"});
  if (n.input_size() < 1)
    fail(n, "Concat has no input");
  const Value &first = activation(n, 0);
  int64_t rank = static_cast<int64_t>(first.shape.size());
  int64_t axis = axisOf(intAttr(n, "axis", 1), rank);
  if (axis != rank - 1)
    fail(n, "axis = " + std::to_string(intAttr(n, "axis", 1)) + " over values of shape " +
                shapeText(first.shape) + "; soma's concat joins the last axis");
  std::vector<std::string> operands;
  std::vector<int64_t> shape = first.shape;
  shape.back() = 0;
  for (int i = 0; i < n.input_size(); ++i) {
    const Value &v = activation(n, static_cast<size_t>(i));
    if (v.shape.size() != first.shape.size() ||
        !std::equal(v.shape.begin(), v.shape.end() - 1, first.shape.begin()))
      fail(n, "inputs of shapes " + shapeText(first.shape) + " and " + shapeText(v.shape) +
                  " differ in an axis other than the last");
    shape.back() += v.shape.back();
    operands.push_back(v.layer);
  }
  if (operands.size() == 1) {
    defineAlias(n, first);
    return;
  }
  addLayer(n, "concat", std::move(operands), std::move(shape));
}

namespace {
/// A constant's elements with its axes permuted: out axis i is in axis perm[i].
ConstTensor transposeConst(const ConstTensor &c, const std::vector<int64_t> &perm) {
  size_t rank = c.dims.size();
  std::vector<int64_t> inStride(rank, 1);
  for (size_t i = rank; i-- > 1;)
    inStride[i - 1] = inStride[i] * c.dims[i];
  ConstTensor out = c;
  for (size_t i = 0; i < rank; ++i)
    out.dims[i] = c.dims[perm[i]];
  std::vector<int64_t> index(rank, 0);
  int64_t n = c.count();
  for (int64_t k = 0; k < n; ++k) {
    int64_t from = 0;
    for (size_t i = 0; i < rank; ++i)
      from += index[i] * inStride[perm[i]];
    out.values[k] = c.values[from];
    if (c.isInt)
      out.ints[k] = c.ints[from];
    for (size_t i = rank; i-- > 0;) {
      if (++index[i] < out.dims[i])
        break;
      index[i] = 0;
    }
  }
  return out;
}
} // namespace

/// Squeeze, Unsqueeze and Transpose: on a constant, folded; on a value, a
/// reshape when only axes of size 1 come, go or move.
void Importer::importAxesOp(const onnx::NodeProto &n) {
  const std::string &op = n.op_type();
  const Value &x = value(n, 0);
  std::vector<int64_t> shape = x.isConst ? x.c.dims : x.shape;
  int64_t rank = static_cast<int64_t>(shape.size());
  std::vector<int64_t> out;
  if (op == "Transpose") {
    allowAttrs(n, {"perm"});
    std::vector<int64_t> perm = intsAttr(n, "perm");
    bool shifted = wholeSample && !x.isConst; // the ONNX axes are one sample's
    if (perm.empty())
      for (int64_t i = shifted ? rank - 1 : rank; i-- > 0;)
        perm.push_back(i);
    if (shifted) {
      for (int64_t &p : perm)
        ++p;
      perm.insert(perm.begin(), 0);
    }
    std::vector<int64_t> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < rank; ++i)
      if (static_cast<int64_t>(sorted.size()) != rank || sorted[i] != i)
        fail(n, "perm " + intsText(perm) + " is not a permutation of the " + std::to_string(rank) +
                    " axes of a value of shape " + shapeText(shape));
    if (x.isConst) {
      Value v;
      v.isConst = true;
      v.c = transposeConst(x.c, perm);
      defineValue(n.output(0), std::move(v));
      return;
    }
    std::vector<int64_t> order;
    for (int64_t p : perm)
      if (shape[p] != 1)
        order.push_back(p);
    if (perm[0] != 0 || !std::is_sorted(order.begin(), order.end()))
      fail(n, "perm " + intsText(perm) + " over a value of shape " + shapeText(shape) +
                  " moves its elements; soma transposes constants only, and values only where "
                  "axes of size 1 move");
    for (int64_t p : perm)
      out.push_back(shape[p]);
  } else {
    // The axes: an attribute before opset 13, an input from it.
    allowAttrs(n, opset >= 13 ? std::set<std::string>{} : std::set<std::string>{"axes"});
    std::vector<int64_t> axes = intsAttr(n, "axes");
    if (opset >= 13 && hasInput(n, 1))
      axes = constant(n, 1).ints;
    bool squeeze = op == "Squeeze";
    int64_t outRank = squeeze ? rank : rank + static_cast<int64_t>(axes.size());
    std::set<int64_t> picked;
    bool shifted = wholeSample && !x.isConst; // the ONNX axes are one sample's
    for (int64_t a : axes) {
      int64_t axis = a < 0 ? a + outRank - (shifted ? 1 : 0) : a;
      if (shifted)
        ++axis;
      if (axis < 0 || axis >= outRank || !picked.insert(axis).second)
        fail(n, "axes " + intsText(axes) + " are not distinct axes of a value of shape " +
                    shapeText(shape));
      if (axis == 0 && !x.isConst)
        fail(n, "axes " + intsText(axes) + " include the batch axis; soma keeps axis 0");
      if (squeeze && shape[axis] != 1)
        fail(n, "axis " + std::to_string(a) + " of a value of shape " + shapeText(shape) +
                    " is not of size 1");
    }
    if (squeeze && axes.empty())
      for (int64_t i = x.isConst ? 0 : 1; i < rank; ++i)
        if (shape[i] == 1)
          picked.insert(i);
    for (int64_t i = 0, from = 0; i < outRank; ++i) {
      if (!squeeze && picked.count(i)) {
        out.push_back(1);
        continue;
      }
      if (squeeze && picked.count(i)) {
        ++from;
        continue;
      }
      out.push_back(shape[from++]);
    }
  }
  if (x.isConst) {
    Value v = x;
    v.c.dims = out;
    defineValue(n.output(0), std::move(v));
    return;
  }
  if (out == shape) {
    defineAlias(n, x);
    return;
  }
  if (out.size() < 2)
    fail(n, "the result " + shapeText(out) + " has no axis but the batch; soma's values keep one");
  std::string in = x.layer;
  Layer &layer = addLayer(n, out.size() == 2 ? "flatten" : "reshape", {in}, out);
  if (out.size() > 2)
    layer.attrs.push_back(
        {"shape", intsText(std::vector<int64_t>(out.begin() + 1, out.end())), -1});
}

} // namespace soma::frontend::onnximport
