// prune: magnitude pruning, only when the user asks for it (`--prune=F`,
// CompileOptions::prune, or `prune = F` in a layer). For each linear, dense
// and dense_add op with a fraction F in [0, 1) (the layer's own beats the
// global one), the round(F * n) weights of smallest magnitude among its n
// become +0, so the sparsity analysis and the cost model see them as zeros.
//
//   1. Order the weights by |w|, then by position (row-major): the order is
//      total, so which of several equal weights go is fixed (the first
//      ones). A NaN weight counts as the largest (it is never pruned);
//      weights that are already zero come first and count towards F.
//   2. Zero the first round(F * n) of that order in a copy of the tensor:
//      the constant itself when this op is its only user, else a new
//      constant `<weights>.pruned` (the original stays for its other users,
//      and dce removes it if none remain).
//   3. Warn, at the layer, that this changes its results, with the
//      sparsity achieved (zeros / all after pruning).
//
// Preconditions: the weights are a constant with data (a layer that asks
// for pruning but computes its weights at run time is an error; the global
// fraction skips it with a remark). Tolerance class: changes-results
// (docs/passes.md#prune): the numerics checker reports its drift and does
// not fail, because the user asked for it.
#include "soma/passes/Passes.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

namespace soma::passes {

namespace {

std::string describe(const ir::Op &op) {
  return std::string(ir::opName(op.kind)) + " '" + op.name + "'";
}

std::string percent(int64_t part, int64_t whole) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g%%",
                whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0);
  return buf;
}

} // namespace

int64_t pruneCount(double fraction, int64_t n) {
  return std::clamp<int64_t>(std::llround(fraction * static_cast<double>(n)), 0, n);
}

bool pruneRequested(const ir::Graph &graph, std::optional<double> global) {
  if (global)
    return true;
  return std::any_of(graph.ops.begin(), graph.ops.end(),
                     [](const auto &op) { return op->hints.prune.has_value(); });
}

bool pruneWeights(ir::Graph &graph, PassContext &ctx) {
  bool ok = true;
  std::vector<size_t> uses = ir::countUses(graph);
  ir::OpMap<size_t> index(graph.ops.size());
  for (size_t i = 0; i < graph.ops.size(); ++i)
    index[graph.ops[i].get()] = i;
  // The copies join graph.ops when the inserter commits, after the walk.
  ir::OpInserter inserter(graph);
  std::vector<ir::Op *> layers;
  for (auto &op : graph.ops)
    if (ir::isWeightedSum(op->kind))
      layers.push_back(op.get());
  for (ir::Op *op : layers) {
    std::optional<double> fraction = op->hints.prune ? op->hints.prune : ctx.prune;
    if (!fraction)
      continue; // nothing asked for this layer
    ir::Op *w = op->operands[1];
    if (w->kind != ir::OpKind::Const || !w->data) {
      if (op->hints.prune) {
        ctx.diags.error(op->loc, "cannot prune " + describe(*op) + ": its weights '" + w->name +
                                     "' are not a constant");
        ok = false;
      } else {
        ctx.remark(op->loc,
                   describe(*op) + " not pruned: its weights '" + w->name + "' are not a constant");
      }
      continue;
    }
    const AlignedVector<float> &values = w->data->values;
    const int64_t n = static_cast<int64_t>(values.size());
    const int64_t k = pruneCount(*fraction, n);
    auto zeros = [](const AlignedVector<float> &v) {
      return static_cast<int64_t>(std::count(v.begin(), v.end(), 0.0f));
    };
    const int64_t zerosBefore = zeros(values);
    if (k <= zerosBefore) {
      ctx.remark(op->loc, describe(*op) + " not pruned: " + std::to_string(zerosBefore) + " of " +
                              std::to_string(n) + " weights are zero already, " +
                              std::to_string(k) + " asked for");
      continue;
    }
    // 1. The total order: magnitude (NaN last), then position.
    auto magnitude = [&](int64_t i) {
      float v = values[static_cast<size_t>(i)];
      return std::isnan(v) ? std::numeric_limits<float>::infinity() : std::fabs(v);
    };
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t{0});
    std::nth_element(order.begin(), order.begin() + (k - 1), order.end(),
                     [&](int64_t a, int64_t b) {
                       float ma = magnitude(a), mb = magnitude(b);
                       return ma < mb || (ma == mb && a < b);
                     });
    // 2. Zero the first k in a copy.
    auto pruned = std::make_shared<Tensor>(*w->data);
    for (int64_t j = 0; j < k; ++j)
      pruned->values[static_cast<size_t>(order[static_cast<size_t>(j)])] = 0.0f;
    const int64_t zerosAfter = zeros(pruned->values);
    if (uses[*index.find(w)] == 1) {
      w->data = std::move(pruned);
    } else {
      ir::Op *copy = inserter.insertBefore(op, ir::OpKind::Const, w->name + ".pruned", {}, w->loc);
      copy->type = w->type;
      copy->data = std::move(pruned);
      op->operands[1] = copy;
    }
    // 3. Say so.
    char asked[32];
    std::snprintf(asked, sizeof asked, "%g", *fraction);
    ctx.diags.warning(op->loc, "pruning changes the results of " + describe(*op) + ": " +
                                   percent(zerosAfter, n) + " of its weights are zero now (" +
                                   std::to_string(zerosAfter) + " of " + std::to_string(n) + ", " +
                                   std::to_string(zerosAfter - zerosBefore) +
                                   " pruned; asked for " + asked + ")");
    ctx.count("prune.layers-pruned");
    ctx.count("prune.weights-zeroed", zerosAfter - zerosBefore);
  }
  inserter.commit();
  return ok;
}

} // namespace soma::passes
