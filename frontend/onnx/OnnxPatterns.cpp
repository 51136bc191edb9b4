// The export patterns the importer writes as one op: GELU's erf and tanh
// forms, Softsign, Softplus(beta) and LayerNorm before opset 17, as PyTorch
// exports them. A pattern is matched
// at its first node; every value inside it must be read by the pattern's
// next node only, so nothing outside sees a value the pattern removes. The
// nodes it covers are marked consumed and not imported again.
#include "Importer.h"

#include "soma/ir/Activation.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace soma::frontend::onnximport {

namespace {
bool near(float v, double want) {
  return std::fabs(v - want) <= 1e-6 * std::max(1.0, std::fabs(want));
}
} // namespace

const ConstTensor *Importer::constantNamed(const std::string &name) {
  auto it = values.find(name);
  if (it != values.end())
    return it->second.isConst ? &it->second.c : nullptr;
  auto seen = lookahead.find(name);
  if (seen != lookahead.end())
    return &seen->second;
  for (const onnx::NodeProto &node : model.graph().node()) {
    if (node.op_type() != "Constant" || node.output_size() != 1 || node.output(0) != name)
      continue;
    const onnx::AttributeProto *a = attr(node, "value");
    if (a && a->has_t())
      return &(lookahead[name] =
                   toConst(a->t(), "'" + path + "': the value of " + nodeLabel(node)));
    if ((a = attr(node, "value_float"))) {
      ConstTensor c;
      c.values = {a->f()};
      return &(lookahead[name] = c);
    }
    return nullptr;
  }
  return nullptr;
}

int Importer::soleReader(const std::string &v, const char *op) {
  auto it = consumers.find(v);
  if (it == consumers.end() || it->second.size() != 1 || uses[v] != 1)
    return -1;
  const onnx::NodeProto &next = model.graph().node(static_cast<int>(it->second[0]));
  return next.op_type() == op ? static_cast<int>(it->second[0]) : -1;
}

const std::string &Importer::otherInput(const onnx::NodeProto &node, const std::string &v) const {
  return node.input(0) == v ? node.input(1) : node.input(0);
}

/// PyTorch's GELU, exported before opset 20 as five nodes:
/// y = Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5).
bool Importer::matchGelu(size_t index) {
  const onnx::GraphProto &g = model.graph();
  const onnx::NodeProto &div = g.node(static_cast<int>(index));
  if (div.op_type() != "Div" || div.input_size() != 2 || !values.count(div.input(0)))
    return false;
  const Value &x = values.at(div.input(0));
  const ConstTensor *c = constantNamed(div.input(1));
  if (x.isConst || !c || c->count() != 1 || !near(c->values[0], std::sqrt(2.0)))
    return false;
  auto scalarIs = [&](const onnx::NodeProto &node, const std::string &v, double want) {
    const ConstTensor *k = node.input_size() == 2 ? constantNamed(otherInput(node, v)) : nullptr;
    return k && k->count() == 1 && near(k->values[0], want);
  };
  const std::string &xName = div.input(0);
  auto e = consumers.find(div.output(0));
  if (e == consumers.end() || e->second.size() != 1 || uses[div.output(0)] != 1)
    return false;
  int erf = static_cast<int>(e->second[0]);
  if (g.node(erf).op_type() != "Erf")
    return false;
  int add = soleReader(g.node(erf).output(0), "Add");
  if (add < 0 || !scalarIs(g.node(add), g.node(erf).output(0), 1.0))
    return false;
  int mul = soleReader(g.node(add).output(0), "Mul");
  if (mul < 0 || g.node(mul).input_size() != 2 ||
      otherInput(g.node(mul), g.node(add).output(0)) != xName)
    return false;
  int half = soleReader(g.node(mul).output(0), "Mul");
  if (half < 0 || !scalarIs(g.node(half), g.node(mul).output(0), 0.5))
    return false;
  for (int i : {erf, add, mul, half})
    consumed.insert(static_cast<size_t>(i));
  layerUses[x.layer] -= 1; // x's two readers in the pattern become one
  applyActivation(div, xName, g.node(half).output(0), "gelu", "GELU from " + nodeLabel(div));
  return true;
}

