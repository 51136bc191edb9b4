// The convolution passes on every engine: seeded random networks written so
// that the passes have work (a conv with no activation, then a per-channel
// batchnorm and scaleshift, an activation layer, a second conv and a
// residual add with an activation after it; some filters, biases and
// input columns of filters zero), compiled at -O2/-O3 for the interpreter,
// the vec engine and the JIT, and run at batches 1, 3 and 17 on 1 and 2
// threads. The two thread counts must give the same bits, and every output
// must be within 1e-4 * (|value| + the output's largest magnitude) of the
// interpreter's on the unoptimised (-O0) graph: the passes' numerical
// contract (a few 1e-5 at most, docs/passes.md) plus the engines' f32
// accumulation over at most 32 * 3 * 3 taps per conv (every fourth network
// has 16 or 32 filters).
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

struct PassNet {
  std::string text;
  std::vector<int64_t> inShape;
};

/// Draws the network of `seed`; see the file comment.
class PassNetBuilder {
public:
  explicit PassNetBuilder(uint32_t seed) : rng(seed), wide(seed % 4 == 3) {}

  PassNet build() {
    const int rank = static_cast<int>(pick(1, 2));
    // A wide network has 16 or 32 filters: whole vectors of output channels,
    // which vec.conv runs with the channels in the lanes (the JIT leaves
    // them to it), the residual added in that kernel's epilogue.
    const int64_t channels = pick(1, 5), filters = wide ? 16 * pick(1, 2) : pick(1, 6);
    std::vector<int64_t> sizes = {pick(1, 6), pick(2, 11)};
    if (rank == 1)
      sizes.erase(sizes.begin());
    PassNet net;
    net.inShape = {channels};
    net.inShape.insert(net.inShape.end(), sizes.begin(), sizes.end());
    lines << "network passes {\n  input x: f32" << list(net.inShape) << "\n";
    // The first conv, no activation: stride and padding vary, the result
    // has `filters` channels.
    std::vector<int64_t> kernel(rank), strides(rank), pads(2 * rank);
    for (int a = 0; a < rank; ++a) {
      kernel[a] = pick(1, std::min<int64_t>(3, sizes[a]));
      strides[a] = pick(1, 2);
      pads[a] = pick(0, 1);
      pads[rank + a] = pick(0, 1);
    }
    std::vector<float> w = values(filters * channels * product(kernel)), b = values(filters);
    zeroSomeFilters(w, b, filters);
    std::vector<int64_t> wDims = {filters, channels};
    wDims.insert(wDims.end(), kernel.begin(), kernel.end());
    lines << "  conv" << rank << "d a(x) { filters = " << filters << "; kernel = " << list(kernel)
          << "; stride = " << list(strides) << "; padding = " << list(pads)
          << "; weights = " << literalArray(wDims, w) << "; bias = " << literalArray({filters}, b)
          << " }\n";
    std::string last = "a";
    if (pick(0, 1))
      last = affine("batchnorm n", last, filters);
    if (pick(0, 2) == 0)
      last = affine("scaleshift m", last, filters);
    static const char *acts[] = {"identity",     "relu",    "leaky_relu(alpha = 0.2)",
                                 "tanh",         "sigmoid", "softplus",
                                 "hard_sigmoid", "elu"};
    lines << "  activation r(" << last << ") { activation = " << acts[pick(0, std::size(acts) - 1)]
          << " }\n";
    // The second conv keeps the shape (same padding, stride 1), so that a
    // residual add of r fits; some of its input columns are zero.
    const int64_t k2 = pick(1, 3);
    std::vector<float> w2 = values(filters * filters * ipow(k2, rank)), b2 = values(filters);
    if (pick(0, 1)) {
      const int64_t dead = pick(0, filters - 1), taps = ipow(k2, rank);
      for (int64_t o = 0; o < filters; ++o)
        std::fill_n(w2.begin() + (o * filters + dead) * taps, taps, 0.0f);
    }
    std::vector<int64_t> w2Dims = {filters, filters};
    w2Dims.insert(w2Dims.end(), static_cast<size_t>(rank), k2);
    lines << "  conv" << rank << "d c(r) { filters = " << filters << "; kernel = " << k2
          << "; padding = same; weights = " << literalArray(w2Dims, w2)
          << "; bias = " << literalArray({filters}, b2) << " }\n";
    last = "c";
    if (pick(0, 2)) {
      lines << (pick(0, 1) ? "  add s(c, r)\n" : "  add s(r, c)\n");
      last = "s";
    }
    if (pick(0, 1)) {
      lines << "  activation o(" << last << ") { activation = relu }\n";
      last = "o";
    }
    lines << "  output " << last << "\n}\n";
    net.text = lines.str();
    return net;
  }

private:
  std::mt19937 rng;
  bool wide;
  std::ostringstream lines;

