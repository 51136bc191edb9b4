// ONNX's spatial ops: Conv, MaxPool, AveragePool, GlobalAveragePool and
// BatchNormalization (over [N, C] as soma's batchnorm, over [N, C, ...]
// folded into the convolution before it, which soma's per-last-axis
// batchnorm cannot express).
#include "Importer.h"

#include <algorithm>
#include <cmath>

namespace soma::frontend::onnximport {

namespace {
/// Window geometry of a Conv or pool node, per spatial axis.
struct Window {
  std::vector<int64_t> kernel, stride, dilation, padBegin, padEnd, out;
};

std::vector<int64_t> orDefault(std::vector<int64_t> v, size_t n, int64_t dflt) {
  if (v.empty())
    v.assign(n, dflt);
  return v;
}
} // namespace

namespace {
Window windowOf(Importer &im, const onnx::NodeProto &n, const std::vector<int64_t> &shape,
                std::vector<int64_t> kernel) {
  size_t axes = shape.size() - 2;
  Window w;
  w.kernel = std::move(kernel);
  w.stride = orDefault(im.intsAttr(n, "strides"), axes, 1);
  w.dilation = orDefault(im.intsAttr(n, "dilations"), axes, 1);
  std::vector<int64_t> pads = orDefault(im.intsAttr(n, "pads"), 2 * axes, 0);
  if (w.kernel.size() != axes || w.stride.size() != axes || w.dilation.size() != axes ||
      pads.size() != 2 * axes)
    im.fail(n, "kernel_shape, strides, dilations and pads must give each of the " +
                   std::to_string(axes) + " spatial axes of a value of shape " + shapeText(shape));
  std::string autoPad = im.stringAttr(n, "auto_pad");
  for (size_t i = 0; i < axes; ++i) {
    int64_t size = shape[i + 2];
    auto inRange = [](int64_t v, int64_t lo) { return v >= lo && v <= kMaxDim; };
    if (!inRange(w.kernel[i], 1) || !inRange(w.stride[i], 1) || !inRange(w.dilation[i], 1) ||
        !inRange(pads[i], 0) || !inRange(pads[i + axes], 0))
      im.fail(n, "kernel_shape, strides and dilations must be 1 to 268435456 and pads 0 to "
                 "268435456");
    if (w.dilation[i] * (w.kernel[i] - 1) + 1 > 2 * kMaxDim)
      im.fail(n, "the dilated window is wider than 536870912");
    int64_t span = w.dilation[i] * (w.kernel[i] - 1) + 1;
    int64_t begin = pads[i], end = pads[i + axes];
    if (autoPad == "VALID")
      begin = end = 0;
    else if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      int64_t outSize = (size + w.stride[i] - 1) / w.stride[i];
      int64_t total = std::max<int64_t>((outSize - 1) * w.stride[i] + span - size, 0);
      int64_t small = total / 2;
      begin = autoPad == "SAME_UPPER" ? small : total - small;
      end = total - begin;
    } else if (!autoPad.empty() && autoPad != "NOTSET")
      im.fail(n, "auto_pad = '" + autoPad +
                     "' is not supported; soma supports NOTSET, VALID, SAME_UPPER, SAME_LOWER");
    if (size + begin + end < span)
      im.fail(n, "the window (" + std::to_string(span) + " wide) does not fit axis " +
                     std::to_string(i + 2) + " of a value of shape " + shapeText(shape));
    w.padBegin.push_back(begin);
    w.padEnd.push_back(end);
    w.out.push_back((size + begin + end - span) / w.stride[i] + 1);
  }
  return w;
}

/// The window's attributes; a convolution's defaults (stride and dilation
/// 1, no padding) are left out, a pool's stride never is (soma's default
/// is the kernel, ONNX's 1).
void windowAttrs(Layer &layer, const Window &w, bool conv) {
  auto allOne = [](const std::vector<int64_t> &v) {
    return std::all_of(v.begin(), v.end(), [](int64_t x) { return x == 1; });
  };
  std::vector<int64_t> pads = w.padBegin;
  pads.insert(pads.end(), w.padEnd.begin(), w.padEnd.end());
  layer.attrs.push_back({"kernel", intsText(w.kernel), -1});
  if (!conv || !allOne(w.stride))
    layer.attrs.push_back({"stride", intsText(w.stride), -1});
  if (std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p != 0; }))
    layer.attrs.push_back({"padding", intsText(pads), -1});
  if (conv && !allOne(w.dilation))
    layer.attrs.push_back({"dilation", intsText(w.dilation), -1});
}
} // namespace

