// soma's convolutions against oneDNN's, in one run, on the same inputs,
// next to the machine's FMA peak and read bandwidth (bench/fma_peak.cpp), at
// batch 1 and 32 and at 1 and 2 threads (bench/run conv). The cases are
// ResNet-like layers (3x3 and 1x1), MobileNetV2's depthwise 3x3, the 7x7
// stride-2 stem and a ResNet basic block; soma runs them through its public
// API on its JIT engine and on its vec engine (`.nn` text whose conv2d
// layers read the .npy files the anchor's arrays were written to).
//
// Checks before a time counts: oneDNN's result is checked against a
// double-precision reference at a sample of output points (corners, edges,
// random ones, in the first, middle and last sample); every soma result is
// then checked against oneDNN's at every element and against the reference
// at the same points, before and after its timed loop, within a bound
// derived per output channel from the filters' magnitudes. A wrong result
// fails the benchmark (SkipWithError) and is never reported as a time.
//
// Benchmark names: peak/fma/t<threads>, conv/<case>/b<batch>/<impl>/
// t<threads> (impl: soma, vec, onednn), conv/<case>/b<batch>/readbound/
// t<threads> (depthwise cases). Counters: flops and bytes per call.
#include "ConvBench.h"
#include "soma/soma.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <thread>

