// ONNX's activations and the patterns exporters spread activations over:
// each becomes soma's activation, folded into the dense layer or the
// convolution before it when nothing else reads that layer.
#include "Importer.h"

#include <algorithm>
#include <cmath>

namespace soma::frontend::onnximport {

namespace {
bool near(float v, double want) {
  return std::fabs(v - want) <= 1e-6 * std::max(1.0, std::fabs(want));
}
} // namespace

void Importer::applyActivation(const onnx::NodeProto &n, const std::string &in,
                               const std::string &out, const std::string &fn,
                               const std::string &origin) {
  const Value x = values.at(in);
  bool softmax = fn == "softmax" || fn == "log_softmax";
  if (Layer *target = foldTarget(in, softmax ? std::set<std::string>{"dense"}
                                             : std::set<std::string>{"dense", "conv1d", "conv2d"});
      target && !target->has("activation")) {
    target->attrs.push_back({"activation", fn, -1});
    foldInto(*target, in, out, x.shape, origin);
    return;
  }
  onnx::NodeProto node = n;
  node.set_output(0, out);
  Layer &layer = addLayer(node, "activation", {x.layer}, x.shape);
  layer.origin = origin;
  layer.attrs.push_back({"activation", fn, -1});
}

void Importer::importActivation(const onnx::NodeProto &n, const std::string &fn) {
  const std::string &op = n.op_type();
  std::string call = fn;
  if (op == "LeakyRelu") {
    allowAttrs(n, {"alpha"});
    call = "leaky_relu(alpha = " + numberText(floatAttr(n, "alpha", 0.01f)) + ")";
  } else if (op == "Elu") {
    allowAttrs(n, {"alpha"});
    call = "elu(alpha = " + numberText(floatAttr(n, "alpha", 1.f)) + ")";
  } else if (op == "Selu") {
    allowAttrs(n, {"alpha", "gamma"});
    call = "selu(alpha = " + numberText(floatAttr(n, "alpha", 1.67326319217681884765625f)) +
           ", gamma = " + numberText(floatAttr(n, "gamma", 1.05070102214813232421875f)) + ")";
  } else if (op == "HardSigmoid") {
    allowAttrs(n, {"alpha", "beta"});
    float alpha = floatAttr(n, "alpha", 0.2f), beta = floatAttr(n, "beta", 0.5f);
    // PyTorch's hardsigmoid (1/6, 1/2) is soma's default, computed exactly.
    call = near(alpha, 1.0 / 6) && beta == 0.5f
               ? "hard_sigmoid"
               : "hard_sigmoid(alpha = " + numberText(alpha) + ", beta = " + numberText(beta) + ")";
  } else
    allowAttrs(n, {});
  const Value &x = activation(n, 0);
  (void)x;
  if (op == "Sigmoid")
    sigmoidOf[n.output(0)] = n.input(0);
  applyActivation(n, n.input(0), n.output(0), call, nodeLabel(n));
}

/// Softmax and LogSoftmax, along the last axis.
void Importer::importSoftmax(const onnx::NodeProto &n) {
  allowAttrs(n, {"axis"});
  const Value &x = activation(n, 0);
  const std::string fn = n.op_type() == "LogSoftmax" ? "log_softmax" : "softmax";
  int64_t rank = static_cast<int64_t>(x.shape.size());
  int64_t axis = axisOf(intAttr(n, "axis", opset >= 13 ? -1 : 1), rank);
  if (axis != rank - 1)
    fail(n, "axis = " + std::to_string(intAttr(n, "axis", opset >= 13 ? -1 : 1)) +
                " over a value of shape " + shapeText(x.shape) + "; soma's " + fn +
                " is along the last axis");
  applyActivation(n, n.input(0), n.output(0), fn, nodeLabel(n));
}

onnx::NodeProto Importer::helperNode(const onnx::NodeProto &n, const std::string &suffix) {
  onnx::NodeProto h = n;
  h.set_output(0, n.output(0) + suffix);
  h.set_name(n.name().empty() ? "" : n.name() + suffix);
  uses[h.output(0)] = 1;
  return h;
}

/// PRelu: one slope (or all equal) is leaky_relu, folded like any
/// activation; a slope that varies along one axis of x (ONNX's
/// unidirectional broadcast: [C], [C, 1, 1], [1, C, 1, 1] for the channels
/// of [N, C, H, W]) is a prelu layer along that axis.
void Importer::importPrelu(const onnx::NodeProto &n, const Value &x) {
  allowAttrs(n, {});
  const ConstTensor &slope = constant(n, 1);
  if (slope.values.empty())
    fail(n, "slope has no elements");
  bool one = std::all_of(slope.values.begin(), slope.values.end(),
                         [&](float v) { return v == slope.values[0]; });
  if (one) {
    applyActivation(n, n.input(0), n.output(0),
                    "leaky_relu(alpha = " + numberText(slope.values[0]) + ")", nodeLabel(n));
    return;
  }
  // Right-aligned against x's shape, the one axis where the slope's size
  // is not 1; it must be x's size there, and not the batch axis.
  const auto rank = static_cast<int64_t>(x.shape.size()),
             srank = static_cast<int64_t>(slope.dims.size());
  int64_t axis = -1;
  bool ok = srank <= rank;
  for (int64_t i = 0; ok && i < srank; ++i) {
    const int64_t a = rank - srank + i;
    if (slope.dims[i] == 1)
      continue;
    ok = axis < 0 && a > 0 && slope.dims[i] == x.shape[a];
    axis = a;
  }
  if (!ok || axis < 0)
    fail(n, "slope of shape " + shapeText(slope.dims) + " against x of shape " +
                shapeText(x.shape) +
                "; soma's prelu takes one slope per feature of one axis of x other than the "
                "batch axis ([C], [C, 1, 1] or [1, C, 1, 1] for the channels of [N, C, H, W])");
  ConstTensor t;
  t.dims = {slope.count()};
  t.values = slope.values;
  Layer &layer = addLayer(n, "prelu", {x.layer}, x.shape);
  layer.attrs.push_back({"slope", "", addTensor(layer.name + ".slope", std::move(t))});
  if (axis != rank - 1)
    layer.attrs.push_back({"axis", std::to_string(axis - 1), -1});
}

/// HardSwish as x * hard_sigmoid(x); PRelu (importPrelu);
/// Clip(0, inf) as relu, any other Clip(min, max) as clip.
void Importer::importOtherActivation(const onnx::NodeProto &n) {
  const std::string &op = n.op_type();
  const Value &x = activation(n, 0);
  if (op == "HardSwish") {
    allowAttrs(n, {});
    std::string in = x.layer;
    std::vector<int64_t> shape = x.shape;
    onnx::NodeProto gate = helperNode(n, "_gate");
    Layer &g = addLayer(gate, "activation", {in}, shape);
    g.attrs.push_back({"activation", "hard_sigmoid", -1});
    std::string gateName = g.name;
    addLayer(n, "mul", {in, gateName}, shape);
    return;
  }
  if (op == "PRelu") {
    importPrelu(n, x);
    return;
  }
  // Clip: min and max are attributes before opset 11, inputs from it.
  float lo = -INFINITY, hi = INFINITY;
  if (opset < 11) {
    allowAttrs(n, {"min", "max"});
    lo = floatAttr(n, "min", lo);
    hi = floatAttr(n, "max", hi);
  } else {
    allowAttrs(n, {});
    for (size_t i = 1; i <= 2; ++i)
      if (hasInput(n, i)) {
        const ConstTensor &c = constant(n, i);
        if (c.count() != 1)
          fail(n, std::string(i == 1 ? "min" : "max") + " is not a scalar");
        (i == 1 ? lo : hi) = c.values[0];
      }
  }
  if (std::isnan(lo) || std::isnan(hi) || !(lo < hi))
    fail(n, "Clip(" + numberText(lo) + ", " + numberText(hi) +
                ") is not supported; soma's clip needs min < max");
  if (lo == 0.f && hi == INFINITY) {
    applyActivation(n, n.input(0), n.output(0), "relu", nodeLabel(n));
    return;
  }
  applyActivation(n, n.input(0), n.output(0),
                  "clip(min = " + numberText(lo) + ", max = " + numberText(hi) + ")", nodeLabel(n));
}

} // namespace soma::frontend::onnximport
