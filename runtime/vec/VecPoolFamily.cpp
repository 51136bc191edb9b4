// The vec engine's family for pooling and reshape (VecEngine.h
// vecPoolFamily): max_pool and avg_pool run the reference loops
// (ir::poolRows: double sums, one rounding, so the interpreter's bits) over
// row tiles of the result, global_avg_pool over tiles of samples
// (ir::globalPoolRows), and reshape is a copy of its rows (the same
// elements in the same order). Unlike the interpreter's family, which runs
// whole batches on one thread and allocates its operands on every call,
// these steps read and write the run's slots in place and split over
// threads. Not vectorised yet.
#include "soma/ir/Spatial.h"
#include "soma/runtime/VecEngine.h"
#include "soma/runtime/VecPool.h"

#include <algorithm>
#include <cstring>
#include <memory>

namespace soma::runtime {

void runPool(const void *context, void *const *slots, int64_t r0, int64_t r1, int64_t, int64_t) {
  const auto &c = *static_cast<const PoolContext *>(context);
  const auto *x = static_cast<const float *>(slots[c.x]);
  auto *y = static_cast<float *>(slots[c.y]);
  switch (c.kind) {
  case ir::OpKind::GlobalAvgPool: // rows are samples
    ir::globalPoolRows(c.plane, x, r0 * c.channels, r1 * c.channels, y);
    break;
  case ir::OpKind::Reshape:
    if (r1 > r0 && c.cols > 0)
      std::memcpy(y + r0 * c.cols, x + r0 * c.cols,
                  static_cast<size_t>((r1 - r0) * c.cols) * sizeof(float));
    break;
  default:
    ir::poolRows(c.kind == ir::OpKind::MaxPool, c.padCount, c.g, x, r0, r1, y);
    break;
  }
}

namespace {

class VecPoolFamily final : public KernelFamily {
public:
  const char *name() const override { return "vec.pool"; }
  Tier tier() const override { return Tier::Vec; }

  Fit fit(const ir::Op &op) const override {
    switch (op.kind) {
    case ir::OpKind::MaxPool:
    case ir::OpKind::AvgPool:
    case ir::OpKind::GlobalAvgPool:
    case ir::OpKind::Reshape:
      if (!op.operands[0]->type.batched)
        return Fit::declines("its input depends on no input");
      return Fit::runs(op.kind == ir::OpKind::Reshape
                           ? "a copy of whole rows"
                           : "the reference loops over row tiles, not vectorised");
    default:
      return Fit::declines("not a pooling or reshape");
    }
  }

  Expected<bool> makeStep(const ProgramBuilder &b, size_t i, Step &step) const override {
    const ir::Op &op = *b.graph().ops[i];
    auto c = std::make_shared<PoolContext>();
    c->kind = op.kind;
    c->padCount = op.padCount;
    c->x = b.slotOf(op.operands[0]);
    c->y = step.result;
    c->cols = step.cols;
    TileRules rules;
    rules.colGranularity = 0;
    if (op.kind == ir::OpKind::GlobalAvgPool) {
      c->channels = op.type.dims[0];
      c->plane = op.operands[0]->type.sampleElements() / std::max<int64_t>(c->channels, 1);
      rules.rowWork = op.operands[0]->type.sampleElements() * 2;
    } else if (op.kind == ir::OpKind::Reshape) {
      rules.rowWork = step.cols;
    } else {
      c->g = ir::windowGeometry(op);
      rules.rowWork = c->g.outW * (c->g.kH * c->g.kW * 4 + kElementWork);
    }
    step.contextFn = runPool;
    step.context = std::move(c);
    planTiles(step, rules);
    return true;
  }
};

} // namespace

const KernelFamily &vecPoolFamily() {
  static const VecPoolFamily family;
  return family;
}

} // namespace soma::runtime
