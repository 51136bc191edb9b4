// eliminate-dead-channels: removes the output channels of a convolution
// that cannot change the network's outputs, as eliminate-dead-neurons does
// for dense layers. Output channel o of conv L is dead when
//   (b) nothing reads it: every user's filters are zero at input channel o
//       (W_user[:, o, ...] = 0); removed, with filter o and b_L[o] of L and
//       input channel o of every user's filters;
//   (c) it is constant 0: filter o of L is zero and act(b_L[o]) == 0 (a
//       relu channel with bias <= 0, ...), so it outputs 0 at every
//       position, like the padding around it; removed as in (b);
//   (a) it is a constant c != 0: filter o is zero and act(b_L[o]) == c; each
//       user without padding (every window inside the input, so every tap
//       of input channel o reads c) gets b_user[p] += c * sum of
//       W_user[p, o, ...]; removed as in (b). With padding, taps over the
//       border read 0 instead of c, so the channel stays.
//
// The constant must be known exactly, as every engine computes it
// (ir::exactActivationConstant: identity, relu, leaky_relu, step, a
// saturated hard_sigmoid). A zero filter under sigmoid, tanh, gelu, ... is
// a constant the engines round differently (sigmoid(0) = 0.5, not 0), so
// its channel stays.
//
// Preconditions: L is a conv with groups = 1 (removing a channel would
// unbalance the groups), constant filters and bias, not a graph output (its
// channels are the interface); every user of L is a conv with groups = 1
// that reads L as its input (not its filters or bias), with constant
// filters and bias. Ops no output depends on are removed first, as dce
// would (earlier passes leave them), since they are not users that count
// and would read a shrunk conv with the old filters. L keeps at least one
// channel. Convs are visited last
// to first, so a channel of L whose readers' filters a later removal
// emptied is seen empty. The reasoning assumes finite inputs (0 * inf is
// NaN, which the removal drops), as eliminate-dead-neurons does.
//
// Tolerance class: rounding. (b) and (c) remove exact zeros; in (a) each
// folded bias is computed in double and rounded to f32 once, where the
// engines summed c * w tap by tap.
#include "soma/ir/Printer.h"
#include "soma/passes/Passes.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace soma::passes {
namespace {

enum class Reason { NothingReads, ConstantZero, ConstantFolded };

struct Removal {
  int64_t channel;
  Reason reason;
  float constant = 0;
};

const Tensor *constData(const ir::Op *op) {
  return op->kind == ir::OpKind::Const ? op->data.get() : nullptr;
}

/// A conv with groups = 1 and constant filters and bias.
bool isPlainConv(const ir::Op &op) {
  return op.kind == ir::OpKind::Conv && op.groups == 1 && constData(op.operands[1]) &&
         constData(op.operands[2]);
}

ir::Op *makeConst(ir::OpInserter &inserter, const ir::Op *before, const std::string &base,
                  Tensor data, SourceLoc loc) {
  return inserter.insertConstBefore(before, base, std::make_shared<const Tensor>(std::move(data)),
                                    loc);
}

class DeadChannelEliminator {
public:
  DeadChannelEliminator(ir::Graph &graph, PassContext &ctx) : ctx(ctx), inserter(graph) {
    // Ops no output depends on, left behind by earlier passes for dce, go
    // first (as dce removes them): they would read a shrunk conv with the
    // old filters.
    graph.removeDeadOps();
    for (auto &op : graph.ops) {
      for (ir::Op *operand : op->operands)
        if (operand->kind == ir::OpKind::Conv)
          users[operand].push_back(op.get());
      if (op->kind == ir::OpKind::Conv)
        convs.push_back(op.get());
    }
    for (const ir::GraphOutput &out : graph.outputs)
      outputs.insert(out.value);
  }