/// PyTorch's GELU(approximate = 'tanh'), exported as nine nodes:
/// y = Mul(Mul(x, Add(Tanh(Mul(Add(x, Mul(Mul(x, Mul(x, x)), kappa)), beta)), 1)), 0.5),
/// kappa = 0.044715, beta = sqrt(2 / pi), constants on either side; x^3 may
/// also be Pow(x, 3).
bool Importer::matchGeluTanh(size_t index) {
  const onnx::GraphProto &g = model.graph();
  const onnx::NodeProto &first = g.node(static_cast<int>(index));
  if (first.input_size() != 2 || !values.count(first.input(0)) || values.at(first.input(0)).isConst)
    return false;
  const std::string &xName = first.input(0);
  const Value &x = values.at(xName);
  auto scalarIs = [&](const onnx::NodeProto &node, const std::string &v, double want) {
    const ConstTensor *k = node.input_size() == 2 ? constantNamed(otherInput(node, v)) : nullptr;
    return k && k->count() == 1 && near(k->values[0], want);
  };
  auto readsX = [&](int node, const std::string &v) {
    return node >= 0 && g.node(node).input_size() == 2 && otherInput(g.node(node), v) == xName;
  };
  std::vector<int> nodes;
  int cube = -1, xReads = 0;
  if (first.op_type() == "Mul" && first.input(1) == xName) {
    cube = soleReader(first.output(0), "Mul"); // x * (x * x)
    if (!readsX(cube, first.output(0)))
      return false;
    nodes.push_back(cube);
    xReads = 3;
  } else if (first.op_type() == "Pow") {
    const ConstTensor *three = constantNamed(first.input(1));
    if (!three || three->count() != 1 || three->values[0] != 3.f)
      return false;
    cube = static_cast<int>(index);
    xReads = 1;
  } else {
    return false;
  }
  const std::string *v = &g.node(cube).output(0);
  auto next = [&](const char *op, auto &&ok) {
    int n = soleReader(*v, op);
    if (n < 0 || !ok(n))
      return false;
    nodes.push_back(n);
    v = &g.node(n).output(0);
    return true;
  };
  auto byScalar = [&](double want) {
    return [&, want](int n) { return scalarIs(g.node(n), *v, want); };
  };
  auto byX = [&](int n) { return readsX(n, *v); };
  if (!next("Mul", byScalar(0.044715)) || !next("Add", byX) ||
      !next("Mul", byScalar(std::sqrt(2 / std::numbers::pi))) ||
      !next("Tanh", [](int) { return true; }) || !next("Add", byScalar(1.0)) || !next("Mul", byX) ||
      !next("Mul", byScalar(0.5)))
    return false;
  for (int i : nodes)
    consumed.insert(static_cast<size_t>(i));
  layerUses[x.layer] -= xReads + 1; // x's readers in the pattern become one
  applyActivation(first, xName, *v, "gelu(approximate = tanh)",
                  "GELU (tanh) from " + nodeLabel(first));
  return true;
}

/// PyTorch's Softsign, exported as y = Div(x, Add(Abs(x), 1)).
bool Importer::matchSoftsign(size_t index) {
  const onnx::GraphProto &g = model.graph();
  const onnx::NodeProto &abs = g.node(static_cast<int>(index));
  if (abs.input_size() != 1 || !values.count(abs.input(0)) || values.at(abs.input(0)).isConst)
    return false;
  const std::string &xName = abs.input(0);
  int add = soleReader(abs.output(0), "Add");
  if (add < 0 || g.node(add).input_size() != 2)
    return false;
  const ConstTensor *one = constantNamed(otherInput(g.node(add), abs.output(0)));
  if (!one || one->count() != 1 || one->values[0] != 1.f)
    return false;
  int div = soleReader(g.node(add).output(0), "Div");
  if (div < 0 || g.node(div).input_size() != 2 || g.node(div).input(0) != xName ||
      g.node(div).input(1) != g.node(add).output(0))
    return false;
  consumed.insert(static_cast<size_t>(add));
  consumed.insert(static_cast<size_t>(div));
  layerUses[values.at(xName).layer] -= 1; // read by the Abs and the Div: once now
  applyActivation(abs, xName, g.node(div).output(0), "softsign", "Softsign from " + nodeLabel(abs));
  return true;
}

/// PyTorch's Softplus(beta) for beta != 1, exported as
/// y = Div(Softplus(Mul(x, beta)), beta) (its threshold is not exported):
/// softplus(beta = beta), when both constants are the same scalar and a
/// valid beta.
bool Importer::matchSoftplusBeta(size_t index) {
  const onnx::GraphProto &g = model.graph();
  const onnx::NodeProto &mul = g.node(static_cast<int>(index));
  if (mul.op_type() != "Mul" || mul.input_size() != 2)
    return false;
  const ConstTensor *beta = nullptr;
  std::string xName;
  for (int side : {0, 1})
    if (values.count(mul.input(side)) && !values.at(mul.input(side)).isConst &&
        (beta = constantNamed(mul.input(1 - side)))) {
      xName = mul.input(side);
      break;
    }
  if (!beta || beta->count() != 1 || ir::checkActParam(ir::ActKind::Softplus, beta->values[0]))
    return false;
  int softplus = soleReader(mul.output(0), "Softplus");
  if (softplus < 0 || g.node(softplus).input_size() != 1 || g.node(softplus).attribute_size())
    return false;
  int div = soleReader(g.node(softplus).output(0), "Div");
  const ConstTensor *back =
      div < 0 || g.node(div).input_size() != 2 || g.node(div).input(0) != g.node(softplus).output(0)
          ? nullptr
          : constantNamed(g.node(div).input(1));
  if (!back || back->count() != 1 || back->values[0] != beta->values[0])
    return false;
  consumed.insert(static_cast<size_t>(softplus));
  consumed.insert(static_cast<size_t>(div));
  applyActivation(mul, xName, g.node(div).output(0),
                  "softplus(beta = " + numberText(beta->values[0]) + ")",
                  "Softplus(beta) from " + nodeLabel(mul));
  return true;
}

