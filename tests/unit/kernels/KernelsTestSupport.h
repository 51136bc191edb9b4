// What the kernel tests share: buffers that end on a PROT_NONE page, the
// crash context a fatal-signal handler prints, the fixture that runs a
// test once per instruction set, and the per-element error bounds the
// kernels are held to (docs/testing.md#the-kernel-tests).
#pragma once

#include "soma/ir/Activation.h"
#include "soma/runtime/Kernels.h"
#include "soma/support/Tensor.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <random>
#include <string>
#include <vector>

namespace soma::runtime::kernels {

/// Test names and failure messages show "avx2", not a byte dump.
void PrintTo(Isa isa, std::ostream *os);

namespace test {

inline constexpr double kU = 0x1p-24;    // f32 unit roundoff
inline constexpr double kMathRel = 1e-6; // the vector math's contract
/// Absolute slack where results are zero or subnormal: the contract's floor
/// plus one subnormal rounding of the reference.
inline constexpr double kTiny = 1e-6 * FLT_MIN + 0x1p-149;
inline constexpr unsigned kSeed = 20250611;

/// n floats that end where a PROT_NONE page begins.
class GuardedBuffer {
public:
  explicit GuardedBuffer(size_t n, float fill = 0.0f);
  GuardedBuffer(const float *from, size_t n);
  GuardedBuffer(const GuardedBuffer &) = delete;
  GuardedBuffer &operator=(const GuardedBuffer &) = delete;
  ~GuardedBuffer();

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
                    float hi = 1.0f);

/// What a kernel is running on, printed if a guard page stops it (gtest's
/// traces die with the process); installs the handler on first use.
void setCrashContext(const std::string &what);
/// The current test and shape as the crash context.
void setCrashContext(int64_t rows, int64_t cols);

/// Runs a test once per instruction set, forced; skipped where the CPU
/// lacks it. Restores the best one afterwards. Instantiated once for every
/// file (KernelsTestSupport.cpp): Isa/KernelsIsaTest.<test>/<isa>.
class KernelsIsaTest : public ::testing::TestWithParam<Isa> {
protected:
  void SetUp() override;
  void TearDown() override;
};

/// Every activation, parameter variants included.
std::vector<ir::Activation> allActivations();

/// Pre-activation values in double (z) with the bound on the kernel's
/// error in each (ez), for one row-major [rows, cols] result.
struct Sums {
  std::vector<double> z, ez;
};

/// The bound on |kernel - reference| for y = act(z) over a [rows, cols]
/// result, given z's error bound; the reference is rounded to f32 once.
std::vector<double> activationBounds(const ir::Activation &act, const Sums &s, int64_t rows,
                                     int64_t cols);

/// Compares `got` with `want` element by element within `tol`; NaN must
/// match NaN and an infinity the same infinity. Reports the first misses.
void expectClose(const float *got, const float *want, const std::vector<double> &tol, int64_t rows,
                 int64_t cols, int64_t gotStride, const std::string &what);

} // namespace test
} // namespace soma::runtime::kernels
