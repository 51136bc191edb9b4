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
  bool softmax = fn == "softmax";
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
  } else if (op == "HardSigmoid") {
    allowAttrs(n, {"alpha", "beta"});
    float alpha = floatAttr(n, "alpha", 0.2f), beta = floatAttr(n, "beta", 0.5f);
    if (!near(alpha, 1.0 / 6) || beta != 0.5f)
      fail(n, "alpha = " + numberText(alpha) + ", beta = " + numberText(beta) +
                  "; soma's hard_sigmoid is alpha = 1/6, beta = 0.5 (PyTorch's hardsigmoid)");
    call = "hard_sigmoid";
  } else
    allowAttrs(n, {});
  const Value &x = activation(n, 0);
  (void)x;
  if (op == "Sigmoid")
    sigmoidOf[n.output(0)] = n.input(0);
  applyActivation(n, n.input(0), n.output(0), call, nodeLabel(n));
}

void Importer::importSoftmax(const onnx::NodeProto &n) {
  allowAttrs(n, {"axis"});
  const Value &x = activation(n, 0);
  int64_t rank = static_cast<int64_t>(x.shape.size());
  int64_t axis = axisOf(intAttr(n, "axis", opset >= 13 ? -1 : 1), rank);
  if (axis != rank - 1)
    fail(n, "axis = " + std::to_string(intAttr(n, "axis", opset >= 13 ? -1 : 1)) +
                " over a value of shape " + shapeText(x.shape) +
                "; soma's softmax is along the last axis");
  applyActivation(n, n.input(0), n.output(0), "softmax", nodeLabel(n));
}

/// PyTorch's GELU, exported before opset 20 as five nodes:
/// y = Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5).
bool Importer::matchGelu(size_t index) {
  const onnx::GraphProto &g = model.graph();
  const onnx::NodeProto &div = g.node(static_cast<int>(index));
  if (div.op_type() != "Div" || div.input_size() != 2 || !values.count(div.input(0)) ||
      !values.count(div.input(1)))
    return false;
  const Value &x = values.at(div.input(0)), &c = values.at(div.input(1));
  if (x.isConst || !c.isConst || c.c.count() != 1 || !near(c.c.values[0], std::sqrt(2.0)))
    return false;
  auto only = [&](const std::string &v, const char *op) -> const onnx::NodeProto * {
    auto it = consumers.find(v);
    if (it == consumers.end() || it->second.size() != 1 || uses[v] != 1)
      return nullptr;
    const onnx::NodeProto &next = g.node(static_cast<int>(it->second[0]));
    return next.op_type() == op && next.input_size() == 2 ? &next : nullptr;
  };
  auto constOther = [&](const onnx::NodeProto &node, const std::string &v, double want) {
    const std::string &other = node.input(0) == v ? node.input(1) : node.input(0);
    auto it = values.find(other);
    return it != values.end() && it->second.isConst && it->second.c.count() == 1 &&
           near(it->second.c.values[0], want);
  };
  const std::string &xName = div.input(0);
  auto e = consumers.find(div.output(0));
  if (e == consumers.end() || e->second.size() != 1)
    return false;
  const onnx::NodeProto &erf = g.node(static_cast<int>(e->second[0]));
  if (erf.op_type() != "Erf")
    return false;
  const onnx::NodeProto *add = only(erf.output(0), "Add");
  if (!add || !constOther(*add, erf.output(0), 1.0))
    return false;
  const onnx::NodeProto *mul = only(add->output(0), "Mul");
  if (!mul || (mul->input(0) == add->output(0) ? mul->input(1) : mul->input(0)) != xName)
    return false;
  const onnx::NodeProto *half = only(mul->output(0), "Mul");
  if (!half || !constOther(*half, mul->output(0), 0.5))
    return false;
  for (const onnx::NodeProto *node : {&erf, static_cast<const onnx::NodeProto *>(add), mul, half})
    for (int i = 0; i < g.node_size(); ++i)
      if (&g.node(i) == node)
        consumed.insert(static_cast<size_t>(i));
  layerUses[x.layer] -= 1; // x's two readers in the pattern become one
  applyActivation(div, xName, half->output(0), "gelu", "GELU from " + nodeLabel(div));
  return true;
}

onnx::NodeProto Importer::helperNode(const onnx::NodeProto &n, const std::string &suffix) {
  onnx::NodeProto h = n;
  h.set_output(0, n.output(0) + suffix);
  h.set_name(n.name().empty() ? "" : n.name() + suffix);
  uses[h.output(0)] = 1;
  return h;
}

/// HardSwish as x * hard_sigmoid(x); PRelu with one slope as leaky_relu;
/// Clip(0, inf) as relu.
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
    allowAttrs(n, {});
    const ConstTensor &slope = constant(n, 1);
    bool one = slope.count() == 1 || std::all_of(slope.values.begin(), slope.values.end(),
                                                 [&](float v) { return v == slope.values[0]; });
    if (!one || slope.values.empty())
      fail(n, "slope has shape " + shapeText(slope.dims) +
                  " with different values; soma's leaky_relu takes one slope");
    applyActivation(n, n.input(0), n.output(0),
                    "leaky_relu(alpha = " + numberText(slope.values[0]) + ")", nodeLabel(n));
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
  if (lo != 0.f || hi != INFINITY)
    fail(n, "Clip(" + numberText(lo) + ", " + numberText(hi) +
                ") is not supported; soma imports Clip(0, inf), as relu");
  applyActivation(n, n.input(0), n.output(0), "relu", nodeLabel(n));
}

} // namespace soma::frontend::onnximport
