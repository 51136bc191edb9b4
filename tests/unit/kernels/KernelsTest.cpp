// The xsimd kernel library (soma/runtime/Kernels.h) against the reference
// semantics: ir::evaluateOp and the interpreter's double activations.
// Every test runs once per instruction set this CPU has (SSE2, AVX2+FMA,
// AVX-512, forced in turn), on seeded random shapes with tails and odd
// sizes, on tiles (row and column sub-ranges), with buffers that end on a
// PROT_NONE page so a read or write past the end crashes. Each element is
// compared within a bound derived for it (the tolerances are in
// KernelsTestSupport.cpp, the helpers below and docs/architecture.md); the
// seed is printed on failure. The activation accuracy sweep is in
// ActivationAccuracyTest.cpp.
#include "KernelTable.h"
#include "KernelsTestSupport.h"

#include "soma/ir/Binary.h"
#include "soma/ir/Evaluate.h"
#include "soma/runtime/Interpreter.h"
#include "soma/runtime/Kernels.h"
#include "soma/runtime/Packing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace soma::runtime::kernels::test {
namespace {

using ir::Activation;
using ir::ActKind;

// --- dense --------------------------------------------------------------------

struct DenseCase {
  int64_t rows, inputs, units;
  Activation act;
  bool bias, residual;
  int64_t panel;              // 0: panelWidth()
  int64_t xPad = 0, yPad = 0; // extra elements per row (strides)
  int64_t rowBlock = 0;       // DenseArgs::rowBlock
};

std::string describe(const DenseCase &c) {
  std::ostringstream os;
  os << "dense rows " << c.rows << " inputs " << c.inputs << " units " << c.units << " act "
     << c.act.str() << (c.bias ? " +bias" : "") << (c.residual ? " +residual" : "") << " panel "
     << c.panel << " strides +" << c.xPad << "/+" << c.yPad << " row block " << c.rowBlock;
  return os.str();
}

/// Runs one dense case through tiles and checks every element against the
/// reference; also checks that the tiled result is bit-identical to one
/// call over the whole layer and that nothing outside the tiles is written.
/// Returns the result.
std::vector<float> checkDense(DenseCase c, std::mt19937 &rng) {
  if (c.panel == 0)
    c.panel = panelWidth();
  const std::string what = describe(c);
  SCOPED_TRACE(what);
  setCrashContext(what);
  const int64_t R = c.rows, K = c.inputs, U = c.units;
  const int64_t ldx = K + c.xPad, ldy = U + c.yPad;
  Tensor x = randomTensor({R, K}, rng, -2.0f, 2.0f);
  Tensor w = randomTensor({U, K}, rng);
  Tensor b = randomTensor({U}, rng);
  Tensor res = randomTensor({R, U}, rng, -2.0f, 2.0f);
  if (!c.bias)
    std::fill(b.values.begin(), b.values.end(), 0.0f);

  // The pre-activation sums in double and the bound on the kernel's error
  // in each; the reference values come from evaluateOp below.
  Sums s;
  s.z.resize(static_cast<size_t>(R * U));
  s.ez.resize(s.z.size());
  for (int64_t n = 0; n < R; ++n)
    for (int64_t u = 0; u < U; ++u) {
      // The kernel sums k ascending, one rounding per step (two without
      // FMA), then adds the bias and the residual.
      double sum = 0, partials = 0, products = 0;
      for (int64_t k = 0; k < K; ++k) {
        double p = static_cast<double>(x.values[n * K + k]) * w.values[u * K + k];
        sum += p;
        partials += std::fabs(sum);
        products += std::fabs(p);
      }
      double z = sum + b.values[u];
      double err = kU * (partials + products + std::fabs(z));
      if (c.residual) {
        z += res.values[n * U + u];
        err += kU * std::fabs(z);
      }
      s.z[n * U + u] = z;
      s.ez[n * U + u] = err;
    }
  std::vector<float> want(s.z.size());
  {
    // dense, or dense_add with the residual as operand 3
    ir::Op op(c.residual ? ir::OpKind::DenseAdd : ir::OpKind::Dense, "d",
              std::vector<ir::Op *>(c.residual ? 4 : 3, nullptr), {});
    op.type = ir::TensorType::make(true, {U});
    op.fn = c.act;
    std::vector<ir::EvalOperand> in = {{&x, true}, {&w, false}, {&b, false}};
    if (c.residual)
      in.push_back({&res, true});
    Tensor out = ir::evaluateOp(op, in, R);
    std::copy(out.values.begin(), out.values.end(), want.begin());
  }
  std::vector<double> tol = activationBounds(c.act, s, R, U);

  // Operands in guarded buffers: the bias unpadded, x and y with strides.
  AlignedVector<float> packedVec = packPanels(w, c.panel);
  GuardedBuffer packed(packedVec.data(), packedVec.size());
  GuardedBuffer xb(static_cast<size_t>(R * ldx)), rb(res.values.data(), res.values.size());
  for (int64_t n = 0; n < R; ++n)
    std::copy_n(&x.values[n * K], K, &xb[n * ldx]);
  GuardedBuffer bb(b.values.data(), b.values.size());
  const float sentinel = 12345.0f;
  GuardedBuffer tiled(static_cast<size_t>(R * ldy), sentinel);
  GuardedBuffer whole(static_cast<size_t>(R * ldy), sentinel);

  DenseArgs a;
  a.x = {xb.data(), ldx, 0};
  a.packed = packed.data();
  a.panel = c.panel;
  a.inputs = K;
  a.units = U;
  a.bias = c.bias ? bb.data() : nullptr;
  a.residual = c.residual ? Src{rb.data(), U, 0} : Src{};
  a.act = c.act;
  a.rowBlock = c.rowBlock;

  // Tiles: rows cut at random points; columns at random panel multiples
  // (softmax needs whole rows).
  std::vector<int64_t> rowCuts = {0}, colCuts = {0};
  while (rowCuts.back() < R)
    rowCuts.push_back(std::min(R, rowCuts.back() + 1 + static_cast<int64_t>(rng() % 9)));
  while (colCuts.back() < U) {
    int64_t next = colCuts.back() + c.panel * (1 + static_cast<int64_t>(rng() % 3));
    colCuts.push_back(ir::isRowwise(c.act.kind) ? U : std::min(U, next));
  }
  a.y = {tiled.data(), ldy};
  for (size_t i = 0; i + 1 < rowCuts.size(); ++i)
    for (size_t j = 0; j + 1 < colCuts.size(); ++j)
      dense(a, rowCuts[i], rowCuts[i + 1], colCuts[j], colCuts[j + 1]);
  a.y = {whole.data(), ldy};
  dense(a, 0, R, 0, U);

  expectClose(tiled.data(), want.data(), tol, R, U, ldy, what);
  int mismatches = 0, touched = 0;
  for (int64_t n = 0; n < R; ++n)
    for (int64_t u = 0; u < ldy; ++u) {
      float t = tiled[n * ldy + u], h = whole[n * ldy + u];
      if (u >= U) {
        touched += t != sentinel || h != sentinel;
        continue;
      }
      mismatches += std::memcmp(&t, &h, sizeof t) != 0;
    }
  EXPECT_EQ(mismatches, 0) << what << ": tiles differ from one whole call";
  EXPECT_EQ(touched, 0) << what << ": wrote past the last column of a row";
  return std::vector<float>(whole.data(), whole.data() + R * ldy);
}

TEST_P(KernelsIsaTest, DenseShapes) {
  std::mt19937 rng(kSeed);
  const int64_t rows[] = {1, 2, 3, 8, 17, 33};
  const int64_t inputs[] = {1, 3, 17, 100};
  const int64_t units[] = {1, 3, 15, 16, 17, 33, 100};
  for (int64_t r : rows)
    for (int64_t k : inputs)
      for (int64_t u : units) {
        DenseCase c{
            r, k, u, ir::makeActivation(ActKind::Relu), (r + k + u) % 2 == 0, (r + u) % 3 == 0, 0};
        c.xPad = (r * 7 + k) % 3;
        c.yPad = (u * 5 + r) % 4;
        checkDense(c, rng);
      }
}

TEST_P(KernelsIsaTest, DenseEveryActivationBiasAndResidual) {
  std::mt19937 rng(kSeed + 1);
  const int64_t sizes[] = {1, 3, 15, 17, 33, 100};
  auto pick = [&] { return sizes[rng() % std::size(sizes)]; };
  for (const Activation &act : allActivations())
    for (bool bias : {false, true})
      for (bool residual : {false, true}) {
        checkDense({pick(), pick(), pick(), act, bias, residual, 0}, rng);
        // and one batch-1 layer, the one-row path only
        checkDense({1, pick(), pick(), act, bias, residual, 0}, rng);
      }
}

/// Every register block the kernel has (asked for by DenseArgs::rowBlock)
/// gives the same bits: a row's sum runs in the same order in every block.
/// 37 rows: full blocks, a half block and lone rows for each block size.
TEST_P(KernelsIsaTest, DenseRowBlocksAgree) {
  const Isa isa = GetParam();
  EXPECT_EQ(denseRowBlock(isa, 4), 4);
  EXPECT_EQ(denseRowBlock(isa, 1), 4);
  EXPECT_EQ(denseRowBlock(isa, 0), denseRowBlock(isa, 64));
  EXPECT_EQ(denseRowBlock(isa, 0), isa == Isa::Avx512 ? 8 : isa == Isa::Avx2 ? 6 : 4);
  std::vector<float> first;
  for (int64_t rowBlock : {0, 1, 4, 5, 6, 8, 64}) {
    std::mt19937 rng(kSeed + 3);
    DenseCase c{37, 45, 75, ir::makeActivation(ActKind::Tanh), true, true, 0};
    c.rowBlock = rowBlock;
    std::vector<float> y = checkDense(c, rng);
    if (first.empty())
      first = y;
    EXPECT_EQ(std::memcmp(first.data(), y.data(), y.size() * sizeof(float)), 0)
        << "row block " << rowBlock << " changed the bits";
  }
}

/// Weights packed for another instruction set's panel still work: a wider
/// panel runs as it is, a narrower one on a narrower table.
TEST_P(KernelsIsaTest, DenseForeignPanelWidths) {
  std::mt19937 rng(kSeed + 2);
  for (int64_t panel : {4, 8, 12, 16, 32, 64})
    checkDense({9, 21, 75, ir::makeActivation(ActKind::Tanh), true, true, panel}, rng);
}

/// Larger layers: every register block shape and path over many panels.
TEST_P(KernelsIsaTest, DenseLarge) {
  std::mt19937 rng(kSeed + 3);
  checkDense({67, 300, 257, ir::makeActivation(ActKind::Gelu), true, false, 0}, rng);
  checkDense({5, 513, 130, ir::makeActivation(ActKind::Softmax), true, true, 0}, rng);
}

// --- elementwise ------------------------------------------------------------------

/// A random tile decomposition of [0, rows) x [0, cols), any cut points.
std::vector<std::array<int64_t, 4>> randomTiles(int64_t rows, int64_t cols, std::mt19937 &rng) {
  std::vector<int64_t> rc = {0}, cc = {0};
  while (rc.back() < rows)
    rc.push_back(std::min(rows, rc.back() + 1 + static_cast<int64_t>(rng() % 7)));
  while (cc.back() < cols)
    cc.push_back(std::min(cols, cc.back() + 1 + static_cast<int64_t>(rng() % 40)));
  std::vector<std::array<int64_t, 4>> tiles;
  for (size_t i = 0; i + 1 < rc.size(); ++i)
    for (size_t j = 0; j + 1 < cc.size(); ++j)
      tiles.push_back({rc[i], rc[i + 1], cc[j], cc[j + 1]});
  return tiles;
}

const int64_t kElementwiseShapes[][2] = {{1, 1},  {1, 3},   {3, 15},  {2, 16}, {5, 17},
                                         {7, 33}, {4, 100}, {1, 257}, {13, 31}};

/// An op on [rows, cols] operands whose per-feature parameters have `cols`
/// elements, evaluated by ir::evaluateOp.
Tensor evaluate(ir::OpKind kind, int64_t rows, int64_t cols, const std::vector<ir::EvalOperand> &in,
                const Activation &act = {}, float epsilon = 1e-5f) {
  ir::Op op(kind, "t", std::vector<ir::Op *>(in.size(), nullptr), {});
  op.type = ir::TensorType::make(true, {cols});
  op.fn = act;
  op.epsilon = epsilon;
  return ir::evaluateOp(op, in, rows);
}

// Every binary op of Ops.def (add, ...).
const ir::OpKind kBinaryOps[] = {
#define SOMA_BINARY_OP(Enum, Name, Expr, Identity, Commutes, Doc) ir::OpKind::Enum,
#include "soma/ir/Ops.def"
};

TEST_P(KernelsIsaTest, BinaryOpsWithActivationAndBroadcast) {
  std::mt19937 rng(kSeed + 4);
  for (ir::OpKind kind : kBinaryOps)
    for (const Activation &act : allActivations()) {
      if (ir::isRowwise(act.kind))
        continue; // a binary op's activation is elementwise
      for (auto [rows, cols] : kElementwiseShapes) {
        // b repeats every `period` rows: 0 (batched), 1 (one row), or 3.
        const int64_t period = std::array<int64_t, 3>{0, 1, 3}[rng() % 3];
        const int64_t bRows = period ? period : rows;
        Tensor a = randomTensor({rows, cols}, rng, -4, 4),
               b = randomTensor({bRows, cols}, rng, -4, 4);
        Sums s;
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < cols; ++c) {
            const double x = a.values[r * cols + c],
                         y = b.values[(period ? r % period : r) * cols + c];
            const double z = ir::withBinary(kind, [&](auto f) { return f(x, y); });
            s.z.push_back(z);
            s.ez.push_back(kU * std::fabs(z));
          }
        const Tensor want = evaluate(kind, rows, cols, {{&a, true}, {&b, period == 0}}, act);
        GuardedBuffer ab(a.values.data(), a.values.size()), bb(b.values.data(), b.values.size());
        GuardedBuffer y(static_cast<size_t>(rows * cols), NAN);
        setCrashContext(rows, cols);
        for (auto [r0, r1, c0, c1] : randomTiles(rows, cols, rng))
          binary(kind, {ab.data(), cols, 0}, {bb.data(), cols, period}, {y.data(), cols}, act, r0,
                 r1, c0, c1);
        expectClose(y.data(), want.values.data(), activationBounds(act, s, rows, cols), rows, cols,
                    cols,
                    std::string(ir::opName(kind)) + " " + act.str() + " " + std::to_string(rows) +
                        "x" + std::to_string(cols) + " period " + std::to_string(period));
      }
    }
}

