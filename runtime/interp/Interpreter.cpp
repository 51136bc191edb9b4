// The reference interpreter. Each value is materialised as an f32 tensor
// (batched values as [N, dims...]); every op computes in double and rounds
// once when it stores, as the f32 engines do per op.
#include "soma/runtime/Interpreter.h"

#include <cmath>
#include <unordered_map>

namespace soma::runtime {

double referenceActivation(const ir::Activation &act, double x) {
  using ir::ActKind;
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
    return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x)));
  case ActKind::HardSigmoid:
    if (std::isnan(x))
      return x;
    return std::min(std::max(x / 6.0 + 0.5, 0.0), 1.0);
  case ActKind::Step:
    if (std::isnan(x))
      return x;
    return x > act.param ? 1.0 : 0.0;
  }
  return x;
}

void referenceActivationRows(const ir::Activation &act, const double *in, float *out,
                             int64_t rows, int64_t width) {
  if (act.kind != ir::ActKind::Softmax) {
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
    double sum = 0;
    for (int64_t i = 0; i < width; ++i)
      sum += std::exp(row[i] - max);
    for (int64_t i = 0; i < width; ++i)
      out[r * width + i] = nan ? NAN : static_cast<float>(std::exp(row[i] - max) / sum);
  }
}

namespace {

/// A value during interpretation: [N, dims...] when batched, else [dims...].
struct Value {
  Tensor tensor;
  bool batched = false;

  /// Rows of the last axis.
  int64_t rows(int64_t width) const { return width ? tensor.numElements() / width : 0; }
};

std::vector<int64_t> shapeFor(const ir::TensorType &type, int64_t batch) {
  std::vector<int64_t> dims;
  if (type.batched)
    dims.push_back(batch);
  dims.insert(dims.end(), type.dims.begin(), type.dims.end());
  return dims;
}

/// Element `i` of a per-feature or broadcast operand: an unbatched value
/// repeats for every sample.
float at(const Value &v, int64_t i) { return v.tensor.values[i % v.tensor.numElements()]; }

} // namespace

