// eliminate-dead-neurons: shrinks dense (and linear) layers to the neurons
// that can change the network's outputs. Neuron o of layer L is dead when
//   (b) every user's weight column W_user[:, o] is zero: nothing reads it;
//       removed, with row o of W_L, b_L[o] and column o of every W_user;
//   (c) its incoming row W_L[o, :] is zero and act(b_L[o]) == 0: it always
//       outputs 0, so it contributes nothing; removed as in (b);
//   (a) its incoming row is zero and act(b_L[o]) == c != 0: it always
//       outputs c; removed as in (b) after b_user += c * W_user[:, o].
//
// Preconditions: L's weights and bias are constants, its activation is
// elementwise and its exact constant output is known (identity, relu,
// leaky_relu, step; hard_sigmoid when saturated) for (a)/(c); L is not a
// graph output (its width is the interface); every user of L is a dense or
// linear op reading L as its input (not its weights), with constant
// weights and, for a fold with c != 0, a constant bias (a linear user has
// none, so (a) needs dense users). A layer keeps at least one neuron: a
// width of 0 is not representable. The layers are revisited until nothing
// changes, because removing rows of a layer can zero a column that kills
// a neuron of the layer before it.
//
// Algorithm: sweeps over the layers in graph order until a sweep changes
// nothing, where a sweep visits only the layers whose neighbourhood changed
// since they were last looked at. Shrinking L changes L's weights and bias,
// and its users' weights and biases, so it can change what is found only
// at L, at L's users and at the layer L reads (whose outgoing columns are
// L's weights); those are queued. A queued layer after L in graph order is
// visited in the same sweep, one before it in the next, which is the order
// full sweeps would visit them in: the result is the same, but a chain of n
// layers costs O(n log n) rather than n sweeps of n layers. The users of
// every op are found once (shrinking replaces only constant operands, so
// they do not change), and the new constants are inserted in one splice.
//
// New, smaller constants replace the old ones; the old ones are left to dce.
//
// Tolerance class: exact for (b) and (c) (the removed terms are exact
// zeros, for finite inputs: 0 * inf is NaN, which the removal drops); for
// (a) rounding: each folded bias is computed in double from the f32 values
// and rounded to f32 once, where the engines add c * w in their sum and
// round the result once; the two can differ by half an ulp of the bias.
#include "soma/ir/Printer.h"
#include "soma/passes/Passes.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

namespace soma::passes {

namespace {

bool isLayer(const ir::Op &op) {
  return op.kind == ir::OpKind::Dense || op.kind == ir::OpKind::Linear;
}

const ir::Op *constOperand(const ir::Op &op, size_t i) {
  if (i >= op.operands.size() || op.operands[i]->kind != ir::OpKind::Const || !op.operands[i]->data)
    return nullptr;
  return op.operands[i];
}

/// The layer's activation ("identity" for a linear op).
ir::Activation layerFn(const ir::Op &op) {
  return op.kind == ir::OpKind::Dense ? op.fn : ir::makeActivation(ir::ActKind::Identity);
}

ir::Op *makeConst(ir::OpInserter &inserter, const ir::Op *before, const std::string &base,
                  Tensor data, SourceLoc loc) {
  return inserter.insertConstBefore(before, base, std::make_shared<const Tensor>(std::move(data)),
                                    loc);
}

enum class Reason { ZeroOutgoing, ConstantZero, ConstantFolded };

struct Removal {
  int64_t neuron;
  Reason reason;
  float constant = 0;
};

class DeadNeuronEliminator {
public:
  DeadNeuronEliminator(ir::Graph &graph, PassContext &ctx) : ctx(ctx), inserter(graph) {
    for (auto &op : graph.ops) {
      for (ir::Op *operand : op->operands)
        if (isLayer(*operand))
          users[operand].push_back(op.get());
      if (isLayer(*op)) {
        layerIndex[op.get()] = layers.size();
        layers.push_back(op.get());
      }
    }
    for (const ir::GraphOutput &out : graph.outputs)
      outputs.insert(out.value);
  }

  bool run() {
    // The first sweep visits every layer; a layer queued during it that
    // comes later is visited by it anyway.
    for (size_t i = 0; i < layers.size(); ++i)
      visit(i);
    firstSweep = false;
    // Later sweeps visit only the queued layers.
    next = 0;
    while (!queued.empty()) {
      auto it = queued.lower_bound(next);
      if (it == queued.end()) {
        next = 0; // the sweep is over; the next one starts
        continue;
      }
      size_t i = *it;
      queued.erase(it);
      visit(i);
    }
    inserter.commit();
    return true;
  }

private:
  /// Users of `layer`, in graph order.
  const std::vector<ir::Op *> &usersOf(const ir::Op *layer) const {
    static const std::vector<ir::Op *> none;
    const std::vector<ir::Op *> *found = users.find(layer);
    return found ? *found : none;
  }

