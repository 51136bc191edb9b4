// fold-scale-shift: a per-feature affine op (scale_shift, or batch_norm in
// its inference form) next to a dense layer is folded into that layer's
// weights and bias, so it costs nothing at run time. With s the per-feature
// scale and t the shift (for batch_norm s = scale / sqrt(var + epsilon),
// t = shift - mean * s):
//
//   after:  y = (x W^T + b) * s + t  ->  dense(x, W', b') {fn = identity},
//           W'[o, :] = W[o, :] * s[o],  b'[o] = b[o] * s[o] + t[o]
//   before: y = f((x * s + t) W^T + b)  ->  dense(x, W', b') {fn = f},
//           W'[o, i] = W[o, i] * s[i],  b'[o] = b[o] + sum_i W[o, i] * t[i]
//   conv:   y = conv(x, W, b) * s + t, per output channel o (the affine op's
//           axis is 0 of the conv's [O, spatial...])  ->  conv(x, W', b'),
//           W'[o, ...] = W[o, ...] * s[o],  b'[o] = b[o] * s[o] + t[o]
//
//   before a conv, a per-channel or uniform (every s[c] equal, along any
//   axis) scale with no shift (t = 0): y =
//   conv(x * s, W, b)  ->  conv(x, W', b), W'[o, j, ...] = W[o, j, ...] *
//   s[c], c = g * (C / groups) + j the input channel that filter o's
//   group g reads as its j-th. Padding reads zeros, and 0 * s = 0.
//
// A per-channel affine op with a shift before a conv is not folded: where
// the conv's window overlaps the padding, the shift would be summed over
// taps that read zeros, so the bias could not absorb it.
//
// Preconditions. Every parameter, weight and bias is a const op. After: the
// layer is a dense with fn = identity (a non-linear activation between the
// two forbids the fold), a linear, or a linear -> bias_add chain; it has
// exactly one user (the affine op), its output is a vector of `units`
// features and the parameters have `units` elements. Conv: the conv has
// fn = identity and exactly one user (the affine op), whose axis is the
// conv's channel axis. Before a conv: every shift is 0, the affine op runs
// along the channel axis or its scales are all equal, has exactly one user, a conv or conv_add
// whose input (only) it is, and the conv's filters are a constant. Before: the affine op has
// exactly one user, a dense or linear whose input (not weights) it is; the input is flattened per
// sample, so flattened element i uses feature i mod C of the affine op's last axis, which must be
// its axis. The rewritten layer takes the place of the last op of the pair (the affine op, or the
// layer), so every operand is defined earlier; new weights and biases are new constants (the old
// ones may be shared), and what is no longer used is left to dce.
//
// Run it after fuse-dense-bias-act, which turns the frontend's
// linear -> bias_add -> activation(identity) into the dense form this pass
// matches first.
//
// Tolerance class: reassociating. The folded weights and bias are computed
// in double and rounded once to f32, and the intermediate f32 rounding of
// the layer's output disappears, so on the reference interpreter, with
// u = 2^-24, each output differs by at most
//   after, conv: 2u * (|s[o]| * (sum_i |x[i] W[o, i]| + |b[o]|) + |t[o]|)
//   before a conv: 2u * (sum_i |x[i] s[i] W[o, i]| + |b[o]|) over its taps
//   before: 2u * (sum_i |x[i] s[i] W[o, i]| + sum_i |t[i] W[o, i]| + |b[o]|)
// before the activation (then scaled by its slope), i.e. a few ulps of the
// magnitudes summed; far inside the engines' K-term f32 accumulation bound.
#include "soma/passes/Passes.h"

#include "soma/ir/Spatial.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>

