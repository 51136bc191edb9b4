// The LIBXSMM anchor (Debian's libxsmm-dev 1.17): each dense layer computed
// the way LIBXSMM's own fully connected layer (libxsmm_dnn_fullyconnected,
// forward) computes it: batch-reduce GEMM microkernels that LIBXSMM
// JIT-generates for the host (its CPUID dispatch picks the instruction set;
// libxsmmVersion() reports which), weights packed once into the blocks the
// kernels read, and the bias and relu applied to each output tile right
// after its kernel wrote it, while the tile is still in L1.
//
// LIBXSMM is column-major: a kernel computes C[m, n] = sum_i A_i[m, k] B_i[k, n].
// C is a tile of y^T (outputs x samples), which in memory is the caller's
// y [batch, outputs] row-major (ldc = outputs); B_i is a block of x^T, read
// in place from the caller's x [batch, inputs] (ldb = inputs, the next block
// `bk` floats further); A_i is the block of W for outputs n0..n0+m and
// inputs k0..k0+bk, packed column-major (m consecutive floats per input) and
// contiguous with the next block. The batch-reduce loop over i runs inside
// the kernel, so one call accumulates a whole tile over all the inputs.
//
// Blocks: m = 64 outputs (four AVX-512 vectors), n = up to 64 samples, k =
// the largest divisor of the inputs up to 64; a narrower tile at the edges
// gets its own kernel. Threads: one OpenMP parallel region per call (GNU
// OpenMP, as oneDNN and Eigen here), its thread count given by the
// num_threads clause; each thread takes a contiguous share of a layer's
// tiles, output blocks first, so that it reads only its part of the
// weights; a barrier between layers.
#include "DenseBench.h"

#include <libxsmm.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <new>

