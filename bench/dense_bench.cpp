// soma against the anchors, in one run, on the same inputs, next to the
// machine's FMA peak (bench/fma_peak.cpp), at 1 and 2 threads. Two suites
// (--suite=dense, the default, or --suite=sparse; the peak runs in both):
// - dense: dense relu layers, a 784-512-512-10 MLP and a single neuron,
//   through soma's public API (its JIT engine and its vec engine) and
//   through oneDNN, OpenBLAS, Eigen and LIBXSMM;
// - sparse: 1024x1024 and 4096x4096 relu layers whose weights are 50..99%
//   zeros (uniformly random positions, seeded), batch 1 and 64: soma's JIT
//   with the kernel chosen by its cost model, forced dense and forced
//   sparse, dense oneDNN on the same weights (zeros included) and Eigen's
//   SparseMatrix (CSR). Every implementation's result
// is checked against a double-precision reference before and after its timed
// loop; a wrong result fails the benchmark (SkipWithError) and is never
// reported as a time. bench/run runs this and bench/report.py turns the JSON
// into the table and plot of docs/performance.md.
//
// Benchmark names: peak/fma/t<threads>, dense/<batch>x<inputs>x<outputs>/
// <impl>/t<threads>, mlp/b<batch>/<impl>/t<threads>, neuron/<impl>/t<threads>,
// sparse/<batch>x<inputs>x<outputs>/z<percent zeros>/<impl>/t<threads>.
// Each reports real time per call and the counter `flops` (per call).
#include "DenseBench.h"
#include "soma/soma.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

namespace bench {

void softmaxRows(float *y, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    float *row = y + r * cols;
    float max = *std::max_element(row, row + cols), sum = 0;
    for (int64_t c = 0; c < cols; ++c)
      sum += row[c] = std::exp(row[c] - max);
    for (int64_t c = 0; c < cols; ++c)
      row[c] /= sum;
  }
}

