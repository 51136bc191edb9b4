// The xsimd kernel library (soma/runtime/Kernels.h) against the reference
// semantics: ir::evaluateOp and the interpreter's double activations.
// Every test runs once per instruction set this CPU has (SSE2, AVX2+FMA,
// AVX-512, forced in turn), on seeded random shapes with tails and odd
// sizes, on tiles (row and column sub-ranges), with buffers that end on a
// PROT_NONE page so a read or write past the end crashes. Each element is
// compared within a bound derived for it (the tolerances are in the
// helpers below and in docs/architecture.md); the seed is printed on
// failure.
//
// The activation accuracy test sweeps f32 bit patterns (stride 4099, or
// SOMA_KERNELS_STRIDE) plus special values through the activation kernel
// and checks the contract of docs/codegen-math.md, printing the maximum
// error per function and instruction set.
#include "KernelTable.h"

#include "soma/ir/Evaluate.h"
#include "soma/runtime/Interpreter.h"
#include "soma/runtime/Kernels.h"
#include "soma/runtime/Packing.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cfloat>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace soma::runtime::kernels {

/// Test names and failure messages show "avx2", not a byte dump.
void PrintTo(Isa isa, std::ostream *os) { *os << isaName(isa); }

namespace {

using ir::Activation;
using ir::ActKind;

constexpr double kU = 0x1p-24;    // f32 unit roundoff
constexpr double kMathRel = 1e-6; // the vector math's contract
/// Absolute slack where results are zero or subnormal: the contract's floor
/// plus one subnormal rounding of the reference.
constexpr double kTiny = 1e-6 * FLT_MIN + 0x1p-149;
constexpr unsigned kSeed = 20250611;

// --- buffers --------------------------------------------------------------

/// n floats that end where a PROT_NONE page begins.
class GuardedBuffer {
public:
  explicit GuardedBuffer(size_t n, float fill = 0.0f) : count(n) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t dataPages = (n * sizeof(float) + page - 1) / page;
    length = (dataPages + 1) * page;
    void *p = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      ADD_FAILURE() << "mmap of " << length << " bytes failed";
      std::abort();
    }
    base = static_cast<char *>(p);
    if (mprotect(base + dataPages * page, page, PROT_NONE) != 0)
      ADD_FAILURE() << "mprotect failed";
    ptr = reinterpret_cast<float *>(base + dataPages * page - n * sizeof(float));
    std::fill_n(ptr, n, fill);
  }
  GuardedBuffer(const float *from, size_t n) : GuardedBuffer(n) { std::copy_n(from, n, ptr); }
  GuardedBuffer(const GuardedBuffer &) = delete;
  GuardedBuffer &operator=(const GuardedBuffer &) = delete;
  ~GuardedBuffer() { munmap(base, length); }

  float *data() { return ptr; }
  const float *data() const { return ptr; }
  float &operator[](size_t i) { return ptr[i]; }
  size_t size() const { return count; }

private:
  char *base = nullptr;
  size_t length = 0;
  float *ptr = nullptr;
  size_t count;
};

Tensor randomTensor(std::vector<int64_t> dims, std::mt19937 &rng, float lo = -1.0f,
                    float hi = 1.0f) {
  Tensor t(std::move(dims));
  std::uniform_real_distribution<float> dist(lo, hi);
  for (float &v : t.values)
    v = dist(rng);
  return t;
}

// --- crash context ----------------------------------------------------------

/// What a kernel was running on when a guard page stopped it: printed by
/// the fatal-signal handler, since gtest's traces die with the process.
char crashContext[512] = "";

extern "C" void reportFatalSignal(int sig) {
  static const char header[] = "\n*** fatal signal in a kernel test: ";
  ssize_t ignored = write(STDERR_FILENO, header, sizeof header - 1);
  ignored = write(STDERR_FILENO, crashContext, std::strlen(crashContext));
  ignored = write(STDERR_FILENO, "\n", 1);
  (void)ignored;
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void setCrashContext(const std::string &what) {
  static const bool installed = [] {
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE})
      std::signal(sig, reportFatalSignal);
    return true;
  }();
  (void)installed;
  std::snprintf(crashContext, sizeof crashContext, "%s (isa %s, seed %u)", what.c_str(),
                isaName(activeIsa()), kSeed);
}

/// The current test and shape as the crash context.
void setCrashContext(int64_t rows, int64_t cols) {
  setCrashContext(std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
                  " " + std::to_string(rows) + "x" + std::to_string(cols));
}

// --- instruction sets -------------------------------------------------------

