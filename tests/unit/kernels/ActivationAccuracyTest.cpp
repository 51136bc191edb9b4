// The activation kernel against the contract of docs/codegen-math.md on a
// sweep of f32 bit patterns (stride 4099, or SOMA_KERNELS_STRIDE), special
// values and breakpoints, once per instruction set this CPU has; it prints
// the maximum error per function and instruction set. A deliberately
// 2^-19-off kernel must fail the same harness.
#include "KernelTable.h"
#include "KernelsTestSupport.h"

#include "soma/runtime/Interpreter.h"
#include "soma/runtime/Kernels.h"

#include "../ActivationContract.h"
#include <gtest/gtest-spi.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace soma::runtime::kernels::test {
namespace {

using soma::test::kFloor;
using soma::test::kRelTol;
using soma::test::withinContract;

using ir::Activation;
using ir::ActKind;

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
        87.0f,   104.0f, 0.25f,     1.25f,     1e30f,      12.0f,      0.41421354f})
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
  std::vector<Activation> acts = {{ActKind::LeakyRelu, 0.2f},
                                  {ActKind::LeakyRelu, 3.0f},
                                  {ActKind::Elu, -2.0f},
                                  {ActKind::Elu, 1e30f},
                                  {ActKind::Elu, 0.0f},
                                  {ActKind::Step, 1e30f},
                                  {ActKind::Selu, 0.0f, 1.0f},
                                  {ActKind::Selu, 2.0f, -0.5f},
                                  {ActKind::HardSigmoid, 0.2f, 0.5f},
                                  {ActKind::HardSigmoid, -3.0f, 0.1f},
                                  {ActKind::HardSigmoid, 0.0f, 0.75f},
                                  {ActKind::HardSigmoid, 1e30f, -2.0f},
                                  {ActKind::Clip, -1.0f, 1.0f},
                                  {ActKind::Softplus, 2.0f},
                                  {ActKind::Softplus, 0.1f},
                                  {ActKind::Softplus, 1e-10f},
                                  {ActKind::Softplus, 7.5f},
                                  {ActKind::Softplus, 1e30f}};
  for (const Activation &a : allActivations())
    if (!ir::isRowwise(a.kind))
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
  // log_softmax's log1p on its own, on |x|
  std::vector<float> magnitudes(xs.size());
  for (size_t i = 0; i < xs.size(); ++i)
    magnitudes[i] = std::fabs(xs[i]);
  expectAccurate({"log1p(|x|)",
                  [](const float *in, float *out, int64_t n) { activeKernels().log1p(in, out, n); },
                  [](double x) { return std::log1p(x); }},
                 magnitudes);
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

} // namespace
} // namespace soma::runtime::kernels::test
