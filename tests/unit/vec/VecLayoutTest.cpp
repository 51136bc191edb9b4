// The program builder's channel layouts (ProgramBuilder::layoutOf) and the
// vec kernels that honour them, on every instruction set this CPU has:
// seeded random chains conv -> pool -> conv_add (the pool's value as the
// residual) -> global_avg_pool, of channel counts that are multiples of 16
// and of 8, odd planes, strides, pads and dilations, must store the values
// inside the chain blocked where the rules allow it, and give the same bits
// as the same program with every value planar, on 1 and 2 threads; chains
// of pools alone must give the interpreter's bits. The fallbacks (channels
// not a multiple of the block, a value that is an output or is read by a
// kernel that reads planar only) keep values planar.
#include "soma/ir/ShapeInference.h"
#include "soma/ir/Verifier.h"
#include "soma/runtime/Executor.h"
#include "soma/runtime/Interpreter.h"
#include "soma/runtime/Kernels.h"
#include "soma/runtime/VecEngine.h"

#include "ConvTesting.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>

using namespace soma;
using soma::testing::randomTensor;
namespace k = soma::runtime::kernels;

namespace {

/// Appends ops to a graph with their types inferred.
struct ChainBuilder {
  std::unique_ptr<ir::Graph> g = std::make_unique<ir::Graph>();
  std::mt19937 &rng;
  SourceManager sm;
  DiagnosticEngine diags{sm};
  int count = 0;

  explicit ChainBuilder(std::mt19937 &rng) : rng(rng) { g->name = "chain"; }
  int64_t pick(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  }
  ir::Op *typed(ir::Op *op) {
    op->type = ir::inferResultType(*op, diags);
    EXPECT_TRUE(op->type.known) << diags.renderToString();
    return op;
  }
  ir::Op *constant(std::vector<int64_t> dims) {
    ir::Op *c = g->append(ir::OpKind::Const, "k" + std::to_string(count++), {});
    c->type = ir::TensorType::make(false, dims);
    c->data = randomTensor(rng, dims);
    return c;
  }
  /// A conv of `filters` filters over x, 3x3 or 1x1 with random strides,
  /// pads and dilations; with a residual r a conv_add (3x3, stride 1,
  /// same padding).
  ir::Op *conv(ir::Op *x, int64_t filters, ir::Op *r = nullptr) {
    const int64_t channels = x->type.dims[0];
    const int64_t small = std::min(x->type.dims[1], x->type.dims[2]);
    int64_t kernel = r ? 3 : pick(0, 1) * 2 + 1, dil = r ? 1 : pick(1, 2);
    const int64_t stride = r ? 1 : pick(1, 2);
    std::vector<int64_t> pads = {1, 1, 1, 1};
    if (!r)
      for (int64_t &pad : pads)
        pad = pick(0, 2);
    while (dil * (kernel - 1) + 1 > small + std::min(pads[0] + pads[2], pads[1] + pads[3]))
      dil > 1 ? dil = 1 : kernel = 1;
    ir::Op *w = constant({filters, channels, kernel, kernel});
    ir::Op *b = constant({filters});
    std::vector<ir::Op *> operands = {x, w, b};
    if (r)
      operands.push_back(r);
    ir::Op *op = g->append(r ? ir::OpKind::ConvAdd : ir::OpKind::Conv,
                           "c" + std::to_string(count++), operands);
    op->strides = {stride, stride};
    op->dilations = {dil, dil};
    op->pads = pads;
    op->fn = ir::makeActivation(pick(0, 1) ? ir::ActKind::Relu : ir::ActKind::Identity);
    return typed(op);
  }
  ir::Op *pool(ir::Op *x, ir::OpKind kind) {
    ir::Op *op = g->append(kind, "p" + std::to_string(count++), {x});
    if (kind == ir::OpKind::GlobalAvgPool)
      return typed(op);
    const int64_t kernel = pick(1, std::min<int64_t>({3, x->type.dims[1], x->type.dims[2]}));
    op->kernel = {kernel, kernel};
    op->strides = {pick(1, 2), pick(1, 2)};
    op->pads = {pick(0, kernel - 1), pick(0, kernel - 1), pick(0, kernel - 1), pick(0, kernel - 1)};
    op->padCount = pick(0, 1) ? ir::PadCount::Include : ir::PadCount::Exclude;
    return typed(op);
  }
};

/// The vec engine's program for `graph`, blocked or planar, run on `x`.
struct Built {
  std::map<std::string, k::ChannelLayout> layouts; // by value name
  std::vector<std::vector<float>> outputs;
};

Built runVec(const ir::Graph &graph, const Tensor &x, int64_t batch, bool blocked, int threads) {
  std::unique_ptr<ir::Graph> copy = graph.clone();
  runtime::ProgramBuilder builder(*copy);
  runtime::Target target = runtime::vecTarget();
  target.blockedLayouts = blocked;
  Expected<runtime::Program> program = builder.build(target);
  Built built;
  if (!program) {
    ADD_FAILURE() << program.error();
    return built;
  }
  for (size_t i = 0; i < copy->ops.size(); ++i)
    built.layouts[copy->ops[i]->name] = builder.layoutOf(i);
  runtime::ExecutorOptions options;
  options.threads = threads;
  runtime::Executor exec(std::move(*program), options);
  std::vector<float *> outs;
  for (const ir::GraphOutput &o : copy->outputs)
    built.outputs.emplace_back(static_cast<size_t>(batch * o.value->type.sampleElements()), -7.0f);
  for (auto &o : built.outputs)
    outs.push_back(o.data());
  const float *inputs[] = {x.values.data()};
  exec.run(batch, inputs, outs.data());
  return built;
}

/// Each op's name, kind and type, for a failure's trace.
std::string shapes(const ir::Graph &g) {
  std::string s;
  for (const auto &op : g.ops)
    if (op->kind != ir::OpKind::Const)
      s += "\n  %" + op->name + " = " + ir::opName(op->kind) + " : " + op->type.str();
  return s;
}

bool sameBits(const std::vector<std::vector<float>> &a, const std::vector<std::vector<float>> &b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].size() != b[i].size() ||
        std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)) != 0)
      return false;
  return true;
}