  void run() {
    for (size_t i = convs.size(); i-- > 0;)
      shrink(*convs[i]);
    inserter.commit();
  }

private:
  /// The users of `conv` when every one may lose input channels, or null.
  const std::vector<ir::Op *> *removableUsers(const ir::Op &conv) const {
    const std::vector<ir::Op *> *found = users.find(&conv);
    if (!found)
      return nullptr; // dead altogether: dce's job
    for (const ir::Op *user : *found)
      if (!isPlainConv(*user) || user->operands[0] != &conv || user->operands[1] == &conv ||
          user->operands[2] == &conv)
        return nullptr; // a reader that is not a conv's input needs every channel
    return found;
  }

  std::vector<Removal> classify(const ir::Op &conv, const std::vector<ir::Op *> &readers) const;
  void slice(ir::Op &conv, const std::vector<ir::Op *> &readers,
             const std::vector<Removal> &removals);
  void report(const ir::Op &conv, const std::vector<ir::Op *> &readers,
              const std::vector<Removal> &removals);

  void shrink(ir::Op &conv) {
    if (!isPlainConv(conv) || outputs.contains(&conv) || conv.type.dims.size() < 2)
      return; // grouped, computed filters, or its channels are the interface
    if (conv.type.dims[0] <= 1)
      return; // the last channel stays
    const std::vector<ir::Op *> *readers = removableUsers(conv);
    if (!readers)
      return;
    std::vector<Removal> removals = classify(conv, *readers);
    if (removals.empty())
      return;
    if (static_cast<int64_t>(removals.size()) == conv.type.dims[0])
      removals.erase(removals.begin()); // the last channel stays
    slice(conv, *readers, removals);
    report(conv, *readers, removals);
  }