namespace bench {
namespace {

namespace fs = std::filesystem;

constexpr int ThreadCounts[] = {1, 2};
constexpr int64_t Batches[] = {32, 1};

struct ConvSpec {
  std::string name; ///< e.g. 3x3-64-64-56: kind, C, O, input size
  int64_t c, o, size, kernel, stride, pad, groups;
  bool block = false;
};

const std::vector<ConvSpec> &convSpecs() {
  static const std::vector<ConvSpec> specs = {
      {"3x3-64-64-56", 64, 64, 56, 3, 1, 1, 1},
      {"3x3-128-128-28", 128, 128, 28, 3, 1, 1, 1},
      {"3x3-256-256-14", 256, 256, 14, 3, 1, 1, 1},
      {"3x3-512-512-7", 512, 512, 7, 3, 1, 1, 1},
      {"1x1-64-256-56", 64, 256, 56, 1, 1, 0, 1},
      {"1x1-256-64-56", 256, 64, 56, 1, 1, 0, 1},
      {"1x1-512-2048-7", 512, 2048, 7, 1, 1, 0, 1},
      {"dw3x3-144-144-56", 144, 144, 56, 3, 1, 1, 144},
      {"dw3x3s2-144-144-56", 144, 144, 56, 3, 2, 1, 144},
      {"stem7x7s2-3-64-224", 3, 64, 224, 7, 2, 3, 1},
      {"block-64-64-56", 64, 64, 56, 3, 1, 1, 1, true},
  };
  return specs;
}

/// A raw convolution's batch norm (inference form), folded into its filters
/// and bias for oneDNN and the reference, given unfolded to soma.
struct BatchNorm {
  std::vector<float> mean, variance, scale, shift;
};

/// One point of the result checked against the reference.
struct Point {
  int64_t n, o, oh, ow;
};

struct Case {
  const ConvSpec *spec = nullptr;
  int64_t batch = 0;
  ConvNet net;
  std::vector<BatchNorm> norms;               ///< block only: one per layer
  std::vector<std::vector<float>> rawW, rawB; ///< block only: before folding
  std::vector<float> x, expected;             ///< NCHW; expected: oneDNN's result
  std::vector<double> tol;                    ///< per output channel
  std::vector<Point> points;
  std::vector<double> ref; ///< the reference at `points`
  std::string error;       ///< set when oneDNN's result is wrong: every run skips
  fs::path dir;
};

// ---------------------------------------------------------------------------
// The reference: double precision, at single points.

/// Layer l's pre-activation sum at (n, o, oh, ow) over input `in(n, c, ih, iw)`.
template <class In>
double convAt(const ConvLayer &l, const In &in, int64_t n, int64_t o, int64_t oh, int64_t ow) {
  const int64_t cg = l.inChannels / l.groups, og = l.outChannels / l.groups, k = l.kernel;
  double sum = l.bias[static_cast<size_t>(o)];
  for (int64_t ci = 0; ci < cg; ++ci)
    for (int64_t kh = 0; kh < k; ++kh)
      for (int64_t kw = 0; kw < k; ++kw) {
        const int64_t ih = oh * l.stride - l.pad + kh, iw = ow * l.stride - l.pad + kw;
        if (ih < 0 || ih >= l.inH || iw < 0 || iw >= l.inW)
          continue;
        const double w = l.weights[static_cast<size_t>(((o * cg + ci) * k + kh) * k + kw)];
        sum += w * in(n, o / og * cg + ci, ih, iw);
      }
  return sum;
}

double referenceAt(const Case &c, const Point &p) {
  const ConvLayer &first = c.net.layers.front();
  auto x = [&](int64_t n, int64_t ch, int64_t ih, int64_t iw) {
    return static_cast<double>(
        c.x[static_cast<size_t>(((n * first.inChannels + ch) * first.inH + ih) * first.inW + iw)]);
  };
  auto relu = [](double v) { return std::max(v, 0.0); };
  if (!c.net.block) {
    const double v = convAt(first, x, p.n, p.o, p.oh, p.ow);
    return first.relu ? relu(v) : v;
  }
  auto h = [&](int64_t n, int64_t ch, int64_t ih, int64_t iw) {
    return relu(convAt(first, x, n, ch, ih, iw));
  };
  const double v = convAt(c.net.layers[1], h, p.n, p.o, p.oh, p.ow) + x(p.n, p.o, p.oh, p.ow);
  return relu(v);
}

/// The error a correct float implementation may make, per output channel:
/// each convolution may add Rel times an upper bound of the magnitude of
/// its sum (Σ|w| · the largest input of each channel + |b|), plus what the
/// previous layer's bound propagates through |w|; the residual add rounds
/// once more. Rel = 1e-5 as in bench/dense_bench.cpp: a dropped tap or bias
/// is far outside it (a tap is about 1/(C·K·K) of the magnitude).
std::vector<double> channelBounds(const ConvNet &net, double maxX) {
  constexpr double Rel = 1e-5;
  std::vector<double> maxIn(static_cast<size_t>(net.layers.front().inChannels), maxX);
  std::vector<double> errIn(maxIn.size(), 0.0), maxOut, errOut;
  for (const ConvLayer &l : net.layers) {
    const int64_t cg = l.inChannels / l.groups, og = l.outChannels / l.groups;
    const int64_t taps = l.kernel * l.kernel;
    maxOut.assign(static_cast<size_t>(l.outChannels), 0.0);
    errOut.assign(maxOut.size(), 0.0);
    for (int64_t o = 0; o < l.outChannels; ++o) {
      double mag = std::abs(l.bias[static_cast<size_t>(o)]), e = 0;
      for (int64_t ci = 0; ci < cg; ++ci) {
        const size_t ch = static_cast<size_t>(o / og * cg + ci);
        for (int64_t t = 0; t < taps; ++t) {
          const double a = std::abs(l.weights[static_cast<size_t>((o * cg + ci) * taps + t)]);
          mag += a * maxIn[ch];
          e += a * errIn[ch];
        }
      }
      maxOut[static_cast<size_t>(o)] = mag;
      errOut[static_cast<size_t>(o)] = e + Rel * mag;
    }
    maxIn.swap(maxOut);
    errIn.swap(errOut);
  }
  if (net.block)
    for (size_t o = 0; o < errIn.size(); ++o)
      errIn[o] += Rel * (maxIn[o] + maxX);
  for (double &e : errIn)
    e += 1e-30;
  return errIn;
}

// ---------------------------------------------------------------------------
// Building a case.

ConvLayer makeLayer(const ConvSpec &s, int64_t inChannels, std::mt19937_64 &rng) {
  ConvLayer l;
  l.inChannels = inChannels;
  l.outChannels = s.o;
  l.inH = l.inW = s.size;
  l.kernel = s.kernel;
  l.stride = s.stride;
  l.pad = s.pad;
  l.groups = s.groups;
  std::uniform_real_distribution<float> unit(-1.f, 1.f);
  // Uniform with He initialisation's variance: activations stay O(1).
  const float scale =
      std::sqrt(6.f / static_cast<float>(inChannels / s.groups * s.kernel * s.kernel));
  l.weights.resize(static_cast<size_t>(s.o * inChannels / s.groups * s.kernel * s.kernel));
  for (float &w : l.weights)
    w = scale * unit(rng);
  l.bias.resize(static_cast<size_t>(s.o));
  for (float &b : l.bias)
    b = 0.1f * unit(rng);
  return l;
}

/// Gives layer i of a block a batch norm and folds it into the layer (in
/// double, rounded once), keeping the raw filters and bias for soma.
void addBatchNorm(Case &c, ConvLayer &l, std::mt19937_64 &rng) {
  std::uniform_real_distribution<float> unit(-1.f, 1.f);
  BatchNorm bn;
  for (int64_t o = 0; o < l.outChannels; ++o) {
    bn.mean.push_back(0.1f * unit(rng));
    bn.variance.push_back(0.5f + 0.4f * unit(rng));
    bn.scale.push_back(1.f + 0.3f * unit(rng));
    bn.shift.push_back(0.1f * unit(rng));
  }
  c.rawW.push_back(l.weights);
  c.rawB.push_back(l.bias);
  const size_t per = l.weights.size() / static_cast<size_t>(l.outChannels);
  for (size_t o = 0; o < static_cast<size_t>(l.outChannels); ++o) {
    const double f =
        static_cast<double>(bn.scale[o]) / std::sqrt(static_cast<double>(bn.variance[o]) + 1e-5);
    for (size_t j = 0; j < per; ++j)
      l.weights[o * per + j] = static_cast<float>(l.weights[o * per + j] * f);
    l.bias[o] = static_cast<float>((static_cast<double>(l.bias[o]) - bn.mean[o]) * f + bn.shift[o]);
  }
  c.norms.push_back(std::move(bn));
}

std::vector<Point> checkPoints(const ConvLayer &last, int64_t batch, std::mt19937_64 &rng) {
  std::vector<Point> points;
  const int64_t oh = last.outH(), ow = last.outW(), oc = last.outChannels;
  std::uniform_int_distribution<int64_t> ch(0, oc - 1), row(0, oh - 1), col(0, ow - 1);
  for (int64_t n : {int64_t(0), batch / 2, batch - 1}) {
    if (!points.empty() && points.back().n == n)
      continue;
    for (int64_t r : {int64_t(0), int64_t(1), oh / 2, oh - 1})
      for (int64_t q : {int64_t(0), int64_t(1), ow / 2, ow - 2, ow - 1})
        points.push_back({n, ch(rng), r, std::max<int64_t>(q, 0)});
    for (int i = 0; i < 40; ++i)
      points.push_back({n, ch(rng), row(rng), col(rng)});
  }
  return points;
}

std::unique_ptr<ConvRunner> makeSomaConvRunner(const Case &c, int threads, soma::Engine engine,
                                               std::string &error);

std::unique_ptr<Case> buildCase(const ConvSpec &spec, int64_t batch, int index) {
  auto c = std::make_unique<Case>();
  c->spec = &spec;
  c->batch = batch;
  std::mt19937_64 rng(0xc0de0000u + static_cast<unsigned>(index));
  c->net.block = spec.block;
  c->net.layers.push_back(makeLayer(spec, spec.c, rng));
  if (spec.block) {
    c->net.layers.push_back(makeLayer(spec, spec.o, rng));
    c->net.layers[1].relu = true; // after the residual add
    for (ConvLayer &l : c->net.layers)
      addBatchNorm(*c, l, rng);
  }
  std::uniform_real_distribution<float> unit(-1.f, 1.f);
  c->x.resize(static_cast<size_t>(batch * c->net.inSize()));
  for (float &v : c->x)
    v = unit(rng);
  c->tol = channelBounds(c->net, 1.0);
  c->points = checkPoints(c->net.layers.back(), batch, rng);
  for (const Point &p : c->points)
    c->ref.push_back(referenceAt(*c, p));
  c->dir = tempDir() / ("conv" + std::to_string(index));
  fs::create_directories(c->dir);
  for (size_t i = 0; i < c->net.layers.size(); ++i) {
    const ConvLayer &l = c->net.layers[i];
    writeNpy(c->dir / ("w" + std::to_string(i) + ".npy"), spec.block ? c->rawW[i] : l.weights,
             {l.outChannels, l.inChannels / l.groups, l.kernel, l.kernel});
    writeNpy(c->dir / ("b" + std::to_string(i) + ".npy"), spec.block ? c->rawB[i] : l.bias,
             {l.outChannels});
  }
  return c;
}

/// Checks y (NCHW) against the reference points, and against oneDNN's
/// result (`against`, when given) at every element within twice the bound.
std::string checkOutput(const Case &c, const std::vector<float> &y,
                        const std::vector<float> *against) {
  const ConvLayer &last = c.net.layers.back();
  const int64_t plane = last.outH() * last.outW(), oc = last.outChannels;
  char buf[240];
  for (size_t i = 0; i < c.points.size(); ++i) {
    const Point &p = c.points[i];
    const size_t at =
        static_cast<size_t>(((p.n * oc + p.o) * last.outH() + p.oh) * last.outW() + p.ow);
    const double tol = c.tol[static_cast<size_t>(p.o)];
    if (std::abs(y[at] - c.ref[i]) <= tol)
      continue;
    std::snprintf(buf, sizeof buf,
                  "wrong result: y[%lld, %lld, %lld, %lld] = %.9g, reference %.9g (allowed %.3g)",
                  static_cast<long long>(p.n), static_cast<long long>(p.o),
                  static_cast<long long>(p.oh), static_cast<long long>(p.ow), y[at], c.ref[i], tol);
    return buf;
  }
  if (!against)
    return {};
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double tol = 2 * c.tol[static_cast<size_t>(static_cast<int64_t>(i) / plane % oc)];
    if (!(std::abs(static_cast<double>(y[i]) - (*against)[i]) <= tol) && bad++ == 0)
      first = i;
  }
  if (!bad)
    return {};
  std::snprintf(buf, sizeof buf,
                "differs from oneDNN at %zu elements, first at flat index %zu: %.9g, oneDNN %.9g",
                bad, first, y[first], (*against)[first]);
  return buf;
}

// ---------------------------------------------------------------------------
// soma through its public API.

class SomaConvRunner final : public ConvRunner {
public:
  SomaConvRunner(soma::Model model, const Case &c) : model(std::move(model)) {
    const ConvLayer &first = c.net.layers.front(), &last = c.net.layers.back();
    in = {{"x", nullptr, {c.batch, first.inChannels, first.inH, first.inW}}};
    y.resize(static_cast<size_t>(c.batch * c.net.outSize()));
    out = {{this->model.outputs().front().name,
            y.data(),
            {c.batch, last.outChannels, last.outH(), last.outW()}}};
  }
  void setInput(const float *x) override { in[0].data = x; }
  void run() override {
    soma::Status s = model.run(in, out);
    if (!s)
      throw std::runtime_error("soma run: " + s.message());
  }
  void output(float *dst) override { std::copy(y.begin(), y.end(), dst); }

private:
  soma::Model model;
  std::vector<soma::InputBuffer> in;
  std::vector<soma::OutputBuffer> out;
  std::vector<float> y;
};

std::string floatList(const std::vector<float> &v) {
  std::string s = "[";
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.9g", i ? ", " : "", static_cast<double>(v[i]));
    s += buf;
  }
  return s + "]";
}

