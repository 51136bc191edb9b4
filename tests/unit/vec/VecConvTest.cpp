// The vec engine's convolution family (vec.conv, kernels::conv) against the
// reference interpreter on seeded random convolutions: 1-D and 2-D, strides,
// pads on each side, dilations, groups (depthwise included), every
// elementwise activation, odd widths that leave vector tails, batches 1, 3
// and 17, on every instruction set this CPU has, and on 1 and 2 threads
// (which must give the same bits). Each output must be within a bound
// derived from its own sum: (taps + 2) * 2^-24 * (sum |products| + |bias|),
// carried through the activation (slope at most 1.2), plus the
// activations' 1e-6 relative contract. And the vec engine's pooling family
// (vec.pool), which must give the interpreter's bits.
#include "soma/ir/ShapeInference.h"
#include "soma/ir/Spatial.h"
#include "soma/ir/Verifier.h"
#include "soma/runtime/Executor.h"
#include "soma/runtime/Interpreter.h"
#include "soma/runtime/Kernels.h"
#include "soma/runtime/Packing.h"
#include "soma/runtime/VecEngine.h"

#include "ConvTesting.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

using namespace soma;
using soma::testing::randomTensor;
using soma::testing::reblock;

namespace {

struct ConvCase {
  int rank = 2;
  int64_t channels = 1, filters = 1, groups = 1, h = 1, w = 1;
  std::vector<int64_t> kernel, strides, dilations, pads;
  ir::Activation act;
  std::string str() const {
    std::string s = "rank " + std::to_string(rank) + " C " + std::to_string(channels) + " O " +
                    std::to_string(filters) + " groups " + std::to_string(groups) + " in " +
                    std::to_string(h) + "x" + std::to_string(w) + " kernel " + formatDims(kernel) +
                    " strides " + formatDims(strides) + " dilations " + formatDims(dilations) +
                    " pads " + formatDims(pads) + " fn " + act.str();
    return s;
  }
};

/// c's kernel (kLo to kHi wide, shrunk to fit), dilations, strides and
/// pads per spatial axis, drawn with `pick(lo, hi)`.
template <class Pick> void pickWindow(ConvCase &c, Pick &pick, int64_t kLo, int64_t kHi) {
  const int64_t sizes[2] = {c.h, c.w};
  std::vector<int64_t> begins, ends;
  for (int a = 2 - c.rank; a < 2; ++a) {
    int64_t k = pick(kLo, kHi), d = pick(1, 2), pb = pick(0, 2), pe = pick(0, 2);
    while (d * (k - 1) + 1 > sizes[a] + pb + pe)
      d > 1 ? d = 1 : --k;
    c.kernel.push_back(k);
    c.dilations.push_back(d);
    c.strides.push_back(pick(1, 3));
    begins.push_back(pb);
    ends.push_back(pe);
  }
  c.pads = begins; // the IR wants every axis's begin, then every end
  c.pads.insert(c.pads.end(), ends.begin(), ends.end());
}

ConvCase randomCase(std::mt19937 &rng) {
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  ConvCase c;
  c.rank = static_cast<int>(pick(1, 2));
  c.channels = pick(1, 6);
  std::vector<int64_t> divisors;
  for (int64_t g = 1; g <= c.channels; ++g)
    if (c.channels % g == 0)
      divisors.push_back(g);
  c.groups = divisors[pick(0, static_cast<int64_t>(divisors.size()) - 1)];
  // A third of the cases give each group a multiple of 8 output channels,
  // so that every instruction set meets both of conv's kernels: channels in
  // the lanes (a block of W or 2 W channels) and positions in the lanes.
  c.filters = c.groups * (pick(0, 2) == 0 ? 8 * pick(1, 4) : pick(1, 5));
  c.h = c.rank == 2 ? pick(1, 9) : 1;
  c.w = pick(1, 40);
  pickWindow(c, pick, 1, 4);
  static const ir::ActKind kinds[] = {
      ir::ActKind::Identity, ir::ActKind::Relu,       ir::ActKind::LeakyRelu, ir::ActKind::Sigmoid,
      ir::ActKind::Tanh,     ir::ActKind::Gelu,       ir::ActKind::Silu,      ir::ActKind::Elu,
      ir::ActKind::Softplus, ir::ActKind::HardSigmoid};
  c.act = ir::makeActivation(kinds[pick(0, std::size(kinds) - 1)]);
  return c;
}

/// x -> conv -> output, with the weights and bias given; null after an error.
std::unique_ptr<ir::Graph> convGraph(const ConvCase &c, std::shared_ptr<Tensor> w,
                                     std::shared_ptr<Tensor> b, const ir::Activation &act) {
  auto g = std::make_unique<ir::Graph>();
  g->name = "conv";
  ir::Op *x = g->append(ir::OpKind::Input, "x", {});
  x->type = c.rank == 2 ? ir::TensorType::make(true, {c.channels, c.h, c.w})
                        : ir::TensorType::make(true, {c.channels, c.w});
  ir::Op *wOp = g->append(ir::OpKind::Const, "w", {});
  wOp->type = ir::TensorType::make(false, w->dims);
  wOp->data = std::move(w);
  ir::Op *bOp = g->append(ir::OpKind::Const, "b", {});
  bOp->type = ir::TensorType::make(false, b->dims);
  bOp->data = std::move(b);
  ir::Op *conv = g->append(ir::OpKind::Conv, "y", {x, wOp, bOp});
  conv->strides = c.strides;
  conv->pads = c.pads;
  conv->dilations = c.dilations;
  conv->groups = c.groups;
  conv->fn = act;
  SourceManager sm;
  DiagnosticEngine diags(sm);
  conv->type = ir::inferResultType(*conv, diags);
  g->outputs.push_back({"y", conv, {}});
  if (!conv->type.known || !ir::verifyGraph(*g, diags)) {
    ADD_FAILURE() << c.str() << ": " << diags.renderToString();
    return nullptr;
  }
  return g;
}

std::shared_ptr<Tensor> absOf(const Tensor &t) {
  auto a = std::make_shared<Tensor>(t.dims);
  for (size_t i = 0; i < t.values.size(); ++i)
    a->values[i] = std::fabs(t.values[i]);
  return a;
}

std::vector<float> runInterp(const ir::Graph &g, const Tensor &x) {
  runtime::Interpreter interp(g);
  auto out = interp.run({{"x", x}});
  if (!out) {
    ADD_FAILURE() << out.error();
    return {};
  }
  return std::vector<float>((*out)[0].tensor.values.begin(), (*out)[0].tensor.values.end());
}

std::vector<float> runVec(const ir::Graph &g, const Tensor &x, int64_t batch, int threads) {
  std::unique_ptr<ir::Graph> copy = g.clone();
  runtime::ProgramBuilder builder(*copy);
  Expected<runtime::Program> program = builder.build(runtime::vecTarget());
  if (!program) {
    ADD_FAILURE() << program.error();
    return {};
  }
  EXPECT_STREQ(builder.choices()[builder.indexOf(copy->findOp("y"))].family->name(), "vec.conv");
  runtime::ExecutorOptions options;
  options.threads = threads;
  runtime::Executor exec(std::move(*program), options);
  std::vector<float> y(static_cast<size_t>(batch * copy->findOp("y")->type.sampleElements()),
                       -12345.0f);
  const float *inputs[] = {x.values.data()};
  float *outputs[] = {y.data()};
  exec.run(batch, inputs, outputs);
  return y;
}

} // namespace

