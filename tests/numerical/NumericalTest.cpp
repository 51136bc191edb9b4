// The differential tier: seeded random networks run by the JIT and by the
// reference interpreter on the same inputs, compared element by element
// within a bound derived for each element (Reference.h, docs/testing.md):
//
//   |jit - interp| <= (errJit + errInterp) * (1 + 2^-10) + 2^-126
//
// The interpreter is also checked against the harness's own double
// evaluation (|interp - exact| <= errInterp), so a wrong oracle cannot hide
// a wrong JIT. Every network runs at -O0 and -O3 on this machine, and one
// in four also for Haswell (AVX2, 8 lanes), one in four without AVX-512,
// one in four SSE-only (4 lanes, no FMA); and on the vec engine (the xsimd
// kernels, after the -O3 pipeline, or -O0 for one in four) within the same
// bound (its kernels round once per op, as the JIT's do). The first target also reruns the
// model on a smaller batch (its arena is reused) and on an empty one.
//
// Environment: SOMA_NUMERICAL_SEED=S reruns only network S in each selected
// test (a failure prints the command); SOMA_NUMERICAL_COUNT=N runs N
// networks per test; SOMA_NUMERICAL_VERBOSE=1 prints every network.
#include "Harness.h"
#include "RandomNetwork.h"
#include "Reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <ostream>

using namespace soma;
using namespace soma::numerical;

namespace soma::numerical {
// Readable parameters in test listings and CTest names.
void PrintTo(Act a, std::ostream *os) { *os << actName(a); }
} // namespace soma::numerical

namespace {

using Outputs = std::vector<std::vector<float>>;

std::optional<uint64_t> envSeed() {
  const char *s = std::getenv("SOMA_NUMERICAL_SEED");
  if (!s || !*s)
    return std::nullopt;
  return std::strtoull(s, nullptr, 0);
}

int envCount(int fallback) {
  const char *s = std::getenv("SOMA_NUMERICAL_COUNT");
  return s && *s ? std::max(1, std::atoi(s)) : fallback;
}

bool verbose() {
  const char *s = std::getenv("SOMA_NUMERICAL_VERBOSE");
  return s && *s && *s != '0';
}

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

/// The comparison: the bound on |jit - interp| for element i.
double tolerance(const BoundedValue &e, size_t i) {
  return (e.errJit[i] + e.errInterp[i]) * (1 + 0x1p-10) + kTiny;
}

/// Largest errors seen, for the summary each test prints.
struct Stats {
  int networks = 0, runs = 0;
  int skipped = 0; // runs for targets this machine cannot execute
  int64_t elements = 0;
  double maxAbs = 0;    // max |jit - interp|
  double maxRel = 0;    // max |jit - interp| / |interp| where |interp| >= 1e-3
  double maxRelAll = 0; // the same wherever |interp| >= 2^-126 (probes: the math itself)
  double maxRatio = 0;  // max |jit - interp| / tolerance: how close to the bound
  double maxInterp = 0; // max |interp - exact| / errInterp
  std::string worst;    // where maxRatio was seen
};

class Runner {
public:
  Runner(std::string testName, Stats &stats) : testName(std::move(testName)), stats(stats) {}

  /// Generates network `seed` and checks it on `targets`.
  void check(const Profile &profile, uint64_t seed, const std::vector<Target> &targets) {
    Network net = generateNetwork(profile, seed);
    check(net, generateInputs(net, seed), seed, targets);
  }
  /// Checks `net` on `inputs`; `seed` names it in reports.
  void check(const Network &net, const std::vector<std::vector<float>> &inputs, uint64_t seed,
             const std::vector<Target> &targets);

private:
  std::string testName;
  Stats &stats;

