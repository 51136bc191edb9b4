// The OpenBLAS anchor (Debian's pthreads build, DYNAMIC_ARCH: its kernels
// are chosen for the host at run time): per layer cblas_sgemm, or
// cblas_sgemv for one sample, on W as stored, then one pass adding the bias
// and applying the activation. That pass is this file's own code, so it is
// compiled with -march=native like the other anchors' (bench/CMakeLists.txt).
// The thread count is openblas_set_num_threads, set before every timed loop.
#include "DenseBench.h"

#include <cblas.h>

#include <algorithm>

namespace bench {
namespace {

class OpenBlasRunner final : public Runner {
public:
  OpenBlasRunner(const Net &net, int64_t batch, int threads)
      : net(net), batch(batch), threads(threads) {
    for (size_t i = 0; i + 1 < net.layers.size(); ++i)
      temps.emplace_back(static_cast<size_t>(batch * net.layers[i].outputs));
  }
  void useThreads() override { openblas_set_num_threads(threads); }
  void run(const float *x, float *y) override {
    const float *in = x;
    for (size_t i = 0; i < net.layers.size(); ++i) {
      const Layer &l = net.layers[i];
      float *out = i + 1 == net.layers.size() ? y : temps[i].data();
      const int k = static_cast<int>(l.inputs), n = static_cast<int>(l.outputs);
      if (batch == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.f, l.weights.data(), k, in, 1, 0.f, out,
                    1);
      else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(batch), n, k, 1.f, in,
                    k, l.weights.data(), k, 0.f, out, n);
      const float *b = l.bias.data();
      for (int64_t r = 0; r < batch; ++r) {
        float *row = out + r * n;
        if (l.act == Act::Relu)
          for (int o = 0; o < n; ++o)
            row[o] = std::max(row[o] + b[o], 0.f);
        else
          for (int o = 0; o < n; ++o)
            row[o] += b[o];
      }
      if (l.act == Act::Softmax)
        softmaxRows(out, batch, n);
      in = out;
    }
  }

private:
  const Net &net;
  int64_t batch;
  int threads;
  std::vector<std::vector<float>> temps;
};

} // namespace

std::unique_ptr<Runner> makeOpenBlasRunner(const Net &net, int64_t batch, int threads,
                                           std::string &) {
  return std::make_unique<OpenBlasRunner>(net, batch, threads);
}

std::string openBlasConfig() { return openblas_get_config(); }

} // namespace bench