/// Runs a test once per instruction set, forced; skipped where the CPU
/// lacks it. Restores the best one afterwards.
class KernelsIsaTest : public ::testing::TestWithParam<Isa> {
protected:
  void SetUp() override {
    if (!isaSupported(GetParam()))
      GTEST_SKIP() << "this CPU cannot run " << isaName(GetParam());
    ASSERT_TRUE(forceIsa(GetParam()));
    ASSERT_EQ(activeIsa(), GetParam());
  }
  void TearDown() override { forceIsa(bestIsa()); }
};

std::string isaParamName(const ::testing::TestParamInfo<Isa> &info) { return isaName(info.param); }

#define SOMA_FOR_EACH_ISA(Suite)                                                                   \
  INSTANTIATE_TEST_SUITE_P(Isa, Suite, ::testing::Values(Isa::Sse2, Isa::Avx2, Isa::Avx512),       \
                           isaParamName)

// --- error bounds -------------------------------------------------------------

/// Every activation, parameter variants included.
std::vector<Activation> allActivations() {
  std::vector<Activation> acts;
  for (int k = 0; k < ir::kNumActKinds; ++k)
    acts.push_back(ir::makeActivation(static_cast<ActKind>(k)));
  acts.push_back({ActKind::LeakyRelu, 0.0f});
  acts.push_back({ActKind::LeakyRelu, -0.5f});
  acts.push_back({ActKind::Elu, 0.3f});
  acts.push_back({ActKind::Step, 0.25f});
  return acts;
}

/// The largest |f(t) - f(z)| for |t - z| <= e: an error in z passed on.
double propagate(const Activation &act, double z, double e) {
  if (e == 0)
    return 0;
  double fz = referenceActivation(act, z);
  double worst = std::max(std::fabs(referenceActivation(act, z - e) - fz),
                          std::fabs(referenceActivation(act, z + e) - fz));
  // Interior extrema of the functions that are not monotone.
  double critical = NAN;
  if (act.kind == ActKind::Gelu)
    critical = -0.751791524693564457;
  else if (act.kind == ActKind::Silu)
    critical = -1.27846454276107380;
  else if (act.kind == ActKind::LeakyRelu && act.param < 0)
    critical = 0;
  if (std::fabs(critical - z) < e)
    worst = std::max(worst, std::fabs(referenceActivation(act, critical) - fz));
  return worst;
}

/// The kernels' own error in y = f(z).
double ownActivationError(const Activation &act, double y) {
  switch (act.kind) {
  case ActKind::Identity:
  case ActKind::Relu:
  case ActKind::Step:
  case ActKind::Softmax: // bounded by the row rule
    return 0;
  case ActKind::LeakyRelu:
    return kU * std::fabs(y);
  case ActKind::HardSigmoid:
    return 2 * kU * std::fabs(y);
  default:
    return kMathRel * std::fabs(y);
  }
}

/// Pre-activation values in double (z) with the bound on the kernel's
/// error in each (ez), for one row-major [rows, cols] result.
struct Sums {
  std::vector<double> z, ez;
};

/// The bound on |kernel - reference| for y = act(z) over a [rows, cols]
/// result, given z's error bound; the reference is rounded to f32 once.
std::vector<double> activationBounds(const Activation &act, const Sums &s, int64_t rows,
                                     int64_t cols) {
  std::vector<double> tol(s.z.size());
  if (act.kind != ActKind::Softmax) {
    for (size_t i = 0; i < s.z.size(); ++i) {
      double y = referenceActivation(act, s.z[i]);
      tol[i] = (propagate(act, s.z[i], s.ez[i]) + ownActivationError(act, y) + kU * std::fabs(y)) *
                   (1 + 0x1p-10) +
               kTiny;
    }
    return tol;
  }
  // Softmax (the rule of tests/numerical/Reference.cpp): an error E_j in z_j
  // moves y_i by at most y_i expm1(E_i + G), G the most the log of the
  // normaliser moves; the kernel's own error is its exp's, the rounding of
  // z - max and of the sum of n terms.
  std::vector<double> y(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    const double *z = s.z.data() + r * cols, *e = s.ez.data() + r * cols;
    double m = *std::max_element(z, z + cols), sum = 0;
    for (int64_t c = 0; c < cols; ++c)
      sum += y[c] = std::exp(z[c] - m);
    double spread = 0, up = 0, down = 0;
    for (int64_t c = 0; c < cols; ++c) {
      y[c] /= sum;
      spread += y[c] * (m - z[c]);
      up += y[c] * std::exp(e[c]);
      down += y[c] * std::exp(-e[c]);
    }
    double g = std::max(std::log(up), -std::log(down));
    for (int64_t c = 0; c < cols; ++c) {
      double own =
          y[c] * (2 * kMathRel + kU * ((m - z[c]) + spread) + static_cast<double>(cols + 2) * kU);
      tol[r * cols + c] =
          (std::min(1.0, y[c] * std::expm1(e[c] + g)) + own + kU * y[c]) * (1 + 0x1p-10) + kTiny;
    }
  }
  return tol;
}

