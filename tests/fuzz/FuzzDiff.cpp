#include "FuzzDiff.h"

#include "FuzzSupport.h"

#include "soma/ir/Evaluate.h"
#include "soma/ir/Printer.h"
#include "soma/soma.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <unordered_map>

namespace soma::fuzz {

namespace {

constexpr double kU = 0x1p-24;
constexpr double kInf = std::numeric_limits<double>::infinity();
/// Values beyond this are not compared (f32 overflow is close).
constexpr double kHuge = 1e30;
/// The vector math's relative error (the engines' transcendental functions).
constexpr double kMathRel = 4e-6;

bool tame(double v) { return std::isfinite(v) && std::fabs(v) <= kHuge; }

/// Element `i` of an operand as evaluateOp reads it: an unbatched value
/// repeats for every sample.
struct View {
  const Bounded *b;
  double v(int64_t i) const {
    return b->value.values[static_cast<size_t>(i) % b->value.values.size()];
  }
  double e(int64_t i) const { return b->bound[static_cast<size_t>(i) % b->bound.size()]; }
};

/// A bound on |f(z') - f(z)| for |z' - z| <= ez, plus the engine's rounding
/// of y = f(z) (not softmax).
double activationBound(const ir::Activation &act, double z, double ez, double y) {
  if (!tame(z) || !tame(y) || !std::isfinite(ez))
    return kInf;
  const double alpha = std::fabs(static_cast<double>(act.param));
  switch (act.kind) {
  case ir::ActKind::Identity:
  case ir::ActKind::Relu:
    return ez + kU * std::fabs(y);
  case ir::ActKind::LeakyRelu:
    return std::max(1.0, alpha) * ez + 2 * kU * (std::fabs(y) + alpha * std::fabs(z));
  case ir::ActKind::Step:
    return std::fabs(z - static_cast<double>(act.param)) > 2 * ez ? 0.0 : kInf;
  case ir::ActKind::HardSigmoid:
    return std::max(1.0 / 6, alpha) * ez + 4 * kU * (std::fabs(y) + 1);
  case ir::ActKind::Clip:
    return ez;
  case ir::ActKind::Softmax:
  case ir::ActKind::LogSoftmax:
    return kInf; // row-wise: activationBounds
  case ir::ActKind::Selu: {
    const double gamma = std::fabs(static_cast<double>(act.param2));
    return gamma * std::max(1.0, alpha) * ez + kMathRel * std::fabs(y) +
           4 * kU * gamma * std::max(1.0, alpha);
  }
  case ir::ActKind::Softsign:
  case ir::ActKind::GeluTanh:
  case ir::ActKind::Sigmoid:
  case ir::ActKind::Tanh:
  case ir::ActKind::Gelu:
  case ir::ActKind::Silu:
  case ir::ActKind::Elu:
  case ir::ActKind::Softplus: {
    double lipschitz = act.kind == ir::ActKind::Sigmoid ? 0.25
                       : act.kind == ir::ActKind::Elu   ? std::max(1.0, alpha)
                                                        : 1.13;
    return lipschitz * ez + kMathRel * std::fabs(y) + 4 * kU * std::max(1.0, alpha);
  }
  }
  return kInf;
}

/// Applies the op's activation to the pre-activation values `z` (with
/// bounds `ez`), rows of `width`, filling out.bound (out.value holds the
/// interpreter's results).
void activationBounds(const ir::Activation &act, const std::vector<double> &z,
                      const std::vector<double> &ez, int64_t width, Bounded &out) {
  const size_t total = out.value.values.size();
  if (!ir::isRowwise(act.kind)) {
    for (size_t i = 0; i < total; ++i)
      out.bound[i] = activationBound(act, z[i], ez[i], out.value.values[i]);
    return;
  }
  const bool logRows = act.kind == ir::ActKind::LogSoftmax;
  for (size_t r = 0; width > 0 && r < total / static_cast<size_t>(width); ++r) {
    double worst = 0;
    for (int64_t c = 0; c < width; ++c) {
      size_t i = r * static_cast<size_t>(width) + static_cast<size_t>(c);
      worst = tame(z[i]) ? std::max(worst, ez[i]) : kInf;
    }
    for (int64_t c = 0; c < width; ++c) {
      size_t i = r * static_cast<size_t>(width) + static_cast<size_t>(c);
      double y = out.value.values[i];
      // log_softmax: y = d - L moves by at most 2 worst, and rounds
      // d, L and the difference (L's error relative to L <= |y|, plus the
      // sum's and the exps' error, absolute and below (width + 8) u + 1e-6).
      out.bound[i] =
          !std::isfinite(worst) || worst >= 1 ? kInf
          : logRows ? 2 * worst + (std::fabs(y) + 1) * ((double(width) + 8) * kU + 1e-5) + 1e-30
                    : y * (std::expm1(2 * worst) + (double(width) + 8) * kU + 1e-5) + 1e-30;
    }
  }
}

/// Weighted sums: linear, dense, dense_add.
void weightedSumBounds(const ir::Op &op, const std::vector<View> &in, Bounded &out) {
  const Tensor &w = in[1].b->value;
  if (in[1].b->batched || w.dims.size() != 2) {
    std::fill(out.bound.begin(), out.bound.end(), kInf);
    return;
  }
  const int64_t units = w.dims[0], k = w.dims[1];
  const int64_t samples = units ? static_cast<int64_t>(out.value.values.size()) / units : 0;
  std::vector<double> z(out.bound.size()), ez(out.bound.size());
  for (int64_t n = 0; n < samples; ++n)
    for (int64_t o = 0; o < units; ++o) {
      double sum = 0, magnitude = 0, passed = 0;
      for (int64_t i = 0; i < k; ++i) {
        double wi = in[1].v(o * k + i), xi = in[0].v(n * k + i);
        sum += wi * xi;
        magnitude += std::fabs(wi * xi);
        passed += std::fabs(wi) * in[0].e(n * k + i) + std::fabs(xi) * in[1].e(o * k + i);
      }
      if (op.kind != ir::OpKind::Linear) {
        sum += in[2].v(o);
        magnitude += std::fabs(in[2].v(o));
        passed += in[2].e(o);
      }
      if (op.kind == ir::OpKind::DenseAdd) {
        sum += in[3].v(n * units + o);
        magnitude += std::fabs(in[3].v(n * units + o));
        passed += in[3].e(n * units + o);
      }
      size_t at = static_cast<size_t>(n * units + o);
      z[at] = sum;
      ez[at] = tame(magnitude) ? passed + (double(k) + 3) * kU * magnitude : kInf;
    }
  if (op.kind == ir::OpKind::Linear)
    for (size_t i = 0; i < z.size(); ++i)
      out.bound[i] = tame(z[i]) ? ez[i] + kU * std::fabs(z[i]) : kInf;
  else
    activationBounds(op.fn, z, ez, op.type.lastDim(), out);
}

void layerNormBounds(const ir::Op &op, const std::vector<View> &in, Bounded &out) {
  const int64_t width = op.type.lastDim();
  const int64_t rows = width ? static_cast<int64_t>(out.value.values.size()) / width : 0;
  const double eps = op.epsilon;
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, meanAbs = 0, meanErr = 0, maxAbs = 0;
    for (int64_t c = 0; c < width; ++c) {
      double x = in[0].v(r * width + c);
      mean += x;
      meanAbs += std::fabs(x);
      meanErr += in[0].e(r * width + c);
      maxAbs = std::max(maxAbs, std::fabs(x));
    }
    mean /= double(width);
    meanAbs /= double(width);
    double em = meanErr / double(width) + (double(width) + 2) * kU * meanAbs;
    double var = 0, evar = 0;
    for (int64_t c = 0; c < width; ++c) {
      double d = in[0].v(r * width + c) - mean;
      double ed = in[0].e(r * width + c) + em + kU * std::fabs(d);
      var += d * d;
      evar += 2 * std::fabs(d) * ed + ed * ed;
    }
    var /= double(width);
    evar = evar / double(width) + (double(width) + 6) * kU * var;
    const double s2 = var + eps, s = std::sqrt(s2);
    bool ok = maxAbs <= 1e15 && std::isfinite(evar) && evar < 0.5 * s2;
    for (int64_t c = 0; c < width; ++c) {
      size_t i = static_cast<size_t>(r * width + c);
      double d = in[0].v(r * width + c) - mean, g = std::fabs(in[1].v(c));
      double ed = in[0].e(r * width + c) + em + kU * std::fabs(d);
      double y = out.value.values[i];
      out.bound[i] = ok ? g * (ed / s + std::fabs(d) / s * (evar / s2 + 4 * kU)) + in[1].e(c) +
                              in[2].e(c) + 4 * kU * (std::fabs(y) + g * std::fabs(d) / s)
                        : kInf;
    }
  }
}

/// The bounds of every op but the weighted sums and layer norms.
void elementwiseBounds(const ir::Op &op, const std::vector<View> &in, Bounded &out) {
  const int64_t total = static_cast<int64_t>(out.value.values.size());
  const int64_t width = op.type.lastDim();
  auto y = [&](int64_t i) { return std::fabs(double(out.value.values[static_cast<size_t>(i)])); };
  if (op.kind == ir::OpKind::Activation || ir::isBinary(op.kind)) {
    std::vector<double> z(out.bound.size()), ez(out.bound.size());
    for (int64_t i = 0; i < total; ++i) {
      double a = in[0].v(i), ea = in[0].e(i);
      if (op.kind == ir::OpKind::Activation) {
        z[i] = a, ez[i] = ea;
        continue;
      }
      double b = in[1].v(i), eb = in[1].e(i);
      bool mul = op.kind == ir::OpKind::Mul;
      z[i] = mul ? a * b : a + b;
      ez[i] =
          (mul ? std::fabs(a) * eb + std::fabs(b) * ea + ea * eb : ea + eb) + kU * std::fabs(z[i]);
    }
    activationBounds(op.fn, z, ez, width, out);
    return;
  }
  // prelu's feature: along its axis (the others' parameters: the last).
  int64_t inner = 1, features = std::max<int64_t>(width, 1);
  if (op.kind == ir::OpKind::Prelu && !op.type.dims.empty()) {
    const size_t axis = ir::featureAxis(op.axis, op.type.dims.size());
    for (size_t d = axis + 1; d < op.type.dims.size(); ++d)
      inner *= op.type.dims[d];
    features = op.type.dims[axis];
  }
  for (int64_t i = 0; i < total; ++i) {
    const int64_t c = width ? i % width : 0;
    double e = kInf;
    if (op.kind == ir::OpKind::Prelu) { // as leaky_relu's, with its channel's slope
      const int64_t k = i % (inner * features) / inner;
      const double s = std::fabs(in[1].v(k)), x = std::fabs(in[0].v(i));
      e = std::max(1.0, s) * in[0].e(i) + x * in[1].e(k) + 2 * kU * (y(i) + s * x);
    } else if (op.kind == ir::OpKind::BiasAdd) {
      e = in[0].e(i) + in[1].e(c) + 2 * kU * y(i);
    } else if (op.kind == ir::OpKind::ScaleShift) {
      double s = std::fabs(in[1].v(c));
      e = s * in[0].e(i) + std::fabs(in[0].v(i)) * in[1].e(c) + in[2].e(c) +
          3 * kU * (s * std::fabs(in[0].v(i)) + y(i));
    } else if (op.kind == ir::OpKind::BatchNorm) {
      double var = in[2].v(c), a = std::fabs(in[3].v(c)) / std::sqrt(var + op.epsilon);
      bool exact = in[1].e(c) == 0 && in[2].e(c) == 0 && in[3].e(c) == 0;
      e = exact ? a * in[0].e(i) + in[4].e(c) +
                      8 * kU *
                          (a * (std::fabs(in[0].v(i)) + std::fabs(in[1].v(c))) +
                           std::fabs(in[4].v(c)) + y(i))
                : kInf;
    }
    out.bound[static_cast<size_t>(i)] = std::isfinite(e) && tame(y(i)) ? e : kInf;
  }
}

void concatBounds(const ir::Op &op, const std::vector<View> &in, Bounded &out) {
  const int64_t width = op.type.lastDim();
  const int64_t rows = width ? static_cast<int64_t>(out.value.values.size()) / width : 0;
  int64_t offset = 0;
  for (size_t k = 0; k < in.size(); ++k) {
    const int64_t part = op.operands[k]->type.lastDim();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < part; ++j)
        out.bound[static_cast<size_t>(r * width + offset + j)] = in[k].e(r * part + j);
    offset += part;
  }
}

} // namespace

