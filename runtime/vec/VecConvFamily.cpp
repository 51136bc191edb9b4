// The vec engine's convolution family (VecEngine.h vecConvFamily): a conv
// or conv_add op with constant filters and bias runs kernels::conv, a direct
// convolution over the filters packed once at compile time
// (packConvFilters, in blocks of kernels::convBlock output channels), with
// the bias, the residual (conv_add) and the activation applied in registers. Its steps tile the
// result's rows (sample, channel, output row) on whole blocks of channels, so every output is
// summed in one order whatever the thread count. Its channel-lane kernel reads and writes
// values in either ChannelLayout, as the program builder chose (convTakesBlocked).
#include "soma/ir/Spatial.h"
#include "soma/runtime/Kernels.h"
#include "soma/runtime/Packing.h"
#include "soma/runtime/VecConv.h"
#include "soma/runtime/VecEngine.h"

#include <vector>

namespace soma::runtime {

void setTapOffsets(ConvContext &c) {
  const kernels::ConvArgs &a = c.args;
  const int64_t cg = a.inChannels / a.groups, plane = a.inH * a.inW;
  const int64_t w = kernels::vectorWidth(kernels::activeIsa());
  const bool blocked = a.in == kernels::ChannelLayout::Blocked && cg % w == 0;
  c.tapOffsets.clear();
  for (int64_t ci = 0; ci < cg; ++ci)
    for (int64_t kh = 0; kh < a.kH; ++kh)
      for (int64_t kw = 0; kw < a.kW; ++kw) {
        const int64_t at = kh * a.dilH * a.inW + kw * a.dilW;
        c.tapOffsets.push_back(blocked ? ci / w * plane * w + ci % w + at * w : ci * plane + at);
      }
  // Then the same taps' offsets in the row-tile kernel's strip.
  const kernels::ConvStrip strip = kernels::convStrip(a);
  c.args.stripRows = strip.rows;
  c.args.stripCols = strip.cols;
  const int64_t taps = static_cast<int64_t>(c.tapOffsets.size());
  if (strip.rows > 0) {
    const int64_t stripPlane = strip.rows * strip.cols;
    for (int64_t ci = 0; ci < cg; ++ci)
      for (int64_t kh = 0; kh < a.kH; ++kh)
        for (int64_t kw = 0; kw < a.kW; ++kw) {
          const int64_t at = kh * a.dilH * strip.cols + kw * a.dilW;
          c.tapOffsets.push_back(blocked ? ci / w * stripPlane * w + ci % w + at * w
                                         : ci * stripPlane + at);
        }
  }
  c.args.tapOffsets = c.tapOffsets.data();
  c.args.stripOffsets = strip.rows > 0 ? c.tapOffsets.data() + taps : nullptr;
}

void runConv(const void *context, void *const *slots, int64_t r0, int64_t r1, int64_t, int64_t) {
  const auto &c = *static_cast<const ConvContext *>(context);
  kernels::ConvArgs a = c.args;
  a.x = static_cast<const float *>(slots[c.x]);
  a.packed = static_cast<const float *>(slots[c.packed]);
  a.bias = static_cast<const float *>(slots[c.bias]);
  a.y = static_cast<float *>(slots[c.y]);
  a.tapOffsets = c.tapOffsets.data();
  if (a.stripOffsets)
    a.stripOffsets = c.tapOffsets.data() + c.tapOffsets.size() / 2;
  if (c.residual >= 0)
    a.residual = static_cast<const float *>(slots[c.residual]);
  kernels::conv(a, r0, r1);
}

namespace {

namespace k = kernels;

int64_t blockOf(const ir::Op &op) {
  return k::convBlock(op.operands[0]->type.dims[0], op.type.dims[0], op.groups);
}

/// Whether kernels::conv reads x, and writes y and the residual, of `op`
/// in either layout (ChannelLayout::Blocked too): the channel-lane kernel
/// (a block of 2 W output channels, or of W when W > 4), each group's input
/// channels starting on a block of W; and the depthwise kernel
/// (DepthwiseImpl.h) when its channels fill whole vectors (a block of W).
/// The position-lane kernel is planar only. The one place the layout
/// choice asks vec.conv.
bool convTakesBlocked(const ir::Op &op) {
  const int64_t w = k::vectorWidth(k::activeIsa()), block = blockOf(op);
  const int64_t channels = op.operands[0]->type.dims[0], groupChannels = channels / op.groups;
  if (k::convIsDepthwise(channels, op.type.dims[0], op.groups))
    return block == w;
  return (block == 2 * w || (block == w && w > 4)) && (op.groups == 1 || groupChannels % w == 0);
}

class VecConvFamily final : public KernelFamily {
public:
  const char *name() const override { return "vec.conv"; }
  Tier tier() const override { return Tier::Vec; }