/// Compares `got` with `want` element by element within `tol`; NaN must
/// match NaN and an infinity the same infinity. Reports the first misses.
void expectClose(const float *got, const float *want, const std::vector<double> &tol, int64_t rows,
                 int64_t cols, int64_t gotStride, const std::string &what) {
  int failures = 0;
  double worst = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float g = got[r * gotStride + c], w = want[r * cols + c];
      const double t = tol[r * cols + c];
      bool ok = std::isnan(w)   ? std::isnan(g)
                : std::isinf(w) ? g == w
                                : std::fabs(static_cast<double>(g) - w) <= t;
      if (!std::isnan(w) && !std::isinf(w) && t > 0)
        worst = std::max(worst, std::fabs(static_cast<double>(g) - w) / t);
      if (!ok && ++failures <= 5)
        ADD_FAILURE() << what << " (isa " << isaName(activeIsa()) << ", seed " << kSeed << "): ["
                      << r << ", " << c << "] got " << g << ", expected " << w << " within " << t;
    }
  EXPECT_EQ(failures, 0) << what << ": " << failures << " elements out of bounds";
  EXPECT_LE(worst, 1.0) << what;
}

// --- dense --------------------------------------------------------------------

struct DenseCase {
  int64_t rows, inputs, units;
  Activation act;
  bool bias, residual;
  int64_t panel;              // 0: panelWidth()
  int64_t xPad = 0, yPad = 0; // extra elements per row (strides)
};

std::string describe(const DenseCase &c) {
  std::ostringstream os;
  os << "dense rows " << c.rows << " inputs " << c.inputs << " units " << c.units << " act "
     << c.act.str() << (c.bias ? " +bias" : "") << (c.residual ? " +residual" : "") << " panel "
     << c.panel << " strides +" << c.xPad << "/+" << c.yPad;
  return os.str();
}