std::string convText(const ConvLayer &l, const std::string &name, const std::string &from, size_t i,
                     bool relu) {
  return "  conv2d " + name + "(" + from + ") { filters = " + std::to_string(l.outChannels) +
         "; kernel = " + std::to_string(l.kernel) + "; stride = " + std::to_string(l.stride) +
         "; padding = " + std::to_string(l.pad) + "; groups = " + std::to_string(l.groups) +
         "; weights = npy(\"w" + std::to_string(i) + ".npy\"); bias = npy(\"b" + std::to_string(i) +
         ".npy\")" + (relu ? "; activation = relu" : "") + " }\n";
}

/// The network text: one conv2d with relu, or the basic block written as
/// a user would (conv, batchnorm, relu, conv, batchnorm, add, relu), which
/// soma's -O2 passes fold and fuse.
std::string somaText(const Case &c) {
  const ConvLayer &first = c.net.layers.front();
  std::string text = "network bench {\n  input x: f32[" + std::to_string(first.inChannels) + ", " +
                     std::to_string(first.inH) + ", " + std::to_string(first.inW) + "]\n";
  if (!c.net.block)
    return text + convText(first, "c1", "x", 0, true) + "  output c1\n}\n";
  for (size_t i = 0; i < 2; ++i) {
    const std::string k = std::to_string(i + 1);
    const BatchNorm &bn = c.norms[i];
    text += convText(c.net.layers[i], "c" + k, i ? "r1" : "x", i, false);
    text += "  batchnorm n" + k + "(c" + k + ") { mean = " + floatList(bn.mean) +
            "; variance = " + floatList(bn.variance) + "; scale = " + floatList(bn.scale) +
            "; shift = " + floatList(bn.shift) + "; epsilon = 1e-5; axis = 0 }\n";
    if (i == 0)
      text += "  activation r1(n1) { activation = relu }\n";
  }
  return text + "  add s(n2, x)\n  activation y(s) { activation = relu }\n  output y\n}\n";
}