  Fit fit(const ir::Op &op) const override {
    if (std::string why = ir::convNotPackable(op); !why.empty())
      return Fit::declines(why);
    if (!op.operands[0]->type.batched)
      return Fit::declines("its input depends on no input");
    return Fit::runs();
  }

  // x and the residual; the filters and bias are constants, never blocked.
  bool readsBlocked(const ir::Op &op, size_t operand) const override {
    return (operand == 0 || operand == 3) && convTakesBlocked(op);
  }
  bool writesBlocked(const ir::Op &op) const override { return convTakesBlocked(op); }

  std::shared_ptr<const AlignedVector<float>> pack(const ir::Op &op, size_t k) const override {
    if (k != 1)
      return nullptr; // the bias is read as it is
    return std::make_shared<const AlignedVector<float>>(
        packConvFilters(*op.operands[1]->data, blockOf(op)));
  }

  Expected<bool> makeStep(const ProgramBuilder &b, size_t i, Step &step) const override {
    const ir::Op &op = *b.graph().ops[i];
    const ir::WindowGeometry g = ir::windowGeometry(op);
    auto c = std::make_shared<ConvContext>();
    k::ConvArgs &a = c->args;
    a.inChannels = g.inChannels;
    a.outChannels = g.outChannels;
    a.groups = g.groups;
    a.block = blockOf(op);
    a.inH = g.inH;
    a.inW = g.inW;
    a.outH = g.outH;
    a.outW = g.outW;
    a.kH = g.kH;
    a.kW = g.kW;
    a.strideH = g.strideH;
    a.strideW = g.strideW;
    a.dilH = g.dilH;
    a.dilW = g.dilW;
    a.padTop = g.padTop;
    a.padLeft = g.padLeft;
    a.act = op.fn;
    a.in = b.layoutOf(op.operands[0]);
    a.out = b.layoutOf(i);
    setTapOffsets(*c);
    c->x = b.slotOf(op.operands[0]);
    c->packed = b.slotOf(op.operands[1]);
    c->bias = b.slotOf(op.operands[2]);
    c->y = step.result;
    if (op.kind == ir::OpKind::ConvAdd)
      c->residual = b.slotOf(op.operands[3]);
    // A row is one output row of one channel: a multiply-add per tap and
    // input channel at each position, then the epilogue.
    TileRules rules;
    rules.rowWork = g.outW * (g.inChannelsPerGroup() * g.kH * g.kW + 1 + activationWork(op.fn));
    rules.rowGranularity = a.block * g.outH;
    rules.colGranularity = 0;
    step.contextFn = runConv;
    step.context = std::move(c);
    planTiles(step, rules);
    return true;
  }

  std::string describe(const ir::Op &op) const override {
    const k::Isa isa = k::activeIsa();
    const int64_t block = blockOf(op), w = k::vectorWidth(isa);
    if (k::convIsDepthwise(op.operands[0]->type.dims[0], op.type.dims[0], op.groups))
      return std::string(k::isaName(isa)) + ": depthwise, filters packed in blocks of " +
             std::to_string(block) + " channels, " +
             (block == w
                  ? "channels in vectors of " + std::to_string(w) + " when x or y is blocked, else "
                  : std::string()) +
             "8 vectors of " + std::to_string(w) + " output positions in flight";
    const bool channelLanes = block == 2 * w || (block == w && w > 4);
    return std::string(k::isaName(isa)) + ": direct, filters packed in blocks of " +
           std::to_string(block) + " output channels, " +
           (channelLanes ? "output channels" : "output positions") + " in vectors of " +
           std::to_string(w) + ", no im2col";
  }
};

} // namespace

const KernelFamily &vecConvFamily() {
  static const VecConvFamily family;
  return family;
}

} // namespace soma::runtime