void Importer::importConv(const onnx::NodeProto &n) {
  allowAttrs(n, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
  needsBatchAxis(n);
  const Value &x = activation(n, 0);
  if (x.shape.size() != 3 && x.shape.size() != 4)
    fail(n, "X has shape " + shapeText(x.shape) + "; soma has 1-D and 2-D convolutions");
  const ConstTensor &wt = constant(n, 1);
  int64_t group = intAttr(n, "group", 1), channels = x.shape[1];
  if (wt.dims.size() != x.shape.size() || group < 1 || channels % group != 0 ||
      wt.dims[1] * group != channels || wt.dims[0] % group != 0)
    fail(n, "W has shape " + shapeText(wt.dims) + "; with X " + shapeText(x.shape) +
                " and group = " + std::to_string(group) + " it must be [M, " +
                std::to_string(group > 0 ? channels / group : channels) + ", kernel...]");
  std::vector<int64_t> kernel(wt.dims.begin() + 2, wt.dims.end());
  if (attr(n, "kernel_shape") && intsAttr(n, "kernel_shape") != kernel)
    fail(n, "kernel_shape " + intsText(intsAttr(n, "kernel_shape")) + " differs from W's " +
                intsText(kernel));
  Window w = windowOf(*this, n, x.shape, kernel);
  int64_t filters = wt.dims[0];
  ConstTensor bias;
  if (hasInput(n, 2)) {
    bias = constant(n, 2);
    if (bias.count() != filters)
      fail(n, "B has shape " + shapeText(bias.dims) + "; it must be [" + std::to_string(filters) +
                  "]");
    bias.dims = {filters};
  }
  std::vector<int64_t> shape = {-1, filters};
  shape.insert(shape.end(), w.out.begin(), w.out.end());
  ConstTensor weights = takeConstant(n, 1); // wt's values, moved when n alone reads them
  std::string in = x.layer;
  Layer &layer = addLayer(n, x.shape.size() == 4 ? "conv2d" : "conv1d", {in}, shape);
  layer.attrs.push_back({"filters", std::to_string(filters), -1});
  windowAttrs(layer, w, true);
  if (group != 1)
    layer.attrs.push_back({"groups", std::to_string(group), -1});
  layer.attrs.push_back({"weights", "", addTensor(layer.name + ".weight", std::move(weights))});
  if (!bias.values.empty())
    layer.attrs.push_back({"bias", "", addTensor(layer.name + ".bias", std::move(bias))});
}

void Importer::importPool(const onnx::NodeProto &n) {
  bool max = n.op_type() == "MaxPool";
  if (max)
    allowAttrs(n, {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order",
                   "strides"});
  else
    allowAttrs(n,
               {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"});
  onlyFirstOutput(n);
  needsBatchAxis(n);
  const Value &x = activation(n, 0);
  if (x.shape.size() != 3 && x.shape.size() != 4)
    fail(n, "X has shape " + shapeText(x.shape) + "; soma pools over 1 or 2 spatial axes");
  if (!attr(n, "kernel_shape"))
    fail(n, "kernel_shape is missing");
  Window w = windowOf(*this, n, x.shape, intsAttr(n, "kernel_shape"));
  for (int64_t d : w.dilation)
    if (d != 1)
      fail(n, "dilations " + intsText(w.dilation) + "; soma pools with dilation 1");
  if (intAttr(n, "ceil_mode", 0) != 0)
    for (size_t i = 0; i < w.out.size(); ++i) {
      int64_t size = x.shape[i + 2] + w.padBegin[i] + w.padEnd[i] - w.kernel[i];
      if (size % w.stride[i] != 0)
        fail(n, "ceil_mode = 1 adds a partial window on axis " + std::to_string(i + 2) +
                    "; soma pools whole windows (ceil_mode = 0)");
    }
  std::vector<int64_t> shape = {-1, x.shape[1]};
  shape.insert(shape.end(), w.out.begin(), w.out.end());
  std::string in = x.layer;
  Layer &layer = addLayer(n, max ? "maxpool" : "avgpool", {in}, shape);
  windowAttrs(layer, w, false);
  if (!max && intAttr(n, "count_include_pad", 0) != 0)
    layer.attrs.push_back({"count_include_pad", "true", -1});
}

void Importer::importGlobalPool(const onnx::NodeProto &n) {
  allowAttrs(n, {});
  needsBatchAxis(n);
  const Value &x = activation(n, 0);
  if (x.shape.size() != 3 && x.shape.size() != 4)
    fail(n, "X has shape " + shapeText(x.shape) + "; soma pools over 1 or 2 spatial axes");
  // soma's global_avgpool gives [C]; ONNX keeps the spatial axes as 1s, so
  // a reshape follows (a no-op at run time) to keep later shapes exact.
  onnx::NodeProto pool = n;
  pool.set_output(0, n.output(0) + "_pooled");
  pool.set_name(n.name().empty() ? "" : n.name() + "_pooled");
  uses[pool.output(0)] = 1;
  std::string in = x.layer;
  Layer &pl = addLayer(pool, "global_avgpool", {in}, {-1, x.shape[1]});
  std::string pooled = pl.name;
  std::vector<int64_t> shape(x.shape.size(), 1);
  shape[0] = -1;
  shape[1] = x.shape[1];
  Layer &layer = addLayer(n, "reshape", {pooled}, shape);
  layer.attrs.push_back(
      {"shape", intsText(std::vector<int64_t>(shape.begin() + 1, shape.end())), -1});
}

void Importer::importBatchNorm(const onnx::NodeProto &n) {
  allowAttrs(n, {"epsilon", "momentum", "spatial", "training_mode"});
  onlyFirstOutput(n);
  if (intAttr(n, "spatial", 1) != 1)
    fail(n, "spatial = 0 is not supported; soma normalises per channel (spatial = 1)");
  if (intAttr(n, "training_mode", 0) != 0)
    fail(n, "training_mode = 1 is not supported; soma imports inference");
  needsBatchAxis(n);
  const Value &x = activation(n, 0);
  if (x.shape.size() < 2)
    fail(n, "X has shape " + shapeText(x.shape) + "; it needs a channel axis");
  int64_t c = x.shape[1];
  const char *names[] = {"scale", "B", "mean", "var"};
  std::vector<ConstTensor> p;
  for (size_t i = 1; i <= 4; ++i) {
    p.push_back(constant(n, i));
    if (p.back().count() != c)
      fail(n, std::string(names[i - 1]) + " has shape " + shapeText(p.back().dims) +
                  "; it must be [" + std::to_string(c) + "]");
    p.back().dims = {c};
  }
  float eps = floatAttr(n, "epsilon", 1e-5f);
  if (!(eps > 0))
    fail(n, "epsilon = " + numberText(eps) + "; soma needs a positive epsilon");
  const std::string &in = n.input(0);
  if (x.shape.size() == 2) {
    std::string operand = x.layer;
    Layer &layer = addLayer(n, "batchnorm", {operand}, x.shape);
    const char *attrs[] = {"scale", "shift", "mean", "variance"};
    for (size_t i = 0; i < 4; ++i)
      layer.attrs.push_back(
          {attrs[i], "", addTensor(layer.name + "." + attrs[i], std::move(p[i]))});
    layer.attrs.push_back({"epsilon", numberText(eps), -1});
    return;
  }
  // s = scale / sqrt(var + eps); y = x * s + (B - mean * s), per channel.
  ScaleShift ss;
  for (int64_t i = 0; i < c; ++i) {
    double s = p[0].values[i] / std::sqrt(static_cast<double>(p[3].values[i]) + eps);
    ss.scale.push_back(static_cast<float>(s));
    ss.shift.push_back(static_cast<float>(p[1].values[i] - p[2].values[i] * s));
  }
  // Folded into the convolution before it, else a depthwise 1x1 one.
  applyScaleShift(n, in, n.output(0), ss, ScaleShift{});
}

void Importer::importLayerNorm(const onnx::NodeProto &n) {
  allowAttrs(n, {"axis", "epsilon", "stash_type"});
  onlyFirstOutput(n);
  const Value &x = activation(n, 0);
  int64_t rank = static_cast<int64_t>(x.shape.size());
  int64_t axis = axisOf(intAttr(n, "axis", -1), rank);
  if (axis != rank - 1)
    fail(n, "axis = " + std::to_string(intAttr(n, "axis", -1)) + " over a value of shape " +
                shapeText(x.shape) + "; soma's layernorm normalises the last axis");
  int64_t c = x.shape.back();
  std::vector<ConstTensor> p;
  for (size_t i = 1; i <= 2; ++i) {
    if (!hasInput(n, i))
      continue;
    p.push_back(constant(n, i));
    ConstTensor &t = p.back();
    std::vector<float> v = t.count() == 1 ? std::vector<float>(c, t.values[0]) : t.values;
    if (static_cast<int64_t>(v.size()) != c)
      fail(n, std::string(i == 1 ? "Scale" : "B") + " has shape " + shapeText(t.dims) +
                  "; it must be [" + std::to_string(c) + "]");
    t.dims = {c};
    t.values = std::move(v);
  }
  float eps = floatAttr(n, "epsilon", 1e-5f);
  if (!(eps > 0))
    fail(n, "epsilon = " + numberText(eps) + "; soma needs a positive epsilon");
  std::string operand = x.layer;
  Layer &layer = addLayer(n, "layernorm", {operand}, x.shape);
  const char *attrs[] = {"scale", "shift"};
  for (size_t i = 0; i < p.size(); ++i)
    layer.attrs.push_back({attrs[i], "", addTensor(layer.name + "." + attrs[i], std::move(p[i]))});
  layer.attrs.push_back({"epsilon", numberText(eps), -1});
}

} // namespace soma::frontend::onnximport