k::ChannelLayout layoutIn(const Built &b, const ir::Op *op) {
  auto it = b.layouts.find(op->name);
  EXPECT_TRUE(it != b.layouts.end()) << op->name;
  return it != b.layouts.end() ? it->second : k::ChannelLayout::Planar;
}

} // namespace

TEST(VecLayout, BlockedChainsGiveThePlanarBits) {
  const k::Isa saved = k::activeIsa();
  std::mt19937 rng(1616);
  int blockedRuns = 0;
  for (int n = 0; n < 24; ++n) {
    ChainBuilder cb(rng);
    const int64_t unit = n % 2 ? 8 : 16;
    const int64_t c0 = cb.pick(1, 5), c1 = unit * cb.pick(1, 4), c2 = 32 * cb.pick(1, 2);
    ir::Op *x = cb.g->append(ir::OpKind::Input, "x", {});
    x->type = ir::TensorType::make(true, {c0, cb.pick(5, 15) | 1, cb.pick(5, 17) | 1});
    ir::Op *a = cb.conv(x, c1);
    ir::Op *p = cb.pool(a, cb.pick(0, 1) ? ir::OpKind::MaxPool : ir::OpKind::AvgPool);
    ir::Op *b = cb.conv(p, c1, p); // conv_add: the pool's value is the residual
    ir::Op *c = cb.conv(b, c2);
    ir::Op *gap = cb.pool(c, ir::OpKind::GlobalAvgPool);
    cb.g->outputs.push_back({"y", gap, {}});
    ASSERT_TRUE(ir::verifyGraph(*cb.g, cb.diags)) << cb.diags.renderToString();
    SCOPED_TRACE("chain " + std::to_string(n) + " (seed 1616):" + shapes(*cb.g));
    for (int64_t batch : {1, 3}) {
      std::vector<int64_t> dims = {batch};
      dims.insert(dims.end(), x->type.dims.begin(), x->type.dims.end());
      auto xs = randomTensor(rng, dims);
      for (k::Isa isa : {k::Isa::Sse2, k::Isa::Avx2, k::Isa::Avx512}) {
        if (!k::forceIsa(isa))
          continue;
        SCOPED_TRACE(std::string(k::isaName(isa)) + ", batch " + std::to_string(batch));
        const Built planar = runVec(*cb.g, *xs, batch, false, 1);
        for (const auto &[name, layout] : planar.layouts)
          EXPECT_EQ(layout, k::ChannelLayout::Planar) << name;
        for (int threads : {1, 2}) {
          const Built blocked = runVec(*cb.g, *xs, batch, true, threads);
          EXPECT_TRUE(sameBits(planar.outputs, blocked.outputs))
              << "blocked differs from planar on " << threads << " threads";
          if (layoutIn(blocked, c) == k::ChannelLayout::Blocked)
            ++blockedRuns;
          // The input and the output are never blocked; with channel
          // lanes (W > 4), the values inside the chain are.
          EXPECT_EQ(layoutIn(blocked, x), k::ChannelLayout::Planar);
          EXPECT_EQ(layoutIn(blocked, gap), k::ChannelLayout::Planar);
          const int64_t w = k::vectorWidth(isa);
          if (w > 4 && c2 % (2 * w) == 0) {
            EXPECT_EQ(layoutIn(blocked, c), k::ChannelLayout::Blocked);
          }
          if (w > 4 && c1 % w == 0) {
            EXPECT_EQ(layoutIn(blocked, a), k::ChannelLayout::Blocked);
            EXPECT_EQ(layoutIn(blocked, p), k::ChannelLayout::Blocked);
            EXPECT_EQ(layoutIn(blocked, b), k::ChannelLayout::Blocked);
          }
          if (w > 4 && c1 % w != 0) {
            EXPECT_EQ(layoutIn(blocked, a), k::ChannelLayout::Planar);
          }
        }
      }
    }
  }
  k::forceIsa(saved);
  EXPECT_GE(blockedRuns, 40) << "too few chains ran blocked";
}

