// The convolution's row-tile kernel (runtime/kernels/ConvTileImpl.h)
// against its flat-tile kernel (ConvImpl::lanes), which the interpreter
// tests of VecConvTest check: the two sum every output in the same order,
// so they must give the same bits. Seeded random convolutions on every
// instruction set this CPU has, each mix of layouts, with and without a
// residual (also in place, y holding it): planes whose rows and columns
// the tiles do not divide (the last tiles overlap), one-row planes, pads
// on every side, strides 1 and 2 (and 3, which the row-tile kernel leaves
// to the flat one), dilations, groups, filters of 1 to 7 taps a side,
// input channels too many for one strip (several chunks), few input
// channels in a Planar x (a network's first layer), batches of several
// samples, and the rows split between two calls as two threads split them.
#include "soma/runtime/Kernels.h"
#include "soma/runtime/Packing.h"
#include "soma/runtime/VecConv.h"

#include "ConvTesting.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

using namespace soma;
using soma::testing::randomTensor;
using soma::testing::reblock;
namespace k = soma::runtime::kernels;

TEST(VecConvTile, RowTilesGiveTheFlatTilesBits) {
  const k::Isa saved = k::activeIsa();
  std::mt19937 rng(23);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  int tiled = 0, chunked = 0, overlapped = 0;
  for (int n = 0; n < 48; ++n) {
    k::ConvArgs a;
    static const int64_t channels[] = {16, 32, 48, 64, 3, 8, 160};
    a.inChannels = n % 8 == 7 ? 160 : channels[pick(0, 5)];
    a.groups = a.inChannels % 64 == 0 && pick(0, 2) == 0 ? 2 : 1;
    a.outChannels = a.groups * 16 * pick(1, 4);
    a.kH = pick(1, n % 8 == 6 ? 7 : 5);
    a.kW = n % 5 == 0 ? a.kH : pick(1, 5);
    a.strideH = pick(1, 3);
    a.strideW = n % 9 == 8 ? 3 : pick(1, 2);
    a.dilH = pick(1, 2);
    a.dilW = pick(1, 2);
    a.padTop = pick(0, 3);
    a.padLeft = pick(0, 3);
    const int64_t padBottom = pick(0, 3), padRight = pick(0, 3);
    a.inH = n % 6 == 5 ? 1 : pick(1, 24);
    a.inW = pick(1, 40);
    // Shrink the window until it fits the padded input.
    while ((a.kH - 1) * a.dilH + 1 > a.inH + a.padTop + padBottom)
      a.dilH > 1 ? a.dilH = 1 : --a.kH;
    while ((a.kW - 1) * a.dilW + 1 > a.inW + a.padLeft + padRight)
      a.dilW > 1 ? a.dilW = 1 : --a.kW;
    a.outH = (a.inH + a.padTop + padBottom - (a.kH - 1) * a.dilH - 1) / a.strideH + 1;
    a.outW = (a.inW + a.padLeft + padRight - (a.kW - 1) * a.dilW - 1) / a.strideW + 1;
    a.act = ir::makeActivation(n % 3 ? ir::ActKind::Relu : ir::ActKind::Tanh);
    const int64_t cg = a.inChannels / a.groups, batch = pick(1, 3);
    const std::string what =
        "case " + std::to_string(n) + " (seed 23): C " + std::to_string(a.inChannels) + " O " +
        std::to_string(a.outChannels) + " groups " + std::to_string(a.groups) + " in " +
        std::to_string(a.inH) + "x" + std::to_string(a.inW) + " kernel " + std::to_string(a.kH) +
        "x" + std::to_string(a.kW) + " stride " + std::to_string(a.strideH) + "," +
        std::to_string(a.strideW) + " dil " + std::to_string(a.dilH) + "," +
        std::to_string(a.dilW) + " pad " + std::to_string(a.padTop) + "," +
        std::to_string(a.padLeft) + " out " + std::to_string(a.outH) + "x" +
        std::to_string(a.outW) + " batch " + std::to_string(batch);
    SCOPED_TRACE(what);
    auto w = randomTensor(rng, {a.outChannels, cg, a.kH, a.kW});
    auto b = randomTensor(rng, {a.outChannels});
    const int64_t inPlane = a.inH * a.inW, outPlane = a.outH * a.outW;
    const auto xt = randomTensor(rng, {batch * a.inChannels * inPlane});
    const auto rt = randomTensor(rng, {batch * a.outChannels * outPlane});
    const std::vector<float> x(xt->values.begin(), xt->values.end()),
        res(rt->values.begin(), rt->values.end());
    for (k::Isa isa : {k::Isa::Sse2, k::Isa::Avx2, k::Isa::Avx512}) {
      if (!k::forceIsa(isa))
        continue;
      SCOPED_TRACE(k::isaName(isa));
      const int64_t lanes = k::vectorWidth(isa);
      a.block = k::convBlock(a.inChannels, a.outChannels, a.groups);
      if (a.block < lanes)
        continue; // output positions in the lanes: neither kernel
      const AlignedVector<float> packed = runtime::packConvFilters(*w, a.block);
      a.packed = packed.data();
      a.bias = b->values.data();
      const int64_t rows = batch * a.outChannels * a.outH, unit = a.block * a.outH;
      using L = k::ChannelLayout;
      for (L in : {L::Planar, L::Blocked})
        for (L out : {L::Planar, L::Blocked})
          for (int residual : {0, 1, 2}) { // 2: y holds the residual (in place)
            if ((in == L::Blocked && cg % lanes) || (out == L::Blocked && a.outChannels % lanes))
              continue;
            runtime::ConvContext c;
            c.args = a;
            c.args.in = in;
            c.args.out = out;
            runtime::setTapOffsets(c);
            ASSERT_EQ(c.args.stripOffsets != nullptr, a.strideW <= 2);
            const bool bi = in == L::Blocked, bo = out == L::Blocked;
            const std::vector<float> xv = bi ? reblock(x, a.inChannels, inPlane, lanes, true) : x;
            const std::vector<float> rv =
                bo ? reblock(res, a.outChannels, outPlane, lanes, true) : res;
            auto run = [&](bool tiles) {
              k::ConvArgs r = c.args;
              if (!tiles)
                r.stripOffsets = nullptr;
              std::vector<float> y = residual == 2 ? rv : std::vector<float>(rv.size(), -7.0f);
              r.x = xv.data();
              r.y = y.data();
              r.residual = residual == 1 ? rv.data() : residual == 2 ? y.data() : nullptr;
              const int64_t half = rows / unit / 2 * unit; // two threads' shares
              k::conv(r, 0, half);
              k::conv(r, half, rows);
              return y;
            };
            const std::vector<float> got = run(true), want = run(false);
            int differ = 0;
            for (size_t i = 0; i < got.size(); ++i)
              if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0 && ++differ <= 3)
                ADD_FAILURE() << "layouts " << int(in) << int(out) << " residual " << residual
                              << ": y[" << i << "] row tiles " << got[i] << ", flat tiles "
                              << want[i];
            if (c.args.stripOffsets) {
              ++tiled;
              const int64_t perStrip = k::kConvStripFloats /
                                       (c.args.stripRows * c.args.stripCols * (bi ? lanes : 1)) *
                                       (bi ? lanes : 1);
              chunked += perStrip < cg && (a.padTop > 0 || a.padLeft > 0);
              overlapped += a.outW % k::convTileColumns(lanes) != 0 && a.outW > 1;
            }
          }
    }
  }
  k::forceIsa(saved);
  EXPECT_GE(tiled, 100) << "too few cases ran the row-tile kernel";
  EXPECT_GE(chunked, 4) << "too few cases needed several strips";
  EXPECT_GE(overlapped, 50) << "too few cases had overlapping tiles";
}