TEST_P(KernelsIsaTest, BiasAddInPlace) {
  std::mt19937 rng(kSeed + 5);
  for (auto [rows, cols] : kElementwiseShapes) {
    Tensor x = randomTensor({rows, cols}, rng, -4, 4), b = randomTensor({cols}, rng);
    Tensor want = evaluate(ir::OpKind::BiasAdd, rows, cols, {{&x, true}, {&b, false}});
    GuardedBuffer y(x.values.data(), x.values.size()), bb(b.values.data(), b.values.size());
    for (auto [r0, r1, c0, c1] : randomTiles(rows, cols, rng))
      biasAdd({y.data(), cols, 0}, bb.data(), {y.data(), cols}, r0, r1, c0, c1);
    // One rounding of x + b, as the reference.
    std::vector<double> tol(want.values.size(), 0.0);
    expectClose(y.data(), want.values.data(), tol, rows, cols, cols, "bias_add");
  }
}

TEST_P(KernelsIsaTest, ActivationOnTiles) {
  std::mt19937 rng(kSeed + 6);
  for (const Activation &act : allActivations())
    for (auto [rows, cols] : kElementwiseShapes) {
      Tensor x = randomTensor({rows, cols}, rng, -12, 12);
      Tensor want = evaluate(ir::OpKind::Activation, rows, cols, {{&x, true}}, act);
      Sums s;
      s.z.assign(x.values.begin(), x.values.end());
      s.ez.assign(s.z.size(), 0.0);
      GuardedBuffer xb(x.values.data(), x.values.size());
      GuardedBuffer y(static_cast<size_t>(rows * cols), NAN);
      setCrashContext(rows, cols);
      auto tiles = randomTiles(rows, cols, rng);
      if (ir::isRowwise(act.kind))
        tiles = {{0, rows / 2, 0, cols}, {rows / 2, rows, 0, cols}}; // whole rows
      for (auto [r0, r1, c0, c1] : tiles)
        activation({xb.data(), cols, 0}, {y.data(), cols}, act, r0, r1, c0, c1);
      expectClose(
          y.data(), want.values.data(), activationBounds(act, s, rows, cols), rows, cols, cols,
          "activation " + act.str() + " " + std::to_string(rows) + "x" + std::to_string(cols));
    }
}

