// The bundle's plan (BundleFormat.h): a little-endian byte stream of the
// program's inputs and outputs, slots, steps and copies. The reader checks
// every count, index and range against what it has read, so a damaged plan
// is an error, never a wild pointer.
#include "soma/runtime/BundleFormat.h"
#include "soma/runtime/VecConv.h"
#include "soma/runtime/VecPool.h"

#include <cstring>

namespace soma::runtime {

namespace {

constexpr char kPlanMagic[8] = {'S', 'O', 'M', 'A', 'P', 'L', 'A', 'N'};
/// The kernel index of a pooling or reshape step of the runtime's own
/// (VecPool.h), whose context follows the step.
constexpr int32_t kPoolStep = -2;
/// The kernel index of a convolution step of the runtime's own (VecConv.h),
/// whose context follows the step.
constexpr int32_t kConvStep = -3;

class Writer {
public:
  template <class T> void put(T v) {
    char bytes[sizeof(T)];
    std::memcpy(bytes, &v, sizeof(T));
    out.append(bytes, sizeof(T));
  }
  void str(const std::string &s) {
    put<uint32_t>(static_cast<uint32_t>(s.size()));
    out += s;
  }
  void ints(const std::vector<int> &v) {
    put<uint32_t>(static_cast<uint32_t>(v.size()));
    for (int x : v)
      put<int32_t>(x);
  }
  void tensors(const std::vector<BundleTensor> &ts) {
    put<uint32_t>(static_cast<uint32_t>(ts.size()));
    for (const BundleTensor &t : ts) {
      str(t.name);
      put<uint32_t>(static_cast<uint32_t>(t.dims.size()));
      for (int64_t d : t.dims)
        put<int64_t>(d);
    }
  }
  std::string out;
};

/// Reads with bounds checks: after a failed read, every read gives zero
/// and `ok` stays false.
class Reader {
public:
  Reader(const unsigned char *data, uint64_t size) : data(data), size(size) {}
  template <class T> T get() {
    T v{};
    if (!ok || size - pos < sizeof(T)) {
      ok = false;
      return v;
    }
    std::memcpy(&v, data + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  /// A count of items of at least `minBytes` each: no more than the bytes left.
  uint32_t count(uint64_t minBytes) {
    uint32_t n = get<uint32_t>();
    if (ok && static_cast<uint64_t>(n) * minBytes > size - pos)
      ok = false;
    return ok ? n : 0;
  }
  std::string str() {
    uint32_t n = count(1);
    std::string s(reinterpret_cast<const char *>(data + pos), ok ? n : 0);
    pos += ok ? n : 0;
    return s;
  }
  std::vector<int> ints(int limit) {
    std::vector<int> v(count(4));
    for (int &x : v) {
      x = get<int32_t>();
      if (x < 0 || x >= limit)
        ok = false;
    }
    return v;
  }
  std::vector<BundleTensor> tensors() {
    std::vector<BundleTensor> ts(count(8));
    for (BundleTensor &t : ts) {
      t.name = str();
      t.dims.resize(count(8));
      for (int64_t &d : t.dims)
        if ((d = get<int64_t>()) < 0)
          ok = false;
    }
    return ts;
  }
  bool ok = true;
  bool atEnd() const { return pos == size; }

private:
  const unsigned char *data;
  uint64_t size, pos = 0;
};

void writePool(Writer &w, const PoolContext &c) {
  w.put<int32_t>(static_cast<int32_t>(c.kind));
  w.put<int32_t>(static_cast<int32_t>(c.padCount));
  w.put<int32_t>(c.x);
  w.put<int32_t>(c.y);
  w.put<uint8_t>(static_cast<uint8_t>(c.in));
  w.put<uint8_t>(static_cast<uint8_t>(c.out));
  w.put<int64_t>(c.block);
  const ir::WindowGeometry &g = c.g;
  for (int64_t v : {int64_t(g.spatialRank),
                    g.inChannels,
                    g.outChannels,
                    g.groups,
                    g.inH,
                    g.inW,
                    g.outH,
                    g.outW,
                    g.kH,
                    g.kW,
                    g.strideH,
                    g.strideW,
                    g.dilH,
                    g.dilW,
                    g.padTop,
                    g.padLeft,
                    g.padBottom,
                    g.padRight,
                    c.plane,
                    c.channels,
                    c.cols})
    w.put<int64_t>(v);
}

/// A convolution's geometry, in this order in the plan.
std::vector<int64_t *> convFields(kernels::ConvArgs &a) {
  return {&a.inChannels, &a.outChannels, &a.groups, &a.block,  &a.inH,     &a.inW,
          &a.outH,       &a.outW,        &a.kH,     &a.kW,     &a.strideH, &a.strideW,
          &a.dilH,       &a.dilW,        &a.padTop, &a.padLeft};
}

void writeConv(Writer &w, const ConvContext &c) {
  kernels::ConvArgs a = c.args;
  for (int s : {c.x, c.packed, c.bias, c.y, c.residual})
    w.put<int32_t>(s);
  w.put<int32_t>(static_cast<int32_t>(a.act.kind));
  w.put<float>(a.act.param);
  w.put<float>(a.act.param2);
  w.put<uint8_t>(static_cast<uint8_t>(a.in));
  w.put<uint8_t>(static_cast<uint8_t>(a.out));
  for (int64_t *f : convFields(a))
    w.put<int64_t>(*f);
}

void writeStep(Writer &w, const Step &step, int kernel) {
  w.put<int32_t>(kernel);
  w.str(step.name);
  w.put<int64_t>(step.rowsPerSample);
  w.put<int64_t>(step.cols);
  w.put<int32_t>(step.result);
  w.ints(step.reads);
  w.ints(step.scratch);
  w.ints(step.view);
  for (int64_t v : {step.rowTile, step.colTile, step.rowWork, step.smallRows, step.smallColTile,
                    step.smallRowWork})
    w.put<int64_t>(v);
  if (kernel == kPoolStep)
    writePool(w, *static_cast<const PoolContext *>(step.context.get()));
  if (kernel == kConvStep)
    writeConv(w, *static_cast<const ConvContext *>(step.context.get()));
}

/// Floats per sample of slot `s`, or -1 when the plan does not say.
int64_t sampleSize(const Program &program, const BundleIO &io, int s) {
  const Slot &slot = program.slots[static_cast<size_t>(s)];
  if (slot.kind == SlotKind::Temp || slot.kind == SlotKind::Output)
    return slot.sampleElements;
  if (slot.kind != SlotKind::Input)
    return -1;
  int64_t n = 1;
  for (int64_t d : io.inputs[static_cast<size_t>(slot.index)].dims)
    n *= d;
  return n;
}

/// A pooling or reshape step's context, checked against its slots: the
/// loops it runs stay inside them.
std::shared_ptr<PoolContext> readPool(Reader &r, const Program &program, const BundleIO &io,
                                      const Step &step) {
  auto c = std::make_shared<PoolContext>();
  const int32_t kind = r.get<int32_t>(), padCount = r.get<int32_t>();
  c->kind = static_cast<ir::OpKind>(kind);
  c->padCount = padCount ? ir::PadCount::Include : ir::PadCount::Exclude;
  c->x = r.get<int32_t>();
  c->y = r.get<int32_t>();
  const uint8_t inLayout = r.get<uint8_t>(), outLayout = r.get<uint8_t>();
  c->block = r.get<int64_t>();
  using kernels::ChannelLayout;
  if (inLayout > 1 || outLayout > 1)
    r.ok = false;
  c->in = inLayout ? ChannelLayout::Blocked : ChannelLayout::Planar;
  c->out = outLayout ? ChannelLayout::Blocked : ChannelLayout::Planar;
  ir::WindowGeometry &g = c->g;
  int64_t rank = 0;
  int64_t *fields[] = {
      &rank,     &g.inChannels, &g.outChannels, &g.groups,   &g.inH,     &g.inW,       &g.outH,
      &g.outW,   &g.kH,         &g.kW,          &g.strideH,  &g.strideW, &g.dilH,      &g.dilW,
      &g.padTop, &g.padLeft,    &g.padBottom,   &g.padRight, &c->plane,  &c->channels, &c->cols};
  for (int64_t *f : fields)
    if ((*f = r.get<int64_t>()) < 0 || *f > (int64_t(1) << 40))
      r.ok = false;
  g.spatialRank = static_cast<int>(rank);
  const int slots = static_cast<int>(program.slots.size());
  if (!r.ok || c->x < 0 || c->x >= slots || c->y != step.result || padCount < 0 || padCount > 1)
    return r.ok = false, nullptr;
  const int64_t in = sampleSize(program, io, c->x), out = sampleSize(program, io, c->y);
  bool fits = false;
  switch (c->kind) {
  case ir::OpKind::Reshape:
    fits = c->cols == step.cols && in == out && out == step.rowsPerSample * step.cols;
    break;
  case ir::OpKind::GlobalAvgPool:
    fits = in == c->channels * c->plane && out == c->channels;
    break;
  case ir::OpKind::MaxPool:
  case ir::OpKind::AvgPool:
    fits = g.inChannels == g.outChannels && g.kH >= 1 && g.kW >= 1 && g.strideH >= 1 &&
           g.strideW >= 1 && g.dilH >= 1 && g.dilW >= 1 && in == g.inChannels * g.inH * g.inW &&
           out == g.outChannels * g.outH * g.outW;
    break;
  default:
    break;
  }
  // A blocked layout: blocks of 4, 8 or 16 channels that divide the
  // channels; reshape is planar, and global_avg_pool writes [C] as it is.
  if (c->in == ChannelLayout::Blocked || c->out == ChannelLayout::Blocked) {
    const int64_t channels = c->kind == ir::OpKind::GlobalAvgPool ? c->channels : g.inChannels;
    fits = fits && c->kind != ir::OpKind::Reshape &&
           (c->kind != ir::OpKind::GlobalAvgPool || c->out == ChannelLayout::Planar) &&
           (c->block == 4 || c->block == 8 || c->block == 16) && channels % c->block == 0;
    // Row tiles on whole blocks of channels (a global pool's rows are samples).
    if (fits && c->kind != ir::OpKind::GlobalAvgPool)
      fits = step.rowTile % (c->block * g.outH) == 0 && step.smallRows == 0;
  }
  if (!fits)
    r.ok = false;
  return c;
}

/// A convolution step's context, checked against its slots (the kernel's
/// reads and writes stay inside them) and against this CPU's kernels,
/// which must read the filters as they were packed.
std::shared_ptr<ConvContext> readConv(Reader &r, const Program &program, const BundleIO &io,
                                      const std::vector<uint64_t> &constFloats, const Step &step,
                                      std::string &why) {
  auto c = std::make_shared<ConvContext>();
  kernels::ConvArgs &a = c->args;
  for (int *s : {&c->x, &c->packed, &c->bias, &c->y, &c->residual})
    *s = r.get<int32_t>();
  const int32_t act = r.get<int32_t>();
  a.act.param = r.get<float>();
  a.act.param2 = r.get<float>();
  const uint8_t in = r.get<uint8_t>(), out = r.get<uint8_t>();
  for (int64_t *f : convFields(a))
    if ((*f = r.get<int64_t>()) < 0 || *f > (int64_t(1) << 40))
      r.ok = false;
  const int slots = static_cast<int>(program.slots.size());
  auto slotOk = [&](int s) { return s >= 0 && s < slots; };
  if (!r.ok || !slotOk(c->x) || !slotOk(c->packed) || !slotOk(c->bias) || c->y != step.result ||
      (c->residual != -1 && !slotOk(c->residual)) || act < 0 || act >= ir::kNumActKinds ||
      ir::isRowwise(static_cast<ir::ActKind>(act)) || in > 1 || out > 1)
    return r.ok = false, nullptr;
  a.act.kind = static_cast<ir::ActKind>(act);
  a.in = static_cast<kernels::ChannelLayout>(in);
  a.out = static_cast<kernels::ChannelLayout>(out);
  const bool shape = a.inChannels >= 1 && a.outChannels >= 1 && a.groups >= 1 &&
                     a.inChannels % a.groups == 0 && a.outChannels % a.groups == 0 && a.kH >= 1 &&
                     a.kW >= 1 && a.strideH >= 1 && a.strideW >= 1 && a.dilH >= 1 && a.dilW >= 1 &&
                     a.inH >= 1 && a.inW >= 1 && a.outH >= 1 && a.outW >= 1;
  auto constant = [&](int s, uint64_t floats) {
    return program.slots[static_cast<size_t>(s)].kind == SlotKind::Constant &&
           constFloats[static_cast<size_t>(s)] == floats;
  };
  const int64_t outSize = a.outChannels * a.outH * a.outW;
  if (!shape || sampleSize(program, io, c->x) != a.inChannels * a.inH * a.inW ||
      sampleSize(program, io, c->y) != outSize ||
      (c->residual != -1 && sampleSize(program, io, c->residual) != outSize) ||
      !constant(c->packed,
                static_cast<uint64_t>(a.outChannels * a.inChannels / a.groups * a.kH * a.kW)) ||
      !constant(c->bias, static_cast<uint64_t>(a.outChannels)) ||
      step.rowsPerSample != a.outChannels * a.outH)
    return r.ok = false, nullptr;
  // The filters were packed in blocks for the vector width of the machine
  // that compiled the bundle; this one's kernels must read the same blocks.
  const int64_t width = kernels::vectorWidth(kernels::activeIsa());
  const bool blocked =
      a.in == kernels::ChannelLayout::Blocked || a.out == kernels::ChannelLayout::Blocked;
  if (a.block != kernels::convBlock(a.inChannels, a.outChannels, a.groups) ||
      (blocked && (a.inChannels % width || a.outChannels % width))) {
    why = "the bundle's convolution '" + step.name +
          "' was packed for vectors of another width (blocks of " + std::to_string(a.block) +
          " channels; this CPU's kernels use vectors of " + std::to_string(width) +
          " floats): compile the bundle for this CPU";
    return nullptr;
  }
  setTapOffsets(*c);
  return c;
}

Step readStep(Reader &r, const KernelFn *kernels, uint64_t kernelCount, const Program &program,
              const BundleIO &io, const std::vector<uint64_t> &constFloats, std::string &why) {
  const int slots = static_cast<int>(program.slots.size());
  Step step;
  const int32_t kernel = r.get<int32_t>();
  if (kernel == kPoolStep)
    step.contextFn = runPool;
  else if (kernel == kConvStep)
    step.contextFn = runConv;
  else if (kernel < 0 || static_cast<uint64_t>(kernel) >= kernelCount || !kernels[kernel])
    r.ok = false;
  else
    step.fn = kernels[kernel];
  step.family = "bundle";
  step.name = r.str();
  step.rowsPerSample = r.get<int64_t>();
  step.cols = r.get<int64_t>();
  step.result = r.get<int32_t>();
  if (step.result < 0 || step.result >= slots || step.rowsPerSample < 1 || step.cols < 0)
    r.ok = false;
  step.reads = r.ints(slots);
  step.scratch = r.ints(slots);
  step.view = r.ints(slots);
  if (step.view.size() > kMaxKernelView || (step.contextFn && !step.view.empty()))
    r.ok = false;
  for (int64_t *v : {&step.rowTile, &step.colTile, &step.rowWork, &step.smallRows,
                     &step.smallColTile, &step.smallRowWork})
    if ((*v = r.get<int64_t>()) < 0)
      r.ok = false;
  if (kernel == kPoolStep && r.ok)
    step.context = readPool(r, program, io, step);
  if (kernel == kConvStep && r.ok)
    step.context = readConv(r, program, io, constFloats, step, why);
  return step;
}

} // namespace

uint64_t bundleHash(const unsigned char *bytes, uint64_t size) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (uint64_t i = 0; i < size; ++i)
    h = (h ^ bytes[i]) * 0x100000001b3ULL;
  return h;
}

Expected<std::string> serializePlan(const Program &program, const BundleIO &io,
                                    const std::vector<int> &kernelOfStep, std::string &weights) {
  Writer w;
  w.out.append(kPlanMagic, sizeof kPlanMagic);
  w.tensors(io.inputs);
  w.tensors(io.outputs);
  w.put<uint32_t>(static_cast<uint32_t>(program.slots.size()));
  for (const Slot &slot : program.slots) {
    w.put<uint8_t>(static_cast<uint8_t>(slot.kind));
    w.put<int32_t>(slot.index);
    w.put<int64_t>(slot.sampleElements);
    uint64_t offset = 0, floats = 0;
    if (slot.kind == SlotKind::Constant) {
      const float *data = slot.data ? slot.data->data() : slot.view;
      floats = slot.data ? slot.data->size() : 0;
      if (!data)
        return Error{"bundle: a constant slot has no data"};
      weights.resize((weights.size() + 63) / 64 * 64, '\0');
      offset = weights.size();
      weights.append(reinterpret_cast<const char *>(data), floats * sizeof(float));
    }
    w.put<uint64_t>(offset);
    w.put<uint64_t>(floats);
  }
  w.put<uint32_t>(static_cast<uint32_t>(program.steps.size()));
  for (size_t i = 0; i < program.steps.size(); ++i) {
    const Step &step = program.steps[i];
    int kernel = kernelOfStep[i];
    if (kernel < 0 && step.contextFn == runPool)
      kernel = kPoolStep;
    else if (kernel < 0 && step.contextFn == runConv)
      kernel = kConvStep;
    else if (kernel < 0)
      return Error{"bundle: '" + step.name + "' runs on the " + step.family +
                   " kernels, which a bundle cannot hold (it holds the JIT's kernels, and the "
                   "runtime's convolutions, pooling and reshape)"};
    writeStep(w, step, kernel);
  }
  w.put<uint32_t>(static_cast<uint32_t>(program.copies.size()));
  for (const OutputCopy &c : program.copies) {
    w.put<int32_t>(c.fromSlot);
    w.put<int32_t>(c.toOutput);
    w.put<int64_t>(c.sampleElements);
  }
  return std::move(w.out);
}

Expected<Program> deserializePlan(const unsigned char *plan, uint64_t planSize,
                                  const unsigned char *weights, uint64_t weightsSize,
                                  const KernelFn *kernels, uint64_t kernelCount, BundleIO &io) {
  const Error damaged{"the bundle's plan is damaged or from another version of soma"};
  if (!plan || planSize < sizeof kPlanMagic || std::memcmp(plan, kPlanMagic, sizeof kPlanMagic))
    return damaged;
  Reader r(plan + sizeof kPlanMagic, planSize - sizeof kPlanMagic);
  io.inputs = r.tensors();
  io.outputs = r.tensors();
  Program program;
  program.slots.resize(r.count(29));
  const int slots = static_cast<int>(program.slots.size());
  std::vector<uint64_t> constFloats(program.slots.size(), 0); // a constant slot's floats
  for (Slot &slot : program.slots) {
    const uint8_t kind = r.get<uint8_t>();
    if (kind > static_cast<uint8_t>(SlotKind::Output))
      r.ok = false;
    slot.kind = static_cast<SlotKind>(kind);
    slot.index = r.get<int32_t>();
    slot.sampleElements = r.get<int64_t>();
    const uint64_t offset = r.get<uint64_t>(), floats = r.get<uint64_t>();
    const size_t ioCount = slot.kind == SlotKind::Input ? io.inputs.size() : io.outputs.size();
    if ((slot.kind == SlotKind::Input || slot.kind == SlotKind::Output) &&
        (slot.index < 0 || static_cast<size_t>(slot.index) >= ioCount))
      r.ok = false;
    if (slot.kind != SlotKind::Constant)
      continue;
    if (offset % 64 || offset > weightsSize || floats > (weightsSize - offset) / sizeof(float))
      r.ok = false;
    else
      slot.view = reinterpret_cast<const float *>(weights + offset);
    constFloats[static_cast<size_t>(&slot - program.slots.data())] = floats;
  }
  program.steps.resize(r.count(40));
  std::string why; // a plan that is whole but cannot run on this CPU
  for (Step &step : program.steps)
    if (r.ok && why.empty())
      step = readStep(r, kernels, kernelCount, program, io, constFloats, why);
  if (!why.empty())
    return Error{why};
  program.copies.resize(r.count(16));
  for (OutputCopy &c : program.copies) {
    c.fromSlot = r.get<int32_t>();
    c.toOutput = r.get<int32_t>();
    c.sampleElements = r.get<int64_t>();
    if (c.fromSlot < 0 || c.fromSlot >= slots || c.toOutput < 0 ||
        static_cast<size_t>(c.toOutput) >= io.outputs.size())
      r.ok = false;
  }
  if (!r.ok || !r.atEnd())
    return damaged;
  return program;
}

} // namespace soma::runtime
