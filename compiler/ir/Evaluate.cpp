// The reference semantics of each op kind (Evaluate.h): every op computes
// in double and rounds once when it stores, as the f32 engines do per op.
#include "soma/ir/Evaluate.h"

#include "soma/ir/Binary.h"
#include "soma/ir/Spatial.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numbers>
#include <utility>

namespace soma::ir {

double referenceActivation(const Activation &act, double x) {
  switch (act.kind) {
  case ActKind::Identity:
    return x;
  case ActKind::Relu:
    return x > 0 || std::isnan(x) ? x : 0.0;
  case ActKind::LeakyRelu:
    // alpha = 0 is relu: the limit at -inf is 0, not 0 * -inf = NaN.
    return x > 0 || std::isnan(x) ? x : act.param == 0 ? 0.0 : act.param * x;
  case ActKind::Sigmoid:
    return 1.0 / (1.0 + std::exp(-x));
  case ActKind::Tanh:
    return std::tanh(x);
  case ActKind::Softmax:
    return 1.0; // a single-element row; rows go through referenceActivationRows
  case ActKind::Gelu:
    // -0 at -inf: the sign every large negative input gives.
    if (std::isinf(x))
      return x > 0 ? x : -0.0;
    // erfc(-x / sqrt 2) == 1 + erf(x / sqrt 2), without the cancellation
    // that loses every digit for x below about -8.
    return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
  case ActKind::Silu:
    if (std::isinf(x))
      return x > 0 ? x : -0.0;
    return x / (1.0 + std::exp(-x));
  case ActKind::Elu:
    return x > 0 || std::isnan(x) ? x : act.param * std::expm1(x);
  case ActKind::Softplus:
    if (std::isnan(x))
      return x;
    // log(1 + exp(b x)) / b = max(x, 0) + log1p(exp(-|b x|)) / b for b > 0:
    // no overflow, and x itself (not b x / b) where the log term vanishes.
    return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(act.param * x))) / act.param;
  case ActKind::HardSigmoid:
    if (std::isnan(x))
      return x;
    if (isDefaultHardSigmoid(act)) // exactly PyTorch's relu6(x + 3) / 6
      return std::min(std::max(x / 6.0 + 0.5, 0.0), 1.0);
    if (act.param == 0) // not 0 * inf = NaN at the infinities
      return std::min(std::max(double(act.param2), 0.0), 1.0);
    return std::min(std::max(double(act.param) * x + act.param2, 0.0), 1.0);
  case ActKind::Clip:
    return x < act.param ? double(act.param) : x > act.param2 ? double(act.param2) : x;
  case ActKind::Step:
    if (std::isnan(x))
      return x;
    return x > act.param ? 1.0 : 0.0;
  case ActKind::LogSoftmax:
    return 0.0; // a single-element row; rows go through referenceActivationRows
  case ActKind::Selu:
    return act.param2 * (x > 0 || std::isnan(x) ? x : act.param * std::expm1(x));
  case ActKind::Softsign:
    if (std::isinf(x))
      return x > 0 ? 1.0 : -1.0;
    return x / (1.0 + std::fabs(x));
  case ActKind::GeluTanh: {
    // x (1 + tanh u) / 2 = x / (1 + exp(-2u)): no cancellation for x < 0.
    if (std::isinf(x))
      return x > 0 ? x : -0.0;
    const double u = std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x);
    return x / (1.0 + std::exp(-2.0 * u));
  }
  }
  return x;
}