  int64_t pick(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  }
  std::vector<float> values(int64_t n) {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> v(static_cast<size_t>(n));
    for (float &x : v)
      x = dist(rng);
    return v;
  }
  static int64_t product(const std::vector<int64_t> &v) {
    int64_t p = 1;
    for (int64_t d : v)
      p *= d;
    return p;
  }
  static int64_t ipow(int64_t k, int rank) { return rank == 1 ? k : k * k; }
  static std::string list(const std::vector<int64_t> &v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i)
      s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
  }
  /// Half the time, one output channel's filter (and, half of those, its
  /// bias) becomes zero: a dead or constant channel.
  void zeroSomeFilters(std::vector<float> &w, std::vector<float> &b, int64_t filters) {
    if (pick(0, 1))
      return;
    const int64_t o = pick(0, filters - 1), per = static_cast<int64_t>(w.size()) / filters;
    std::fill_n(w.begin() + o * per, per, 0.0f);
    if (pick(0, 1))
      b[static_cast<size_t>(o)] = 0.0f;
  }
  /// `head(src) {...; axis = 0}`: a per-channel batchnorm or scaleshift.
  std::string affine(const std::string &head, const std::string &src, int64_t channels) {
    const bool bn = head.rfind("batchnorm", 0) == 0;
    lines << "  " << head << "(" << src << ") { ";
    if (bn) {
      std::vector<float> var = values(channels);
      for (float &v : var)
        v = 0.5f + std::fabs(v);
      lines << "mean = " << literalArray({channels}, values(channels))
            << "; variance = " << literalArray({channels}, var) << "; epsilon = 0.001; ";
    }
    lines << "scale = " << literalArray({channels}, values(channels))
          << "; shift = " << literalArray({channels}, values(channels)) << "; axis = 0 }\n";
    return head.substr(head.find(' ') + 1);
  }
};

/// How many elements of `got` are farther from `want` than the file
/// comment allows (the first few reported).
int countOutOfBound(const std::vector<float> &got, const std::vector<float> &want) {
  double scale = 0;
  for (float v : want)
    scale = std::max(scale, std::fabs(static_cast<double>(v)));
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double tol = 1e-4 * (std::fabs(static_cast<double>(want[i])) + scale) + 1e-30;
    if (!(std::fabs(static_cast<double>(got[i]) - want[i]) <= tol) && ++bad <= 4)
      ADD_FAILURE() << "y[" << i << "]: " << got[i] << ", unoptimised interpreter " << want[i]
                    << ", bound " << tol;
  }
  return bad;
}

} // namespace

TEST(NumericalConvPasses, OptimisedNetworksMatchTheUnoptimisedInterpreter) {
  const char *only = std::getenv("SOMA_NUMERICAL_SEED");
  const Target kInterpO2{"interp -O2", 2, "", "", Engine::Interp};
  const Target targets[] = {kInterpO2, kHostO2, kHostO3, kHaswell, kVecO3};
  int checked = 0;
  for (uint32_t seed = 0; seed < 24; ++seed) {
    if (only && std::strtoul(only, nullptr, 10) != seed)
      continue;
    const PassNet net = PassNetBuilder(seed).build();
    SCOPED_TRACE("network " + std::to_string(seed) +
                 " (SOMA_NUMERICAL_SEED=" + std::to_string(seed) + "):\n" + net.text);
    CompileOptions o0;
    o0.engine = Engine::Interp;
    o0.optLevel = 0;
    auto reference = compileText(net.text, o0, "passes.nn");
    ASSERT_TRUE(reference);
    int64_t sample = 1;
    for (int64_t d : net.inShape)
      sample *= d;
    std::mt19937 rng(seed + 2000);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    const std::vector<int64_t> batches = {1, 3, 17};
    std::vector<std::vector<float>> xs, want;
    for (int64_t batch : batches) {
      std::vector<float> x(static_cast<size_t>(batch * sample));
      for (float &v : x)
        v = dist(rng);
      want.push_back(runSingle(*reference, net.inShape, x, batch));
      xs.push_back(std::move(x));
    }
    for (const Target &t : targets) {
      if (!hostCanRun(t))
        continue;
      runAtOneAndTwoThreads(net.text, t, net.inShape, xs, batches,
                            [&](size_t k, const std::vector<float> &one) {
                              EXPECT_EQ(countOutOfBound(one, want[k]), 0);
                              ++checked;
                            });
    }
  }
  if (!only) {
    EXPECT_GE(checked, 24 * 4 * 3);
  }
}