TEST(VecConv, MatchesTheInterpreterWithinItsBound) {
  namespace k = runtime::kernels;
  const k::Isa saved = k::activeIsa();
  std::mt19937 rng(16);
  int checked = 0, channelLanes = 0;
  for (int n = 0; n < 60; ++n) {
    const ConvCase c = randomCase(rng);
    SCOPED_TRACE("case " + std::to_string(n) + " (seed 16): " + c.str());
    std::vector<int64_t> wDims = {c.filters, c.channels / c.groups};
    wDims.insert(wDims.end(), c.kernel.begin(), c.kernel.end());
    auto w = randomTensor(rng, wDims);
    auto b = randomTensor(rng, {c.filters});
    auto g = convGraph(c, w, b, c.act);
    auto mag = convGraph(c, absOf(*w), absOf(*b), ir::makeActivation(ir::ActKind::Identity));
    ASSERT_TRUE(g && mag);
    const int64_t taps = c.channels / c.groups * c.kernel[0] * (c.rank == 2 ? c.kernel[1] : 1);
    for (int64_t batch : {1, 3, 17}) {
      std::vector<int64_t> xDims = {batch, c.channels, c.h, c.w};
      if (c.rank == 1)
        xDims.erase(xDims.begin() + 2);
      auto x = randomTensor(rng, xDims);
      const std::vector<float> want = runInterp(*g, *x), bound = runInterp(*mag, *absOf(*x));
      for (k::Isa isa : {k::Isa::Sse2, k::Isa::Avx2, k::Isa::Avx512}) {
        if (!k::forceIsa(isa))
          continue;
        SCOPED_TRACE(std::string(k::isaName(isa)) + ", batch " + std::to_string(batch));
        const std::vector<float> one = runVec(*g, *x, batch, 1), two = runVec(*g, *x, batch, 2);
        ASSERT_EQ(one.size(), want.size());
        if (!k::convIsDepthwise(c.channels, c.filters, c.groups) &&
            k::convBlock(c.channels, c.filters, c.groups) >= k::vectorWidth(isa))
          ++channelLanes;
        EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(float)))
            << "1 and 2 threads differ";
        int bad = 0;
        for (size_t i = 0; i < want.size(); ++i) {
          const double tol = (taps + 2) * std::ldexp(1.0, -24) * bound[i] * 1.2 +
                             1e-6 * std::fabs(double(want[i])) + 1e-30;
          if (!(std::fabs(double(one[i]) - want[i]) <= tol) && ++bad <= 5)
            ADD_FAILURE() << "y[" << i << "]: vec " << one[i] << ", interpreter " << want[i]
                          << ", bound " << tol;
        }
        EXPECT_EQ(bad, 0);
        ++checked;
      }
    }
  }
  k::forceIsa(saved);
  EXPECT_GE(checked, 180);
  EXPECT_GE(channelLanes, 30) << "too few cases ran the channel-lane kernel";
}