TEST_P(KernelsIsaTest, ScaleShift) {
  std::mt19937 rng(kSeed + 7);
  for (auto [rows, cols] : kElementwiseShapes) {
    Tensor x = randomTensor({rows, cols}, rng, -4, 4), sc = randomTensor({cols}, rng, -3, 3),
           sh = randomTensor({cols}, rng, -3, 3);
    Tensor want =
        evaluate(ir::OpKind::ScaleShift, rows, cols, {{&x, true}, {&sc, false}, {&sh, false}});
    std::vector<double> tol;
    for (int64_t i = 0; i < rows * cols; ++i) {
      // One rounding with FMA, two without; and the reference's one.
      double prod = std::fabs(static_cast<double>(x.values[i]) * sc.values[i % cols]);
      tol.push_back(kU * (prod + 2 * std::fabs(want.values[i])) * (1 + 0x1p-10) + kTiny);
    }
    GuardedBuffer xb(x.values.data(), x.values.size()), sb(sc.values.data(), sc.values.size()),
        tb(sh.values.data(), sh.values.size());
    GuardedBuffer y(static_cast<size_t>(rows * cols), NAN);
    setCrashContext(rows, cols);
    for (auto [r0, r1, c0, c1] : randomTiles(rows, cols, rng))
      scaleShift({xb.data(), cols, 0}, sb.data(), tb.data(), {y.data(), cols}, r0, r1, c0, c1);
    expectClose(y.data(), want.values.data(), tol, rows, cols, cols, "scale_shift");
  }
}