std::vector<Bounded> evaluateWithBounds(const ir::Graph &graph,
                                        const std::vector<runtime::NamedTensor> &inputs,
                                        int64_t batch) {
  std::vector<Bounded> values(graph.ops.size());
  std::unordered_map<const ir::Op *, size_t> index;
  for (size_t k = 0; k < graph.ops.size(); ++k) {
    const ir::Op &op = *graph.ops[k];
    index[&op] = k;
    Bounded &out = values[k];
    out.batched = op.type.batched;
    if (op.kind == ir::OpKind::Input || op.kind == ir::OpKind::Const) {
      if (op.kind == ir::OpKind::Const)
        out.value = *op.data;
      for (const runtime::NamedTensor &t : inputs)
        if (op.kind == ir::OpKind::Input && t.name == op.name)
          out.value = t.tensor;
      out.bound.assign(out.value.values.size(), 0.0);
      continue;
    }
    std::vector<ir::EvalOperand> operands;
    std::vector<View> views;
    for (const ir::Op *operand : op.operands) {
      const Bounded &v = values[index.at(operand)];
      operands.push_back({&v.value, v.batched});
      views.push_back({&v});
    }
    out.value = ir::evaluateOp(op, operands, batch);
    out.bound.assign(out.value.values.size(), kInf);
    bool anyEmpty = std::any_of(views.begin(), views.end(),
                                [](const View &v) { return v.b->value.values.empty(); });
    if (out.value.values.empty() || anyEmpty)
      continue;
    if (ir::isWeightedSum(op.kind))
      weightedSumBounds(op, views, out);
    else if (op.kind == ir::OpKind::LayerNorm)
      layerNormBounds(op, views, out);
    else if (op.kind == ir::OpKind::Concat)
      concatBounds(op, views, out);
    else
      elementwiseBounds(op, views, out);
  }
  return values;
}