std::unique_ptr<ConvRunner> makeSomaConvRunner(const Case &c, int threads, soma::Engine engine,
                                               std::string &error) {
  const fs::path file = c.dir / "net.nn";
  std::ofstream(file) << somaText(c);
  soma::CompileOptions options;
  options.threads = threads;
  options.engine = engine; // explicit: Auto would mix the vec engine and the JIT
  soma::Result<soma::Model> model = soma::Model::compileFile(file.string(), options);
  if (!model) {
    error = "soma: " + model.error();
    return nullptr;
  }
  return std::make_unique<SomaConvRunner>(std::move(*model), c);
}

// ---------------------------------------------------------------------------
// The benchmarks.

enum class Impl { Soma, SomaVec, OneDnn };
constexpr Impl Impls[] = {Impl::OneDnn, Impl::Soma, Impl::SomaVec};

const char *implName(Impl impl) {
  switch (impl) {
  case Impl::Soma:
    return "soma";
  case Impl::SomaVec:
    return "vec";
  case Impl::OneDnn:
    return "onednn";
  }
  return "?";
}

/// The case being measured and its runners: benchmarks run in
/// registration order, case by case, so one case's arrays are alive at a time.
struct Current {
  std::pair<int, int64_t> key{-1, 0};
  std::unique_ptr<Case> c;
  std::map<std::pair<Impl, int>, std::unique_ptr<ConvRunner>> runners;
};