namespace {

namespace fs = std::filesystem;

constexpr int ThreadCounts[] = {1, 2};

// ---------------------------------------------------------------------------
// The cases: networks, inputs and reference outputs, built once per case.

enum class Suite { Dense, Sparse };

struct CaseSpec {
  std::string name;
  int64_t batch;
  std::vector<int64_t> widths; ///< inputs, then each layer's outputs
  bool mlp;                    ///< relu, relu, ..., softmax; else one relu layer
  Suite suite = Suite::Dense;
  int zeroPercent = 0; ///< this share of every layer's weights is zero
};

/// The sparse suite's zero shares (issue 7) and layer sizes.
constexpr int ZeroPercents[] = {50, 70, 80, 90, 95, 99};
constexpr int64_t SparseSizes[] = {1024, 4096};

const std::vector<CaseSpec> &caseSpecs() {
  static const std::vector<CaseSpec> specs = [] {
    std::vector<CaseSpec> v = {
        {"dense/1x784x512", 1, {784, 512}, false},
        {"dense/1x1024x1024", 1, {1024, 1024}, false},
        {"dense/64x1024x1024", 64, {1024, 1024}, false},
        {"dense/256x1024x1024", 256, {1024, 1024}, false},
        {"dense/256x4096x4096", 256, {4096, 4096}, false},
        {"mlp/b1", 1, {784, 512, 512, 10}, true},
        {"mlp/b64", 64, {784, 512, 512, 10}, true},
    };
    for (int64_t n : SparseSizes)
      for (int z : ZeroPercents)
        for (int64_t b : {int64_t(1), int64_t(64)})
          v.push_back({"sparse/" + std::to_string(b) + "x" + std::to_string(n) + "x" +
                           std::to_string(n) + "/z" + std::to_string(z),
                       b,
                       {n, n},
                       false,
                       Suite::Sparse,
                       z});
    return v;
  }();
  return specs;
}

/// The reference checks at most this many multiply-adds in double; beyond
/// it, a sample of rows (first, middle, last and random ones) is checked.
constexpr double MaxReferenceMacs = 3e8;

struct Case {
  const CaseSpec *spec = nullptr;
  Net net;
  std::vector<float> x;
  std::vector<int64_t> checkRows;
  std::vector<double> ref, tol; ///< [checkRows, outputs]
  fs::path dir;                 ///< the .npy weight files and the .nn file for soma
};

/// Reference forward pass in double for one sample, with a per-output bound
/// on the float error of a correct implementation: each layer may add
/// `Rel` times the magnitude of its weighted sum (sum |w x| + |b|), plus what
/// the previous layers' bounds propagate through |W|; softmax scales the
/// logits' largest bound by 2 p. Rel = 1e-5 is 2.6 times the typical error
/// growth of an f32 sum of 4096 terms (sqrt(4096) * 2^-24 = 3.8e-6) and 40
/// times the largest error the four implementations showed here, so a
/// correct kernel passes and a dropped term or bias does not.
void referenceRow(const Net &net, const float *xRow, double *out, double *tolOut) {
  constexpr double Rel = 1e-5;
  std::vector<double> x(xRow, xRow + net.inputs()), err(x.size(), 0.0), y, yErr;
  for (const Layer &l : net.layers) {
    y.assign(static_cast<size_t>(l.outputs), 0.0);
    yErr.assign(y.size(), 0.0);
    for (int64_t o = 0; o < l.outputs; ++o) {
      const float *w = l.weights.data() + o * l.inputs;
      double sum = l.bias[static_cast<size_t>(o)], mag = std::abs(sum), e = 0;
      for (int64_t i = 0; i < l.inputs; ++i) {
        sum += static_cast<double>(w[i]) * x[static_cast<size_t>(i)];
        mag += std::abs(static_cast<double>(w[i]) * x[static_cast<size_t>(i)]);
        e += std::abs(static_cast<double>(w[i])) * err[static_cast<size_t>(i)];
      }
      y[static_cast<size_t>(o)] = l.act == Act::Relu ? std::max(sum, 0.0) : sum;
      yErr[static_cast<size_t>(o)] = e + Rel * mag;
    }
    if (l.act == Act::Softmax) {
      double max = *std::max_element(y.begin(), y.end()), sum = 0;
      double maxErr = *std::max_element(yErr.begin(), yErr.end());
      for (double &v : y)
        sum += v = std::exp(v - max);
      for (size_t o = 0; o < y.size(); ++o) {
        y[o] /= sum;
        yErr[o] = 2 * y[o] * maxErr + 1e-7;
      }
    }
    x.swap(y);
    err.swap(yErr);
  }
  for (size_t o = 0; o < x.size(); ++o) {
    out[o] = x[o];
    // The final rounding to f32, and a floor for outputs that are exactly 0.
    tolOut[o] = err[o] + 1e-6 * std::abs(x[o]) + 1e-30;
  }
}

std::unique_ptr<Case> buildCase(const CaseSpec &spec, int index) {
  auto c = std::make_unique<Case>();
  c->spec = &spec;
  std::mt19937_64 rng(0x5eed0000u + static_cast<unsigned>(index));
  std::uniform_real_distribution<float> unit(-1.f, 1.f);
  for (size_t i = 0; i + 1 < spec.widths.size(); ++i) {
    Layer l;
    l.inputs = spec.widths[i];
    l.outputs = spec.widths[i + 1];
    l.act = spec.mlp && i + 2 == spec.widths.size() ? Act::Softmax : Act::Relu;
    // Uniform with the variance of He initialisation: activations stay O(1)
    // through the layers, about half of the relu outputs are zero.
    const float scale = std::sqrt(6.f / static_cast<float>(l.inputs));
    l.weights.resize(static_cast<size_t>(l.inputs * l.outputs));
    for (float &w : l.weights)
      w = scale * unit(rng);
    if (spec.zeroPercent > 0) {
      // Exactly round(share * n) zeros at uniformly random positions
      // (selection sampling: each position is taken with probability
      // still needed / still left).
      const int64_t n = static_cast<int64_t>(l.weights.size());
      int64_t need = (n * spec.zeroPercent + 50) / 100;
      for (int64_t i = 0; i < n && need > 0; ++i)
        if (std::uniform_int_distribution<int64_t>(0, n - i - 1)(rng) < need) {
          l.weights[static_cast<size_t>(i)] = 0.f;
          --need;
        }
    }
    l.bias.resize(static_cast<size_t>(l.outputs));
    for (float &b : l.bias)
      b = 0.1f * unit(rng);
    c->net.layers.push_back(std::move(l));
  }
  c->x.resize(static_cast<size_t>(spec.batch * c->net.inputs()));
  for (float &v : c->x)
    v = unit(rng);

  const double macs = c->net.flopsPerSample() / 2 * static_cast<double>(spec.batch);
  if (macs <= MaxReferenceMacs) {
    for (int64_t r = 0; r < spec.batch; ++r)
      c->checkRows.push_back(r);
  } else {
    const int64_t b = spec.batch;
    for (int64_t r : {int64_t(0), int64_t(1), int64_t(2), b / 2 - 2, b / 2 - 1, b / 2, b / 2 + 1,
                      b - 3, b - 2, b - 1})
      c->checkRows.push_back(r);
    std::uniform_int_distribution<int64_t> row(0, b - 1);
    for (int i = 0; i < 6; ++i)
      c->checkRows.push_back(row(rng));
  }
  const size_t outs = static_cast<size_t>(c->net.outputs());
  c->ref.resize(c->checkRows.size() * outs);
  c->tol.resize(c->ref.size());
  for (size_t i = 0; i < c->checkRows.size(); ++i)
    referenceRow(c->net, c->x.data() + c->checkRows[i] * c->net.inputs(), c->ref.data() + i * outs,
                 c->tol.data() + i * outs);

  c->dir = tempDir() / std::to_string(index);
  fs::create_directories(c->dir);
  for (size_t i = 0; i < c->net.layers.size(); ++i) {
    const Layer &l = c->net.layers[i];
    writeNpy(c->dir / ("w" + std::to_string(i) + ".npy"), l.weights, {l.outputs, l.inputs});
    writeNpy(c->dir / ("b" + std::to_string(i) + ".npy"), l.bias, {l.outputs});
  }
  return c;
}

/// Compares y [batch, outputs] with the reference; returns an empty string
/// when every checked element is within its bound.
std::string checkOutput(const Case &c, const std::vector<float> &y) {
  const int64_t outs = c.net.outputs();
  size_t bad = 0;
  std::string first;
  for (size_t i = 0; i < c.checkRows.size(); ++i)
    for (int64_t o = 0; o < outs; ++o) {
      const double want = c.ref[i * static_cast<size_t>(outs) + static_cast<size_t>(o)];
      const double tol = c.tol[i * static_cast<size_t>(outs) + static_cast<size_t>(o)];
      const double got = y[static_cast<size_t>(c.checkRows[i] * outs + o)];
      if (std::abs(got - want) <= tol)
        continue;
      if (bad++ == 0) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "y[%lld, %lld] = %.9g, reference %.9g (allowed error %.3g)",
                      static_cast<long long>(c.checkRows[i]), static_cast<long long>(o), got, want,
                      tol);
        first = buf;
      }
    }
  if (!bad)
    return {};
  return "wrong result: " + std::to_string(bad) + " elements outside the bound, first " + first;
}