TEST_P(KernelsIsaTest, BatchNorm) {
  std::mt19937 rng(kSeed + 8);
  for (auto [rows, cols] : kElementwiseShapes) {
    Tensor x = randomTensor({rows, cols}, rng, -4, 4), mean = randomTensor({cols}, rng),
           var = randomTensor({cols}, rng, 0, 3), sc = randomTensor({cols}, rng, -2, 2),
           sh = randomTensor({cols}, rng);
    var.values[0] = 0; // variance 0: epsilon alone
    const float eps = 1e-3f;
    Tensor want =
        evaluate(ir::OpKind::BatchNorm, rows, cols,
                 {{&x, true}, {&mean, false}, {&var, false}, {&sc, false}, {&sh, false}}, {}, eps);
    std::vector<double> tol;
    for (int64_t i = 0; i < rows * cols; ++i) {
      const int64_t c = i % cols;
      double n = (static_cast<double>(x.values[i]) - mean.values[c]) /
                 std::sqrt(static_cast<double>(var.values[c]) + eps);
      // x - mean, var + eps, sqrt, divide: 4u in n; then n*s + t.
      double ns = std::fabs(n * sc.values[c]);
      tol.push_back(kU * (5 * ns + 2 * std::fabs(want.values[i])) * (1 + 0x1p-10) + kTiny);
    }
    GuardedBuffer xb(x.values.data(), x.values.size()), mb(mean.values.data(), cols),
        vb(var.values.data(), cols), sb(sc.values.data(), cols), tb(sh.values.data(), cols);
    GuardedBuffer y(static_cast<size_t>(rows * cols), NAN);
    setCrashContext(rows, cols);
    for (auto [r0, r1, c0, c1] : randomTiles(rows, cols, rng))
      batchNorm({xb.data(), cols, 0}, mb.data(), vb.data(), sb.data(), tb.data(), eps,
                {y.data(), cols}, r0, r1, c0, c1);
    expectClose(y.data(), want.values.data(), tol, rows, cols, cols, "batch_norm");
  }
}