Current &current() {
  static Current cur;
  return cur;
}

ConvRunner *getRunner(const Case &c, Impl impl, int threads, std::string &error) {
  auto &slot = current().runners[{impl, threads}];
  if (!slot) {
    if (impl == Impl::OneDnn)
      slot = makeOneDnnConvRunner(c.net, c.batch, threads, error);
    else
      slot = makeSomaConvRunner(c, threads,
                                impl == Impl::Soma ? soma::Engine::Jit : soma::Engine::Vec, error);
  }
  return slot.get();
}

/// Builds the case, runs oneDNN on it once (1 thread) and checks its result
/// against the reference; that result is what soma's are compared with.
const Case &getCase(int index, int64_t batch) {
  Current &cur = current();
  if (cur.key == std::make_pair(index, batch))
    return *cur.c;
  cur.runners.clear();
  cur.c.reset();
  cur.c = buildCase(convSpecs()[static_cast<size_t>(index)], batch, index);
  cur.key = {index, batch};
  Case &c = *cur.c;
  ConvRunner *onednn = getRunner(c, Impl::OneDnn, 1, c.error);
  if (!onednn)
    return c;
  c.expected.assign(static_cast<size_t>(batch * c.net.outSize()), std::nanf(""));
  onednn->useThreads();
  onednn->setInput(c.x.data());
  onednn->run();
  onednn->output(c.expected.data());
  if (std::string e = checkOutput(c, c.expected, nullptr); !e.empty())
    c.error = "oneDNN: " + e;
  return c;
}