void checkOutputs(const ir::Graph &graph, const std::vector<runtime::NamedTensor> &inputs,
                  int64_t batch, const std::vector<std::vector<float>> &outputs,
                  const std::string &engine, const std::string &source) {
  std::vector<Bounded> values = evaluateWithBounds(graph, inputs, batch);
  std::unordered_map<const ir::Op *, size_t> index;
  for (size_t k = 0; k < graph.ops.size(); ++k)
    index[graph.ops[k].get()] = k;
  for (size_t o = 0; o < graph.outputs.size(); ++o) {
    const Bounded &ref = values[index.at(graph.outputs[o].value)];
    const std::vector<float> &got = outputs[o];
    check(got.size() % std::max<size_t>(ref.value.values.size(), 1) == 0,
          "output '" + graph.outputs[o].name + "' has the wrong size");
    for (size_t i = 0; i < got.size() && !ref.value.values.empty(); ++i) {
      size_t r = i % ref.value.values.size();
      double want = ref.value.values[r], bound = ref.bound[r];
      if (!std::isfinite(bound))
        continue;
      double diff = std::fabs(double(got[i]) - want);
      if (diff <= 2 * bound + 0x1p-120)
        continue;
      std::ostringstream os;
      os << engine << " output '" << graph.outputs[o].name << "' element " << i << " is " << got[i]
         << ", the interpreter's " << want << ", beyond twice the bound " << bound
         << "\n--- network:\n"
         << source << "\n--- optimised graph:\n"
         << ir::printGraphToString(graph);
      fail("an engine disagrees with the interpreter", os.str());
    }
  }
}