// --- row-wise ----------------------------------------------------------------------

TEST_P(KernelsIsaTest, SoftmaxRowsInPlaceAndSpecialRows) {
  for (ActKind kind : {ActKind::Softmax, ActKind::LogSoftmax}) {
    std::mt19937 rng(kSeed + 9);
    for (auto [rows, cols] : kElementwiseShapes) {
      Tensor x = randomTensor({rows, cols}, rng, -30, 30);
      if (rows > 1)
        x.values[cols + cols / 2] = NAN; // row 1 becomes NaN
      if (rows > 2)
        std::fill_n(&x.values[2 * cols], cols, 1000.0f); // large and equal: no overflow
      if (rows > 3 && cols > 1) {                        // one element dominates: log(1 + tiny)
        std::fill_n(&x.values[3 * cols], cols, -30.0f);
        x.values[3 * cols + cols - 1] = 0.0f;
      }
      const Activation act = ir::makeActivation(kind);
      Tensor want = evaluate(ir::OpKind::Activation, rows, cols, {{&x, true}}, act);
      Sums s;
      s.z.assign(x.values.begin(), x.values.end());
      s.ez.assign(s.z.size(), 0.0);
      std::vector<double> tol = activationBounds(act, s, rows, cols);
      GuardedBuffer y(x.values.data(), x.values.size());
      rowActivation(kind, {y.data(), cols, 0}, {y.data(), cols}, cols, 0, rows / 2);
      rowActivation(kind, {y.data(), cols, 0}, {y.data(), cols}, cols, rows / 2, rows);
      expectClose(y.data(), want.values.data(), tol, rows, cols, cols,
                  act.str() + " " + std::to_string(rows) + "x" + std::to_string(cols));
    }
  }
}