// ---------------------------------------------------------------------------
// The soma runner (each anchor is in its own file).

/// soma through its public API: the network text names the weight files the
/// other engines' arrays were written to, so every engine multiplies by
/// exactly the same numbers. The buffer lists are built once, as an
/// application calling run in a loop would.
class SomaRunner final : public Runner {
public:
  SomaRunner(soma::Model model, int64_t batch, int64_t inputs, int64_t outputs)
      : model(std::move(model)) {
    in = {{"x", nullptr, {batch, inputs}}};
    out = {{this->model.outputs().front().name, nullptr, {batch, outputs}}};
  }
  void run(const float *x, float *y) override {
    in[0].data = x;
    out[0].data = y;
    soma::Status s = model.run(in, out);
    if (!s)
      throw std::runtime_error("soma run: " + s.message());
  }

private:
  soma::Model model;
  std::vector<soma::InputBuffer> in;
  std::vector<soma::OutputBuffer> out;
};

std::unique_ptr<Runner> makeSomaRunner(const Case &c, int threads, soma::Engine engine,
                                       soma::Sparsity sparsity, std::string &error) {
  std::string text = "network bench {\n  input x: f32[" + std::to_string(c.net.inputs()) + "]\n";
  std::string prev = "x";
  for (size_t i = 0; i < c.net.layers.size(); ++i) {
    const Layer &l = c.net.layers[i];
    std::string name = "fc" + std::to_string(i + 1);
    text += "  dense " + name + "(" + prev + ") { units = " + std::to_string(l.outputs) +
            "; weights = npy(\"w" + std::to_string(i) + ".npy\"); bias = npy(\"b" +
            std::to_string(i) +
            ".npy\"); activation = " + (l.act == Act::Relu ? "relu" : "softmax") + " }\n";
    prev = name;
  }
  text += "  output " + prev + "\n}\n";
  const fs::path file = c.dir / "net.nn";
  std::ofstream(file) << text;
  soma::CompileOptions options;
  options.threads = threads;
  // Explicit engines: the default (Auto) answers on the vec engine until
  // its background JIT compile is done, which would mix the two.
  options.engine = engine;
  options.sparsity = sparsity;
  soma::Result<soma::Model> model = soma::Model::compileFile(file.string(), options);
  if (!model) {
    error = "soma: " + model.error();
    return nullptr;
  }
  return std::make_unique<SomaRunner>(std::move(*model), c.spec->batch, c.net.inputs(),
                                      c.net.outputs());
}

