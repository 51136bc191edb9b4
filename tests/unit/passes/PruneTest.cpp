// The prune pass on random matrices of odd shapes: it zeroes exactly
// round(F * n) weights (counting those already zero), the zeroed ones are
// never larger in magnitude than the kept ones, ties go by position, NaN
// weights stay, and a layer's own fraction beats the global one.
#include "soma/ir/Graph.h"
#include "soma/passes/Passes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace soma;

namespace {

struct Layer {
  SourceManager sm;
  DiagnosticEngine diags{sm};
  ir::Graph graph;
  ir::Op *dense = nullptr;
};

/// x -> dense(x, w, b) with the given weights [units, inputs].
std::unique_ptr<Layer> makeLayer(int64_t units, int64_t inputs, std::vector<float> w) {
  auto l = std::make_unique<Layer>();
  ir::Graph &g = l->graph;
  g.name = "g";
  ir::Op *x = g.append(ir::OpKind::Input, "x", {});
  x->type = ir::TensorType::make(true, {inputs});
  ir::Op *wOp = g.append(ir::OpKind::Const, "w", {});
  wOp->type = ir::TensorType::make(false, {units, inputs});
  auto t = std::make_shared<Tensor>(std::vector<int64_t>{units, inputs});
  std::copy(w.begin(), w.end(), t->values.begin());
  wOp->data = t;
  ir::Op *b = g.append(ir::OpKind::Const, "b", {});
  b->type = ir::TensorType::make(false, {units});
  b->data = std::make_shared<Tensor>(std::vector<int64_t>{units});
  l->dense = g.append(ir::OpKind::Dense, "d", {x, wOp, b});
  l->dense->type = ir::TensorType::make(true, {units});
  g.outputs.push_back({"d", l->dense, {}});
  return l;
}

const AlignedVector<float> &weightsOf(const Layer &l) { return l.dense->operands[1]->data->values; }

TEST(Prune, ExactCountSmallestFirstOnRandomShapes) {
  std::mt19937_64 rng(20261127);
  for (int trial = 0; trial < 60; ++trial) {
    const int64_t units = 1 + static_cast<int64_t>(rng() % 37);
    const int64_t inputs = 1 + static_cast<int64_t>(rng() % 53);
    const double fraction = std::uniform_real_distribution<double>(0, 0.999)(rng);
    std::vector<float> w(static_cast<size_t>(units * inputs));
    std::normal_distribution<float> normal;
    for (float &v : w) // some exact zeros and repeated magnitudes, as real weights have
      v = rng() % 7 == 0 ? 0.0f : rng() % 5 == 0 ? (rng() % 2 ? 0.5f : -0.5f) : normal(rng);
    auto l = makeLayer(units, inputs, w);
    passes::PassContext ctx(l->diags);
    ctx.prune = fraction;
    SCOPED_TRACE("trial " + std::to_string(trial) + ": " + std::to_string(units) + "x" +
                 std::to_string(inputs) + ", fraction " + std::to_string(fraction));
    ASSERT_TRUE(passes::pruneWeights(l->graph, ctx));
    const AlignedVector<float> &after = weightsOf(*l);
    const int64_t n = units * inputs;
    const int64_t k = passes::pruneCount(fraction, n);
    EXPECT_EQ(k, std::llround(fraction * static_cast<double>(n)));
    int64_t zerosBefore = std::count(w.begin(), w.end(), 0.0f);
    int64_t zerosAfter = std::count(after.begin(), after.end(), 0.0f);
    EXPECT_EQ(zerosAfter, std::max(k, zerosBefore));
    float largestPruned = 0, smallestKept = INFINITY;
    int64_t lastPrunedAtTie = -1, firstKeptAtTie = n;
    for (int64_t i = 0; i < n; ++i) {
      if (after[i] != w[i]) {
        EXPECT_EQ(after[i], 0.0f);
        largestPruned = std::max(largestPruned, std::fabs(w[i]));
      } else if (w[i] != 0) {
        smallestKept = std::min(smallestKept, std::fabs(w[i]));
      }
    }
    EXPECT_LE(largestPruned, smallestKept);
    // Ties at the boundary magnitude: the pruned ones come first by position.
    for (int64_t i = 0; i < n; ++i)
      if (std::fabs(w[i]) == largestPruned && w[i] != 0) {
        if (after[i] == 0)
          lastPrunedAtTie = i;
        else
          firstKeptAtTie = std::min(firstKeptAtTie, i);
      }
    EXPECT_LT(lastPrunedAtTie, firstKeptAtTie);
  }
}

TEST(Prune, NanIsNeverPrunedAndLayerBeatsGlobal) {
  auto l = makeLayer(1, 4, {NAN, 0.25f, -4.0f, 1.0f});
  l->dense->hints.prune = 0.75; // 3 of 4
  passes::PassContext ctx(l->diags);
  ctx.prune = 0.25; // 1 of 4: the layer's own fraction wins
  ASSERT_TRUE(passes::pruneWeights(l->graph, ctx));
  const AlignedVector<float> &after = weightsOf(*l);
  EXPECT_TRUE(std::isnan(after[0]));
  EXPECT_EQ(after[1], 0.0f);
  EXPECT_EQ(after[2], 0.0f);
  EXPECT_EQ(after[3], 0.0f);
  EXPECT_EQ(ctx.stats["prune.weights-zeroed"], 3);
}

TEST(Prune, SharedWeightsAreCopied) {
  auto l = makeLayer(1, 2, {1.0f, 2.0f});
  ir::Graph &g = l->graph;
  ir::Op *other = g.append(ir::OpKind::Linear, "other", {g.findOp("x"), g.findOp("w")});
  other->type = ir::TensorType::make(true, {1});
  g.outputs.push_back({"other", other, {}});
  l->dense->hints.prune = 0.5;
  passes::PassContext ctx(l->diags);
  ASSERT_TRUE(passes::pruneWeights(g, ctx));
  EXPECT_EQ(weightsOf(*l)[0], 0.0f);
  EXPECT_EQ(l->dense->operands[1]->name, "w.pruned");
  // The other user still sees the original weights.
  EXPECT_EQ(g.findOp("w")->data->values[0], 1.0f);
  EXPECT_EQ(other->operands[1], g.findOp("w"));
}

} // namespace
