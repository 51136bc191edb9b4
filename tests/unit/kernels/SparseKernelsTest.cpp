// The sparse kernel (kernels::sparse, weights packed by
// runtime::packSparseGroups) against the dense kernel and the reference
// semantics. Every test runs once per instruction set this CPU has, forced
// in turn. The main property: for finite inputs, each output is the dense
// kernel's FMA chain without its zero-weight terms (which add exact zeros),
// so sparse() gives dense()'s bits on the same instruction set: for every
// activation, with a bias, a residual or neither, at batch sizes that take
// the sample blocks, a last partial block and the lone-row path, with the
// inputs in one strip or many, on tiles over rows and columns. The result
// is also checked against ir::evaluateOp within the dense kernel's bound
// (KernelsTest.cpp), and the scratch contract is checked: a call writes
// only its rows' scratch, and a call of fewer than sparseLoneRows() rows
// none. Operands live in buffers that end on a PROT_NONE page, so a read
// or write past the end crashes; the seed is printed on failure.
#include "KernelsTestSupport.h"

#include "soma/ir/Evaluate.h"
#include "soma/runtime/Kernels.h"
#include "soma/runtime/Packing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace soma::runtime::kernels {
namespace {

using ir::Activation;
using ir::ActKind;
using test::GuardedBuffer;
using test::KernelsIsaTest;

// --- one layer ------------------------------------------------------------------

struct SparseCase {
  int64_t rows, inputs, units;
  double zeros; // the fraction of weights set to 0, at random positions
  Activation act;
  bool bias, residual;
  int64_t strip = 0; // 0: sparseStripInputs(inputs)
};

std::string describe(const SparseCase &c) {
  std::ostringstream os;
  os << "sparse rows " << c.rows << " inputs " << c.inputs << " units " << c.units << " zeros "
     << c.zeros << " act " << c.act.str() << (c.bias ? " +bias" : "")
     << (c.residual ? " +residual" : "") << " strip " << c.strip << " (isa " << isaName(activeIsa())
     << ", seed " << test::kSeed << ")";
  return os.str();
}

/// A random layer: x, residual in [-2, 2], w and bias in [-1, 1], a
/// fraction `zeros` of w zero.
struct Layer {
  Tensor x, w, b, res;
};

Layer randomLayer(const SparseCase &c, std::mt19937 &rng) {
  std::uniform_real_distribution<float> wide(-2, 2), unit(-1, 1), coin(0, 1);
  Layer l{Tensor({c.rows, c.inputs}), Tensor({c.units, c.inputs}), Tensor({c.units}),
          Tensor({c.rows, c.units})};
  for (float &v : l.x.values)
    v = wide(rng);
  for (float &v : l.res.values)
    v = wide(rng);
  for (float &v : l.b.values)
    v = unit(rng);
  for (float &v : l.w.values)
    v = coin(rng) < c.zeros ? 0.0f : unit(rng);
  return l;
}

/// Operands of one layer in guarded buffers, y with a sentinel-filled pad
/// of 3 columns per row, and the scratch.
struct Buffers {
  int64_t ldx, ldy, perRow;
  GuardedBuffer x, packed, bias, res, y, scratch;
  Buffers(const SparseCase &c, const Layer &l, const AlignedVector<float> &pack, int64_t strip)
      : ldx(c.inputs + 1), ldy(c.units + 3), perRow(sparseScratchPerRow(c.inputs, c.units, strip)),
        x(static_cast<size_t>(c.rows * ldx)), packed(pack.data(), pack.size()),
        bias(l.b.values.data(), l.b.values.size()), res(l.res.values.data(), l.res.values.size()),
        y(static_cast<size_t>(c.rows * ldy), kSentinel),
        scratch(static_cast<size_t>(c.rows * perRow), NAN) {
    for (int64_t n = 0; n < c.rows; ++n)
      std::copy_n(&l.x.values[n * c.inputs], c.inputs, &x[n * ldx]);
  }
  SparseArgs args(const SparseCase &c) {
    SparseArgs a;
    a.x = {x.data(), ldx, 0};
    a.packed = packed.data();
    a.inputs = c.inputs;
    a.units = c.units;
    a.bias = c.bias ? bias.data() : nullptr;
    a.residual = c.residual ? Src{res.data(), c.units, 0} : Src{};
    a.y = {y.data(), ldy};
    a.act = c.act;
    a.scratch = scratch.data();
    return a;
  }
  static constexpr float kSentinel = 12345.0f;
};

/// dense() over the whole layer on the active instruction set: the bits
/// sparse() must give.
std::vector<float> denseResult(const SparseCase &c, const Layer &l) {
  const int64_t panel = panelWidth();
  AlignedVector<float> packed = packPanels(l.w, panel);
  std::vector<float> y(static_cast<size_t>(c.rows * c.units));
  DenseArgs a;
  a.x = {l.x.values.data(), c.inputs, 0};
  a.packed = packed.data();
  a.panel = panel;
  a.inputs = c.inputs;
  a.units = c.units;
  a.bias = c.bias ? l.b.values.data() : nullptr;
  a.residual = c.residual ? Src{l.res.values.data(), c.units, 0} : Src{};
  a.y = {y.data(), c.units};
  a.act = c.act;
  dense(a, 0, c.rows, 0, c.units);
  return y;
}

/// Random cuts of [0, n): pieces of 1 to `most` (softmax: columns whole),
/// column cuts on groups.
std::vector<int64_t> cuts(int64_t n, int64_t most, int64_t step, std::mt19937 &rng) {
  std::vector<int64_t> at = {0};
  while (at.back() < n)
    at.push_back(std::min(n, at.back() + step * (1 + static_cast<int64_t>(rng() % most))));
  return at;
}

/// Counts the elements of y (rows x units, stride ldy) whose bits differ
/// from `want`, and the pad elements written; reports the first misses.
void expectBits(const SparseCase &c, Buffers &buf, const std::vector<float> &want,
                const std::string &what) {
  int mismatches = 0, touched = 0;
  for (int64_t n = 0; n < c.rows; ++n)
    for (int64_t u = 0; u < buf.ldy; ++u) {
      const float got = buf.y[n * buf.ldy + u];
      if (u >= c.units) {
        touched += std::memcmp(&got, &Buffers::kSentinel, sizeof got) != 0;
        continue;
      }
      const float w = want[n * c.units + u];
      if (std::memcmp(&got, &w, sizeof got) != 0 && ++mismatches <= 5)
        ADD_FAILURE() << what << ": [" << n << ", " << u << "] got " << got << " (" << std::hexfloat
                      << got << "), dense " << w << std::defaultfloat;
    }
  EXPECT_EQ(mismatches, 0) << what << ": elements that differ from dense()";
  EXPECT_EQ(touched, 0) << what << ": wrote past the last column of a row";
}

/// Layer `l` through sparse() twice, as random tiles and as one call, each
/// compared bit for bit with dense(); returns the tiled result.
std::vector<float> checkAgainstDense(SparseCase c, const Layer &l, std::mt19937 &rng) {
  if (c.strip == 0)
    c.strip = sparseStripInputs(c.inputs);
  const std::string what = describe(c);
  SCOPED_TRACE(what);
  test::setCrashContext(what);
  const std::vector<float> want = denseResult(c, l);
  const AlignedVector<float> packed = packSparseGroups(l.w, c.strip);

  Buffers tiled(c, l, packed, c.strip);
  SparseArgs a = tiled.args(c);
  const bool whole = ir::isRowwise(c.act.kind);
  const std::vector<int64_t> rc = cuts(c.rows, 2 * sparseRowBlock() + 3, 1, rng);
  const std::vector<int64_t> cc =
      whole ? std::vector<int64_t>{0, c.units} : cuts(c.units, 9, kSparseGroup, rng);
  for (size_t i = 0; i + 1 < rc.size(); ++i)
    for (size_t j = 0; j + 1 < cc.size(); ++j)
      sparse(a, rc[i], rc[i + 1], cc[j], cc[j + 1]);
  expectBits(c, tiled, want, what + " tiled");

  Buffers one(c, l, packed, c.strip);
  sparse(one.args(c), 0, c.rows, 0, c.units);
  expectBits(c, one, want, what + " one call");

  std::vector<float> y(want.size());
  for (int64_t n = 0; n < c.rows; ++n)
    std::copy_n(&tiled.y[n * tiled.ldy], c.units, &y[n * c.units]);
  return y;
}

/// The same on a random layer.
void checkAgainstDense(const SparseCase &c, std::mt19937 &rng) {
  checkAgainstDense(c, randomLayer(c, rng), rng);
}

// --- tests -----------------------------------------------------------------------

/// The batch sizes of the brief (1, 7, 37, 64) and the edges of the paths:
/// a lone row under half a block, half a block, a block and a half.
std::vector<int64_t> batchSizes() {
  const int64_t v = sparseRowBlock();
  std::vector<int64_t> b = {1, 7, 37, 64, v / 2 - 1, v / 2, v + v / 2, 2 * v + 1};
  b.erase(std::remove(b.begin(), b.end(), 0), b.end());
  return b;
}

TEST_P(KernelsIsaTest, SparseBitsOfDenseEveryActivation) {
  std::mt19937 rng(test::kSeed);
  const int64_t sizes[] = {1, 3, 4, 5, 15, 17, 33, 100};
  auto pick = [&] { return sizes[rng() % std::size(sizes)]; };
  for (int64_t batch : batchSizes())
    for (const Activation &act : test::allActivations())
      for (int variant = 0; variant < 3; ++variant) // none, bias, bias + residual
        checkAgainstDense({batch, pick(), pick(), 0.6, act, variant >= 1, variant == 2}, rng);
}

TEST_P(KernelsIsaTest, SparseBitsOfDenseShapesAndDensities) {
  std::mt19937 rng(test::kSeed + 1);
  const int64_t inputs[] = {1, 2, 17, 100, 333};
  const int64_t units[] = {1, 3, 16, 17, 70};
  for (int64_t batch : {1, 5, 16, 37})
    for (int64_t k : inputs)
      for (int64_t u : units)
        for (double zeros : {0.0, 0.9, 1.0})
          checkAgainstDense({batch, k, u, zeros, ir::makeActivation(ActKind::Relu),
                             (k + u) % 2 == 0, (batch + u) % 3 == 0},
                            rng);
}

/// Inputs in many strips (short ones, a partial last one, strips shorter
/// and longer than a vector): the sums wait between strips.
TEST_P(KernelsIsaTest, SparseBitsOfDenseOverStrips) {
  std::mt19937 rng(test::kSeed + 2);
  for (int64_t strip : {1, 3, 16, 21, 64, 256})
    for (int64_t batch : {1, 7, 37, 64})
      checkAgainstDense({batch, 300, 45, 0.8, ir::makeActivation(ActKind::Tanh), true, true, strip},
                        rng);
  // The widest strip, over more inputs than it.
  checkAgainstDense({20, kSparseMaxStrip + 100, 9, 0.95, ir::makeActivation(ActKind::Relu), true,
                     false, kSparseMaxStrip},
                    rng);
}

/// The speed test's layer: 1024 x 1024 at 90 % zeros.
TEST_P(KernelsIsaTest, SparseBitsOfDenseLarge) {
  std::mt19937 rng(test::kSeed + 3);
  for (int64_t batch : {1, 64})
    checkAgainstDense({batch, 1024, 1024, 0.9, ir::makeActivation(ActKind::Relu), true, false},
                      rng);
  checkAgainstDense({40, 700, 300, 0.5, ir::makeActivation(ActKind::Softmax), true, true}, rng);
}

/// Against the reference interpreter within the dense kernel's bound:
/// u (sum |partial sums| + sum |products| + |z|) per output, carried
/// through the activation.
TEST_P(KernelsIsaTest, SparseReferenceWithinDenseBound) {
  std::mt19937 rng(test::kSeed + 4);
  for (const Activation &act : test::allActivations())
    for (int64_t batch : {1, 7, 37}) {
      const int64_t inputs = 1 + static_cast<int64_t>(rng() % 200);
      const int64_t units = 1 + static_cast<int64_t>(rng() % 80);
      const SparseCase c{batch, inputs, units, 0.7, act, true, batch != 7};
      SCOPED_TRACE(describe(c));
      const Layer l = randomLayer(c, rng);
      const std::vector<float> got = checkAgainstDense(c, l, rng);
      ir::Op op(c.residual ? ir::OpKind::DenseAdd : ir::OpKind::Dense, "d",
                std::vector<ir::Op *>(c.residual ? 4 : 3, nullptr), {});
      op.type = ir::TensorType::make(true, {c.units});
      op.fn = act;
      std::vector<ir::EvalOperand> in = {{&l.x, true}, {&l.w, false}, {&l.b, false}};
      if (c.residual)
        in.push_back({&l.res, true});
      const Tensor want = ir::evaluateOp(op, in, c.rows);
      // The dense kernel's bound: the sparse sums are its chains without
      // the terms that add exact zeros.
      test::Sums sums;
      for (int64_t n = 0; n < c.rows; ++n)
        for (int64_t u = 0; u < c.units; ++u) {
          double sum = 0, partials = 0, products = 0;
          for (int64_t k = 0; k < c.inputs; ++k) {
            const double p =
                static_cast<double>(l.x.values[n * c.inputs + k]) * l.w.values[u * c.inputs + k];
            sum += p;
            partials += std::fabs(sum);
            products += std::fabs(p);
          }
          double z = sum + l.b.values[u];
          double err = test::kU * (partials + products + std::fabs(z));
          if (c.residual) {
            z += l.res.values[n * c.units + u];
            err += test::kU * std::fabs(z);
          }
          sums.z.push_back(z);
          sums.ez.push_back(err);
        }
      test::expectClose(got.data(), want.values.data(),
                        test::activationBounds(act, sums, c.rows, c.units), c.rows, c.units,
                        c.units, describe(c) + " against the reference");
    }
}

/// A call over rows [r0, r1) writes only those rows' scratch, and a call
/// of fewer than sparseLoneRows() rows none (so it runs with none, and
/// such calls may split the columns). The calls cover half a block, a
/// block and one row (a pair whose second block has one row), lone rows
/// in column tiles, and two pairs with a partial block at the end of the
/// buffer (guarded).
TEST_P(KernelsIsaTest, SparseScratchOfItsRowsOnly) {
  std::mt19937 rng(test::kSeed + 5);
  const int64_t v = sparseRowBlock(), lone = sparseLoneRows();
  ASSERT_EQ(lone, v / 2);
  const int64_t calls[] = {lone, v + 1, std::max<int64_t>(1, lone - 1), 4 * v + 3};
  int64_t rows = 0;
  for (int64_t n : calls)
    rows += n;
  const SparseCase c{rows, 90, 50, 0.8, ir::makeActivation(ActKind::Relu), true, false, 32};
  const Layer l = randomLayer(c, rng);
  const std::vector<float> want = denseResult(c, l);
  const AlignedVector<float> packed = packSparseGroups(l.w, c.strip);
  Buffers buf(c, l, packed, c.strip);
  SparseArgs a = buf.args(c);
  int64_t r0 = 0;
  for (int64_t n : calls) {
    const int64_t r1 = r0 + n;
    std::fill_n(buf.scratch.data(), rows * buf.perRow, NAN);
    if (n < lone) {
      a.scratch = nullptr;
      for (int64_t col = 0; col < c.units; col += 2 * kSparseGroup)
        sparse(a, r0, r1, col, std::min(c.units, col + 2 * kSparseGroup));
      a.scratch = buf.scratch.data();
    } else {
      sparse(a, r0, r1, 0, c.units);
    }
    int64_t outside = 0, inside = 0;
    for (int64_t i = 0; i < rows * buf.perRow; ++i) {
      const bool mine = i >= r0 * buf.perRow && i < r1 * buf.perRow;
      (mine ? inside : outside) += !std::isnan(buf.scratch[i]);
    }
    EXPECT_EQ(outside, 0) << "scratch written outside rows [" << r0 << ", " << r1 << ")";
    if (n >= lone) {
      EXPECT_GT(inside, 0) << "the blocks of rows [" << r0 << ", " << r1 << ") used no scratch";
    }
    r0 = r1;
  }
  expectBits(c, buf, want, "scratch contract");
}

/// An infinite or NaN input under a zero weight does not reach the sums,
/// in the blocks and on the lone-row path alike (the padding reads 0, not
/// an input): the rows give the same bits however they are cut.
TEST_P(KernelsIsaTest, SparseNonFiniteInputUnderZeroWeight) {
  std::mt19937 rng(test::kSeed + 6);
  const SparseCase c{40, 37, 21, 0.0, ir::makeActivation(ActKind::Identity), true, false, 16};
  Layer l = randomLayer(c, rng);
  // Inputs 0, 5 and 36 (the last of the last strip) hold inf, -inf, NaN;
  // neurons 0..9 have zero weights there.
  for (int64_t n = 0; n < c.rows; ++n) {
    l.x.values[n * c.inputs + 0] = INFINITY;
    l.x.values[n * c.inputs + 5] = -INFINITY;
    l.x.values[n * c.inputs + 36] = NAN;
  }
  for (int64_t u = 0; u < 10; ++u)
    for (int64_t k : {0, 5, 36})
      l.w.values[u * c.inputs + k] = 0.0f;
  const AlignedVector<float> packed = packSparseGroups(l.w, c.strip);
  Buffers whole(c, l, packed, c.strip), lone(c, l, packed, c.strip);
  sparse(whole.args(c), 0, c.rows, 0, c.units);
  SparseArgs a = lone.args(c);
  for (int64_t r = 0; r < c.rows; ++r)
    sparse(a, r, r + 1, 0, c.units);
  for (int64_t n = 0; n < c.rows; ++n)
    for (int64_t u = 0; u < c.units; ++u) {
      const float w = whole.y[n * whole.ldy + u], s = lone.y[n * lone.ldy + u];
      EXPECT_EQ(std::memcmp(&w, &s, sizeof w), 0) << "[" << n << ", " << u << "]";
      if (u < 10)
        EXPECT_TRUE(std::isfinite(w)) << "[" << n << ", " << u << "] " << w;
      else
        EXPECT_TRUE(std::isnan(w)) << "[" << n << ", " << u << "] " << w;
    }
}

/// The packed format itself on a small matrix: the header, the start table,
/// entries in input order per neuron, padding at the strip's length.
TEST(SparsePacking, GroupsStripsAndPadding) {
  // 5 neurons (a group and one neuron), 6 inputs in strips of 4 and 2.
  Tensor w({5, 6});
  const float rows[5][6] = {{1, 0, 2, 0, 0, 3},
                            {0, 0, 0, 0, 0, 0},
                            {4, 5, 6, 7, 0, 0},
                            {0, 0, 0, 8, 9, 0},
                            {0, 0, 0, 0, 0, -1}};
  for (int u = 0; u < 5; ++u)
    std::copy_n(rows[u], 6, &w.values[u * 6]);
  const AlignedVector<float> p = packSparseGroups(w, 4);
  auto word = [&](int64_t i) {
    uint32_t v;
    std::memcpy(&v, &p[i], sizeof v);
    return static_cast<int64_t>(v);
  };
  EXPECT_EQ(word(kSparseGroupsInputs), 6);
  EXPECT_EQ(word(kSparseGroupsUnits), 5);
  EXPECT_EQ(word(kSparseGroupsStripInputs), 4);
  EXPECT_EQ(word(kSparseGroupsStrips), 2);
  EXPECT_EQ(word(kSparseGroupsGroups), 2);
  const int64_t starts = word(kSparseGroupsStartsAt), entries = word(kSparseGroupsEntriesAt);
  EXPECT_EQ(entries % 16, 0) << "entries 64-byte aligned";
  // (strip 0, group 0): neuron 2's 4 nonzeros; (0, 1): none; (1, 0): one
  // (neurons 0 and 3); (1, 1): neuron 4's one.
  const int64_t want[] = {0, 4, 4, 5, 6};
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(word(starts + i), want[i]) << "start " << i;
  EXPECT_EQ(static_cast<int64_t>(p.size()), entries + 6 * kSparseGroupsEntryFloats);
  auto value = [&](int64_t e, int j) { return p[entries + e * kSparseGroupsEntryFloats + j]; };
  auto position = [&](int64_t e, int j) {
    uint16_t v;
    std::memcpy(
        &v, reinterpret_cast<const char *>(&p[entries + e * kSparseGroupsEntryFloats + 4]) + 2 * j,
        sizeof v);
    return static_cast<int>(v);
  };
  // Strip 0, group 0, entry by entry: neuron 0 (1 at 0, 2 at 2, then
  // padding at 4), neuron 1 (all padding), neuron 2 (4 5 6 7), neuron 3 (8
  // at 3, then padding).
  const float v0[4][4] = {{1, 0, 4, 8}, {2, 0, 5, 0}, {0, 0, 6, 0}, {0, 0, 7, 0}};
  const int k0[4][4] = {{0, 4, 0, 3}, {2, 4, 1, 4}, {4, 4, 2, 4}, {4, 4, 3, 4}};
  for (int e = 0; e < 4; ++e)
    for (int j = 0; j < 4; ++j) {
      EXPECT_EQ(value(e, j), v0[e][j]) << "entry " << e << " neuron " << j;
      EXPECT_EQ(position(e, j), k0[e][j]) << "entry " << e << " neuron " << j;
    }
  // Strip 1 (inputs 4, 5; length 2), group 0: 3 at 1, 9 at 0; padding at 2.
  const float v4[4] = {3, 0, 0, 9};
  const int k4[4] = {1, 2, 2, 0};
  for (int j = 0; j < 4; ++j) {
    EXPECT_EQ(value(4, j), v4[j]);
    EXPECT_EQ(position(4, j), k4[j]);
  }
  // Strip 1, group 1: neuron 4's -1 at 1; the three missing neurons padded.
  const float v5[4] = {-1, 0, 0, 0};
  const int k5[4] = {1, 2, 2, 2};
  for (int j = 0; j < 4; ++j) {
    EXPECT_EQ(value(5, j), v5[j]);
    EXPECT_EQ(position(5, j), k5[j]);
  }
}

} // namespace
} // namespace soma::runtime::kernels
