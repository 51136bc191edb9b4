// The Eigen anchor: per layer one matrix product into a preallocated result,
// then one pass adding the bias and applying the activation. Eigen is a
// header library, so its speed is whatever this file is compiled with:
// -march=native (the host's best vector instructions: Eigen's AVX-512
// kernels where the host has them, and tuning for it) and -fopenmp, through
// which Eigen parallelises its matrix-matrix products (bench/CMakeLists.txt).
// The thread count is Eigen::setNbThreads; matrix-vector products (batch 1)
// stay on one thread whatever it says.
#include "DenseBench.h"

#include <Eigen/Core>

namespace bench {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRowMap = Eigen::Map<const RowMatrix>;
using RowMap = Eigen::Map<RowMatrix>;

class EigenRunner final : public Runner {
public:
  EigenRunner(const Net &net, int64_t batch, int threads)
      : net(net), batch(batch), threads(threads) {
    for (size_t i = 0; i + 1 < net.layers.size(); ++i)
      results.emplace_back(batch, net.layers[i].outputs);
  }

  void useThreads() override { Eigen::setNbThreads(threads); }

  void run(const float *x, float *y) override {
    const float *in = x;
    for (size_t i = 0; i + 1 < net.layers.size(); ++i) {
      layer(net.layers[i], in, results[i]);
      in = results[i].data();
    }
    // The last layer writes into the caller's buffer.
    RowMap out(y, batch, net.outputs());
    layer(net.layers.back(), in, out);
    if (net.layers.back().act == Act::Softmax)
      softmaxRows(y, batch, net.outputs());
  }

private:
  template <class Result> void layer(const Layer &l, const float *in, Result &&r) {
    ConstRowMap w(l.weights.data(), l.outputs, l.inputs);
    Eigen::Map<const Eigen::RowVectorXf> b(l.bias.data(), l.outputs);
    r.noalias() = ConstRowMap(in, batch, l.inputs) * w.transpose();
    if (l.act == Act::Relu)
      r = (r.rowwise() + b).cwiseMax(0.f);
    else
      r.rowwise() += b;
  }

  const Net &net;
  int64_t batch;
  int threads;
  std::vector<RowMatrix> results;
};

} // namespace

std::unique_ptr<Runner> makeEigenRunner(const Net &net, int64_t batch, int threads, std::string &) {
  Eigen::initParallel();
  Eigen::setNbThreads(threads);
  return std::make_unique<EigenRunner>(net, batch, threads);
}

std::string eigenThreading() {
  return "Eigen " + std::to_string(EIGEN_WORLD_VERSION) + "." +
         std::to_string(EIGEN_MAJOR_VERSION) + "." + std::to_string(EIGEN_MINOR_VERSION) +
#ifdef EIGEN_VECTORIZE_AVX512
         ", AVX-512" +
#endif
#ifdef _OPENMP
         std::string(", OpenMP");
#else
         std::string(", no OpenMP");
#endif
}

} // namespace bench
