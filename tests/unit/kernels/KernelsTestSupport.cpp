// The kernel tests' shared harness (KernelsTestSupport.h): guarded
// buffers, the crash context, the per-instruction-set fixture and the
// error bounds.
#include "KernelsTestSupport.h"

#include "soma/runtime/Interpreter.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ostream>

namespace soma::runtime::kernels {

void PrintTo(Isa isa, std::ostream *os) { *os << isaName(isa); }

namespace test {

using ir::Activation;
using ir::ActKind;

// --- buffers --------------------------------------------------------------

GuardedBuffer::GuardedBuffer(size_t n, float fill) : count(n) {
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

GuardedBuffer::GuardedBuffer(const float *from, size_t n) : GuardedBuffer(n) {
  std::copy_n(from, n, ptr);
}

GuardedBuffer::~GuardedBuffer() { munmap(base, length); }

Tensor randomTensor(std::vector<int64_t> dims, std::mt19937 &rng, float lo, float hi) {
  Tensor t(std::move(dims));
  std::uniform_real_distribution<float> dist(lo, hi);
  for (float &v : t.values)
    v = dist(rng);
  return t;
}

// --- crash context ----------------------------------------------------------

namespace {

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

} // namespace

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

void setCrashContext(int64_t rows, int64_t cols) {
  setCrashContext(std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
                  " " + std::to_string(rows) + "x" + std::to_string(cols));
}

// --- instruction sets -------------------------------------------------------

void KernelsIsaTest::SetUp() {
  if (!isaSupported(GetParam()))
    GTEST_SKIP() << "this CPU cannot run " << isaName(GetParam());
  ASSERT_TRUE(forceIsa(GetParam()));
  ASSERT_EQ(activeIsa(), GetParam());
}

void KernelsIsaTest::TearDown() { forceIsa(bestIsa()); }

namespace {
std::string isaParamName(const ::testing::TestParamInfo<Isa> &info) { return isaName(info.param); }
} // namespace

INSTANTIATE_TEST_SUITE_P(Isa, KernelsIsaTest, ::testing::Values(Isa::Sse2, Isa::Avx2, Isa::Avx512),
                         isaParamName);

// --- error bounds -------------------------------------------------------------

std::vector<Activation> allActivations() {
  std::vector<Activation> acts;
  for (int k = 0; k < ir::kNumActKinds; ++k)
    acts.push_back(ir::makeActivation(static_cast<ActKind>(k)));
  acts.push_back({ActKind::LeakyRelu, 0.0f});
  acts.push_back({ActKind::LeakyRelu, -0.5f});
  acts.push_back({ActKind::Elu, 0.3f});
  acts.push_back({ActKind::Step, 0.25f});
  acts.push_back({ActKind::Selu, 0.5f, 2.0f});
  acts.push_back({ActKind::HardSigmoid, 0.2f, 0.5f});
  acts.push_back({ActKind::HardSigmoid, -3.0f, 0.1f});
  acts.push_back({ActKind::Clip, -INFINITY, 0.5f});
  acts.push_back({ActKind::Softplus, 2.0f});
  acts.push_back({ActKind::Softplus, 0.1f});
  return acts;
}

namespace {

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
  else if (act.kind == ActKind::GeluTanh)
    critical = -0.752461422071016258;
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
  case ActKind::Clip:
  case ActKind::Softmax: // bounded by the row rule
  case ActKind::LogSoftmax:
    return 0;
  case ActKind::LeakyRelu:
    return kU * std::fabs(y);
  case ActKind::HardSigmoid:
    return 2 * kU * std::fabs(y);
  default:
    return kMathRel * std::fabs(y);
  }
}

/// log_softmax (the rule of tests/numerical/Reference.cpp): y_i = d_i - L
/// moves by at most E_i + G; the kernel's own error is the rounding of
/// d = z - max, L's (its log1p's, and its exps' and the sum's on the part
/// of the sum that is not the maxima) and the last subtraction's.
std::vector<double> logSoftmaxBounds(const Sums &s, int64_t rows, int64_t cols) {
  std::vector<double> tol(s.z.size()), p(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    const double *z = s.z.data() + r * cols, *e = s.ez.data() + r * cols;
    double m = *std::max_element(z, z + cols), sum = 0, rest = 0;
    for (int64_t c = 0; c < cols; ++c) {
      sum += p[c] = std::exp(z[c] - m);
      if (z[c] != m)
        rest += p[c];
    }
    double up = 0, down = 0;
    for (int64_t c = 0; c < cols; ++c) {
      up += p[c] / sum * std::exp(e[c]);
      down += p[c] / sum * std::exp(-e[c]);
    }
    const double g = std::max(std::log(up), -std::log(down)), logSum = std::log(sum);
    const double ownLog =
        kMathRel * logSum + (kMathRel + static_cast<double>(cols + 2) * kU) * rest / sum;
    for (int64_t c = 0; c < cols; ++c) {
      const double d = z[c] - m, y = d - logSum;
      tol[r * cols + c] =
          (e[c] + g + kU * std::fabs(d) + ownLog + 2 * kU * std::fabs(y)) * (1 + 0x1p-10) + kTiny;
    }
  }
  return tol;
}

} // namespace

std::vector<double> activationBounds(const Activation &act, const Sums &s, int64_t rows,
                                     int64_t cols) {
  std::vector<double> tol(s.z.size());
  if (act.kind == ActKind::LogSoftmax)
    return logSoftmaxBounds(s, rows, cols);
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

} // namespace test
} // namespace soma::runtime::kernels