TEST_P(KernelsIsaTest, LayerNorm) {
  std::mt19937 rng(kSeed + 10);
  for (auto [rows, cols] : kElementwiseShapes) {
    Tensor x = randomTensor({rows, cols}, rng, -4, 4), sc = randomTensor({cols}, rng, -2, 2),
           sh = randomTensor({cols}, rng);
    for (int64_t c = 0; c < cols; ++c)
      x.values[c] += 50.0f; // row 0 far from 0: the mean matters
    const float eps = 1e-5f;
    Tensor want = evaluate(ir::OpKind::LayerNorm, rows, cols,
                           {{&x, true}, {&sc, false}, {&sh, false}}, {}, eps);
    // The kernel sums the row in f32 vectors (W lanes, then a tree): the
    // mean is off by at most k u mean|x|, k = cols / W + 6; the variance
    // the same way, relatively; n = (x - mean) / sd then inherits
    // e_mean / sd + |n| (rel_var / 2 + 2u) + 2u |n|.
    const double k = static_cast<double>(cols) / 4 + 6;
    std::vector<double> tol;
    for (int64_t r = 0; r < rows; ++r) {
      double mean = 0, absMean = 0, var = 0;
      for (int64_t c = 0; c < cols; ++c) {
        mean += x.values[r * cols + c];
        absMean += std::fabs(x.values[r * cols + c]);
      }
      mean /= cols;
      absMean /= cols;
      for (int64_t c = 0; c < cols; ++c)
        var += (x.values[r * cols + c] - mean) * (x.values[r * cols + c] - mean);
      var /= cols;
      double sd = std::sqrt(var + eps);
      double eMean = k * kU * absMean;
      double relVar = k * kU + 2 * eMean * std::sqrt(var) / (var + eps) + 4 * kU;
      for (int64_t c = 0; c < cols; ++c) {
        double n = (x.values[r * cols + c] - mean) / sd;
        double en = eMean / sd + std::fabs(n) * (relVar / 2 + 4 * kU);
        double y = want.values[r * cols + c];
        tol.push_back(
            (std::fabs(sc.values[c]) * en + kU * (std::fabs(n * sc.values[c]) + 2 * std::fabs(y))) *
                (1 + 0x1p-10) +
            kTiny);
      }
    }
    GuardedBuffer xb(x.values.data(), x.values.size()), sb(sc.values.data(), cols),
        tb(sh.values.data(), cols);
    GuardedBuffer y(static_cast<size_t>(rows * cols), NAN);
    setCrashContext(rows, cols);
    layerNorm({xb.data(), cols, 0}, sb.data(), tb.data(), eps, {y.data(), cols}, cols, 0, rows);
    expectClose(y.data(), want.values.data(), tol, rows, cols, cols,
                "layer_norm " + std::to_string(rows) + "x" + std::to_string(cols));
  }
}