// ---------------------------------------------------------------------------
// The benchmarks.

/// Soma: the JIT engine with the kernels its cost model chooses; SomaVec:
/// the vec engine; SomaDense, SomaSparse: the JIT with every layer's kernel
/// forced (CompileOptions::sparsity).
enum class Impl {
  Soma,
  SomaVec,
  SomaDense,
  SomaSparse,
  OneDnn,
  OpenBlas,
  Eigen,
  Libxsmm,
  EigenSparse
};
constexpr Impl DenseImpls[] = {Impl::Soma,     Impl::SomaVec, Impl::OneDnn,
                               Impl::OpenBlas, Impl::Eigen,   Impl::Libxsmm};
constexpr Impl SparseImpls[] = {Impl::Soma, Impl::SomaDense, Impl::SomaSparse, Impl::OneDnn,
                                Impl::EigenSparse};

const char *implName(Impl impl) {
  switch (impl) {
  case Impl::Soma:
    return "soma";
  case Impl::SomaVec:
    return "vec";
  case Impl::SomaDense:
    return "soma-dense";
  case Impl::SomaSparse:
    return "soma-sparse";
  case Impl::EigenSparse:
    return "eigen-sparse";
  case Impl::OneDnn:
    return "onednn";
  case Impl::OpenBlas:
    return "openblas";
  case Impl::Eigen:
    return "eigen";
  case Impl::Libxsmm:
    return "libxsmm";
  }
  return "?";
}

/// The case being measured and the runners prepared for it. Benchmarks run
/// in registration order (case by case), so only one case's weights (up to
/// 4096 x 4096, in each engine's copy) are alive at a time.
struct Current {
  int index = -1;
  std::unique_ptr<Case> c;
  std::map<std::pair<Impl, int>, std::unique_ptr<Runner>> runners;
};

Current &current() {
  static Current cur;
  return cur;
}

const Case &getCase(int index) {
  Current &cur = current();
  if (cur.index != index) {
    cur.runners.clear();
    cur.c.reset();
    cur.c = buildCase(caseSpecs()[static_cast<size_t>(index)], index);
    cur.index = index;
  }
  return *cur.c;
}