/// Runs one dense case through tiles and checks every element against the
/// reference; also checks that the tiled result is bit-identical to one
/// call over the whole layer and that nothing outside the tiles is written.
void checkDense(DenseCase c, std::mt19937 &rng) {
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

  // Tiles: rows cut at random points; columns at random panel multiples
  // (softmax needs whole rows).
  std::vector<int64_t> rowCuts = {0}, colCuts = {0};
  while (rowCuts.back() < R)
    rowCuts.push_back(std::min(R, rowCuts.back() + 1 + static_cast<int64_t>(rng() % 9)));
  while (colCuts.back() < U) {
    int64_t next = colCuts.back() + c.panel * (1 + static_cast<int64_t>(rng() % 3));
    colCuts.push_back(c.act.kind == ActKind::Softmax ? U : std::min(U, next));
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

TEST_P(KernelsIsaTest, AddWithActivationAndBroadcast) {
  std::mt19937 rng(kSeed + 4);
  for (const Activation &act : allActivations()) {
    if (act.kind == ActKind::Softmax)
      continue; // add's activation is elementwise
    for (auto [rows, cols] : kElementwiseShapes) {
      // b repeats every `period` rows: 0 (batched), 1 (one row), or 3.
      const int64_t period = std::array<int64_t, 3>{0, 1, 3}[rng() % 3];
      const int64_t bRows = period ? period : rows;
      Tensor a = randomTensor({rows, cols}, rng, -4, 4),
             b = randomTensor({bRows, cols}, rng, -4, 4);
      Sums s;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          double z = static_cast<double>(a.values[r * cols + c]) +
                     b.values[(period ? r % period : r) * cols + c];
          s.z.push_back(z);
          s.ez.push_back(kU * std::fabs(z));
        }
      const Tensor want =
          evaluate(ir::OpKind::Add, rows, cols, {{&a, true}, {&b, period == 0}}, act);
      GuardedBuffer ab(a.values.data(), a.values.size()), bb(b.values.data(), b.values.size());
      GuardedBuffer y(static_cast<size_t>(rows * cols), NAN);
      setCrashContext(rows, cols);
      for (auto [r0, r1, c0, c1] : randomTiles(rows, cols, rng))
        add({ab.data(), cols, 0}, {bb.data(), cols, period}, {y.data(), cols}, act, r0, r1, c0, c1);
      expectClose(y.data(), want.values.data(), activationBounds(act, s, rows, cols), rows, cols,
                  cols,
                  "add " + act.str() + " " + std::to_string(rows) + "x" + std::to_string(cols) +
                      " period " + std::to_string(period));
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
      if (act.kind == ActKind::Softmax)
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
  std::mt19937 rng(kSeed + 9);
  for (auto [rows, cols] : kElementwiseShapes) {
    Tensor x = randomTensor({rows, cols}, rng, -30, 30);
    if (rows > 1)
      x.values[cols + cols / 2] = NAN; // row 1 becomes NaN
    if (rows > 2)
      std::fill_n(&x.values[2 * cols], cols, 1000.0f); // large and equal: no overflow
    const Activation act = ir::makeActivation(ActKind::Softmax);
    Tensor want = evaluate(ir::OpKind::Activation, rows, cols, {{&x, true}}, act);
    Sums s;
    s.z.assign(x.values.begin(), x.values.end());
    s.ez.assign(s.z.size(), 0.0);
    std::vector<double> tol = activationBounds(act, s, rows, cols);
    GuardedBuffer y(x.values.data(), x.values.size());
    softmax({y.data(), cols, 0}, {y.data(), cols}, cols, 0, rows / 2);
    softmax({y.data(), cols, 0}, {y.data(), cols}, cols, rows / 2, rows);
    expectClose(y.data(), want.values.data(), tol, rows, cols, cols,
                "softmax " + std::to_string(rows) + "x" + std::to_string(cols));
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

// --- activation accuracy ----------------------------------------------------------

constexpr double kRelTol = 1e-6;
constexpr double kFloor = 1e-6 * FLT_MIN;

/// The contract of docs/codegen-math.md for `got` against the double `ref`.
bool withinContract(float got, double ref) {
  if (std::isnan(ref))
    return std::isnan(got);
  float rounded = static_cast<float>(ref);
  if (std::isinf(rounded))
    return got == rounded;
  return std::fabs(static_cast<double>(got) - ref) <= std::max(kRelTol * std::fabs(ref), kFloor);
}

/// Special values, breakpoints with three neighbours each side, uniform
/// samples of [-20, 20], then every f32 whose bit pattern is a multiple of
/// the stride (4099 by default: all exponents, both signs).
std::vector<float> sweepInputs() {
  std::vector<float> xs;
  for (uint32_t bits : {0x7fc00000u, 0x7f800001u, 0x7fffffffu, 0x00000001u, 0x00000002u,
                        0x007fffffu, 0x00400000u, 0x00800000u, 0x7f7fffffu, 0x7f800000u})
    for (uint32_t sign : {0u, 0x80000000u})
      xs.push_back(std::bit_cast<float>(bits | sign));
  for (float v :
       {0.0f,    1.0f,   88.72283f, 87.33654f, 103.27893f, 103.97208f, 0.34657359f, 0.625f,
        9.0109f, 15.0f,  14.33f,    30.0f,     89.0f,      120.0f,     130.0f,      3.0f,
        6.0f,    20.0f,  1e-20f,    1e-40f,    0x1p-126f,  0.5f,       2.0f,        10.0f,
        50.0f,   5.0f,   8.0f,      13.0f,     14.5f,      0.1f,       0.6931472f,  17.0f,
        87.0f,   104.0f, 0.25f,     1.25f,     1e30f})
    for (float sign : {1.0f, -1.0f}) {
      float up = sign * v, down = sign * v;
      xs.push_back(up);
      for (int k = 0; k < 3; ++k) {
        xs.push_back(up = std::nextafter(up, INFINITY));
        xs.push_back(down = std::nextafter(down, -INFINITY));
      }
    }
  std::mt19937 rng(kSeed);
  std::uniform_real_distribution<float> dist(-20.0f, 20.0f);
  for (int k = 0; k < (1 << 16); ++k)
    xs.push_back(dist(rng));
  const char *env = std::getenv("SOMA_KERNELS_STRIDE");
  const long long stride = env && std::atoll(env) > 0 ? std::atoll(env) : 4099;
  for (uint64_t bits = 0; bits < (uint64_t(1) << 32); bits += static_cast<uint64_t>(stride))
    xs.push_back(std::bit_cast<float>(static_cast<uint32_t>(bits)));
  if (xs.size() % 16 == 0)
    xs.push_back(0.5f); // a tail at every width
  return xs;
}

struct AccuracyCase {
  std::string label;
  std::function<void(const float *, float *, int64_t)> run;
  std::function<double(double)> ref;
};

/// Runs a case over the sweep and checks the contract; prints the maximum
/// relative error (where |ref| >= 2^-126) and absolute error below that.
void expectAccurate(const AccuracyCase &c, const std::vector<float> &xs) {
  std::vector<float> out(xs.size(), 12345.0f);
  c.run(xs.data(), out.data(), static_cast<int64_t>(xs.size()));
  double maxRel = 0, maxTiny = 0;
  float worstAt = 0;
  uint64_t failures = 0;
  std::string first;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double ref = c.ref(xs[i]);
    const float got = out[i];
    if (!withinContract(got, ref) && ++failures <= 5) {
      std::ostringstream os;
      os << "  x = " << std::hexfloat << xs[i] << std::defaultfloat << " (" << xs[i] << "): got "
         << got << ", expected " << ref << "\n";
      first += os.str();
    }
    if (std::isnan(ref) || std::isinf(static_cast<float>(ref)) || std::isnan(got))
      continue;
    const double err = std::fabs(static_cast<double>(got) - ref);
    if (std::fabs(ref) < FLT_MIN)
      maxTiny = std::max(maxTiny, err / 0x1p-149);
    else if (err / std::fabs(ref) > maxRel) {
      maxRel = err / std::fabs(ref);
      worstAt = xs[i];
    }
  }
  std::printf("%-8s %-26s max rel error %.3g at x = %.9g; below 2^-126 max abs error %.2f * "
              "2^-149%s\n",
              isaName(activeIsa()), c.label.c_str(), maxRel, static_cast<double>(worstAt), maxTiny,
              failures ? "  FAILED" : "");
  std::fflush(stdout);
  EXPECT_EQ(failures, 0u) << c.label << " on " << isaName(activeIsa()) << ":\n" << first;
}

TEST_P(KernelsIsaTest, ActivationAccuracySweep) {
  const std::vector<float> xs = sweepInputs();
  std::vector<Activation> acts = {{ActKind::LeakyRelu, 0.2f}, {ActKind::LeakyRelu, 3.0f},
                                  {ActKind::Elu, -2.0f},      {ActKind::Elu, 1e30f},
                                  {ActKind::Elu, 0.0f},       {ActKind::Step, 1e30f}};
  for (const Activation &a : allActivations())
    if (a.kind != ActKind::Softmax)
      acts.push_back(a);
  for (const Activation &act : acts)
    expectAccurate({act.str(),
                    [act](const float *in, float *out, int64_t n) {
                      activation({in, n, 0}, {out, n}, act, 0, 1, 0, n);
                    },
                    [act](double x) { return referenceActivation(act, x); }},
                   xs);
  // softmax's exponential on its own
  expectAccurate({"exp",
                  [](const float *in, float *out, int64_t n) { activeKernels().exp(in, out, n); },
                  [](double x) { return std::exp(x); }},
                 xs);
}

/// The harness fails a kernel 2^-19 off, so the sweep can fail.
TEST(KernelsAccuracy, HarnessRejectsInaccurateResults) {
  EXPECT_TRUE(withinContract(1.0f, 1.0 + 0.9e-6));
  EXPECT_FALSE(withinContract(1.0f, 1.0 + 1.1e-6));
  EXPECT_FALSE(withinContract(1.0f, NAN));
  EXPECT_FALSE(withinContract(NAN, 1.0));
  EXPECT_TRUE(withinContract(INFINITY, 1e39));
  EXPECT_FALSE(withinContract(FLT_MAX, 1e39));
  EXPECT_TRUE(withinContract(0.0f, 8 * 0x1p-149));
  EXPECT_FALSE(withinContract(0.0f, 9 * 0x1p-149));
  const std::vector<float> xs = {1.0f, 2.0f, 3.0f};
  EXPECT_NONFATAL_FAILURE(expectAccurate({"off by 2^-19",
                                          [](const float *in, float *out, int64_t n) {
                                            for (int64_t i = 0; i < n; ++i)
                                              out[i] = in[i] * (1.0f + 0x1p-19f);
                                          },
                                          [](double x) { return x; }},
                                         xs),
                          "off by 2^-19");
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

SOMA_FOR_EACH_ISA(KernelsIsaTest);

} // namespace
} // namespace soma::runtime::kernels
