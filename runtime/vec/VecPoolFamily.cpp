// The vec engine's family for pooling and reshape (VecEngine.h
// vecPoolFamily): max_pool and avg_pool run the reference loops
// (ir::poolRows: double sums, one rounding, so the interpreter's bits) over
// row tiles of the result, global_avg_pool over tiles of samples
// (ir::globalPoolRows), and reshape is a copy of its rows (the same
// elements in the same order). Unlike the interpreter's family, which runs
// whole batches on one thread and allocates its operands on every call,
// these steps read and write the run's slots in place and split over
// threads. The pools also read, and max_pool and avg_pool write, values in
// ChannelLayout::Blocked (between convolutions): then the B channels of a
// block run side by side, in loops over the lanes the compiler vectorises,
// each lane with the reference loops' arithmetic, so the same bits. The
// planar pools are not vectorised.
#include "soma/ir/Spatial.h"
#include "soma/runtime/VecEngine.h"
#include "soma/runtime/VecPool.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <memory>

namespace soma::runtime {

namespace {

using kernels::ChannelLayout;

/// One tap's B lanes (`lane` apart; 1: InBlocked) into a block's maxima or
/// sums, and NaN flags. Not inlined: on their own the compiler vectorises
/// these loops (inlined into the window loops it did not).
template <int B, bool InBlocked>
__attribute__((noinline)) void maxInto(float *__restrict best, uint32_t *__restrict nan,
                                       const float *__restrict p, int64_t lane) {
  for (int j = 0; j < B; ++j) {
    const float v = p[(InBlocked ? 1 : lane) * j];
    nan[j] |= v != v;
    best[j] = v > best[j] ? v : best[j];
  }
}
template <int B, bool InBlocked>
__attribute__((noinline)) void addInto(double *__restrict sum, uint32_t *__restrict nan,
                                       const float *__restrict p, int64_t lane) {
  for (int j = 0; j < B; ++j) {
    const float v = p[(InBlocked ? 1 : lane) * j];
    nan[j] |= v != v;
    sum[j] += static_cast<double>(v);
  }
}

/// Rows [r0, r1) of a max_pool (IsMax) or avg_pool whose x (InBlocked) or
/// y is Blocked, on whole blocks of B channels: ir::poolRows for the B
/// channels of a block at once. Per lane: the first of equal maxima (a
/// NaN input gives NaN), or the sum in double over the taps in (kh, kw)
/// order, divided and rounded once.
template <int B, bool IsMax, bool InBlocked>
void blockedPoolRows(const PoolContext &c, const float *x, float *y, int64_t r0, int64_t r1) {
  const ir::WindowGeometry &g = c.g;
  const int64_t inPlane = g.inH * g.inW, outPlane = g.outH * g.outW;
  const int64_t inLane = InBlocked ? 1 : inPlane, inPos = InBlocked ? B : 1;
  const bool outBlocked = c.out == ChannelLayout::Blocked;
  const int64_t outLane = outBlocked ? 1 : outPlane, outPos = outBlocked ? B : 1;
  for (int64_t r = r0; r < r1; r += B * g.outH) {
    const int64_t nc = r / g.outH; // the block's first (sample, channel): the same offsets in both
    const float *xs = x + nc * inPlane;
    float *ys = y + nc * outPlane;
    for (int64_t oh = 0; oh < g.outH; ++oh)
      for (int64_t ow = 0; ow < g.outW; ++ow) {
        float best[B];
        double sum[B];
        uint32_t nan[B];
        for (int j = 0; j < B; ++j) {
          best[j] = -INFINITY;
          sum[j] = 0.0;
          nan[j] = 0;
        }
        const int64_t inside = ir::forEachTap(g, oh, ow, [&](int64_t, int64_t at) {
          const float *p = xs + at * inPos;
          if constexpr (IsMax)
            maxInto<B, InBlocked>(best, nan, p, inLane);
          else
            addInto<B, InBlocked>(sum, nan, p, inLane);
        });
        assert(inside > 0 && "a pad is smaller than the window");
        const double divisor =
            static_cast<double>(c.padCount == ir::PadCount::Include ? g.kH * g.kW : inside);
        float *q = ys + (oh * g.outW + ow) * outPos;
        for (int j = 0; j < B; ++j) {
          const float v = IsMax ? best[j] : static_cast<float>(sum[j] / divisor);
          q[j * outLane] = nan[j] ? NAN : v;
        }
      }
  }
}

/// Samples [n0, n1) of a global_avg_pool of a Blocked x: per lane
/// ir::globalPoolRows's sum in double over the plane, then one rounding.
template <int B>
void blockedGlobalPool(const PoolContext &c, const float *x, float *y, int64_t n0, int64_t n1) {
  for (int64_t nc = n0 * c.channels; nc < n1 * c.channels; nc += B) {
    const float *xs = x + nc * c.plane;
    double sum[B] = {};
    for (int64_t p = 0; p < c.plane; ++p)
      for (int j = 0; j < B; ++j)
        sum[j] += static_cast<double>(xs[p * B + j]);
    for (int j = 0; j < B; ++j)
      y[nc + j] = static_cast<float>(sum[j] / static_cast<double>(c.plane));
  }
}

template <int B>
void blockedPool(const PoolContext &c, const float *x, float *y, int64_t r0, int64_t r1) {
  const bool inBlocked = c.in == ChannelLayout::Blocked;
  if (c.kind == ir::OpKind::GlobalAvgPool)
    blockedGlobalPool<B>(c, x, y, r0, r1);
  else if (c.kind == ir::OpKind::MaxPool)
    inBlocked ? blockedPoolRows<B, true, true>(c, x, y, r0, r1)
              : blockedPoolRows<B, true, false>(c, x, y, r0, r1);
  else
    inBlocked ? blockedPoolRows<B, false, true>(c, x, y, r0, r1)
              : blockedPoolRows<B, false, false>(c, x, y, r0, r1);
}

} // namespace

void runPool(const void *context, void *const *slots, int64_t r0, int64_t r1, int64_t, int64_t) {
  const auto &c = *static_cast<const PoolContext *>(context);
  const auto *x = static_cast<const float *>(slots[c.x]);
  auto *y = static_cast<float *>(slots[c.y]);
  if ((c.in == ChannelLayout::Blocked || c.out == ChannelLayout::Blocked) &&
      c.kind != ir::OpKind::Reshape) {
    switch (c.block) {
    case 4:
      return blockedPool<4>(c, x, y, r0, r1);
    case 8:
      return blockedPool<8>(c, x, y, r0, r1);
    default:
      assert(c.block == 16 && "blocks of 4, 8 or 16 channels (checked where a bundle is read)");
      return blockedPool<16>(c, x, y, r0, r1);
    }
  }
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
                           : "the reference loops over row tiles (a blocked value's "
                             "channels in vectors)");
    default:
      return Fit::declines("not a pooling or reshape");
    }
  }

  // The pools read either layout; max_pool and avg_pool write either.
  bool readsBlocked(const ir::Op &op, size_t) const override {
    return op.kind != ir::OpKind::Reshape;
  }
  bool writesBlocked(const ir::Op &op) const override {
    return op.kind == ir::OpKind::MaxPool || op.kind == ir::OpKind::AvgPool;
  }

  Expected<bool> makeStep(const ProgramBuilder &b, size_t i, Step &step) const override {
    const ir::Op &op = *b.graph().ops[i];
    auto c = std::make_shared<PoolContext>();
    c->kind = op.kind;
    c->in = b.layoutOf(op.operands[0]);
    c->out = b.layoutOf(i);
    c->block = b.channelBlock();
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
      if (c->in == ChannelLayout::Blocked || c->out == ChannelLayout::Blocked)
        rules.rowGranularity = c->block * c->g.outH; // whole blocks of channels
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
