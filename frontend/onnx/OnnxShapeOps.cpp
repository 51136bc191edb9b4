// ONNX's shape and pass-through ops: Identity, Dropout (inference),
// Constant, Flatten, Reshape and Concat. A shape op on a constant is
// folded; on a value it becomes soma's flatten, reshape or concat, or
// nothing when the shape does not change.
#include "Importer.h"

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
      v.c = toConst(a->t(), "the value of " + nodeLabel(n));
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
    int64_t axis = intAttr(n, "axis", 1);
    if (axis < 0)
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
  // Reshape: a constant target shape; 0 copies the input's dimension, -1
  // takes what the others leave.
  allowAttrs(n, {"allowzero"});
  const Value &x = value(n, 0);
  const ConstTensor &target = constant(n, 1);
  if (!target.isInt || target.dims.size() != 1)
    fail(n, "the shape input must be a 1-D int64 constant");
  std::vector<int64_t> shape = x.isConst ? x.c.dims : x.shape;
  std::vector<int64_t> out = target.ints;
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
    } else if (out[i] < 1 && !(i == 0 && out[i] == -1))
      fail(n, "shape " + intsText(target.ints) + " has dimension " + std::to_string(out[i]) +
                  "; soma's values have no empty axes");
    else if (i > 0 || x.isConst)
      known *= out[i];
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
  if (out.empty() || !(out[0] == -1 || (target.ints[0] == 0 && !allowZero)) || minus == 0)
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
  int64_t axis = intAttr(n, "axis", 1);
  if (axis < 0)
    axis += rank;
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

} // namespace soma::frontend::onnximport