Runner *getRunner(const Case &c, Impl impl, int threads, std::string &error) {
  auto &slot = current().runners[{impl, threads}];
  if (!slot) {
    switch (impl) {
    case Impl::Soma:
      slot = makeSomaRunner(c, threads, soma::Engine::Jit, soma::Sparsity::Auto, error);
      break;
    case Impl::SomaVec:
      slot = makeSomaRunner(c, threads, soma::Engine::Vec, soma::Sparsity::Auto, error);
      break;
    case Impl::SomaDense:
      slot = makeSomaRunner(c, threads, soma::Engine::Jit, soma::Sparsity::Dense, error);
      break;
    case Impl::SomaSparse:
      slot = makeSomaRunner(c, threads, soma::Engine::Jit, soma::Sparsity::Sparse, error);
      break;
    case Impl::EigenSparse:
      // Each batch size in the layout that measured best (1024x1024, 90%
      // zeros, 1 thread): at batch 64 feature-major, 0.73 ms against 4.7 ms
      // sample-major; at batch 1 sample-major (a plain CSR matrix-vector
      // product), 80 us against 348 us with the two transposes.
      slot = makeEigenSparseRunner(
          c.net, c.spec->batch, threads,
          c.spec->batch > 1 ? SparseLayout::FeatureMajor : SparseLayout::SampleMajor, error);
      break;
    case Impl::OneDnn:
      slot = makeOneDnnRunner(c.net, c.spec->batch, threads, error);
      break;
    case Impl::OpenBlas:
      slot = makeOpenBlasRunner(c.net, c.spec->batch, threads, error);
      break;
    case Impl::Eigen:
      slot = makeEigenRunner(c.net, c.spec->batch, threads, error);
      break;
    case Impl::Libxsmm:
      slot = makeLibxsmmRunner(c.net, c.spec->batch, threads, error);
      break;
    }
  }
  return slot.get();
}

void BM_Case(benchmark::State &state, int index, Impl impl, int threads) {
  const Case &c = getCase(index);
  std::string error;
  Runner *runner = getRunner(c, impl, threads, error);
  if (!runner) {
    state.SkipWithError(error.c_str());
    return;
  }
  runner->useThreads();
  std::vector<float> y(static_cast<size_t>(c.spec->batch * c.net.outputs()), std::nanf(""));
  try {
    runner->run(c.x.data(), y.data());
  } catch (const std::exception &e) {
    error = e.what();
  }
  if (error.empty())
    error = checkOutput(c, y);
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  std::fill(y.begin(), y.end(), std::nanf(""));
  for (auto _ : state) {
    runner->run(c.x.data(), y.data());
    benchmark::ClobberMemory();
  }
  // Again after the timed loop: a race between threads would show here.
  error = checkOutput(c, y);
  if (!error.empty()) {
    state.SkipWithError(("after the timed loop: " + error).c_str());
    return;
  }
  state.counters["flops"] = c.net.flopsPerSample() * static_cast<double>(c.spec->batch);
  state.counters["threads"] = threads;
}

/// Per-call overhead: one neuron, 2 inputs, relu, x = [0.5, 0.3], weights
/// [0.8, 0.6], bias 0.2 (the worked example): y = 0.78.
void BM_Neuron(benchmark::State &state, Impl impl, int threads) {
  const float w[2] = {0.8f, 0.6f}, x[2] = {0.5f, 0.3f};
  const float bias = 0.2f;
  std::string error;
  std::unique_ptr<Runner> runner;
  if (impl == Impl::OneDnn) {
    runner = makeOneDnnNeuron(w, bias, threads, error);
  } else {
    soma::CompileOptions options;
    options.threads = threads;
    options.engine = soma::Engine::Jit;
    auto model = soma::Model::compileString(
        "network neuron {\n  input x: f32[2]\n"
        "  neuron fc1(x) { weights = [0.8, 0.6]; bias = 0.2; activation = relu }\n  output fc1\n}\n",
        options);
    if (!model)
      error = "soma: " + model.error();
    else
      runner = std::make_unique<SomaRunner>(std::move(*model), 1, 2, 1);
  }
  if (!runner) {
    state.SkipWithError(error.c_str());
    return;
  }
  runner->useThreads();
  float y = std::nanf("");
  const double want = 0.8 * double(0.5f) + 0.6 * double(0.3f) + double(0.2f);
  runner->run(x, &y);
  if (!(std::abs(y - want) <= 1e-6)) {
    error = "wrong result: " + std::to_string(y) + ", reference " + std::to_string(want);
    state.SkipWithError(error.c_str());
    return;
  }
  for (auto _ : state) {
    runner->run(x, &y);
    benchmark::DoNotOptimize(y);
  }
  state.counters["flops"] = 4;
  state.counters["threads"] = threads;
}

