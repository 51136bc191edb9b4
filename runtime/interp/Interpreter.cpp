// The reference interpreter. Each value is materialised as an f32 tensor
// (batched values as [N, dims...]); each op is evaluated by ir::evaluateOp,
// the one statement of its semantics (double accumulation, one rounding to
// f32 per op, as the f32 engines do).
#include "soma/runtime/Interpreter.h"

#include "soma/ir/Evaluate.h"

#include <unordered_map>

namespace soma::runtime {

namespace {

/// A value during interpretation: [N, dims...] when batched, else [dims...].
struct Value {
  Tensor tensor;
  bool batched = false;
};

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
      return Error{"input '" + in->name + "' has batch size " + std::to_string(dims[0]) + " but '" +
                   batchFrom + "' has " + std::to_string(batch)};
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
    if (!checkedElementCount(ir::concreteShape(op->type, batch), count))
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
    std::vector<ir::EvalOperand> in;
    for (const ir::Op *operand : op.operands) {
      const Value &v = values.at(operand);
      in.push_back({&v.tensor, v.batched});
    }
    out.tensor = ir::evaluateOp(op, in, batch);
    values[&op] = std::move(out);
  }

  std::vector<NamedTensor> outputs;
  for (const ir::GraphOutput &out : graph.outputs)
    outputs.push_back({out.name, values.at(out.value).tensor});
  return outputs;
}

} // namespace soma::runtime