// Depthwise convolutions (one input and one output channel per group) run
// their own kernel (DepthwiseImpl.h): output positions in the lanes when
// x and y are Planar, checked here through the vec engine against the
// interpreter; channels in the lanes when x or y is Blocked, checked by
// calling kernels::conv on each mix of layouts (with and without a
// residual) against the Planar result, value for value.
TEST(VecConv, DepthwiseMatchesTheInterpreterInEveryLayout) {
  namespace k = runtime::kernels;
  const k::Isa saved = k::activeIsa();
  std::mt19937 rng(19);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  int blockedCases = 0;
  // Cases 40 and 41 have rows too wide for the position-lane kernel's
  // buffer: 16 channels run in the lanes anyway, 3 fall back to conv's
  // generic position-lane kernel.
  for (int n = 0; n < 42; ++n) {
    ConvCase c;
    c.rank = n % 5 == 4 ? 1 : 2;
    static const int64_t channels[] = {16, 32, 48, 8, 24, 3, 20};
    c.channels = c.filters = c.groups = n == 40 ? 16 : n == 41 ? 3 : channels[pick(0, 6)];
    c.h = c.rank == 2 ? pick(n < 40 ? 1 : 5, n < 40 ? 20 : 6) : 1;
    c.w = n < 40 ? pick(1, 40) : 3500;
    pickWindow(c, pick, n < 40 ? 1 : 5, 5);
    c.act = ir::makeActivation(n % 3 ? ir::ActKind::Relu : ir::ActKind::Identity);
    SCOPED_TRACE("case " + std::to_string(n) + " (seed 19): " + c.str());
    std::vector<int64_t> wDims = {c.filters, 1};
    wDims.insert(wDims.end(), c.kernel.begin(), c.kernel.end());
    auto w = randomTensor(rng, wDims);
    auto b = randomTensor(rng, {c.filters});
    auto g = convGraph(c, w, b, c.act);
    auto mag = convGraph(c, absOf(*w), absOf(*b), ir::makeActivation(ir::ActKind::Identity));
    ASSERT_TRUE(g && mag);
    const int64_t taps = c.kernel[0] * (c.rank == 2 ? c.kernel[1] : 1);
    const ir::WindowGeometry geo = ir::windowGeometry(*g->findOp("y"));
    for (int64_t batch : {1, 3}) {
      std::vector<int64_t> xDims = {batch, c.channels, c.h, c.w};
      if (c.rank == 1)
        xDims.erase(xDims.begin() + 2);
      auto x = randomTensor(rng, xDims);
      auto resTensor = randomTensor(rng, {batch * c.filters * geo.outPlane()});
      const std::vector<float> xPlanar(x->values.begin(), x->values.end());
      const std::vector<float> res(resTensor->values.begin(), resTensor->values.end());
      const std::vector<float> want = runInterp(*g, *x), bound = runInterp(*mag, *absOf(*x));
      for (k::Isa isa : {k::Isa::Sse2, k::Isa::Avx2, k::Isa::Avx512}) {
        if (!k::forceIsa(isa))
          continue;
        SCOPED_TRACE(std::string(k::isaName(isa)) + ", batch " + std::to_string(batch));
        const std::vector<float> one = runVec(*g, *x, batch, 1), two = runVec(*g, *x, batch, 2);
        ASSERT_EQ(one.size(), want.size());
        EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(float)))
            << "1 and 2 threads differ";
        int bad = 0;
        for (size_t i = 0; i < want.size(); ++i) {
          const double tol = (taps + 2) * std::ldexp(1.0, -24) * bound[i] * 1.2 + 1e-30;
          if (!(std::fabs(double(one[i]) - want[i]) <= tol) && ++bad <= 5)
            ADD_FAILURE() << "y[" << i << "]: vec " << one[i] << ", interpreter " << want[i];
        }
        EXPECT_EQ(bad, 0);
        const int64_t block = k::convBlock(c.channels, c.filters, c.groups);
        if (block != k::vectorWidth(isa))
          continue; // Blocked layouts need whole vectors of channels
        ++blockedCases;
        k::ConvArgs a;
        a.inChannels = a.outChannels = a.groups = c.channels;
        a.block = block;
        a.inH = geo.inH, a.inW = geo.inW, a.outH = geo.outH, a.outW = geo.outW;
        a.kH = geo.kH, a.kW = geo.kW, a.strideH = geo.strideH, a.strideW = geo.strideW;
        a.dilH = geo.dilH, a.dilW = geo.dilW, a.padTop = geo.padTop, a.padLeft = geo.padLeft;
        a.act = c.act;
        std::vector<int64_t> tapOffsets; // as VecConvFamily computes them
        for (int64_t kh = 0; kh < geo.kH; ++kh)
          for (int64_t kw = 0; kw < geo.kW; ++kw)
            tapOffsets.push_back(kh * geo.dilH * geo.inW + kw * geo.dilW);
        a.tapOffsets = tapOffsets.data();
        const AlignedVector<float> packed = runtime::packConvFilters(*w, block);
        a.packed = packed.data();
        a.bias = b->values.data();
        const int64_t rows = batch * c.filters * geo.outH;
        auto run = [&](k::ChannelLayout in, k::ChannelLayout out, bool residual) {
          a.in = in;
          a.out = out;
          const bool bi = in == k::ChannelLayout::Blocked, bo = out == k::ChannelLayout::Blocked;
          const std::vector<float> xv =
              bi ? reblock(xPlanar, c.channels, geo.inPlane(), block, true) : xPlanar;
          const std::vector<float> rv =
              bo ? reblock(res, c.filters, geo.outPlane(), block, true) : res;
          std::vector<float> y(res.size(), -1.0f);
          a.x = xv.data();
          a.y = y.data();
          a.residual = residual ? rv.data() : nullptr;
          k::conv(a, 0, rows);
          return bo ? reblock(y, c.filters, geo.outPlane(), block, false) : y;
        };
        using L = k::ChannelLayout;
        for (bool residual : {false, true}) {
          const std::vector<float> planar = run(L::Planar, L::Planar, residual);
          if (!residual) {
            EXPECT_EQ(0, std::memcmp(planar.data(), one.data(), one.size() * sizeof(float)));
          }
          for (auto [in, out] :
               {std::pair{L::Blocked, L::Blocked}, std::pair{L::Planar, L::Blocked},
                std::pair{L::Blocked, L::Planar}}) {
            const std::vector<float> got = run(in, out, residual);
            int differ = 0;
            for (size_t i = 0; i < got.size(); ++i)
              if (!(got[i] == planar[i]) && ++differ <= 3)
                ADD_FAILURE() << "layouts " << int(in) << int(out) << " residual " << residual
                              << ": y[" << i << "] " << got[i] << ", planar " << planar[i];
          }
        }
      }
    }
  }
  k::forceIsa(saved);
  EXPECT_GE(blockedCases, 20) << "too few cases ran the channel-lane depthwise kernel";
}