// Pools alone (max_pool -> avg_pool -> global_avg_pool over 16 or 24
// channels): the first writes blocked, the others read it; the
// interpreter's bits on every instruction set, blocks of 4, 8 and 16.
TEST(VecLayout, BlockedPoolsGiveTheInterpretersBits) {
  const k::Isa saved = k::activeIsa();
  std::mt19937 rng(1717);
  for (int n = 0; n < 16; ++n) {
    ChainBuilder cb(rng);
    ir::Op *x = cb.g->append(ir::OpKind::Input, "x", {});
    const int64_t channels = n % 2 ? 24 : 16;
    x->type = ir::TensorType::make(true, {channels, cb.pick(3, 13), cb.pick(3, 13)});
    ir::Op *m = cb.pool(x, ir::OpKind::MaxPool);
    ir::Op *a = cb.pool(m, ir::OpKind::AvgPool);
    ir::Op *gap = cb.pool(a, ir::OpKind::GlobalAvgPool);
    ir::Op *m2 = cb.pool(m, ir::OpKind::MaxPool); // m read twice: both read blocked
    cb.g->outputs = {{"g", gap, {}}, {"m2", m2, {}}};
    ASSERT_TRUE(ir::verifyGraph(*cb.g, cb.diags)) << cb.diags.renderToString();
    SCOPED_TRACE("pools " + std::to_string(n) + " (seed 1717):" + shapes(*cb.g));
    const int64_t batch = 3;
    std::vector<int64_t> dims = {batch};
    dims.insert(dims.end(), x->type.dims.begin(), x->type.dims.end());
    auto xs = randomTensor(rng, dims);
    xs->values[5] = NAN; // a NaN under a window: NaN out, as the interpreter
    runtime::Interpreter interp(*cb.g);
    auto want = interp.run({{"x", *xs}});
    ASSERT_TRUE(want) << want.error();
    const std::vector<std::vector<float>> wanted = {
        {(*want)[0].tensor.values.begin(), (*want)[0].tensor.values.end()},
        {(*want)[1].tensor.values.begin(), (*want)[1].tensor.values.end()}};
    for (k::Isa isa : {k::Isa::Sse2, k::Isa::Avx2, k::Isa::Avx512}) {
      if (!k::forceIsa(isa))
        continue;
      SCOPED_TRACE(k::isaName(isa));
      const bool divides = channels % k::vectorWidth(isa) == 0;
      for (int threads : {1, 2}) {
        const Built blocked = runVec(*cb.g, *xs, batch, true, threads);
        EXPECT_TRUE(sameBits(wanted, blocked.outputs)) << threads << " threads";
        EXPECT_EQ(layoutIn(blocked, m),
                  divides ? k::ChannelLayout::Blocked : k::ChannelLayout::Planar);
        EXPECT_EQ(layoutIn(blocked, a),
                  divides ? k::ChannelLayout::Blocked : k::ChannelLayout::Planar);
        EXPECT_EQ(layoutIn(blocked, m2), k::ChannelLayout::Planar); // an output
      }
    }
  }
  k::forceIsa(saved);
}
