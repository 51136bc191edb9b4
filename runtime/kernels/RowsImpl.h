// The row-wise activations, softmax and log_softmax over each row of the
// last axis, written once over an xsimd architecture A like the rest of
// KernelsImpl.h, which includes this file after Impl<A> (whose loads,
// stores and vector math it uses) and puts both in each instruction set's
// table. Both first find the row's maximum m and whether it holds a NaN,
// then work on d = x - m <= 0.
#pragma once

namespace soma::runtime::kernels {
namespace {

template <class A> struct RowsImpl {
  using I = Impl<A>;
  using F = typename I::F;
  using M = typename I::M;
  using Math = typename I::Math;
  static constexpr int64_t W = I::W;

  /// The row's maximum, and whether it holds a NaN.
  static float rowMax(const float *px, int64_t cols, bool &nan) {
    const F negInf(-INFINITY);
    const int64_t tail = cols % W, body = cols - tail;
    F max = negInf;
    M isNan = xsimd::isnan(negInf);
    auto maxStep = [&](F v) {
      isNan = isNan | xsimd::isnan(v);
      max = xsimd::select(v > max, v, max);
    };
    for (int64_t c = 0; c < body; c += W)
      maxStep(I::load(px + c));
    if (tail)
      maxStep(xsimd::select(I::laneMask(tail), I::loadPartial(px + body, tail), negInf));
    nan = xsimd::any(isNan);
    return I::reduceMax(max);
  }

  static void softmax(const Src &x, const Dst &y, int64_t cols, int64_t r0, int64_t r1) noexcept {
    for (int64_t r = r0; r < r1; ++r) {
      const float *px = I::rowOf(x, r);
      float *py = I::rowOf(y, r);
      const int64_t tail = cols % W, body = cols - tail;
      bool nan = false;
      const F m(rowMax(px, cols, nan));
      // e = exp(x - max), stored and summed
      F sum(0.0f);
      for (int64_t c = 0; c < body; c += W) {
        const F e = Math::exp(I::load(px + c) - m);
        I::store(py + c, e);
        sum = sum + e;
      }
      if (tail) {
        const F e = xsimd::select(I::laneMask(tail), Math::exp(I::loadPartial(px + body, tail) - m),
                                  F(0.0f));
        I::storePartial(py + body, e, tail);
        sum = sum + e;
      }
      // scaled by 1 / sum; NaN everywhere if the row held one
      const float total = xsimd::hadd(sum);
      const F scale(nan ? NAN : 1.0f / total);
      for (int64_t c = 0; c < body; c += W)
        I::store(py + c, I::load(py + c) * scale);
      if (tail)
        I::storePartial(py + body, I::loadPartial(py + body, tail) * scale, tail);
    }
  }

  /// y = d - log(sum_j exp(d_j)), d = x - max. The maxima (d = 0) add
  /// exactly 1 each, so the sum is `count + rest` and its log is
  /// log1p((count - 1) + rest), accurate when the rest is tiny (a row
  /// [0, -30]: log(1 + 9e-14), which log(sum) rounded to f32 would make 0).
  /// d <= 0 and the log >= 0: the difference does not cancel.
  static void logSoftmax(const Src &x, const Dst &y, int64_t cols, int64_t r0,
                         int64_t r1) noexcept {
    const F zero(0.0f), one(1.0f), negInf(-INFINITY);
    for (int64_t r = r0; r < r1; ++r) {
      const float *px = I::rowOf(x, r);
      float *py = I::rowOf(y, r);
      const int64_t tail = cols % W, body = cols - tail;
      bool nan = false;
      const F m(rowMax(px, cols, nan));
      F count(0.0f), rest(0.0f);
      auto sumStep = [&](F d) {
        const M isMax = d == zero;
        count = count + xsimd::select(isMax, one, zero);
        rest = rest + xsimd::select(isMax, zero, Math::exp(d));
      };
      for (int64_t c = 0; c < body; c += W) {
        const F d = I::load(px + c) - m;
        I::store(py + c, d);
        sumStep(d);
      }
      if (tail) {
        const F d = xsimd::select(I::laneMask(tail), I::loadPartial(px + body, tail), negInf) - m;
        I::storePartial(py + body, d, tail);
        sumStep(d);
      }
      const float u = (xsimd::hadd(count) - 1.0f) + xsimd::hadd(rest);
      const F logSum = nan ? F(NAN) : Math::log1p(F(u));
      for (int64_t c = 0; c < body; c += W)
        I::store(py + c, I::load(py + c) - logSum);
      if (tail)
        I::storePartial(py + body, I::loadPartial(py + body, tail) - logSum, tail);
    }
  }

  static void rows(ir::ActKind kind, const Src &x, const Dst &y, int64_t cols, int64_t r0,
                   int64_t r1) noexcept {
    if (kind == ir::ActKind::LogSoftmax)
      logSoftmax(x, y, cols, r0, r1);
    else
      softmax(x, y, cols, r0, r1);
  }
};

} // namespace
} // namespace soma::runtime::kernels
