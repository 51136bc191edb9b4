// Helpers the vec convolution tests share (VecConvTest, VecConvTileTest,
// VecLayoutTest): seeded random tensors and the Planar <-> Blocked copy.
#pragma once

#include "soma/support/Tensor.h"

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

namespace soma::testing {

/// A tensor of `dims` with values uniform in [-1, 1).
inline std::shared_ptr<Tensor> randomTensor(std::mt19937 &rng, std::vector<int64_t> dims) {
  auto t = std::make_shared<Tensor>(std::move(dims));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float &v : t->values)
    v = dist(rng);
  return t;
}

/// x [N, C, H, W] Planar to Blocked (in blocks of `block` channels) or back.
inline std::vector<float> reblock(const std::vector<float> &x, int64_t channels, int64_t plane,
                                  int64_t block, bool toBlocked) {
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const int64_t n = static_cast<int64_t>(i) / (channels * plane);
    const int64_t c = static_cast<int64_t>(i) / plane % channels,
                  q = static_cast<int64_t>(i) % plane;
    const size_t j =
        static_cast<size_t>(((n * channels + c / block * block) * plane + q * block) + c % block);
    (toBlocked ? y[j] : y[i]) = toBlocked ? x[i] : x[j];
  }
  return y;
}

} // namespace soma::testing