  std::string reproduce(uint64_t seed) const {
    return "reproduce: SOMA_NUMERICAL_SEED=" + std::to_string(seed) +
           " soma_numerical_tests --gtest_filter='" + testName + "'\n";
  }
  void fail(const Network &net, uint64_t seed, const std::string &what) {
    ADD_FAILURE() << "network seed " << seed << " (" << testName << "): " << what << "\n"
                  << reproduce(seed) << net.text();
  }
  bool checkOracle(const Network &net, uint64_t seed, const Outputs &interp,
                   const std::vector<BoundedValue> &exact, int optLevel);
  bool compare(const Network &net, uint64_t seed, const Outputs &jit, const Outputs &interp,
               const std::vector<BoundedValue> &exact, const Target &t, int64_t batch);
};

bool Runner::checkOracle(const Network &net, uint64_t seed, const Outputs &interp,
                         const std::vector<BoundedValue> &exact, int optLevel) {
  for (size_t o = 0; o < net.outputs.size(); ++o) {
    const BoundedValue &e = exact[static_cast<size_t>(net.outputs[o].second)];
    for (size_t i = 0; i < interp[o].size(); ++i) {
      double diff = std::fabs(static_cast<double>(interp[o][i]) - e.ref[i]);
      double bound = e.errInterp[i] * (1 + 0x1p-10) + kTiny;
      stats.maxInterp = std::max(stats.maxInterp, diff / bound);
      if (diff <= bound)
        continue;
      const Value &v = net.values[static_cast<size_t>(net.outputs[o].second)];
      fail(net, seed,
           "the interpreter (-O" + std::to_string(optLevel) +
               ") disagrees with the harness's double evaluation: output '" + net.outputs[o].first +
               "' element " + indexText(static_cast<int64_t>(i), net.batch, v.dims) + ": interp " +
               num(interp[o][i]) + ", exact " + num(e.ref[i]) + ", |diff| " + num(diff) +
               " > bound " + num(bound));
      return false;
    }
  }
  return true;
}

bool Runner::compare(const Network &net, uint64_t seed, const Outputs &jit, const Outputs &interp,
                     const std::vector<BoundedValue> &exact, const Target &t, int64_t batch) {
  std::string report;
  for (size_t o = 0; o < net.outputs.size(); ++o) {
    const Value &v = net.values[static_cast<size_t>(net.outputs[o].second)];
    const BoundedValue &e = exact[static_cast<size_t>(net.outputs[o].second)];
    const size_t n = static_cast<size_t>(batch * v.size());
    std::vector<std::pair<double, size_t>> bad; // (|diff| / tolerance, index)
    for (size_t i = 0; i < n; ++i) {
      double g = jit[o][i], r = interp[o][i];
      double diff = std::fabs(g - r), tol = tolerance(e, i);
      ++stats.elements;
      if (!(diff <= tol)) { // NaN fails too
        bad.push_back({std::isnan(diff) ? INFINITY : diff / tol, i});
        continue;
      }
      stats.maxAbs = std::max(stats.maxAbs, diff);
      if (std::fabs(r) >= 1e-3)
        stats.maxRel = std::max(stats.maxRel, diff / std::fabs(r));
      if (std::fabs(r) >= kTiny)
        stats.maxRelAll = std::max(stats.maxRelAll, diff / std::fabs(r));
      if (diff / tol > stats.maxRatio) {
        stats.maxRatio = diff / tol;
        stats.worst = "seed " + std::to_string(seed) + " " + t.label + " '" + net.outputs[o].first +
                      "'" + indexText(static_cast<int64_t>(i), batch, v.dims) + ": |diff| " +
                      num(diff) + ", tolerance " + num(tol);
      }
    }
    if (bad.empty())
      continue;
    std::stable_sort(bad.begin(), bad.end(), [](auto &a, auto &b) { return a.first > b.first; });
    std::string shape = "f32[N";
    for (int64_t d : v.dims)
      shape += ", " + std::to_string(d);
    report += "output '" + net.outputs[o].first + "' " + shape +
              "]: " + std::to_string(bad.size()) + " of " + std::to_string(n) +
              " elements differ\n";
    report += "  index             got (jit)        expected (interp) exact             |diff|     "
              "tolerance  (jit bound, interp bound)\n";
    for (size_t k = 0; k < std::min<size_t>(bad.size(), 6); ++k) {
      size_t i = bad[k].second;
      char line[256];
      std::snprintf(line, sizeof line,
                    "  %-17s %-16.9g %-17.9g %-17.9g %-10.3g %-10.3g (%.3g, %.3g)\n",
                    indexText(static_cast<int64_t>(i), batch, v.dims).c_str(),
                    static_cast<double>(jit[o][i]), static_cast<double>(interp[o][i]), e.ref[i],
                    std::fabs(static_cast<double>(jit[o][i]) - interp[o][i]), tolerance(e, i),
                    e.errJit[i], e.errInterp[i]);
      report += line;
    }
  }
  if (report.empty())
    return true;
  fail(net, seed,
       std::string("JIT (") + t.label + ", batch " + std::to_string(batch) +
           ") and interpreter disagree:\n" + report);
  return false;
}

void Runner::check(const Network &net, const std::vector<std::vector<float>> &inputs, uint64_t seed,
                   const std::vector<Target> &targets) {
  std::vector<BoundedValue> exact = evaluate(net, inputs);
  ++stats.networks;
  if (verbose())
    std::printf("seed %" PRIu64 ": %zu layers, batch %" PRId64 ", %" PRId64 " MACs/sample\n%s",
                seed, net.layers.size(), net.batch, net.macsPerSample(), net.text().c_str());

  std::string error;
  std::map<int, Outputs> interpAt; // by optimisation level: the graph differs
  for (const Target &t : targets) {
    if (!hostCanRun(t)) {
      ++stats.skipped;
      continue;
    }
    auto it = interpAt.find(t.optLevel);
    if (it == interpAt.end()) {
      setCrashContext("network seed " + std::to_string(seed) + ", interpreter -O" +
                      std::to_string(t.optLevel) + "\n" + reproduce(seed) + net.text());
      std::optional<Model> ref = compileNetwork(net, Engine::Interp, t, error);
      if (!ref)
        return fail(net, seed, "the interpreter rejected the network:\n" + error);
      std::optional<Outputs> out = runNetwork(*ref, net, inputs, net.batch, error);
      if (!out)
        return fail(net, seed, "the interpreter failed: " + error);
      if (!checkOracle(net, seed, *out, exact, t.optLevel))
        return;
      it = interpAt.emplace(t.optLevel, std::move(*out)).first;
    }
    setCrashContext("network seed " + std::to_string(seed) + ", JIT " + t.label + "\n" +
                    reproduce(seed) + net.text());
    std::optional<Model> jit = compileNetwork(net, t.engine, t, error);
    if (!jit)
      return fail(net, seed,
                  std::string("the JIT (") + t.label + ") rejected the network:\n" + error);
    // The full batch; then, once, a smaller batch (the model's arena is
    // reused) and an empty one.
    std::vector<int64_t> batches = {net.batch};
    if (&t == &targets.front()) // (the host: always runnable)
      batches = {net.batch, std::max<int64_t>(1, net.batch / 3), 0};
    for (int64_t batch : batches) {
      std::optional<Outputs> got = runNetwork(*jit, net, inputs, batch, error);
      ++stats.runs;
      if (!got)
        return fail(net, seed, std::string("the JIT (") + t.label + ") failed: " + error);
      if (!compare(net, seed, *got, it->second, exact, t, batch))
        return;
    }
  }
  setCrashContext("");
}

/// Runs `count` networks of `profile` with seeds base, base + 1, ...; the
/// i-th on targets(i). Prints the error summary.
template <class TargetsFn>
void runNetworks(const Profile &profile, uint64_t base, int count, TargetsFn targets) {
  const testing::TestInfo *info = testing::UnitTest::GetInstance()->current_test_info();
  const std::string name = std::string(info->test_suite_name()) + "." + info->name();
  Stats stats;
  Runner runner(name, stats);
  const std::optional<uint64_t> only = envSeed();
  const int n = envCount(count);
  if (only && (*only < base || *only >= base + static_cast<uint64_t>(std::max(n, count))))
    return; // another test's (or another part's) network
  for (int i = 0; i < n; ++i) {
    uint64_t seed = only ? *only : base + static_cast<uint64_t>(i);
    runner.check(profile, seed, targets(static_cast<int>(seed - base)));
    if (only || testing::Test::HasFailure())
      break; // one failing network is enough to read
  }
  std::printf("[ stats    ] %s: %d networks, %d JIT runs, %" PRId64
              " elements; max |jit-interp| %.3g; max rel %.3g where |interp| >= 1e-3, %.3g "
              "anywhere; max |jit-interp|/tolerance %.3g; max |interp-exact|/bound %.3g\n",
              name.c_str(), stats.networks, stats.runs, stats.elements, stats.maxAbs, stats.maxRel,
              stats.maxRelAll, stats.maxRatio, stats.maxInterp);
  if (!stats.worst.empty())
    std::printf("[ stats    ]   closest to the bound: %s\n", stats.worst.c_str());
  if (stats.skipped)
    std::printf("[ stats    ]   %d runs skipped: this machine cannot run code for their target\n",
                stats.skipped);
}

/// Every network at -O3 and -O0 on this machine; one in four also for
/// Haswell, one in four without AVX-512, one in four SSE-only.
std::vector<Target> rotatingTargets(int i) {
  // The vec engine on every network, after the -O3 pipeline, or the -O0
  // one for one in four (unfused ops: bias_add, activation, scale_shift).
  switch (i % 4) {
  case 1:
    return {kHostO3, kHostO0, kHaswell, kVecO3};
  case 2:
    return {kHostO3, kHostO0, kNoAvx512, kVecO3};
  case 3:
    return {kHostO3, kHostO0, kSse, kVecO0};
  default:
    return {kHostO3, kHostO0, kVecO3};
  }
}

// By activation: every dense, neuron and activation layer uses one
// function. Three probes first: the activation alone on inputs up to +-100,
// which measures the vector math itself.
class ByActivation : public testing::TestWithParam<Act> {};

TEST_P(ByActivation, JitMatchesInterpreter) {
  Profile net;
  net.acts = {GetParam()};
  net.widths = widths::any();
  net.maxDepth = 4;
  Profile probe = net;
  probe.activationProbe = true;
  probe.macBudget = 300000;
  const uint64_t base = 1000 * (1 + static_cast<uint64_t>(GetParam()));
  runNetworks(probe, base, 3, rotatingTargets);
  runNetworks(net, base + 500, 10, rotatingTargets);
}

INSTANTIATE_TEST_SUITE_P(Numerical, ByActivation, testing::ValuesIn(allActs()),
                         [](const testing::TestParamInfo<Act> &info) {
                           return std::string(actName(info.param));
                         });

// By width class: all activations, up to 6 layers.
struct WidthClass {
  const char *name;
  std::vector<int64_t> (*widths)();
  uint64_t base;
};

void PrintTo(const WidthClass &c, std::ostream *os) { *os << c.name; }

class ByWidth : public testing::TestWithParam<WidthClass> {};

TEST_P(ByWidth, JitMatchesInterpreter) {
  Profile p;
  p.acts = allActs();
  p.widths = GetParam().widths();
  runNetworks(p, GetParam().base, 12, rotatingTargets);
}

INSTANTIATE_TEST_SUITE_P(Numerical, ByWidth,
                         testing::Values(WidthClass{"special", widths::special, 20000},
                                         WidthClass{"tiny", widths::tiny, 21000},
                                         WidthClass{"vector_edges", widths::vectorEdges, 22000},
                                         WidthClass{"primes", widths::primes, 23000},
                                         WidthClass{"wide", widths::wide, 24000}),
                         [](const testing::TestParamInfo<WidthClass> &info) {
                           return std::string(info.param.name);
                         });

// By structure: one kind of layer or wiring made frequent.
struct Shape {
  const char *name;
  void (*adjust)(Profile &);
  uint64_t base;
};

void PrintTo(const Shape &s, std::ostream *os) { *os << s.name; }

class ByStructure : public testing::TestWithParam<Shape> {};

TEST_P(ByStructure, JitMatchesInterpreter) {
  Profile p;
  p.acts = allActs();
  p.widths = widths::any();
  GetParam().adjust(p);
  runNetworks(p, GetParam().base, 12, rotatingTargets);
}

INSTANTIATE_TEST_SUITE_P(
    Numerical, ByStructure,
    testing::Values(Shape{"residual", [](Profile &p) { p.residual = 6; }, 30000},
                    Shape{"gate", [](Profile &p) { p.gate = 6; }, 36000},
                    Shape{"concat",
                          [](Profile &p) {
                            p.concat = 5;
                            p.maxInputs = 3;
                          },
                          31000},
                    Shape{"norms",
                          [](Profile &p) {
                            p.batchnorm = 4;
                            p.layernorm = 4;
                            p.scaleshift = 3;
                          },
                          32000},
                    Shape{"multi_io",
                          [](Profile &p) {
                            p.maxInputs = 3;
                            p.multiDimInputs = 0.7;
                          },
                          33000},
                    Shape{"literal_weights",
                          [](Profile &p) {
                            p.literalWeights = 1;
                            p.widths = widths::vectorEdges();
                          },
                          34000},
                    Shape{"big_batch",
                          [](Profile &p) {
                            p.widths = widths::vectorEdges();
                            p.macBudget = 4000000;
                            p.maxDepth = 3;
                          },
                          35000}),
    [](const testing::TestParamInfo<Shape> &info) { return std::string(info.param.name); });

// By pipeline level: every network at -O0, -O1, -O2 and -O3 on this
// machine. At each level the interpreter runs the graph that level's passes
// produced and is checked against the exact evaluation of the network as
// written (so each pipeline's result is checked against the unoptimised
// network, within the bound), and the JIT against that interpreter.
TEST(ByOptLevel, EveryPipelineMatchesTheUnoptimisedNetwork) {
  Profile p;
  p.acts = allActs();
  p.widths = widths::any();
  runNetworks(p, 43000, 16, [](int) {
    return std::vector<Target>{kHostO0, kHostO1, kHostO2, kHostO3};
  });
}

// By target: every network for one target, at -O2 and -O0.
struct TargetCase {
  const char *name;
  Target optimised, unoptimised;
  uint64_t base;
};

void PrintTo(const TargetCase &c, std::ostream *os) { *os << c.name; }

class ByTarget : public testing::TestWithParam<TargetCase> {};

TEST_P(ByTarget, JitMatchesInterpreter) {
  Profile p;
  p.acts = allActs();
  p.widths = widths::any();
  const TargetCase &c = GetParam();
  if (!hostCanRun(c.optimised))
    GTEST_SKIP() << "this machine cannot run code for " << c.optimised.label;
  runNetworks(p, c.base, 12, [&](int) { return std::vector<Target>{c.optimised, c.unoptimised}; });
}

INSTANTIATE_TEST_SUITE_P(Numerical, ByTarget,
                         testing::Values(TargetCase{"haswell", kHaswell, kHaswellO0, 40000},
                                         TargetCase{"no_avx512", kNoAvx512, kNoAvx512O0, 41000},
                                         TargetCase{"sse", kSse, kSseO0, 42000}),
                         [](const testing::TestParamInfo<TargetCase> &info) {
                           return std::string(info.param.name);
                         });

// Folds with cancellation: a batch norm that centres inputs near 100 (its
// s x and t nearly cancel) before a dense layer, and a large scale_shift
// after a dense layer with no activation. From -O2 fold-scale-shift moves
// both into the dense weights, which changes the exact values by far more
// than one rounding of the result; the bounds must account for it (this
// test fails if Reference.cpp's fold terms are left out).
/// A literal array: a vector, or `rows` rows when rows > 1.
Param literal(const std::vector<float> &v, size_t rows = 1) {
  Param p{"[", v};
  const size_t cols = v.size() / rows;
  for (size_t i = 0; i < v.size(); ++i) {
    p.text += i ? ", " : "";
    p.text += rows > 1 && i % cols == 0 ? "[" : "";
    p.text += num(v[i]);
    p.text += rows > 1 && i % cols == cols - 1 ? "]" : "";
  }
  p.text += "]";
  return p;
}

TEST(NumericalFolds, CancellingAffineLayersNextToDense) {
  Network net;
  net.name = "folds";
  net.values = {{"x", {8}}, {"bn", {8}}, {"d", {5}}, {"e", {6}}, {"f", {6}}};
  net.inputs = {0};
  Rng rng(7);
  auto uniform = [&](size_t n, double lo, double hi) {
    std::vector<float> v(n);
    for (float &f : v)
      f = static_cast<float>(rng.uniform(lo, hi));
    return v;
  };
  Layer bn;
  bn.kind = LayerKind::BatchNorm;
  bn.name = "bn";
  bn.operands = {0};
  bn.result = 1;
  bn.mean = literal(std::vector<float>(8, 100.0f));
  bn.variance = literal(std::vector<float>(8, 1e-4f));
  bn.scale = literal(uniform(8, 0.5, 1.5));
  bn.shift = literal(uniform(8, -0.5, 0.5));
  bn.epsilonText = "1e-06";
  bn.epsilon = 1e-6f;
  Layer d;
  d.kind = LayerKind::Dense;
  d.name = "d";
  d.operands = {1};
  d.result = 2;
  d.units = 5;
  d.weights = literal(uniform(40, -0.5, 0.5), 5);
  d.bias = literal(uniform(5, -0.5, 0.5));
  d.act = {Act::Tanh, 0, "tanh"};
  Layer e;
  e.kind = LayerKind::Dense;
  e.name = "e";
  e.operands = {0};
  e.result = 3;
  e.units = 6;
  e.weights = literal(uniform(48, -0.5, 0.5), 6);
  e.bias = literal(uniform(6, -0.5, 0.5));
  Layer f;
  f.kind = LayerKind::ScaleShift;
  f.name = "f";
  f.operands = {3};
  f.result = 4;
  f.scale = literal(uniform(6, 500, 1000));
  f.shift = literal(uniform(6, -50, 50));
  net.layers = {bn, d, e, f};
  net.outputs = {{"d", 2}, {"f", 4}};
  net.batch = 37;
  net.inputScale = 0.01;
  std::vector<std::vector<float>> inputs = {
      uniform(static_cast<size_t>(net.batch * 8), 99.99, 100.01)};

  Stats stats;
  Runner runner("NumericalFolds.CancellingAffineLayersNextToDense", stats);
  runner.check(net, inputs, 0, {kHostO3, kHostO0, kHaswell, kSse});
  EXPECT_EQ(stats.runs, hostCanRun(kHaswell) ? 6 : 5) << "a target was left out";
}

} // namespace