// vec.pool runs the reference loops over row tiles: max_pool, avg_pool
// (both pad counts), global_avg_pool and reshape give the interpreter's
// bits, on 1 and 2 threads, for 1-D and 2-D windows with pads and strides.
TEST(VecPool, GivesTheInterpretersBits) {
  std::mt19937 rng(17);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  for (int n = 0; n < 40; ++n) {
    const int rank = static_cast<int>(pick(1, 2));
    const int64_t channels = pick(1, 5);
    std::vector<int64_t> dims = {channels}, kernel, strides, pads(2 * rank);
    for (int a = 0; a < rank; ++a) {
      dims.push_back(pick(1, 30));
      kernel.push_back(pick(1, std::min<int64_t>(3, dims.back())));
      strides.push_back(pick(1, 3));
      pads[a] = pick(0, kernel.back() - 1);
      pads[rank + a] = pick(0, kernel.back() - 1);
    }
    auto g = std::make_unique<ir::Graph>();
    g->name = "pool";
    ir::Op *x = g->append(ir::OpKind::Input, "x", {});
    x->type = ir::TensorType::make(true, dims);
    SourceManager sm;
    DiagnosticEngine diags(sm);
    auto typed = [&](ir::Op *op) {
      op->type = ir::inferResultType(*op, diags);
      return op;
    };
    ir::Op *m = g->append(ir::OpKind::MaxPool, "m", {x});
    m->kernel = kernel;
    m->strides = strides;
    m->pads = pads;
    typed(m);
    ir::Op *a = g->append(ir::OpKind::AvgPool, "a", {x});
    a->kernel = kernel;
    a->strides = strides;
    a->pads = pads;
    a->padCount = n % 2 ? ir::PadCount::Include : ir::PadCount::Exclude;
    typed(a);
    ir::Op *gp = typed(g->append(ir::OpKind::GlobalAvgPool, "g", {a}));
    ir::Op *r = g->append(ir::OpKind::Reshape, "r", {m});
    r->shape = {m->type.sampleElements()};
    typed(r);
    g->outputs = {{"g", gp, {}}, {"r", r, {}}};
    ASSERT_TRUE(ir::verifyGraph(*g, diags)) << diags.renderToString();
    for (int64_t batch : {1, 3, 17}) {
      std::vector<int64_t> xDims = {batch};
      xDims.insert(xDims.end(), dims.begin(), dims.end());
      auto xs = randomTensor(rng, xDims);
      runtime::Interpreter interp(*g);
      auto want = interp.run({{"x", *xs}});
      ASSERT_TRUE(want) << want.error();
      for (int threads : {1, 2}) {
        std::unique_ptr<ir::Graph> copy = g->clone();
        runtime::ProgramBuilder builder(*copy);
        Expected<runtime::Program> program = builder.build(runtime::vecTarget());
        ASSERT_TRUE(program) << program.error();
        for (const char *name : {"m", "a", "g", "r"})
          EXPECT_STREQ(builder.choices()[builder.indexOf(copy->findOp(name))].family->name(),
                       "vec.pool");
        runtime::ExecutorOptions options;
        options.threads = threads;
        runtime::Executor exec(std::move(*program), options);
        std::vector<float> yg((*want)[0].tensor.values.size()), yr((*want)[1].tensor.values.size());
        const float *inputs[] = {xs->values.data()};
        float *outputs[] = {yg.data(), yr.data()};
        exec.run(batch, inputs, outputs);
        EXPECT_EQ(
            0, std::memcmp(yg.data(), (*want)[0].tensor.values.data(), yg.size() * sizeof(float)));
        EXPECT_EQ(
            0, std::memcmp(yr.data(), (*want)[1].tensor.values.data(), yr.size() * sizeof(float)));
      }
    }
  }
}
