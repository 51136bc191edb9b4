// What bench/conv_bench.cpp shares with bench/onednn_conv_runner.cpp: the
// convolutions it measures, as plain float arrays in PyTorch's layouts
// (activations NCHW, filters [O, C / groups, KH, KW]), so soma and oneDNN
// read the same numbers. No library header leaks from here.
#pragma once

#include "DenseBench.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bench {

/// One 2-D convolution with bias and an optional relu: y = relu?(conv(x, w) + b).
struct ConvLayer {
  int64_t inChannels = 0, outChannels = 0, inH = 0, inW = 0;
  int64_t kernel = 1, stride = 1, pad = 0, groups = 1;
  bool relu = true;
  std::vector<float> weights, bias; ///< [O, C / groups, K, K], [O]
  int64_t outH() const { return (inH + 2 * pad - kernel) / stride + 1; }
  int64_t outW() const { return (inW + 2 * pad - kernel) / stride + 1; }
  int64_t inSize() const { return inChannels * inH * inW; }
  int64_t outSize() const { return outChannels * outH() * outW(); }
  double flopsPerSample() const {
    return 2.0 * static_cast<double>(outSize() * (inChannels / groups) * kernel * kernel);
  }
};

/// A case: one convolution, or a ResNet basic block of two 3x3 ones
/// (relu(conv2(relu(conv1(x))) + x), batch norm already folded into each
/// convolution's filters and bias: the oneDNN anchor is given the folded
/// layers; soma is given the unfolded batch norms and folds them itself).
struct ConvNet {
  std::vector<ConvLayer> layers; ///< 1, or 2 for a block
  bool block = false;
  int64_t inSize() const { return layers.front().inSize(); }
  int64_t outSize() const { return layers.back().outSize(); }
  double flopsPerSample() const {
    double f = 0;
    for (const ConvLayer &l : layers)
      f += l.flopsPerSample();
    return f;
  }
};

/// One implementation prepared for one case, batch and thread count. Only
/// run() is timed: setInput (x NCHW, [batch, C, H, W]) and output (y NCHW)
/// are outside the timing, so a library that keeps its activations in a
/// layout of its own (oneDNN's nChw16c) is timed without the reorders to
/// and from NCHW, as it runs inside a network of such layers.
class ConvRunner {
public:
  virtual ~ConvRunner() = default;
  virtual void useThreads() {}
  virtual void setInput(const float *x) = 0;
  virtual void run() = 0;
  virtual void output(float *y) = 0;
};

/// oneDNN's convolution primitives for `net` (one, or the block's two with
/// their post-ops), created for `batch` and `threads` with every layout
/// format_tag::any, weights reordered once. Returns nullptr and sets `error`
/// when oneDNN refuses.
std::unique_ptr<ConvRunner> makeOneDnnConvRunner(const ConvNet &net, int64_t batch, int threads,
                                                 std::string &error);
/// The implementation oneDNN chose for each primitive (`impl_info_str`).
std::string oneDnnConvImpls(const ConvNet &net, int64_t batch, int threads);

} // namespace bench