Expected<std::vector<NamedTensor>> Interpreter::run(const std::vector<NamedTensor> &inputs) const {
  // 1. Match the given tensors to the graph's inputs.
  std::unordered_map<std::string, const NamedTensor *> given;
  for (const NamedTensor &in : inputs)
    if (!given.emplace(in.name, &in).second)
      return Error{"input '" + in.name + "' is given twice"};
  int64_t batch = -1;
  std::string batchFrom;
  for (const ir::Op *in : graph.inputs()) {
    auto it = given.find(in->name);
    if (it == given.end())
      return Error{"missing input '" + in->name + "' of shape " + in->type.str()};
    const std::vector<int64_t> &dims = it->second->tensor.dims;
    bool shapeOk = dims.size() == in->type.dims.size() + 1 &&
                   std::equal(in->type.dims.begin(), in->type.dims.end(), dims.begin() + 1);
    if (!shapeOk)
      return Error{"input '" + in->name + "' must have shape " + in->type.str() + ", got " +
                   formatDims(dims)};
    if (batch >= 0 && dims[0] != batch)
      return Error{"input '" + in->name + "' has batch size " + std::to_string(dims[0]) +
                   " but '" + batchFrom + "' has " + std::to_string(batch)};
    batch = dims[0];
    batchFrom = in->name;
    given.erase(it);
  }
  if (!given.empty())
    return Error{"the network has no input named '" + given.begin()->first + "'"};
  if (batch < 0)
    batch = 1;
  for (auto &op : graph.ops) {
    int64_t count;
    if (!checkedElementCount(shapeFor(op->type, batch), count))
      return Error{"batch size " + std::to_string(batch) + " makes value '" + op->name +
                   "' exceed the limit of " + std::to_string(kMaxTensorElements) + " elements"};
  }

  // 2. Evaluate the ops in order.
  std::unordered_map<const ir::Op *, Value> values;
  for (auto &opPtr : graph.ops) {
    const ir::Op &op = *opPtr;
    Value out;
    out.batched = op.type.batched;
    if (op.kind == ir::OpKind::Input) {
      for (const NamedTensor &in : inputs)
        if (in.name == op.name)
          out.tensor = in.tensor;
      values[&op] = std::move(out);
      continue;
    }
    if (op.kind == ir::OpKind::Const) {
      out.tensor = *op.data;
      values[&op] = std::move(out);
      continue;
    }
    out.tensor = Tensor(shapeFor(op.type, batch));
    std::vector<const Value *> in;
    for (const ir::Op *operand : op.operands)
      in.push_back(&values.at(operand));
    float *y = out.tensor.values.data();
    const int64_t total = out.tensor.numElements();
    const int64_t width = op.type.lastDim();
    const int64_t rows = out.rows(width);
    std::vector<double> acc(static_cast<size_t>(total));

    switch (op.kind) {
    case ir::OpKind::Input:
    case ir::OpKind::Const:
      break;
    case ir::OpKind::Linear:
    case ir::OpKind::Dense: {
      const Value &x = *in[0], &w = *in[1];
      const int64_t units = w.tensor.dims[0], k = w.tensor.dims[1];
      const int64_t samples = x.batched ? batch : 1;
      for (int64_t n = 0; n < samples; ++n)
        for (int64_t o = 0; o < units; ++o) {
          double sum = 0;
          for (int64_t i = 0; i < k; ++i)
            sum += static_cast<double>(x.tensor.values[n * k + i]) *
                   static_cast<double>(w.tensor.values[o * k + i]);
          if (op.kind == ir::OpKind::Dense)
            sum += in[2]->tensor.values[o];
          acc[n * units + o] = sum;
        }
      if (op.kind == ir::OpKind::Dense)
        referenceActivationRows(op.fn, acc.data(), y, rows, width);
      else
        for (int64_t i = 0; i < total; ++i)
          y[i] = static_cast<float>(acc[i]);
      break;
    }
    case ir::OpKind::BiasAdd:
      for (int64_t i = 0; i < total; ++i)
        y[i] = static_cast<float>(static_cast<double>(at(*in[0], i)) + in[1]->tensor.values[i % width]);
      break;
    case ir::OpKind::Activation:
      for (int64_t i = 0; i < total; ++i)
        acc[i] = at(*in[0], i);
      referenceActivationRows(op.fn, acc.data(), y, rows, width);
      break;
    case ir::OpKind::Add:
      for (int64_t i = 0; i < total; ++i)
        y[i] = static_cast<float>(static_cast<double>(at(*in[0], i)) + at(*in[1], i));
      break;
    case ir::OpKind::Concat: {
      int64_t offset = 0;
      for (size_t k = 0; k < in.size(); ++k) {
        const int64_t part = op.operands[k]->type.lastDim();
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < part; ++j)
            y[r * width + offset + j] = at(*in[k], r * part + j);
        offset += part;
      }
      break;
    }
    case ir::OpKind::ScaleShift:
      for (int64_t i = 0; i < total; ++i) {
        int64_t c = i % width;
        y[i] = static_cast<float>(static_cast<double>(at(*in[0], i)) * in[1]->tensor.values[c] +
                                  in[2]->tensor.values[c]);
      }
      break;
    case ir::OpKind::BatchNorm:
      for (int64_t i = 0; i < total; ++i) {
        int64_t c = i % width;
        double mean = in[1]->tensor.values[c], var = in[2]->tensor.values[c];
        double norm = (at(*in[0], i) - mean) / std::sqrt(var + op.epsilon);
        y[i] = static_cast<float>(norm * in[3]->tensor.values[c] + in[4]->tensor.values[c]);
      }
      break;
    case ir::OpKind::LayerNorm:
      for (int64_t r = 0; r < rows; ++r) {
        double mean = 0, var = 0;
        for (int64_t c = 0; c < width; ++c)
          mean += at(*in[0], r * width + c);
        mean /= static_cast<double>(width);
        for (int64_t c = 0; c < width; ++c) {
          double d = at(*in[0], r * width + c) - mean;
          var += d * d;
        }
        var /= static_cast<double>(width);
        for (int64_t c = 0; c < width; ++c) {
          double norm = (at(*in[0], r * width + c) - mean) / std::sqrt(var + op.epsilon);
          y[r * width + c] =
              static_cast<float>(norm * in[1]->tensor.values[c] + in[2]->tensor.values[c]);
        }
      }
      break;
    }
    values[&op] = std::move(out);
  }

  std::vector<NamedTensor> outputs;
  for (const ir::GraphOutput &out : graph.outputs)
    outputs.push_back({out.name, values.at(out.value).tensor});
  return outputs;
}

} // namespace soma::runtime