  PassContext &ctx;
  ir::OpInserter inserter;
  ir::OpMap<std::vector<ir::Op *>> users; // of the convs, in graph order
  std::vector<ir::Op *> convs;            // in graph order
  ir::OpSet outputs;
};

std::vector<Removal> DeadChannelEliminator::classify(const ir::Op &conv,
                                                     const std::vector<ir::Op *> &readers) const {
  const Tensor &w = *constData(conv.operands[1]), &b = *constData(conv.operands[2]);
  const int64_t channels = conv.type.dims[0], perFilter = w.numElements() / channels;
  bool unpadded = true;
  for (const ir::Op *r : readers)
    for (int64_t p : r->pads)
      unpadded &= p == 0;
  std::vector<Removal> removals;
  // Whether every reader weight of channel o passes `test`, stopping at
  // the first that does not (a dense model's channels stop at once).
  auto readerWeights = [&](int64_t o, auto test) {
    for (const ir::Op *r : readers) {
      const Tensor &uw = *constData(r->operands[1]);
      const int64_t taps = uw.numElements() / (uw.dims[0] * channels);
      for (int64_t p = 0; p < uw.dims[0]; ++p)
        for (int64_t t = 0; t < taps; ++t)
          if (!test(uw.values[(p * channels + o) * taps + t]))
            return false;
    }
    return true;
  };
  for (int64_t o = 0; o < channels; ++o) {
    if (readerWeights(o, [](float v) { return v == 0; })) {
      removals.push_back({o, Reason::NothingReads});
      continue;
    }
    bool zeroFilter = true;
    for (int64_t i = 0; i < perFilter && zeroFilter; ++i)
      zeroFilter = w.values[o * perFilter + i] == 0;
    // A zero filter's constant output reaches the readers through their
    // weights: only when those are finite (0 * inf is NaN).
    if (!zeroFilter || !readerWeights(o, [](float v) { return std::isfinite(v); }))
      continue;
    std::optional<float> c = ir::exactActivationConstant(conv.fn, b.values[o]);
    if (!c || !std::isfinite(*c))
      continue; // the constant is not known exactly
    if (*c == 0)
      removals.push_back({o, Reason::ConstantZero});
    else if (unpadded)
      removals.push_back({o, Reason::ConstantFolded, *c});
  }
  return removals;
}

void DeadChannelEliminator::slice(ir::Op &conv, const std::vector<ir::Op *> &readers,
                                  const std::vector<Removal> &removals) {
  const Tensor &w = *constData(conv.operands[1]), &b = *constData(conv.operands[2]);
  const int64_t channels = conv.type.dims[0], perFilter = w.numElements() / channels;
  std::vector<bool> dead(static_cast<size_t>(channels), false);
  for (const Removal &r : removals)
    dead[r.channel] = true;
  std::vector<int64_t> live;
  for (int64_t o = 0; o < channels; ++o)
    if (!dead[o])
      live.push_back(o);
  const auto kept = static_cast<int64_t>(live.size());
  std::vector<int64_t> wDims = w.dims;
  wDims[0] = kept;
  Tensor newW(wDims), newB({kept});
  for (int64_t k = 0; k < kept; ++k) {
    std::copy_n(w.values.begin() + live[k] * perFilter, perFilter,
                newW.values.begin() + k * perFilter);
    newB.values[k] = b.values[live[k]];
  }
  conv.operands[1] = makeConst(inserter, &conv, conv.name + ".weights", std::move(newW), conv.loc);
  conv.operands[2] = makeConst(inserter, &conv, conv.name + ".bias", std::move(newB), conv.loc);
  conv.type.dims[0] = kept;
  for (ir::Op *r : readers) {
    const Tensor &uw = *constData(r->operands[1]), &ub = *constData(r->operands[2]);
    const int64_t filters = uw.dims[0], taps = uw.numElements() / (filters * channels);
    std::vector<int64_t> dims = uw.dims;
    dims[1] = kept;
    Tensor sliced(dims), bias({filters});
    for (int64_t p = 0; p < filters; ++p) {
      for (int64_t k = 0; k < kept; ++k)
        std::copy_n(uw.values.begin() + (p * channels + live[k]) * taps, taps,
                    sliced.values.begin() + (p * kept + k) * taps);
      double sum = ub.values[p];
      for (const Removal &rm : removals)
        if (rm.reason == Reason::ConstantFolded)
          for (int64_t t = 0; t < taps; ++t) {
            const double term =
                double(rm.constant) * uw.values[(p * channels + rm.channel) * taps + t];
            if (term != 0) // adding +0 would turn a -0 bias into +0
              sum += term;
          }
      bias.values[p] = static_cast<float>(sum);
    }
    r->operands[1] = makeConst(inserter, r, r->name + ".weights", std::move(sliced), r->loc);
    if (bias.values != ub.values)
      r->operands[2] = makeConst(inserter, r, r->name + ".bias", std::move(bias), r->loc);
  }
}

void DeadChannelEliminator::report(const ir::Op &conv, const std::vector<ir::Op *> &readers,
                                   const std::vector<Removal> &removals) {
  std::string into;
  for (const ir::Op *r : readers)
    into += (into.empty() ? "'" : ", '") + r->name + "'";
  for (const Removal &r : removals) {
    std::string what =
        "conv '" + conv.name + "' channel " + std::to_string(r.channel) + " removed: ";
    switch (r.reason) {
    case Reason::NothingReads:
      what += "nothing reads it (its weights in " + into + " are zero)";
      ctx.count("eliminate-dead-channels.channels-removed-unread");
      break;
    case Reason::ConstantZero:
      what += "its filter is zero and its output is constant 0";
      ctx.count("eliminate-dead-channels.channels-removed-constant-zero");
      break;
    case Reason::ConstantFolded:
      what += "its filter is zero (constant output " + ir::formatFloat(r.constant) +
              " folded into " + into + " bias)";
      ctx.count("eliminate-dead-channels.channels-removed-constant-folded");
      break;
    }
    ctx.remark(conv.loc, what);
  }
}

} // namespace

bool eliminateDeadChannels(ir::Graph &graph, PassContext &ctx) {
  DeadChannelEliminator(graph, ctx).run();
  return true;
}

} // namespace soma::passes