void referenceActivationRows(const Activation &act, const double *in, float *out, int64_t rows,
                             int64_t width) {
  if (!isRowwise(act.kind)) {
    for (int64_t i = 0; i < rows * width; ++i)
      out[i] = static_cast<float>(referenceActivation(act, in[i]));
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const double *row = in + r * width;
    double max = -INFINITY;
    bool nan = false;
    for (int64_t i = 0; i < width; ++i) {
      nan |= std::isnan(row[i]);
      max = std::max(max, row[i]);
    }
    if (act.kind == ActKind::LogSoftmax) {
      // log(sum) as log1p((count - 1) + rest): the maxima add exactly 1
      // each, and log(1 + tiny) needs the tiny part on its own.
      double count = 0, rest = 0;
      for (int64_t i = 0; i < width; ++i) {
        const double d = row[i] - max;
        if (d == 0)
          count += 1;
        else
          rest += std::exp(d);
      }
      const double logSum = std::log1p((count - 1) + rest);
      for (int64_t i = 0; i < width; ++i)
        out[r * width + i] = nan ? NAN : static_cast<float>((row[i] - max) - logSum);
      continue;
    }
    double sum = 0;
    for (int64_t i = 0; i < width; ++i)
      sum += std::exp(row[i] - max);
    for (int64_t i = 0; i < width; ++i)
      out[r * width + i] = nan ? NAN : static_cast<float>(std::exp(row[i] - max) / sum);
  }
}

namespace {

/// Element `i` of a per-feature or broadcast operand: an unbatched value
/// repeats for every sample.
float at(const EvalOperand &v, int64_t i) { return v.tensor->values[i % v.tensor->numElements()]; }

/// The smallest magnitude f32 rounds to infinity: FLT_MAX plus half an ulp.
constexpr double kF32Overflow = 0x1.ffffffp127;

/// A running sum as the engines' f32 one behaves at its edge: once it
/// leaves the f32 range it is that infinity, which later finite terms do
/// not bring back (docs/passes.md#non-finite-values). Within the range the
/// sum stays exact in double.
double f32Edge(double sum) {
  return std::fabs(sum) >= kF32Overflow ? std::copysign(INFINITY, sum) : sum;
}

/// scale_shift, batch_norm: element i of the value uses parameter
/// i / inner % features.
std::pair<int64_t, int64_t> featureStride(const Op &op) {
  const std::vector<int64_t> &dims = op.type.dims;
  if (dims.empty())
    return {1, 1};
  const size_t axis = featureAxis(op.axis, dims.size());
  int64_t inner = 1;
  for (size_t d = axis + 1; d < dims.size(); ++d)
    inner *= dims[d];
  return {inner, dims[axis]};
}

} // namespace

std::vector<int64_t> concreteShape(const TensorType &type, int64_t batch) {
  std::vector<int64_t> dims;
  if (type.batched)
    dims.push_back(batch);
  dims.insert(dims.end(), type.dims.begin(), type.dims.end());
  return dims;
}