namespace bench {
namespace {

using Kernel = libxsmm_smmfunction_reducebatch_strd;

constexpr int64_t BlockOutputs = 64, BlockSamples = 64, MaxBlockInputs = 64;

struct FreeFloats {
  void operator()(float *p) const { std::free(p); }
};
using Floats = std::unique_ptr<float[], FreeFloats>;

Floats allocFloats(int64_t count) {
  // 64-byte aligned, the size rounded up to a whole number of alignments.
  const size_t bytes = (static_cast<size_t>(count) * sizeof(float) + 63) / 64 * 64;
  auto *p = static_cast<float *>(std::aligned_alloc(64, bytes));
  if (!p)
    throw std::bad_alloc();
  return Floats(p);
}

/// One layer: packed weights, the kernels for full and edge tiles.
struct PackedLayer {
  const Layer *layer = nullptr;
  int64_t bk = 0, kBlocks = 0, outBlocks = 0, sampleBlocks = 0;
  Floats weights;
  /// kernels[edge output block][edge sample block]
  Kernel kernels[2][2] = {};
};

int64_t blockInputs(int64_t inputs) {
  for (int64_t d = std::min(inputs, MaxBlockInputs); d > 1; --d)
    if (inputs % d == 0)
      return d;
  return 1;
}

/// packed[j][i] is W[n0 .. n0 + m, k0 .. k0 + bk] column-major, j the block
/// of outputs (n0 = 64 j, m = 64 or the edge's width), i the block of inputs.
Floats packWeights(const Layer &l, int64_t bk) {
  Floats packed = allocFloats(l.inputs * l.outputs);
  float *p = packed.get();
  for (int64_t n0 = 0; n0 < l.outputs; n0 += BlockOutputs) {
    const int64_t m = std::min(BlockOutputs, l.outputs - n0);
    for (int64_t k0 = 0; k0 < l.inputs; k0 += bk)
      for (int64_t k = 0; k < bk; ++k)
        for (int64_t n = 0; n < m; ++n)
          *p++ = l.weights[static_cast<size_t>((n0 + n) * l.inputs + k0 + k)];
  }
  return packed;
}

Kernel dispatch(int64_t m, int64_t n, const Layer &l, int64_t bk, std::string &error) {
  const libxsmm_blasint lda = static_cast<libxsmm_blasint>(m);
  const libxsmm_blasint ldb = static_cast<libxsmm_blasint>(l.inputs);
  const libxsmm_blasint ldc = static_cast<libxsmm_blasint>(l.outputs);
  const float alpha = 1.f, beta = 0.f;
  const int flags = LIBXSMM_GEMM_FLAG_NONE, prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
  Kernel k = libxsmm_smmdispatch_reducebatch_strd(
      static_cast<libxsmm_blasint>(m), static_cast<libxsmm_blasint>(n),
      static_cast<libxsmm_blasint>(bk), static_cast<libxsmm_blasint>(m * bk * 4),
      static_cast<libxsmm_blasint>(bk * 4), &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
  if (!k && error.empty())
    error = "LIBXSMM: no JIT kernel for m=" + std::to_string(m) + " n=" + std::to_string(n) +
            " k=" + std::to_string(bk);
  return k;
}

class LibxsmmRunner final : public Runner {
public:
  LibxsmmRunner(const Net &net, int64_t batch, int threads, std::string &error)
      : batch(batch), threads(threads) {
    const int64_t bb = std::min(batch, BlockSamples);
    for (size_t i = 0; i < net.layers.size(); ++i) {
      const Layer &l = net.layers[i];
      PackedLayer p;
      p.layer = &l;
      p.bk = blockInputs(l.inputs);
      p.kBlocks = l.inputs / p.bk;
      p.outBlocks = (l.outputs + BlockOutputs - 1) / BlockOutputs;
      p.sampleBlocks = (batch + bb - 1) / bb;
      p.weights = packWeights(l, p.bk);
      const int64_t ms[2] = {BlockOutputs, l.outputs % BlockOutputs};
      const int64_t ns[2] = {bb, batch % bb};
      for (int e = 0; e < 2; ++e)
        for (int f = 0; f < 2; ++f)
          if (ms[e] > 0 && ns[f] > 0 && (e == 1 || l.outputs >= BlockOutputs))
            p.kernels[e][f] = dispatch(ms[e], ns[f], l, p.bk, error);
      layers.push_back(std::move(p));
      if (i + 1 < net.layers.size())
        temps.push_back(allocFloats(batch * l.outputs));
    }
  }

  void run(const float *x, float *y) override {
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
      const int64_t tid = omp_get_thread_num(), nt = omp_get_num_threads();
      const float *in = x;
      for (size_t i = 0; i < layers.size(); ++i) {
        float *out = i + 1 == layers.size() ? y : temps[i].get();
        const int64_t tiles = layers[i].outBlocks * layers[i].sampleBlocks;
        for (int64_t t = tiles * tid / nt; t < tiles * (tid + 1) / nt; ++t)
          tile(layers[i], t / layers[i].sampleBlocks, t % layers[i].sampleBlocks, in, out);
        if (i + 1 < layers.size()) {
#pragma omp barrier
        }
        in = out;
      }
    }
    if (layers.back().layer->act == Act::Softmax)
      softmaxRows(y, batch, layers.back().layer->outputs);
  }

private:
  /// Output block j, sample block s: the kernel, then bias and activation.
  void tile(const PackedLayer &p, int64_t j, int64_t s, const float *in, float *out) const {
    const Layer &l = *p.layer;
    const int64_t n0 = j * BlockOutputs, s0 = s * std::min(batch, BlockSamples);
    const int64_t m = std::min(BlockOutputs, l.outputs - n0);
    const int64_t n = std::min(std::min(batch, BlockSamples), batch - s0);
    const Kernel kernel = p.kernels[m < BlockOutputs][n < std::min(batch, BlockSamples)];
    const unsigned long long count = static_cast<unsigned long long>(p.kBlocks);
    float *c = out + s0 * l.outputs + n0;
    kernel(p.weights.get() + n0 * l.inputs, in + s0 * l.inputs, c, &count);
    const float *b = l.bias.data() + n0;
    for (int64_t r = 0; r < n; ++r) {
      float *row = c + r * l.outputs;
      if (l.act == Act::Relu) {
#pragma omp simd
        for (int64_t o = 0; o < m; ++o)
          row[o] = std::max(row[o] + b[o], 0.f);
      } else {
#pragma omp simd
        for (int64_t o = 0; o < m; ++o)
          row[o] += b[o];
      }
    }
  }

  int64_t batch;
  int threads;
  std::vector<PackedLayer> layers;
  std::vector<Floats> temps; ///< each layer's output but the last, [batch, outputs]
};

} // namespace

std::unique_ptr<Runner> makeLibxsmmRunner(const Net &net, int64_t batch, int threads,
                                          std::string &error) {
  libxsmm_init();
  auto runner = std::make_unique<LibxsmmRunner>(net, batch, threads, error);
  if (!error.empty())
    return nullptr;
  return runner;
}

std::string libxsmmVersion() {
  libxsmm_init();
  return std::string(LIBXSMM_VERSION) + " (JIT for " + libxsmm_get_target_arch() + ")";
}

} // namespace bench