  bool isOutput(const ir::Op *op) const { return outputs.contains(op); }

  /// Original index of neuron `o` of `layer`, for remarks after earlier
  /// rounds have shrunk it.
  int64_t originalIndex(const ir::Op *layer, int64_t o) {
    const std::vector<int64_t> *origin = original.find(layer);
    return origin ? (*origin)[o] : o;
  }

  /// Shrinks layer `i` and, when it changed, queues the layers it affects.
  void visit(size_t i) {
    next = i + 1;
    ir::Op *layer = layers[i];
    if (!shrink(*layer))
      return;
    queue(layer);
    for (const ir::Op *operand : layer->operands)
      queue(operand);
    for (const ir::Op *user : usersOf(layer))
      queue(user);
  }
  void queue(const ir::Op *op) {
    const size_t *index = layerIndex.find(op);
    if (index && !(firstSweep && *index >= next))
      queued.insert(*index);
  }

  bool shrink(ir::Op &layer);
  /// Step 4 of shrink: a remark and a count per neuron removed.
  void report(const ir::Op &layer, const std::vector<Removal> &removals,
              const std::vector<ir::Op *> &users);

  PassContext &ctx;
  ir::OpInserter inserter;
  ir::OpMap<std::vector<ir::Op *>> users; // of the layers
  std::vector<ir::Op *> layers;           // in graph order
  ir::OpMap<size_t> layerIndex;
  ir::OpSet outputs;
  ir::OpMap<std::vector<int64_t>> original;
  /// The layers to visit again, by index; the sweep is at `next`.
  std::set<size_t> queued;
  size_t next = 0;
  bool firstSweep = true;
};

void DeadNeuronEliminator::report(const ir::Op &layer, const std::vector<Removal> &removals,
                                  const std::vector<ir::Op *> &users) {
  const char *kind = layer.kind == ir::OpKind::Dense ? "dense" : "linear";
  for (const Removal &r : removals) {
    std::string what = std::string(kind) + " '" + layer.name + "' neuron " +
                       std::to_string(originalIndex(&layer, r.neuron)) + " removed: ";
    switch (r.reason) {
    case Reason::ZeroOutgoing:
      what += "all outgoing weights are zero";
      ctx.count("eliminate-dead-neurons.neurons-removed-zero-outgoing");
      break;
    case Reason::ConstantZero:
      what += "all incoming weights are zero and its output is constant 0";
      ctx.count("eliminate-dead-neurons.neurons-removed-constant-zero");
      break;
    case Reason::ConstantFolded: {
      std::string into;
      for (ir::Op *user : users)
        into += (into.empty() ? "'" : ", '") + user->name + "'";
      what += "all incoming weights are zero (constant output " + ir::formatFloat(r.constant) +
              " folded into " + into + " bias)";
      ctx.count("eliminate-dead-neurons.neurons-removed-constant-folded");
      break;
    }
    }
    ctx.remark(layer.loc, what);
  }
}

bool DeadNeuronEliminator::shrink(ir::Op &layer) {
  const ir::Op *w = constOperand(layer, 1);
  const ir::Op *b = layer.kind == ir::OpKind::Dense ? constOperand(layer, 2) : nullptr;
  if (!w || (layer.kind == ir::OpKind::Dense && !b))
    return false; // weights computed at run time: nothing is known
  if (!layer.type.batched || layer.type.dims.size() != 1)
    return false;
  if (isOutput(&layer))
    return false; // its width is the network's interface
  ir::Activation act = layerFn(layer);
  if (ir::isRowwise(act.kind))
    return false; // each output depends on the whole row
  const int64_t units = w->type.dims[0], inputs = w->type.dims[1];
  if (units <= 1)
    return false; // the last neuron stays

  const std::vector<ir::Op *> &users = usersOf(&layer);
  if (users.empty())
    return false; // dead altogether: dce's job
  for (ir::Op *user : users) {
    if (!isLayer(*user) || user->operands[0] != &layer || !constOperand(*user, 1))
      return false; // a reader that is not a weighted sum needs every neuron
    if (user->kind == ir::OpKind::Dense && !constOperand(*user, 2))
      return false;
    for (size_t i = 1; i < user->operands.size(); ++i)
      if (user->operands[i] == &layer)
        return false;
  }

  // 1. Classify each neuron.
  const auto &wv = w->data->values;
  std::vector<Removal> removals;
  for (int64_t o = 0; o < units; ++o) {
    bool outgoingZero = true, outgoingFinite = true;
    for (ir::Op *user : users) {
      const ir::Op *uw = user->operands[1];
      int64_t cols = uw->type.dims[1];
      for (int64_t r = 0; r < uw->type.dims[0]; ++r) {
        float v = uw->data->values[r * cols + o];
        outgoingZero &= v == 0;
        outgoingFinite &= std::isfinite(v);
      }
    }
    if (outgoingZero) {
      removals.push_back({o, Reason::ZeroOutgoing});
      continue;
    }
    bool incomingZero = true;
    for (int64_t i = 0; i < inputs && incomingZero; ++i)
      incomingZero = wv[o * inputs + i] == 0;
    if (!incomingZero || !outgoingFinite)
      continue;
    float bias = b ? b->data->values[o] : 0.0f;
    std::optional<float> c = ir::exactActivationConstant(act, bias);
    if (!c)
      continue; // the constant is not known exactly
    if (*c == 0) {
      removals.push_back({o, Reason::ConstantZero, 0});
      continue;
    }
    bool allDense = true;
    for (ir::Op *user : users)
      allDense &= user->kind == ir::OpKind::Dense;
    if (allDense) // a linear user has no bias to fold into
      removals.push_back({o, Reason::ConstantFolded, *c});
  }
  if (removals.empty())
    return false;
  if (static_cast<int64_t>(removals.size()) == units)
    removals.erase(removals.begin()); // the last neuron stays

  // 2. Fold constants into the users' biases, in double, rounded once.
  std::vector<bool> dead(units, false);
  for (const Removal &r : removals)
    dead[r.neuron] = true;
  std::vector<std::vector<double>> newBias(users.size());
  for (size_t u = 0; u < users.size(); ++u) {
    if (users[u]->kind != ir::OpKind::Dense)
      continue;
    const auto &bv = users[u]->operands[2]->data->values;
    newBias[u].assign(bv.begin(), bv.end());
  }
  for (const Removal &r : removals) {
    if (r.reason != Reason::ConstantFolded)
      continue;
    for (size_t u = 0; u < users.size(); ++u) {
      const ir::Op *uw = users[u]->operands[1];
      int64_t cols = uw->type.dims[1];
      for (int64_t row = 0; row < uw->type.dims[0]; ++row) {
        double term = double(r.constant) * uw->data->values[row * cols + r.neuron];
        if (term != 0) // adding +0 would turn a -0 bias into +0
          newBias[u][row] += term;
      }
      ctx.count("eliminate-dead-neurons.constants-folded");
    }
  }

  // 3. Slice the layer's rows and the users' columns.
  std::vector<int64_t> live;
  for (int64_t o = 0; o < units; ++o)
    if (!dead[o])
      live.push_back(o);
  const int64_t kept = static_cast<int64_t>(live.size());
  Tensor newW({kept, inputs});
  for (int64_t k = 0; k < kept; ++k)
    std::copy_n(wv.begin() + live[k] * inputs, inputs, newW.values.begin() + k * inputs);
  layer.operands[1] = makeConst(inserter, &layer, layer.name + ".weights", std::move(newW), w->loc);
  if (b) {
    Tensor newB({kept});
    for (int64_t k = 0; k < kept; ++k)
      newB.values[k] = b->data->values[live[k]];
    layer.operands[2] = makeConst(inserter, &layer, layer.name + ".bias", std::move(newB), b->loc);
  }
  layer.type.dims = {kept};
  for (size_t u = 0; u < users.size(); ++u) {
    ir::Op *user = users[u];
    const ir::Op *uw = user->operands[1];
    int64_t rows = uw->type.dims[0], cols = uw->type.dims[1];
    Tensor sliced({rows, kept});
    for (int64_t row = 0; row < rows; ++row)
      for (int64_t k = 0; k < kept; ++k)
        sliced.values[row * kept + k] = uw->data->values[row * cols + live[k]];
    user->operands[1] =
        makeConst(inserter, user, user->name + ".weights", std::move(sliced), uw->loc);
    if (user->kind == ir::OpKind::Dense) {
      const ir::Op *ub = user->operands[2];
      Tensor bias({rows});
      for (int64_t row = 0; row < rows; ++row)
        bias.values[row] = static_cast<float>(newBias[u][row]);
      if (bias.values != ub->data->values)
        user->operands[2] =
            makeConst(inserter, user, user->name + ".bias", std::move(bias), ub->loc);
    }
  }

  // 4. Report, by the neurons' original indices.
  report(layer, removals, users);
  std::vector<int64_t> origin(kept);
  for (int64_t k = 0; k < kept; ++k)
    origin[k] = originalIndex(&layer, live[k]);
  original[&layer] = std::move(origin);
  return true;
}

} // namespace

bool eliminateDeadNeurons(ir::Graph &graph, PassContext &ctx) {
  return DeadNeuronEliminator(graph, ctx).run();
}

} // namespace soma::passes
