// Convolutions on every engine through the public API: seeded random conv1d
// and conv2d networks (strides, pads on each side, dilations, groups with
// depthwise, every elementwise activation, widths that leave vector tails,
// groups of 16 or 32 filters, one big enough to be cut into tiles), compiled from network text for
// the JIT (host at -O0 and -O2, Haswell's 8 lanes, SSE's 4 without FMA) and for the vec engine, run
// at batches 1, 3 and 17 on 1 and 2 threads. The two thread counts must give the same bits; every
// output must be within (taps + 2) * 2^-24 * (sum |products| + |bias|) * 1.2 (the activation's
// slope) + 1e-6 |value| of the interpreter's, the magnitudes computed by the
// interpreter on the same network with |weights|, |bias| and |inputs| and
// no activation.
//
// Environment: SOMA_NUMERICAL_SEED=S reruns only network S.
#include "Harness.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>

using namespace soma;
using namespace soma::numerical;

namespace {

struct ConvNet {
  std::string text, magnitudeText;
  std::vector<int64_t> inShape, outShape;
  int64_t taps = 0;
};

ConvNet randomConvNet(uint32_t seed) {
  std::mt19937 rng(seed);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const bool big = seed % 10 == 9; // cut into tiles at batch 17
  const int rank = static_cast<int>(pick(1, 2));
  const int64_t channels = big ? 16 : pick(1, 6);
  std::vector<int64_t> divisors;
  for (int64_t g = 1; g <= channels; ++g)
    if (channels % g == 0)
      divisors.push_back(g);
  const int64_t groups = divisors[pick(0, static_cast<int64_t>(divisors.size()) - 1)];
  // Every third network gives each group 16 or 32 filters: whole vectors
  // of output channels, which vec.conv (and the JIT, which leaves them to
  // it) runs with the channels in the lanes.
  const int64_t filters = big ? 32 : groups * (seed % 3 == 1 ? 16 * pick(1, 2) : pick(1, 4));
  std::vector<int64_t> sizes = {big ? 24 : pick(1, 9), big ? 40 : pick(1, 37)};
  if (rank == 1)
    sizes.erase(sizes.begin());
  std::vector<int64_t> kernel, strides, dilations, begins, ends;
  for (int a = 0; a < rank; ++a) {
    int64_t k = pick(1, 4), d = pick(1, 2), pb = pick(0, 2), pe = pick(0, 2);
    while (d * (k - 1) + 1 > sizes[a] + pb + pe)
      d > 1 ? d = 1 : --k;
    kernel.push_back(k);
    dilations.push_back(d);
    strides.push_back(big ? 1 : pick(1, 3));
    begins.push_back(pb);
    ends.push_back(pe);
  }
  static const char *acts[] = {"identity",
                               "relu",
                               "leaky_relu(alpha = 0.2)",
                               "sigmoid",
                               "tanh",
                               "gelu",
                               "silu",
                               "elu",
                               "softplus",
                               "softplus(beta = 2)",
                               "hard_sigmoid",
                               "softsign",
                               "gelu(approximate = tanh)",
                               "hard_sigmoid(alpha = 0.2, beta = 0.5)",
                               "clip(-0.5, 0.5)"};
  const char *act = acts[pick(0, std::size(acts) - 1)];
  std::vector<int64_t> wDims = {filters, channels / groups};
  wDims.insert(wDims.end(), kernel.begin(), kernel.end());
  int64_t count = 1;
  for (int64_t d : wDims)
    count *= d;
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(count)), b(static_cast<size_t>(filters));
  for (float &v : w)
    v = dist(rng);
  for (float &v : b)
    v = dist(rng);
  auto list = [](const std::vector<int64_t> &v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i)
      s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
  };
  std::vector<int64_t> pads = begins;
  pads.insert(pads.end(), ends.begin(), ends.end());
  std::vector<int64_t> inShape = {channels};
  inShape.insert(inShape.end(), sizes.begin(), sizes.end());
  auto text = [&](bool absolute) {
    std::string t = "network conv {\n  input x: f32" + list(inShape) + "\n  conv" +
                    std::to_string(rank) + "d y(x) { filters = " + std::to_string(filters) +
                    "; kernel = " + list(kernel) + "; stride = " + list(strides) +
                    "; dilation = " + list(dilations) + "; padding = " + list(pads) +
                    "; groups = " + std::to_string(groups) +
                    "; weights = " + literalArray(wDims, w, absolute) +
                    "; bias = " + literalArray({filters}, b, absolute) +
                    "; activation = " + (absolute ? "identity" : act) + " }\n  output y\n}\n";
    return t;
  };
  ConvNet net{text(false), text(true), inShape, {}, 1};
  net.taps = channels / groups;
  for (int64_t k : kernel)
    net.taps *= k;
  return net;
}

} // namespace

TEST(NumericalConv, EveryEngineWithinTheBoundOfTheInterpreter) {
  const char *only = std::getenv("SOMA_NUMERICAL_SEED");
  const Target targets[] = {kHostO0, kHostO2, kHaswell, kSse, kVecO3};
  int checked = 0;
  for (uint32_t seed = 0; seed < 30; ++seed) {
    if (only && std::strtoul(only, nullptr, 10) != seed)
      continue;
    const ConvNet net = randomConvNet(seed);
    SCOPED_TRACE("network " + std::to_string(seed) +
                 " (SOMA_NUMERICAL_SEED=" + std::to_string(seed) + "):\n" + net.text);
    CompileOptions interp;
    interp.engine = Engine::Interp;
    auto reference = compileText(net.text, interp, "conv.nn"),
         magnitude = compileText(net.magnitudeText, interp, "conv.nn");
    ASSERT_TRUE(reference && magnitude);
    int64_t sample = 1;
    for (int64_t d : net.inShape)
      sample *= d;
    std::mt19937 rng(seed + 1000);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<std::vector<float>> xs, want, mag;
    const std::vector<int64_t> batches = {1, 3, 17};
    for (int64_t batch : batches) {
      std::vector<float> x(static_cast<size_t>(batch * sample)), ax(x.size());
      for (size_t i = 0; i < x.size(); ++i)
        ax[i] = std::fabs(x[i] = dist(rng));
      want.push_back(runSingle(*reference, net.inShape, x, batch));
      mag.push_back(runSingle(*magnitude, net.inShape, ax, batch));
      xs.push_back(std::move(x));
    }
    for (const Target &t : targets) {
      if (!hostCanRun(t))
        continue;
      runAtOneAndTwoThreads(
          net.text, t, net.inShape, xs, batches, [&](size_t k, const std::vector<float> &one) {
            int bad = 0;
            for (size_t i = 0; i < want[k].size(); ++i) {
              const double e = want[k][i];
              const double tol = (net.taps + 2) * std::ldexp(1.0, -24) * mag[k][i] * 1.2 +
                                 1e-6 * std::fabs(e) + 1e-30;
              if (!(std::fabs(double(one[i]) - e) <= tol) && ++bad <= 4)
                ADD_FAILURE() << "y[" << i << "]: " << one[i] << ", interpreter " << e << ", bound "
                              << tol;
            }
            EXPECT_EQ(bad, 0);
            ++checked;
          });
    }
  }
  if (!only) {
    EXPECT_GE(checked, 300);
  }
}