/// The read bound of a batch-1 case: how long `threads` threads take to
/// read its weights once, each its own share (as a layer split over the
/// threads reads its own weights), from wherever repeated reads keep them
/// (each core's L2, the shared L3, memory): measureReadBound, whose time
/// is per read of all the weights.
void BM_ReadBound(benchmark::State &state, int caseIndex, int threads) {
  const CaseSpec &spec = caseSpecs()[static_cast<size_t>(caseIndex)];
  int64_t floats = 0;
  for (size_t l = 0; l + 1 < spec.widths.size(); ++l)
    floats += spec.widths[l] * spec.widths[l + 1];
  measureReadBound(state, floats, threads);
}

/// Minimum time per repetition: the sparse suite has 24 cases of 6 (ways
/// x threads); its 4096x4096 layers at batch 64 take up to 20 ms a call, so
/// they get few calls, the rest a bit more.
double minTime(const CaseSpec &spec) {
  if (spec.suite == Suite::Dense)
    return 0.2;
  return spec.widths[0] >= 4096 && spec.batch > 1 ? 0.05 : 0.1;
}

void registerAll(Suite suite) {
  // The peak is measured first and again last, under the same name: other
  // jobs on the machine can only lower it, and bench/report.py takes the
  // best repetition of both.
  registerPeak();
  const auto &specs = caseSpecs();
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].suite != suite)
      continue;
    for (int t : ThreadCounts) {
      auto run = [&](Impl impl) {
        benchmark::RegisterBenchmark(
            (specs[i].name + "/" + implName(impl) + "/t" + std::to_string(t)).c_str(), BM_Case,
            static_cast<int>(i), impl, t)
            ->UseRealTime()
            ->MinTime(minTime(specs[i]))
            ->Unit(benchmark::kMicrosecond);
      };
      if (suite == Suite::Dense)
        for (Impl impl : DenseImpls)
          run(impl);
      else
        for (Impl impl : SparseImpls)
          run(impl);
    }
  }
  if (suite == Suite::Dense)
    for (size_t i = 0; i < specs.size(); ++i)
      if (specs[i].suite == suite && specs[i].batch == 1)
        for (int t : ThreadCounts)
          benchmark::RegisterBenchmark((specs[i].name + "/readbound/t" + std::to_string(t)).c_str(),
                                       BM_ReadBound, static_cast<int>(i), t)
              ->UseManualTime()
              ->Iterations(16) // each 256 MiB of reads per thread: tens of ms
              ->Unit(benchmark::kMicrosecond);
  if (suite == Suite::Dense)
    for (int t : ThreadCounts)
      for (Impl impl : {Impl::Soma, Impl::OneDnn})
        benchmark::RegisterBenchmark(
            ("neuron/" + std::string(implName(impl)) + "/t" + std::to_string(t)).c_str(), BM_Neuron,
            impl, t)
            ->UseRealTime()
            ->MinTime(0.2)
            ->Unit(benchmark::kNanosecond);
  registerPeak();
}

/// Destroys the prepared models before static destruction: a soma::Model
/// destroyed after soma's JIT statics are gone blocks forever in its
/// destructor (seen with LLVM 19's LLJIT), so none may outlive main.
void releaseAll() {
  current().runners.clear();
  current().c.reset();
  current().index = -1;
}

} // namespace
} // namespace bench

int main(int argc, char **argv) {
  // --suite=dense|sparse is this program's own flag; the rest are Google
  // Benchmark's.
  bench::Suite suite = bench::Suite::Dense;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--suite=dense") {
      suite = bench::Suite::Dense;
    } else if (arg == "--suite=sparse") {
      suite = bench::Suite::Sparse;
    } else if (arg.rfind("--suite", 0) == 0) {
      std::fprintf(stderr, "soma_dense_bench: unknown %s (--suite=dense or --suite=sparse)\n",
                   arg.c_str());
      return 1;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  bench::registerAll(suite);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  bench::addCpuContext();
  benchmark::AddCustomContext("onednn", bench::oneDnnVersion());
  benchmark::AddCustomContext("openblas", bench::openBlasConfig());
  benchmark::AddCustomContext("libxsmm", bench::libxsmmVersion());
  benchmark::AddCustomContext("eigen", bench::eigenThreading());
  benchmark::AddCustomContext("suite", suite == bench::Suite::Dense ? "dense" : "sparse");
  benchmark::RunSpecifiedBenchmarks();
  bench::releaseAll();
  benchmark::Shutdown();
  return 0;
}