namespace soma::passes {
namespace {

struct Affine {
  std::vector<double> scale, shift;
};

const Tensor *constData(const ir::Op *op) {
  return op->kind == ir::OpKind::Const ? op->data.get() : nullptr;
}

/// The per-feature scale and shift of a scale_shift or batch_norm whose
/// parameters are constants of the feature count (along its axis), or
/// nullopt.
std::optional<Affine> affineOf(const ir::Op &op) {
  if (op.kind != ir::OpKind::ScaleShift && op.kind != ir::OpKind::BatchNorm)
    return std::nullopt;
  const std::vector<int64_t> &dims = op.type.dims;
  const auto features =
      static_cast<size_t>(dims.empty() ? 1 : dims[ir::featureAxis(op.axis, dims.size())]);
  std::vector<const Tensor *> params;
  for (size_t k = 1; k < op.operands.size(); ++k) {
    const Tensor *t = constData(op.operands[k]);
    if (!t || t->values.size() != features)
      return std::nullopt;
    params.push_back(t);
  }
  Affine a;
  for (size_t c = 0; c < features; ++c) {
    if (op.kind == ir::OpKind::ScaleShift) {
      a.scale.push_back(params[0]->values[c]);
      a.shift.push_back(params[1]->values[c]);
      continue;
    }
    double mean = params[0]->values[c], var = params[1]->values[c];
    double s = params[2]->values[c] / std::sqrt(var + op.epsilon);
    a.scale.push_back(s);
    a.shift.push_back(params[3]->values[c] - mean * s);
  }
  return a;
}

/// A layer's pieces: y = x W^T (+ b).
struct Layer {
  ir::Op *x = nullptr;
  const Tensor *weights = nullptr;
  const Tensor *bias = nullptr; // null: no bias
  std::string weightsName, biasName;
  ir::LayerHints hints; // the weighted sum's, for the op that replaces it
};

ir::Op *newConst(ir::OpInserter &inserter, const ir::Op *before, const std::string &base,
                 std::vector<int64_t> dims, std::vector<double> values) {
  auto data = std::make_shared<Tensor>(dims);
  for (size_t i = 0; i < values.size(); ++i)
    data->values[i] = static_cast<float>(values[i]);
  return inserter.insertConstBefore(before, base, std::move(data));
}

/// The layer `op` ends, for folding an affine op that follows it, or nullopt.
std::optional<Layer> layerBefore(ir::Op *op, const ir::UseCounts &uses) {
  Layer l;
  ir::Op *linear = op;
  if (op->kind == ir::OpKind::Dense) {
    if (op->fn.kind != ir::ActKind::Identity)
      return std::nullopt; // a non-linear activation in between
    l.bias = constData(op->operands[2]);
    if (!l.bias)
      return std::nullopt;
    l.biasName = op->operands[2]->name;
  } else if (op->kind == ir::OpKind::BiasAdd) {
    linear = op->operands[0];
    if (linear->kind != ir::OpKind::Linear || uses.of(linear) != 1)
      return std::nullopt;
    l.bias = constData(op->operands[1]);
    if (!l.bias)
      return std::nullopt;
    l.biasName = op->operands[1]->name;
  } else if (op->kind != ir::OpKind::Linear) {
    return std::nullopt;
  }
  l.x = linear->operands[0];
  l.weights = constData(linear->operands[1]);
  if (!l.weights || l.weights->dims.size() != 2)
    return std::nullopt;
  l.weightsName = linear->operands[1]->name;
  l.hints = linear->hints;
  return l;
}

/// after: `affine` follows a layer with no activation.
bool foldIntoPrevious(ir::OpInserter &inserter, ir::Op *affine, const Affine &a,
                      ir::UseCounts &uses) {
  ir::Op *prev = affine->operands[0];
  if (uses.of(prev) != 1)
    return false; // the layer's own output is needed elsewhere
  std::optional<Layer> l = layerBefore(prev, uses);
  if (!l)
    return false;
  const int64_t units = l->weights->dims[0], k = l->weights->dims[1];
  if (affine->type.dims.size() != 1 || affine->type.dims[0] != units)
    return false; // the features are not the layer's units
  std::vector<double> w(static_cast<size_t>(units * k)), b(static_cast<size_t>(units));
  for (int64_t o = 0; o < units; ++o) {
    for (int64_t i = 0; i < k; ++i)
      w[o * k + i] = static_cast<double>(l->weights->values[o * k + i]) * a.scale[o];
    double bias = l->bias ? l->bias->values[o] : 0.0;
    b[o] = bias * a.scale[o] + a.shift[o];
  }
  ir::Op *wOp = newConst(inserter, affine, l->weightsName + ".folded", {units, k}, std::move(w));
  ir::Op *bOp =
      newConst(inserter, affine, (l->bias ? l->biasName : affine->name + ".bias") + ".folded",
               {units}, std::move(b));
  affine->kind = ir::OpKind::Dense;
  uses.setOperands(affine, {l->x, wOp, bOp});
  affine->fn = ir::makeActivation(ir::ActKind::Identity);
  affine->hints = l->hints;
  return true;
}

/// after a conv: `affine` scales the channels of a conv with no activation.
bool foldIntoConv(ir::OpInserter &inserter, ir::Op *affine, const Affine &a, ir::UseCounts &uses) {
  ir::Op *conv = affine->operands[0];
  if (conv->kind != ir::OpKind::Conv || conv->fn.kind != ir::ActKind::Identity)
    return false; // a non-linear activation in between
  if (uses.of(conv) != 1)
    return false; // the conv's own output is needed elsewhere
  const std::vector<int64_t> &dims = affine->type.dims;
  if (dims.size() < 2 || ir::featureAxis(affine->axis, dims.size()) != 0)
    return false; // not per channel: the scale varies across a channel's positions
  const Tensor *weights = constData(conv->operands[1]), *bias = constData(conv->operands[2]);
  if (!weights || !bias)
    return false;
  const int64_t channels = dims[0], perChannel = weights->numElements() / channels;
  std::vector<double> w(static_cast<size_t>(weights->numElements())), b(a.scale.size());
  for (int64_t o = 0; o < channels; ++o) {
    for (int64_t i = o * perChannel; i < (o + 1) * perChannel; ++i)
      w[i] = static_cast<double>(weights->values[i]) * a.scale[o];
    b[o] = static_cast<double>(bias->values[o]) * a.scale[o] + a.shift[o];
  }
  ir::Op *wOp =
      newConst(inserter, affine, conv->operands[1]->name + ".folded", weights->dims, std::move(w));
  ir::Op *bOp =
      newConst(inserter, affine, conv->operands[2]->name + ".folded", {channels}, std::move(b));
  affine->kind = ir::OpKind::Conv;
  affine->attributes() = conv->attributes(); // strides, pads, ..., fn = identity
  uses.setOperands(affine, {conv->operands[0], wOp, bOp});
  return true;
}

/// before: `affine` is the input of the next layer and of nothing else.
bool foldIntoNext(ir::OpInserter &inserter, ir::Op *affine, const Affine &a, ir::UseCounts &uses) {
  ir::Op *next = uses.soleUser(affine);
  if (!next || (next->kind != ir::OpKind::Dense && next->kind != ir::OpKind::Linear))
    return false;
  if (!ir::paramsAlongLastAxis(*affine))
    return false; // per channel of a spatial value: flattened element i is not feature i mod C
  if (next->operands[0] != affine || next->operands[1] == affine)
    return false; // it scales the weights, not the input
  const Tensor *weights = constData(next->operands[1]);
  const Tensor *bias = next->kind == ir::OpKind::Dense ? constData(next->operands[2]) : nullptr;
  if (!weights || weights->dims.size() != 2 || (next->kind == ir::OpKind::Dense && !bias))
    return false;
  const int64_t units = weights->dims[0], k = weights->dims[1];
  const int64_t features = affine->type.lastDim();
  if (k != affine->type.sampleElements() || features <= 0 || k % features != 0)
    return false;
  std::vector<double> w(static_cast<size_t>(units * k)), b(static_cast<size_t>(units));
  for (int64_t o = 0; o < units; ++o) {
    double sum = bias ? bias->values[o] : 0.0;
    for (int64_t i = 0; i < k; ++i) {
      double wi = weights->values[o * k + i];
      w[o * k + i] = wi * a.scale[i % features];
      sum += wi * a.shift[i % features];
    }
    b[o] = sum;
  }
  ir::Op *wOp =
      newConst(inserter, next, next->operands[1]->name + ".folded", {units, k}, std::move(w));
  std::string biasBase = bias ? next->operands[2]->name : next->name + ".bias";
  ir::Op *bOp = newConst(inserter, next, biasBase + ".folded", {units}, std::move(b));
  if (next->kind == ir::OpKind::Linear)
    next->fn = ir::makeActivation(ir::ActKind::Identity);
  next->kind = ir::OpKind::Dense;
  uses.setOperands(next, {affine->operands[0], wOp, bOp});
  return true;
}

/// before a conv: `affine` only scales the channels of the next conv's input.
bool foldIntoNextConv(ir::OpInserter &inserter, ir::Op *affine, const Affine &a,
                      ir::UseCounts &uses) {
  ir::Op *next = uses.soleUser(affine);
  if (!next || !ir::isConv(next->kind) || next->operands[0] != affine)
    return false;
  for (size_t k = 1; k < next->operands.size(); ++k)
    if (next->operands[k] == affine)
      return false; // it is also the filters, the bias or the residual
  if (std::any_of(a.shift.begin(), a.shift.end(), [](double t) { return t != 0; }))
    return false; // a shift: the padding's zeros would not be shifted
  const std::vector<int64_t> &dims = affine->type.dims;
  const bool uniform =
      std::all_of(a.scale.begin(), a.scale.end(), [&](double v) { return v == a.scale.front(); });
  if (dims.size() < 2 || (ir::featureAxis(affine->axis, dims.size()) != 0 && !uniform))
    return false; // the scale varies across a channel's positions
  const Tensor *weights = constData(next->operands[1]);
  if (!weights || !next->type.known)
    return false;
  const ir::WindowGeometry g = ir::windowGeometry(*next);
  const int64_t perGroupIn = g.inChannelsPerGroup(), perGroupOut = g.outChannelsPerGroup();
  if (g.inChannels != dims[0] || perGroupIn <= 0 || perGroupOut <= 0)
    return false;
  const int64_t taps = weights->numElements() / (g.outChannels * perGroupIn);
  std::vector<double> w(static_cast<size_t>(weights->numElements()));
  for (int64_t o = 0; o < g.outChannels; ++o)
    for (int64_t j = 0; j < perGroupIn; ++j) {
      const double s = uniform ? a.scale.front()
                               : a.scale[static_cast<size_t>((o / perGroupOut) * perGroupIn + j)];
      for (int64_t t = 0; t < taps; ++t) {
        const int64_t i = (o * perGroupIn + j) * taps + t;
        w[static_cast<size_t>(i)] = static_cast<double>(weights->values[i]) * s;
      }
    }
  ir::Op *wOp =
      newConst(inserter, next, next->operands[1]->name + ".folded", weights->dims, std::move(w));
  std::vector<ir::Op *> operands = next->operands;
  operands[0] = affine->operands[0];
  operands[1] = wOp;
  uses.setOperands(next, std::move(operands));
  return true;
}

} // namespace

bool foldScaleShift(ir::Graph &graph, PassContext &ctx) {
  // Kept up to date by the folds (setOperands), where recounting after each
  // would be quadratic on a long chain.
  ir::UseCounts uses(graph);
  // The new constants join graph.ops when the inserter commits, after the
  // walk.
  ir::OpInserter inserter(graph);
  for (auto &opPtr : graph.ops) {
    ir::Op *op = opPtr.get();
    if (!op->type.known)
      continue;
    std::optional<Affine> a = affineOf(*op);
    if (!a)
      continue; // not an affine op with constant parameters
    const char *counter = op->kind == ir::OpKind::BatchNorm ? "batch-norms" : "scale-shifts";
    if (foldIntoPrevious(inserter, op, *a, uses))
      ctx.count(std::string("fold-scale-shift.") + counter + "-folded-into-previous");
    else if (foldIntoNext(inserter, op, *a, uses))
      ctx.count(std::string("fold-scale-shift.") + counter + "-folded-into-next");
    else if (foldIntoConv(inserter, op, *a, uses))
      ctx.count(std::string("fold-scale-shift.") + counter + "-folded-into-conv");
    else if (foldIntoNextConv(inserter, op, *a, uses))
      ctx.count(std::string("fold-scale-shift.") + counter + "-folded-into-next-conv");
  }
  inserter.commit();
  return true;
}

} // namespace soma::passes
