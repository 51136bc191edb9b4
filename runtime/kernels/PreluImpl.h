// prelu's kernel, written once over an xsimd architecture A like the rest
// of KernelsImpl.h, which includes this file after Impl<A> (whose loads and
// stores it uses) and puts it in each instruction set's table.
#pragma once

namespace soma::runtime::kernels {
namespace {

template <class A> struct PreluImpl {
  using I = Impl<A>;
  using F = typename I::F;
  static constexpr int64_t W = I::W;

  /// x where x > 0 or NaN (x * slope would keep a NaN too, but not the sign
  /// of a +0), else x * slope: one exactly rounded product, as the
  /// interpreter's.
  static F apply(F x, F slope) {
    return xsimd::select(x > F(0.0f) || xsimd::isnan(x), x, x * slope);
  }

  /// ChannelLayout::Blocked: a block of W channels is rowsPerChannel * W
  /// rows of memory, each position's W channels side by side, so the
  /// block's W slopes are one vector.
  static void blocked(const Src &x, const float *slope, const PreluShape &s, const Dst &y,
                      int64_t r0, int64_t r1) noexcept {
    assert(s.block == W && x.stride == y.stride && "blocked: blocks of the vector width");
    const int64_t rows = s.block * s.rowsPerChannel, cols = x.stride;
    for (int64_t r = r0; r < r1; r += rows) {
      const F k = I::load(slope + r % s.rowsPerSample / rows * W);
      const float *px = I::rowOf(x, r);
      float *py = I::rowOf(y, r);
      for (int64_t i = 0; i < rows * cols; i += W)
        I::store(py + i, apply(I::load(px + i), k));
    }
  }

  static void prelu(const Src &x, const float *slope, const PreluShape &s, const Dst &y, int64_t r0,
                    int64_t r1, int64_t c0, int64_t c1) noexcept {
    if (s.block > 0) {
      blocked(x, slope, s, y, r0, r1);
      return;
    }
    for (int64_t r = r0; r < r1; ++r) {
      const float *px = I::rowOf(x, r);
      float *py = I::rowOf(y, r);
      if (s.rowsPerChannel == 0) { // along the last axis: a slope per column
        for (int64_t c = c0; c < c1; c += W) {
          const int64_t n = c1 - c < W ? c1 - c : W;
          I::storeN(py + c, apply(I::loadN(px + c, n), I::loadN(slope + c, n)), n);
        }
        continue;
      }
      // An axis before the last: the row lies in one channel.
      const F k(slope[r % s.rowsPerSample / s.rowsPerChannel % s.channels]);
      for (int64_t c = c0; c < c1; c += W) {
        const int64_t n = c1 - c < W ? c1 - c : W;
        I::storeN(py + c, apply(I::loadN(px + c, n), k), n);
      }
    }
  }
};

} // namespace
} // namespace soma::runtime::kernels