std::string runAndCheck(const Case &c, ConvRunner &r, std::vector<float> &y, bool soma) {
  try {
    r.run();
  } catch (const std::exception &e) {
    return e.what();
  }
  std::fill(y.begin(), y.end(), std::nanf(""));
  r.output(y.data());
  return checkOutput(c, y, soma ? &c.expected : nullptr);
}

void BM_Conv(benchmark::State &state, int index, int64_t batch, Impl impl, int threads) {
  const Case &c = getCase(index, batch);
  std::string error = c.error;
  ConvRunner *runner = error.empty() ? getRunner(c, impl, threads, error) : nullptr;
  if (!runner) {
    state.SkipWithError(error.c_str());
    return;
  }
  runner->useThreads();
  runner->setInput(c.x.data());
  std::vector<float> y(static_cast<size_t>(batch * c.net.outSize()));
  if (std::string e = runAndCheck(c, *runner, y, impl != Impl::OneDnn); !e.empty()) {
    state.SkipWithError(e.c_str());
    return;
  }
  for (auto _ : state) {
    runner->run();
    benchmark::ClobberMemory();
  }
  // Again after the timed loop: a race between threads would show here.
  if (std::string e = runAndCheck(c, *runner, y, impl != Impl::OneDnn); !e.empty()) {
    state.SkipWithError(("after the timed loop: " + e).c_str());
    return;
  }
  state.counters["flops"] = c.net.flopsPerSample() * static_cast<double>(batch);
  state.counters["bytes"] = 4.0 * static_cast<double>(batch * (c.net.inSize() + c.net.outSize()));
  state.counters["threads"] = threads;
  state.SetLabel(impl == Impl::OneDnn ? oneDnnConvImpls(c.net, batch, threads) : "");
}

/// The read bound of a depthwise case: how long `threads` threads take to
/// read as many bytes as the layer reads and writes (its input and output,
/// each thread its own share), from wherever repeated reads keep them
/// (each core's L2, the shared L3, memory). Time per read of all the bytes.
void BM_ReadBound(benchmark::State &state, int index, int64_t batch, int threads) {
  const ConvSpec &s = convSpecs()[static_cast<size_t>(index)];
  const int64_t out = (s.size + 2 * s.pad - s.kernel) / s.stride + 1;
  measureReadBound(state, batch * (s.c * s.size * s.size + s.o * out * out), threads);
}

void registerAll() {
  // The peak first and again last, under the same name: other jobs can
  // only lower it, and bench/report.py takes the best repetition.
  registerPeak();
  const auto &specs = convSpecs();
  for (size_t i = 0; i < specs.size(); ++i)
    for (int64_t b : Batches) {
      const std::string prefix = "conv/" + specs[i].name + "/b" + std::to_string(b) + "/";
      for (int t : ThreadCounts)
        for (Impl impl : Impls)
          benchmark::RegisterBenchmark((prefix + implName(impl) + "/t" + std::to_string(t)).c_str(),
                                       BM_Conv, static_cast<int>(i), b, impl, t)
              ->UseRealTime()
              ->MinTime(b > 1 ? 0.3 : 0.1)
              ->Unit(benchmark::kMicrosecond);
      if (specs[i].groups > 1)
        for (int t : ThreadCounts)
          benchmark::RegisterBenchmark((prefix + "readbound/t" + std::to_string(t)).c_str(),
                                       BM_ReadBound, static_cast<int>(i), b, t)
              ->UseManualTime()
              ->Iterations(8)
              ->Unit(benchmark::kMicrosecond);
    }
  registerPeak();
}

/// Destroys the prepared models before static destruction: a soma::Model
/// destroyed after soma's JIT statics are gone blocks in its destructor.
void releaseAll() {
  current().runners.clear();
  current().c.reset();
  current().key = {-1, 0};
}

} // namespace
} // namespace bench

int main(int argc, char **argv) {
  bench::registerAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  bench::addCpuContext();
  benchmark::AddCustomContext("onednn", bench::oneDnnVersion());
  benchmark::AddCustomContext("suite", "conv");
  benchmark::RunSpecifiedBenchmarks();
  bench::releaseAll();
  benchmark::Shutdown();
  return 0;
}
