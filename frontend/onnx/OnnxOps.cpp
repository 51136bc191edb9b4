// ONNX nodes to soma layers: the node dispatch, the helpers every op uses,
// and the dense, elementwise and activation ops. A node whose input is
// read by nothing else may be folded into the layer before it (a bias,
// scale or activation of a dense layer or a convolution).
#include "Importer.h"

#include <algorithm>

namespace soma::frontend::onnximport {

LayerAttr *Layer::find(const std::string &attr) {
  for (LayerAttr &a : attrs)
    if (a.name == attr)
      return &a;
  return nullptr;
}

namespace {
const char *const kSupportedOps =
    "Add, AveragePool, BatchNormalization, Clip (min 0), Concat, Constant, Conv, Div, Dropout, "
    "Elu, Flatten, Gemm, GlobalAveragePool, HardSigmoid, HardSwish, Identity, "
    "LayerNormalization, LeakyRelu, LogSoftmax, MatMul, MaxPool, Mul, Pad (of nothing), PRelu "
    "(one slope), Relu, Reshape, Selu, "
    "Sigmoid, Softmax, Softplus, Softsign, Squeeze, Sub, Tanh, Transpose (of constants, or moving "
    "only axes of size 1), Unsqueeze (and Erf in the GELU pattern, Pow in GELU's tanh form, "
    "Abs in the Softsign pattern, ReduceMean, Pow and Sqrt in the LayerNorm pattern)";

} // namespace

std::string Importer::nodeLabel(const onnx::NodeProto &n) const {
  std::string name = n.name().empty() && n.output_size() ? n.output(0) : n.name();
  return n.op_type() + " '" + name + "'";
}

void Importer::fail(const onnx::NodeProto &n, const std::string &message) const {
  std::string name = n.name().empty() && n.output_size() ? n.output(0) : n.name();
  throw ImportError("'" + path + "': node '" + name + "' (" + n.op_type() + ", opset " +
                    std::to_string(opset) + "): " + message);
}

bool Importer::hasInput(const onnx::NodeProto &n, size_t input) const {
  return static_cast<int>(input) < n.input_size() && !n.input(static_cast<int>(input)).empty();
}

const Value &Importer::value(const onnx::NodeProto &n, size_t input) const {
  if (!hasInput(n, input))
    fail(n, "input " + std::to_string(input) + " is missing");
  auto it = values.find(n.input(static_cast<int>(input)));
  if (it == values.end())
    fail(n, "input '" + n.input(static_cast<int>(input)) + "' is not defined before the node");
  return it->second;
}

const Value &Importer::activation(const onnx::NodeProto &n, size_t input) const {
  const Value &v = value(n, input);
  if (v.isConst)
    fail(n, "input '" + n.input(static_cast<int>(input)) +
                "' is a constant; soma needs a value computed from the model's inputs there");
  return v;
}

const ConstTensor &Importer::constant(const onnx::NodeProto &n, size_t input) const {
  const Value &v = value(n, input);
  if (!v.isConst)
    fail(n, "input '" + n.input(static_cast<int>(input)) +
                "' is computed at run time; soma needs a constant (an initializer) there");
  return v.c;
}

ConstTensor Importer::takeConstant(const onnx::NodeProto &n, size_t input) {
  const ConstTensor &c = constant(n, input);
  const std::string &name = n.input(static_cast<int>(input));
  if (uses[name] != 1)
    return c;
  ConstTensor taken = std::move(values[name].c);
  values[name].c = ConstTensor{taken.dims, {}, {}, taken.isInt}; // its shape stays readable
  return taken;
}

const onnx::AttributeProto *Importer::attr(const onnx::NodeProto &n,
                                           const std::string &name) const {
  for (const onnx::AttributeProto &a : n.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

int64_t Importer::intAttr(const onnx::NodeProto &n, const std::string &name, int64_t dflt) const {
  const onnx::AttributeProto *a = attr(n, name);
  return a ? a->i() : dflt;
}

float Importer::floatAttr(const onnx::NodeProto &n, const std::string &name, float dflt) const {
  const onnx::AttributeProto *a = attr(n, name);
  return a ? a->f() : dflt;
}

std::vector<int64_t> Importer::intsAttr(const onnx::NodeProto &n, const std::string &name) const {
  const onnx::AttributeProto *a = attr(n, name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
}

std::string Importer::stringAttr(const onnx::NodeProto &n, const std::string &name) const {
  const onnx::AttributeProto *a = attr(n, name);
  return a ? a->s() : std::string();
}

void Importer::allowAttrs(const onnx::NodeProto &n, const std::set<std::string> &allowed) const {
  for (const onnx::AttributeProto &a : n.attribute())
    if (!allowed.count(a.name())) {
      std::string list;
      for (const std::string &s : allowed)
        list += (list.empty() ? "" : ", ") + s;
      fail(n, "attribute '" + a.name() + "' is not supported; soma supports " +
                  (list.empty() ? "none for this op" : list));
    }
}

void Importer::onlyFirstOutput(const onnx::NodeProto &n) const {
  for (int i = 1; i < n.output_size(); ++i)
    if (auto u = uses.find(n.output(i)); u != uses.end() && u->second > 0)
      fail(n, "output " + std::to_string(i) + " ('" + n.output(i) +
                  "') is used; soma computes only the first output");
}

std::string Importer::layerName(const onnx::NodeProto &n) {
  std::string out = n.output(0);
  std::string name = sanitizeName(out);
  bool isOutput = false;
  for (const onnx::ValueInfoProto &o : model.graph().output())
    isOutput |= o.name() == out;
  if (!isOutput || takenNames.count(name))
    name = sanitizeName(n.name().empty() ? out : n.name());
  std::string base = name;
  for (int k = 2; takenNames.count(name) || (!isOutput && reservedNames.count(name)); ++k)
    name = base + "_" + std::to_string(k);
  takenNames.insert(name);
  return name;
}

Layer &Importer::addLayer(const onnx::NodeProto &n, std::string kind,
                          std::vector<std::string> operands, std::vector<int64_t> shape) {
  Layer layer;
  layer.kind = std::move(kind);
  layer.name = layerName(n);
  layer.operands = std::move(operands);
  layer.origin = nodeLabel(n);
  layerUses[layer.name] = uses[n.output(0)];
  Value v;
  v.layer = layer.name;
  v.shape = std::move(shape);
  values[n.output(0)] = std::move(v);
  layerIndex[layer.name] = layers.size();
  layers.push_back(std::move(layer));
  return layers.back();
}

int Importer::addTensor(const std::string &name, ConstTensor t) {
  tensors.push_back({name, std::move(t)});
  return static_cast<int>(tensors.size()) - 1;
}

Layer *Importer::foldTarget(const std::string &in, const std::set<std::string> &kinds) {
  auto v = values.find(in);
  if (v == values.end() || v->second.isConst)
    return nullptr;
  auto it = layerIndex.find(v->second.layer);
  if (it == layerIndex.end() || layerUses[v->second.layer] != 1)
    return nullptr;
  Layer &layer = layers[it->second];
  return kinds.count(layer.kind) ? &layer : nullptr;
}

void Importer::foldInto(Layer &layer, const std::string &in, const std::string &out,
                        std::vector<int64_t> shape, const std::string &origin) {
  (void)in;
  layerUses[layer.name] += uses[out] - 1;
  layer.origin += " + " + origin;
  Value v;
  v.layer = layer.name;
  v.shape = std::move(shape);
  values[out] = std::move(v);
}

void Importer::defineAlias(const onnx::NodeProto &n, const Value &v) {
  if (!v.isConst)
    layerUses[v.layer] += uses[n.output(0)] - 1;
  Value copy = v;
  values[n.output(0)] = std::move(copy);
}

int64_t Importer::axisOf(int64_t axis, int64_t rank) const {
  int64_t onnxRank = wholeSample ? rank - 1 : rank;
  if (axis < 0)
    axis += onnxRank;
  return wholeSample ? axis + 1 : axis;
}

void Importer::needsBatchAxis(const onnx::NodeProto &n) const {
  if (wholeSample)
    fail(n, "the model's inputs have no batch axis (fixed shapes that do not import with axis 0 "
            "as the batch); soma's " +
                n.op_type() + " reads axis 0 as the batch");
}

void Importer::importNode(size_t index) {
  const onnx::NodeProto &n = model.graph().node(static_cast<int>(index));
  if (!n.domain().empty() && n.domain() != "ai.onnx")
    fail(n,
         "ops of domain '" + n.domain() + "' are not supported; soma imports the default domain");
  if (n.output_size() < 1 || n.output(0).empty())
    fail(n, "the node has no output");
  const std::string &op = n.op_type();
  if (op == "Gemm")
    importGemm(n);
  else if (op == "MatMul")
    importMatMul(n);
  else if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
    if (!matchGelu(index) && !matchGeluTanh(index) && !matchSoftplusBeta(index))
      importBinary(n);
  } else if (op == "Relu" || op == "Sigmoid" || op == "Tanh" || op == "Softplus" ||
             op == "Softsign")
    importActivation(n, op == "Relu"       ? "relu"
                        : op == "Sigmoid"  ? "sigmoid"
                        : op == "Tanh"     ? "tanh"
                        : op == "Softsign" ? "softsign"
                                           : "softplus");
  else if (op == "LeakyRelu" || op == "Elu" || op == "HardSigmoid" || op == "Selu")
    importActivation(n, "");
  else if (op == "Softmax" || op == "LogSoftmax")
    importSoftmax(n);
  else if (op == "HardSwish" || op == "PRelu" || op == "Clip")
    importOtherActivation(n);
  else if (op == "LayerNormalization")
    importLayerNorm(n);
  else if (op == "Squeeze" || op == "Unsqueeze" || op == "Transpose")
    importAxesOp(n);
  else if (op == "Identity" || op == "Dropout" || op == "Constant" || op == "Flatten" ||
           op == "Reshape" || op == "Pad")
    importShapeOp(n);
  else if (op == "Concat")
    importConcat(n);
  else if (op == "BatchNormalization")
    importBatchNorm(n);
  else if (op == "Conv")
    importConv(n);
  else if (op == "MaxPool" || op == "AveragePool")
    importPool(n);
  else if (op == "GlobalAveragePool")
    importGlobalPool(n);
  else if (op == "Erf")
    fail(n, "Erf is supported only as part of GELU, x * 0.5 * (1 + erf(x / sqrt(2)))");
  else if (op == "Abs") {
    if (!matchSoftsign(index))
      fail(n, "Abs is supported only as part of Softsign, x / (1 + abs(x))");
  } else if (op == "Pow") {
    if (!matchGeluTanh(index))
      fail(n,
           "Pow is supported only as x^3 in GELU's tanh form, "
           "x * 0.5 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))), and as part of LayerNorm");
  } else if (op == "ReduceMean") {
    if (!matchLayerNorm(index))
      fail(n, "ReduceMean is supported only as part of LayerNorm over the last axis, "
              "(x - mean(x)) / sqrt(mean((x - mean(x))^2) + epsilon) * scale + shift");
  } else
    fail(n, "op '" + op + "' is not supported; soma imports " + kSupportedOps);
}

namespace {
/// A constant broadcast against a value of ONNX shape `shape` that varies
/// along axis `axis` only: its `shape[axis]` values (a scalar repeated), or
/// empty when it varies along another axis.
std::vector<float> alongAxis(const ConstTensor &c, const std::vector<int64_t> &shape, size_t axis) {
  if (c.dims.size() > shape.size())
    return {};
  size_t offset = shape.size() - c.dims.size();
  int64_t n = shape[axis];
  bool varies = false;
  for (size_t i = 0; i < c.dims.size(); ++i) {
    if (c.dims[i] == 1)
      continue;
    if (i + offset != axis || c.dims[i] != n)
      return {};
    varies = true;
  }
  if (!varies)
    return std::vector<float>(n, c.values.empty() ? 0.f : c.values[0]);
  return c.values;
}
} // namespace

void Importer::importGemm(const onnx::NodeProto &n) {
  allowAttrs(n, {"alpha", "beta", "transA", "transB"});
  onlyFirstOutput(n);
  needsBatchAxis(n);
  const Value &a = activation(n, 0);
  if (a.shape.size() != 2)
    fail(n, "A has shape " + shapeText(a.shape) + "; soma's Gemm reads a [N, K] value");
  if (intAttr(n, "transA", 0) != 0)
    fail(n, "transA = 1 transposes the batch axis away; soma supports transA = 0");
  const ConstTensor &b = constant(n, 1);
  bool transB = intAttr(n, "transB", 0) != 0;
  float alpha = floatAttr(n, "alpha", 1.f), beta = floatAttr(n, "beta", 1.f);
  int64_t k = a.shape[1];
  if (b.dims.size() != 2 || b.dims[transB ? 1 : 0] != k)
    fail(n, "B has shape " + shapeText(b.dims) + "; with transB = " + (transB ? "1" : "0") +
                " and A " + shapeText(a.shape) + " it must be " +
                (transB ? "[M, " + std::to_string(k) + "]" : "[" + std::to_string(k) + ", M]"));
  int64_t m = b.dims[transB ? 0 : 1];
  ConstTensor w;
  w.dims = {m, k};
  w.values.resize(m * k);
  for (int64_t o = 0; o < m; ++o)
    for (int64_t i = 0; i < k; ++i)
      w.values[o * k + i] = alpha * b.values[transB ? o * k + i : i * m + o];
  std::vector<float> bias;
  if (hasInput(n, 2)) {
    const ConstTensor &c = constant(n, 2);
    bias = alongAxis(c, {-1, m}, 1);
    if (bias.empty())
      fail(n, "C has shape " + shapeText(c.dims) + "; soma's Gemm adds a bias of shape [" +
                  std::to_string(m) + "] (or one broadcast to it)");
    for (float &v : bias)
      v *= beta;
  }
  Layer &layer = addDense(n, a.layer, std::move(w));
  if (!bias.empty()) {
    ConstTensor bt;
    bt.dims = {m};
    bt.values = std::move(bias);
    layer.attrs.push_back({"bias", "", addTensor(layer.name + ".bias", std::move(bt))});
  }
}

void Importer::importMatMul(const onnx::NodeProto &n) {
  allowAttrs(n, {});
  needsBatchAxis(n);
  const Value &a = activation(n, 0);
  if (a.shape.size() != 2)
    fail(n, "A has shape " + shapeText(a.shape) + "; soma's MatMul reads a [N, K] value");
  const ConstTensor &b = constant(n, 1);
  int64_t k = a.shape[1];
  if (b.dims.size() != 2 || b.dims[0] != k)
    fail(n, "B has shape " + shapeText(b.dims) + "; with A " + shapeText(a.shape) +
                " soma needs a constant [" + std::to_string(k) + ", M]");
  int64_t m = b.dims[1];
  ConstTensor w;
  w.dims = {m, k};
  w.values.resize(m * k);
  for (int64_t o = 0; o < m; ++o)
    for (int64_t i = 0; i < k; ++i)
      w.values[o * k + i] = b.values[i * m + o];
  addDense(n, a.layer, std::move(w));
}

Layer &Importer::addDense(const onnx::NodeProto &n, const std::string &in, ConstTensor weights) {
  const int64_t m = weights.dims[0], k = weights.dims[1];
  Layer &layer = addLayer(n, "dense", {in}, {-1, m});
  layer.attrs.push_back({"units", std::to_string(m), -1});
  layer.attrs.push_back({"weights", "", addTensor(layer.name + ".weight", std::move(weights))});
  if (m == k) // a square matrix fits either layout: say it is [units, inputs]
    layer.attrs.push_back({"layout", "out_in", -1});
  return layer;
}

void Importer::applyScaleShift(const onnx::NodeProto &n, const std::string &in,
                               const std::string &out, const ScaleShift &channels,
                               const ScaleShift &last) {
  const Value x = values.at(in);
  // Into a dense layer or a convolution with no activation yet: its weights
  // scaled per output, its bias scaled and shifted.
  Layer *target = foldTarget(in, {"dense", "conv1d", "conv2d"});
  if (target && target->has("activation"))
    target = nullptr;
  const ScaleShift *fold = !target                   ? nullptr
                           : target->kind == "dense" ? (last.scale.empty() ? nullptr : &last)
                           : channels.scale.empty()  ? nullptr
                                                     : &channels;
  if (fold) {
    LayerAttr *bias = target->find("bias");
    int64_t units = static_cast<int64_t>(fold->shift.size());
    if (!bias) {
      ConstTensor bt;
      bt.dims = {units};
      bt.values.assign(units, 0.f);
      target->attrs.push_back({"bias", "", addTensor(target->name + ".bias", std::move(bt))});
      bias = target->find("bias");
    }
    ConstTensor &w = tensors[target->find("weights")->tensor].t;
    ConstTensor &b = tensors[bias->tensor].t;
    int64_t per = w.count() / units;
    for (int64_t o = 0; o < units; ++o) {
      for (int64_t i = 0; i < per; ++i)
        w.values[o * per + i] *= fold->scale[o];
      b.values[o] = b.values[o] * fold->scale[o] + fold->shift[o];
    }
    foldInto(*target, in, out, x.shape, nodeLabel(n));
    return;
  }
  if (last.scale.empty()) {
    // Per channel of a [C, L] or [C, H, W] sample: a depthwise 1x1
    // convolution, weight scale[c] and bias shift[c] for channel c.
    size_t rank = x.shape.size();
    if (channels.scale.empty() || (rank != 3 && rank != 4))
      fail(n, "a per-channel constant over a value of shape " + shapeText(x.shape) +
                  "; soma applies constants along the last axis, or per channel of a 1-D or "
                  "2-D spatial value");
    int64_t c = static_cast<int64_t>(channels.scale.size());
    Layer &layer = addLayer(n, rank == 4 ? "conv2d" : "conv1d", {x.layer}, x.shape);
    layer.attrs.push_back({"filters", std::to_string(c), -1});
    layer.attrs.push_back({"kernel", "1", -1});
    if (c > 1)
      layer.attrs.push_back({"groups", std::to_string(c), -1});
    ConstTensor w, b;
    w.dims = rank == 4 ? std::vector<int64_t>{c, 1, 1, 1} : std::vector<int64_t>{c, 1, 1};
    w.values = channels.scale;
    b.dims = {c};
    b.values = channels.shift;
    layer.attrs.push_back({"weights", "", addTensor(layer.name + ".weight", std::move(w))});
    layer.attrs.push_back({"bias", "", addTensor(layer.name + ".bias", std::move(b))});
    return;
  }
  Layer &layer = addLayer(n, "scaleshift", {x.layer}, x.shape);
  int64_t c = static_cast<int64_t>(last.scale.size());
  bool unitScale =
      std::all_of(last.scale.begin(), last.scale.end(), [](float v) { return v == 1.f; });
  bool zeroShift =
      std::all_of(last.shift.begin(), last.shift.end(), [](float v) { return v == 0.f; });
  if (!unitScale) {
    ConstTensor t;
    t.dims = {c};
    t.values = last.scale;
    layer.attrs.push_back({"scale", "", addTensor(layer.name + ".scale", std::move(t))});
  }
  if (!zeroShift || unitScale) {
    ConstTensor t;
    t.dims = {c};
    t.values = last.shift;
    layer.attrs.push_back({"shift", "", addTensor(layer.name + ".shift", std::move(t))});
  }
}

void Importer::importBinary(const onnx::NodeProto &n) {
  allowAttrs(n, {});
  const std::string &op = n.op_type();
  const Value &a = value(n, 0);
  const Value &b = value(n, 1);
  if (a.isConst && b.isConst)
    fail(n, "both inputs are constants; soma imports constant arithmetic only inside a value's "
            "computation (fold it with an ONNX optimiser first)");
  if (!a.isConst && !b.isConst) {
    if (a.shape != b.shape)
      fail(n, "its inputs have shapes " + shapeText(a.shape) + " and " + shapeText(b.shape) +
                  "; soma's elementwise ops between two values need equal shapes");
    if (op == "Div")
      fail(n, "Div of two computed values is not supported; soma divides by constants only");
    if (op == "Mul") {
      for (int side = 0; side < 2; ++side) {
        auto s = sigmoidOf.find(n.input(side));
        if (s != sigmoidOf.end() && s->second == n.input(1 - side)) {
          // When this Mul is the sigmoid's only reader, the sigmoid layer
          // goes, and with it its read of x.
          if (uses[n.input(side)] == 1)
            layerUses[values.at(n.input(1 - side)).layer] -= 1;
          applyActivation(n, n.input(1 - side), n.output(0), "silu", "SiLU " + nodeLabel(n));
          return;
        }
      }
    }
    std::string la = a.layer, lb = b.layer;
    std::vector<int64_t> shape = a.shape;
    if (op == "Sub") {
      // a - b = a + (-1 * b): the negation is a layer of its own.
      onnx::NodeProto neg = n;
      neg.set_output(0, n.output(0) + "_negated");
      neg.set_name(n.name().empty() ? "" : n.name() + "_negated");
      uses[neg.output(0)] = 1;
      Layer &nl = addLayer(neg, "scaleshift", {lb}, b.shape);
      ConstTensor t;
      t.dims = {b.shape.back()};
      t.values.assign(b.shape.back(), -1.f);
      nl.attrs.push_back({"scale", "", addTensor(nl.name + ".scale", std::move(t))});
      lb = nl.name;
    }
    addLayer(n, op == "Mul" ? "mul" : "add", {la, lb}, shape);
    return;
  }
  bool constFirst = a.isConst;
  const std::string &in = n.input(constFirst ? 1 : 0);
  const Value &x = constFirst ? b : a;
  const ConstTensor &c = constFirst ? a.c : b.c;
  if (op == "Div" && constFirst)
    fail(n, "a constant divided by a value is not supported; soma divides by constants only");
  auto toScaleShift = [&](const std::vector<float> &k) {
    ScaleShift r;
    if (k.empty())
      return r;
    r.scale.assign(k.size(), 1.f);
    r.shift.assign(k.size(), 0.f);
    for (size_t i = 0; i < k.size(); ++i) {
      if (op == "Add")
        r.shift[i] = k[i];
      else if (op == "Sub" && !constFirst)
        r.shift[i] = -k[i];
      else if (op == "Sub") {
        r.scale[i] = -1.f;
        r.shift[i] = k[i];
      } else if (op == "Mul")
        r.scale[i] = k[i];
      else
        r.scale[i] = 1.f / k[i];
    }
    return r;
  };
  ScaleShift channels =
      toScaleShift(x.shape.size() >= 3 ? alongAxis(c, x.shape, 1) : std::vector<float>{});
  ScaleShift last = toScaleShift(alongAxis(c, x.shape, x.shape.size() - 1));
  if (channels.scale.empty() && last.scale.empty())
    fail(n, "a constant of shape " + shapeText(c.dims) + " over a value of shape " +
                shapeText(x.shape) +
                "; soma folds constants that vary along one axis (the last, or a convolution's "
                "channels)");
  applyScaleShift(n, in, n.output(0), channels, last);
}

} // namespace soma::frontend::onnximport