TEST_P(KernelsIsaTest, ConcatIntoColumnRanges) {
  std::mt19937 rng(kSeed + 11);
  const int64_t rows = 11;
  const int64_t parts[] = {1, 17, 3, 33};
  int64_t total = 0;
  for (int64_t p : parts)
    total += p;
  std::vector<Tensor> in;
  std::vector<ir::Op> operandOps;
  operandOps.reserve(std::size(parts));
  std::vector<ir::EvalOperand> operands;
  for (int64_t p : parts) {
    // The second operand is unbatched (one row for every sample).
    const bool batched = in.size() != 1;
    in.push_back(randomTensor({batched ? rows : 1, p}, rng));
    operandOps.emplace_back(ir::OpKind::Input, "in", std::vector<ir::Op *>{}, SourceLoc{});
    operandOps.back().type = ir::TensorType::make(batched, {p});
  }
  std::vector<ir::Op *> opPtrs;
  for (size_t i = 0; i < in.size(); ++i) {
    operands.push_back({&in[i], operandOps[i].type.batched});
    opPtrs.push_back(&operandOps[i]);
  }
  ir::Op op(ir::OpKind::Concat, "c", opPtrs, {});
  op.type = ir::TensorType::make(true, {total});
  Tensor want = ir::evaluateOp(op, operands, rows);
  GuardedBuffer y(static_cast<size_t>(rows * total), NAN);
  int64_t offset = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    GuardedBuffer xb(in[i].values.data(), in[i].values.size());
    const Src x{xb.data(), parts[i], operandOps[i].type.batched ? 0 : 1};
    concat(x, parts[i], {y.data(), total}, offset, 0, 4);
    concat(x, parts[i], {y.data(), total}, offset, 4, rows);
    offset += parts[i];
  }
  EXPECT_EQ(std::memcmp(y.data(), want.values.data(), y.size() * sizeof(float)), 0);
}

// --- dispatch ----------------------------------------------------------------------

TEST(KernelsDispatch, IsasAndWidths) {
  EXPECT_TRUE(isaSupported(Isa::Sse2));
  EXPECT_TRUE(isaSupported(bestIsa()));
  for (Isa isa : {Isa::Avx2, Isa::Avx512}) {
    if (isaSupported(isa)) {
      EXPECT_GE(static_cast<int>(bestIsa()), static_cast<int>(isa));
    }
  }
  EXPECT_EQ(vectorWidth(Isa::Sse2), 4);
  EXPECT_EQ(vectorWidth(Isa::Avx2), 8);
  EXPECT_EQ(vectorWidth(Isa::Avx512), 16);
  EXPECT_EQ(panelWidth(Isa::Avx512), 32);
  EXPECT_EQ(activeIsa(), bestIsa());
  EXPECT_EQ(panelWidth(), panelWidth(bestIsa()));
  for (Isa isa : {Isa::Sse2, Isa::Avx2, Isa::Avx512}) {
    EXPECT_EQ(forceIsa(isa), isaSupported(isa)) << isaName(isa);
    if (isaSupported(isa)) {
      EXPECT_EQ(activeIsa(), isa);
    }
    EXPECT_EQ(kernelTable(isa).isa, isa);
    EXPECT_EQ(kernelTable(isa).width, vectorWidth(isa));
  }
  forceIsa(bestIsa());
  EXPECT_STREQ(isaName(Isa::Avx2), "avx2");
}

// An x86-64 build has no NEON kernels (an aarch64 build has them alone,
// tested under qemu by tests/cross): asking for them changes nothing, and
// the per-ISA numbers still answer for NEON.
TEST(KernelsDispatch, NeonIsAnotherArchitectures) {
  EXPECT_FALSE(isaSupported(Isa::Neon));
  const Isa before = activeIsa();
  EXPECT_FALSE(forceIsa(Isa::Neon));
  EXPECT_EQ(activeIsa(), before);
  EXPECT_STREQ(isaName(Isa::Neon), "neon");
  EXPECT_EQ(vectorWidth(Isa::Neon), 4);
  EXPECT_EQ(panelWidth(Isa::Neon), 8);
  EXPECT_EQ(vectorRegisters(Isa::Neon), 32);
  EXPECT_EQ(vectorRegisters(Isa::Avx2), 16);
  EXPECT_EQ(vectorRegisters(Isa::Avx512), 32);
}

/// A panel that no table reads (not a multiple of 4) is a broken
/// precondition: in a release build the tile comes out NaN, not stale.
TEST(KernelsDispatch, UnreadablePanelGivesNaN) {
#ifdef NDEBUG
  std::vector<float> x = {1, 2}, packed(6, 1.0f), y(3, 0.0f);
  DenseArgs a;
  a.x = {x.data(), 2, 0};
  a.packed = packed.data();
  a.panel = 3;
  a.inputs = 2;
  a.units = 3;
  a.y = {y.data(), 3};
  dense(a, 0, 1, 0, 3);
  for (float v : y)
    EXPECT_TRUE(std::isnan(v));
#else
  GTEST_SKIP() << "asserts in a debug build";
#endif
}

} // namespace
} // namespace soma::runtime::kernels::test
