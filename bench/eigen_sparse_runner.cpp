// The Eigen sparse anchor for the sparse cases: each layer's weights as an
// Eigen::SparseMatrix in compressed rows (RowMajor CSR, zeros dropped, built
// once outside the timing), one sparse x dense product per layer, then one
// pass adding the bias and applying the activation. Compiled with the same
// flags as bench/eigen_runner.cpp (-march=native, -fopenmp): Eigen 3.4
// spreads the rows of a RowMajor sparse x dense product over
// Eigen::nbThreads() OpenMP threads once the product has more than 20000
// multiply-adds.
//
// Two activation layouts (SparseLayout in DenseBench.h):
// - SampleMajor: the caller's x [batch, inputs] row-major is, as it lies in
//   memory, the column-major matrix x^T [inputs, batch]; y^T = W x^T writes
//   y [batch, outputs] row-major directly. Eigen computes it as one sparse
//   dot product per row and sample (scalar: the samples are not contiguous).
// - FeatureMajor: x is transposed into a row-major [inputs, batch] matrix,
//   y^T = W x^T is a row-major [outputs, batch] matrix, so each nonzero w
//   updates a whole contiguous row of samples (vectorised across the batch),
//   and y^T is transposed back into the caller's y. Both transposes are in
//   the timed call: the caller's layout is [batch, features], as for every
//   other implementation.
#include "DenseBench.h"

#include <Eigen/Core>
#include <Eigen/SparseCore>

namespace bench {
namespace {

using Csr = Eigen::SparseMatrix<float, Eigen::RowMajor, int>;
using CsrMap = Eigen::Map<const Csr>;
using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ColMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

/// One layer's weights in CSR arrays (the nonzeros of W, row by row).
struct CsrLayer {
  std::vector<int> outer, inner;
  std::vector<float> values;
  int64_t rows = 0, cols = 0;

  explicit CsrLayer(const Layer &l) : rows(l.outputs), cols(l.inputs) {
    outer.reserve(static_cast<size_t>(rows + 1));
    outer.push_back(0);
    for (int64_t o = 0; o < rows; ++o) {
      const float *w = l.weights.data() + o * cols;
      for (int64_t i = 0; i < cols; ++i)
        if (w[i] != 0.f) {
          inner.push_back(static_cast<int>(i));
          values.push_back(w[i]);
        }
      outer.push_back(static_cast<int>(values.size()));
    }
  }
  CsrMap map() const {
    return CsrMap(rows, cols, static_cast<int64_t>(values.size()), outer.data(), inner.data(),
                  values.data());
  }
};

class EigenSparseRunner final : public Runner {
public:
  EigenSparseRunner(const Net &net, int64_t batch, int threads, SparseLayout layout)
      : net(net), batch(batch), threads(threads), layout(layout) {
    for (const Layer &l : net.layers) {
      csr.emplace_back(l);
      if (layout == SparseLayout::FeatureMajor)
        results.emplace_back(l.outputs, batch);
      else
        sampleResults.emplace_back(l.outputs, batch);
    }
    if (layout == SparseLayout::FeatureMajor)
      xT.resize(net.inputs(), batch);
  }

  void useThreads() override { Eigen::setNbThreads(threads); }

  void run(const float *x, float *y) override {
    if (layout == SparseLayout::FeatureMajor)
      runFeatureMajor(x, y);
    else
      runSampleMajor(x, y);
    if (net.layers.back().act == Act::Softmax)
      softmaxRows(y, batch, net.outputs());
  }

private:
  void runFeatureMajor(const float *x, float *y) {
    xT = Eigen::Map<const RowMatrix>(x, batch, net.inputs()).transpose();
    const RowMatrix *in = &xT;
    for (size_t i = 0; i < net.layers.size(); ++i) {
      const Layer &l = net.layers[i];
      RowMatrix &r = results[i];
      r.noalias() = csr[i].map() * *in;
      Eigen::Map<const Eigen::VectorXf> b(l.bias.data(), l.outputs);
      if (l.act == Act::Relu)
        r = (r.colwise() + b).cwiseMax(0.f);
      else
        r.colwise() += b;
      in = &r;
    }
    Eigen::Map<RowMatrix>(y, batch, net.outputs()) = results.back().transpose();
  }

  void runSampleMajor(const float *x, float *y) {
    const float *in = x;
    for (size_t i = 0; i < net.layers.size(); ++i) {
      const Layer &l = net.layers[i];
      // [outputs, batch] column-major is y [batch, outputs] row-major.
      const bool last = i + 1 == net.layers.size();
      Eigen::Map<ColMatrix> r(last ? y : sampleResults[i].data(), l.outputs, batch);
      r.noalias() = csr[i].map() * Eigen::Map<const ColMatrix>(in, l.inputs, batch);
      Eigen::Map<const Eigen::VectorXf> b(l.bias.data(), l.outputs);
      if (l.act == Act::Relu)
        r = (r.colwise() + b).cwiseMax(0.f);
      else
        r.colwise() += b;
      in = r.data();
    }
  }

  const Net &net;
  int64_t batch;
  int threads;
  SparseLayout layout;
  std::vector<CsrLayer> csr;
  RowMatrix xT;
  std::vector<RowMatrix> results; ///< FeatureMajor: [outputs, batch] per layer
  std::vector<ColMatrix>
      sampleResults; ///< SampleMajor: [outputs, batch] per layer (the last unused)
};

} // namespace

std::unique_ptr<Runner> makeEigenSparseRunner(const Net &net, int64_t batch, int threads,
                                              SparseLayout layout, std::string &) {
  Eigen::initParallel();
  Eigen::setNbThreads(threads);
  return std::make_unique<EigenSparseRunner>(net, batch, threads, layout);
}

} // namespace bench
