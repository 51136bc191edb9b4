// What bench/dense_bench.cpp shares with the translation units that need
// their own compile flags: the networks it measures (plain float arrays, so
// every engine reads the same numbers), the interface each engine is driven
// through, and the engines' factories. No library header leaks from here:
// each anchor (oneDNN, OpenBLAS, Eigen, LIBXSMM) and the FMA loop live in
// their own file, compiled with the flags bench/CMakeLists.txt gives it.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace bench {

enum class Act { Relu, Softmax };

/// One dense layer: y = act(x W^T + b), W row-major [outputs, inputs], the
/// layout of soma's `weights` attribute.
struct Layer {
  int64_t inputs = 0, outputs = 0;
  std::vector<float> weights, bias;
  Act act = Act::Relu;
};

/// A chain of dense layers, each reading the previous one's output.
struct Net {
  std::vector<Layer> layers;
  int64_t inputs() const { return layers.front().inputs; }
  int64_t outputs() const { return layers.back().outputs; }
  /// 2 flops per multiply-add, per sample.
  double flopsPerSample() const {
    double f = 0;
    for (const Layer &l : layers)
      f += 2.0 * static_cast<double>(l.inputs * l.outputs);
    return f;
  }
};

/// One implementation, prepared (weights packed, primitives created) for one
/// network, one batch size and one thread count. `run` is what is timed: it
/// reads `x` [batch, inputs] and writes `y` [batch, outputs], row-major.
class Runner {
public:
  virtual ~Runner() = default;
  /// Restores the implementation's thread setting before a timed loop (the
  /// libraries keep it in process-wide state that other runners change).
  virtual void useThreads() {}
  virtual void run(const float *x, float *y) = 0;
};

/// Row-wise softmax in place, in float (the anchors' last MLP layer; its
/// cost is negligible next to the matrix products).
void softmaxRows(float *y, int64_t rows, int64_t cols);

/// Each factory returns nullptr and sets `error` when the library refuses.
std::unique_ptr<Runner> makeOneDnnRunner(const Net &net, int64_t batch, int threads,
                                         std::string &error);
std::unique_ptr<Runner> makeEigenRunner(const Net &net, int64_t batch, int threads,
                                        std::string &error);
std::unique_ptr<Runner> makeOpenBlasRunner(const Net &net, int64_t batch, int threads,
                                           std::string &error);
std::unique_ptr<Runner> makeLibxsmmRunner(const Net &net, int64_t batch, int threads,
                                          std::string &error);

/// How the Eigen sparse anchor lays out the activations around its
/// CSR x dense products (bench/eigen_sparse_runner.cpp explains both).
enum class SparseLayout { SampleMajor, FeatureMajor };
std::unique_ptr<Runner> makeEigenSparseRunner(const Net &net, int64_t batch, int threads,
                                              SparseLayout layout, std::string &error);

/// A oneDNN matmul of [1, 2] x [2, 1] with bias and relu, for the per-call
/// overhead comparison: returns nullptr and sets `error` on failure.
std::unique_ptr<Runner> makeOneDnnNeuron(const float weights[2], float bias, int threads,
                                         std::string &error);

/// Runs `iterations` passes of a block of independent AVX-512 FMAs on the
/// calling thread; returns the flops executed. Needs AVX-512F (check
/// `hasAvx512()` first).
double fmaLoop(int64_t iterations);
bool hasAvx512();
/// Reads the `n` floats at `p` (64-byte aligned, n a multiple of 128)
/// `passes` times with AVX-512 loads, as 8 concurrent streams: the read
/// bandwidth of wherever they stay between passes. Needs AVX-512F.
void readLoop(const float *p, int64_t n, int64_t passes);

/// The FMA peak: each iteration runs the FMA loop on `threads` threads at
/// once (counters flops and threads). registerPeak registers it as
/// peak/fma/t1 and t2; benches register it first and last, under the same
/// names, since other jobs can only lower it and the report takes the best.
void BM_FmaPeak(benchmark::State &state, int threads);
void registerPeak();
/// The read bound of `floats` floats: how long `threads` threads take to
/// read them once, each its own share, from wherever repeated reads keep
/// them (each core's L2, the shared L3, memory), as manual time per read
/// (counters bytes and threads). Register with UseManualTime and a fixed
/// iteration count.
void measureReadBound(benchmark::State &state, int64_t floats, int threads);

/// Writes a little-endian float32 C-order .npy file (format 1.0).
void writeNpy(const std::filesystem::path &path, const std::vector<float> &values,
              const std::vector<int64_t> &shape);
/// A temporary directory for the weight files, removed at exit.
const std::filesystem::path &tempDir();
/// Records the CPU (model, family, vector extensions) in Google Benchmark's
/// context.
void addCpuContext();

/// How the anchors parallelise, for the report (OpenMP runtime, versions,
/// the instruction set LIBXSMM generates code for).
std::string eigenThreading();
std::string oneDnnVersion();
std::string openBlasConfig();
std::string libxsmmVersion();

} // namespace bench