std::vector<runtime::NamedTensor> randomInputs(const ir::Graph &graph, int64_t batch,
                                               uint64_t seed) {
  std::vector<runtime::NamedTensor> inputs;
  for (const ir::Op *in : graph.inputs()) {
    std::vector<int64_t> dims = ir::concreteShape(in->type, batch);
    runtime::NamedTensor t{in->name, Tensor(dims)};
    for (float &v : t.tensor.values) {
      // splitmix64
      uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      z ^= z >> 31;
      v = static_cast<float>(static_cast<double>(z >> 40) * 0x1p-23 - 1.0);
    }
    inputs.push_back(std::move(t));
  }
  return inputs;
}

std::vector<std::vector<float>> runModel(const Model &model,
                                         const std::vector<runtime::NamedTensor> &inputs,
                                         int64_t batch, const std::string &source) {
  std::vector<InputBuffer> in;
  for (const runtime::NamedTensor &t : inputs)
    in.push_back({t.name, t.tensor.values.data(), t.tensor.dims});
  std::vector<std::vector<float>> outputs;
  std::vector<OutputBuffer> out;
  for (const TensorInfo &info : model.outputs()) {
    std::vector<int64_t> dims = {batch};
    dims.insert(dims.end(), info.shape.begin(), info.shape.end());
    int64_t count = 1;
    for (int64_t d : dims)
      count *= d;
    outputs.emplace_back(static_cast<size_t>(count), std::nanf(""));
  }
  for (size_t o = 0; o < outputs.size(); ++o) {
    std::vector<int64_t> dims = {batch};
    dims.insert(dims.end(), model.outputs()[o].shape.begin(), model.outputs()[o].shape.end());
    out.push_back({model.outputs()[o].name, outputs[o].data(), dims});
  }
  Status s = model.run(in, out);
  check(s.ok(), "a compiled model failed to run", s.message() + "\n--- network:\n" + source);
  return outputs;
}

} // namespace soma::fuzz