Tensor evaluateOp(const Op &op, const std::vector<EvalOperand> &in, int64_t batch) {
  Tensor out(concreteShape(op.type, batch));
  float *y = out.values.data();
  const int64_t total = out.numElements();
  const int64_t width = op.type.lastDim();
  const int64_t rows = width ? total / width : 0;
  std::vector<double> acc(static_cast<size_t>(total));

  switch (op.kind) {
  case OpKind::Input:
  case OpKind::Const:
    assert(false && "inputs and constants have values, not semantics");
    break;
  case OpKind::Linear:
  case OpKind::Dense:
  case OpKind::DenseAdd: {
    const EvalOperand &x = in[0], &w = in[1];
    const int64_t units = w.tensor->dims[0], k = w.tensor->dims[1];
    const int64_t samples = x.batched ? batch : 1;
    for (int64_t n = 0; n < samples; ++n)
      for (int64_t o = 0; o < units; ++o) {
        // In input order, then the bias, then the residual: the order in
        // which every engine's kernel accumulates.
        double sum = 0;
        for (int64_t i = 0; i < k; ++i)
          sum = f32Edge(sum + static_cast<double>(x.tensor->values[n * k + i]) *
                                  static_cast<double>(w.tensor->values[o * k + i]));
        if (op.kind != OpKind::Linear)
          sum = f32Edge(sum + in[2].tensor->values[o]);
        if (op.kind == OpKind::DenseAdd)
          sum = f32Edge(sum + at(in[3], n * units + o));
        acc[n * units + o] = sum;
      }
    if (op.kind != OpKind::Linear)
      referenceActivationRows(op.fn, acc.data(), y, rows, width);
    else
      for (int64_t i = 0; i < total; ++i)
        y[i] = static_cast<float>(acc[i]);
    break;
  }
  case OpKind::BiasAdd:
    for (int64_t i = 0; i < total; ++i)
      y[i] =
          static_cast<float>(static_cast<double>(at(in[0], i)) + in[1].tensor->values[i % width]);
    break;
  case OpKind::Activation:
    for (int64_t i = 0; i < total; ++i)
      acc[i] = at(in[0], i);
    referenceActivationRows(op.fn, acc.data(), y, rows, width);
    break;
#define SOMA_BINARY_OP(Enum, Name, Expr, Identity, Commutes, Doc) case OpKind::Enum:
#include "soma/ir/Ops.def"
    withBinary(op.kind, [&](auto f) {
      for (int64_t i = 0; i < total; ++i)
        acc[i] = f(static_cast<double>(at(in[0], i)), static_cast<double>(at(in[1], i)));
    });
    referenceActivationRows(op.fn, acc.data(), y, rows, width);
    break;
  case OpKind::Concat: {
    int64_t offset = 0;
    for (size_t k = 0; k < in.size(); ++k) {
      const int64_t part = op.operands[k]->type.lastDim();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < part; ++j)
          y[r * width + offset + j] = at(in[k], r * part + j);
      offset += part;
    }
    break;
  }
  case OpKind::ScaleShift: {
    const auto [inner, features] = featureStride(op);
    for (int64_t i = 0; i < total; ++i) {
      int64_t c = i / inner % features;
      y[i] = static_cast<float>(static_cast<double>(at(in[0], i)) * in[1].tensor->values[c] +
                                in[2].tensor->values[c]);
    }
    break;
  }
  case OpKind::Prelu: {
    // x * slope[c] below 0 (IEEE: 0 * -inf is NaN), NaN and x > 0 as they are.
    const auto [inner, features] = featureStride(op);
    for (int64_t i = 0; i < total; ++i) {
      const double x = at(in[0], i);
      y[i] = static_cast<float>(
          x > 0 || std::isnan(x) ? x : x * in[1].tensor->values[i / inner % features]);
    }
    break;
  }
  case OpKind::BatchNorm: {
    const auto [inner, features] = featureStride(op);
    for (int64_t i = 0; i < total; ++i) {
      int64_t c = i / inner % features;
      double mean = in[1].tensor->values[c], var = in[2].tensor->values[c];
      double norm = (at(in[0], i) - mean) / std::sqrt(var + op.epsilon);
      y[i] = static_cast<float>(norm * in[3].tensor->values[c] + in[4].tensor->values[c]);
    }
    break;
  }
  case OpKind::LayerNorm:
    for (int64_t r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      for (int64_t c = 0; c < width; ++c)
        mean += at(in[0], r * width + c);
      mean /= static_cast<double>(width);
      for (int64_t c = 0; c < width; ++c) {
        double d = at(in[0], r * width + c) - mean;
        var += d * d;
      }
      var /= static_cast<double>(width);
      for (int64_t c = 0; c < width; ++c) {
        double norm = (at(in[0], r * width + c) - mean) / std::sqrt(var + op.epsilon);
        y[r * width + c] =
            static_cast<float>(norm * in[1].tensor->values[c] + in[2].tensor->values[c]);
      }
    }
    break;
  case OpKind::Conv:
  case OpKind::ConvAdd:
  case OpKind::MaxPool:
  case OpKind::AvgPool:
  case OpKind::GlobalAvgPool: {
    const bool conv = isConv(op.kind);
    evaluateSpatial(op, in[0].tensor->values.data(), conv ? in[1].tensor->values.data() : nullptr,
                    conv ? in[2].tensor->values.data() : nullptr, in[0].batched ? batch : 1, y,
                    op.kind == OpKind::ConvAdd ? in[3].tensor->values.data() : nullptr);
    break;
  }
  case OpKind::Reshape:
    std::copy(in[0].tensor->values.begin(), in[0].tensor->values.end(), y);
    break;
  }
  return out;
}

} // namespace soma::ir