/// LayerNorm before opset 17, as PyTorch exports it:
///   m = ReduceMean(x), d = Sub(x, m), v = ReduceMean(Pow(d, 2)),
///   y = Div(d, Sqrt(Add(v, epsilon))), then optionally Mul(y, scale) and
///   Add(y, shift), both means over the last axis.
bool Importer::matchLayerNorm(size_t index) {
  const onnx::GraphProto &g = model.graph();
  const onnx::NodeProto &mean = g.node(static_cast<int>(index));
  if (mean.input_size() != 1 || !values.count(mean.input(0)))
    return false;
  const Value x = values.at(mean.input(0));
  const std::string &xName = mean.input(0);
  int64_t rank = static_cast<int64_t>(x.shape.size());
  auto lastAxisMean = [&](const onnx::NodeProto &node) {
    std::vector<int64_t> axes = intsAttr(node, "axes");
    return node.input_size() == 1 && axes.size() == 1 && axisOf(axes[0], rank) == rank - 1 &&
           intAttr(node, "keepdims", 1) == 1;
  };
  if (x.isConst || !lastAxisMean(mean))
    return false;
  int sub = soleReader(mean.output(0), "Sub");
  if (sub < 0 || g.node(sub).input_size() != 2 || g.node(sub).input(0) != xName)
    return false;
  const std::string &d = g.node(sub).output(0);
  // d is read twice: by Pow and by Div.
  auto readers = consumers.find(d);
  if (readers == consumers.end() || readers->second.size() != 2 || uses[d] != 2)
    return false;
  int pow = -1, div = -1;
  for (size_t i : readers->second)
    (g.node(static_cast<int>(i)).op_type() == "Pow" ? pow : div) = static_cast<int>(i);
  if (pow < 0 || div < 0 || g.node(div).op_type() != "Div" || g.node(pow).input_size() != 2 ||
      g.node(pow).input(0) != d || g.node(div).input(0) != d)
    return false;
  const ConstTensor *two = constantNamed(g.node(pow).input(1));
  if (!two || two->count() != 1 || two->values[0] != 2.f)
    return false;
  int var = soleReader(g.node(pow).output(0), "ReduceMean");
  if (var < 0 || !lastAxisMean(g.node(var)))
    return false;
  int addEps = soleReader(g.node(var).output(0), "Add");
  const ConstTensor *eps = addEps < 0 || g.node(addEps).input_size() != 2
                               ? nullptr
                               : constantNamed(otherInput(g.node(addEps), g.node(var).output(0)));
  if (!eps || eps->count() != 1 || !(eps->values[0] > 0))
    return false;
  int sqrt = soleReader(g.node(addEps).output(0), "Sqrt");
  if (sqrt < 0 || soleReader(g.node(sqrt).output(0), "Div") != div ||
      g.node(div).input(1) != g.node(sqrt).output(0))
    return false;
  std::vector<int> nodes = {sub, pow, div, var, addEps, sqrt};
  std::string end = g.node(div).output(0);
  int64_t c = x.shape.back();
  // The affine part: a constant [C] (or scalar) multiplied, then added.
  std::vector<ConstTensor> affine;
  for (const char *op : {"Mul", "Add"}) {
    int next = soleReader(end, op);
    const ConstTensor *k = next < 0 || g.node(next).input_size() != 2
                               ? nullptr
                               : constantNamed(otherInput(g.node(next), end));
    if (!k || (k->count() != 1 && (k->count() != c || k->dims.empty() || k->dims.back() != c)))
      break;
    ConstTensor t;
    t.dims = {c};
    t.values = k->count() == 1 ? std::vector<float>(c, k->values[0]) : k->values;
    affine.push_back(std::move(t));
    nodes.push_back(next);
    end = g.node(next).output(0);
  }
  for (int i : nodes)
    consumed.insert(static_cast<size_t>(i));
  layerUses[x.layer] -= 1; // read by the ReduceMean and the Sub: once now
  onnx::NodeProto node = mean;
  node.set_output(0, end);
  Layer &layer = addLayer(node, "layernorm", {x.layer}, x.shape);
  layer.origin = "LayerNorm from " + nodeLabel(mean);
  const char *names[] = {"scale", "shift"};
  for (size_t i = 0; i < affine.size(); ++i)
    layer.attrs.push_back(
        {names[i], "", addTensor(layer.name + "." + names[i], std::move(affine[i]))});
  layer.attrs.push_back({"epsilon", numberText(eps->values[0]), -1});
  return true;
}

} // namespace soma::frontend::onnximport
