// The kernels, written once over an xsimd architecture A. Each
// Kernels<Isa>.cpp includes this header, compiled with its instruction set's
// flags, and instantiates Impl<A> into its KernelTable. Everything lives in
// an unnamed namespace and xsimd in a namespace per instruction set
// (VecMath.h), so no inline function is shared between the objects.
//
// Conventions: F is one vector of W floats. A row's columns run as whole
// vectors, then one partial vector for the tail (masked loads and stores on
// AVX2 and AVX-512, a small stack buffer on SSE2), never past c1.
#pragma once

#include "KernelTable.h"
#include "VecMath.h"

#include <cassert>
#include <cmath> // INFINITY, NAN
#include <cstdint>

namespace soma::runtime::kernels {
namespace {

/// 0, 1, 2, ...: lane numbers, for tail masks.
alignas(64) constexpr float kLaneIndex[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

template <class A> struct Impl {
  using F = xsimd::batch<float, A>;
  using M = xsimd::batch_bool<float, A>;
  using Math = VecMath<A>;
  static constexpr int64_t W = static_cast<int64_t>(F::size);
  static_assert(W <= 16, "lane masks are built for at most 16 lanes");

  /// Rows of a dense register block: R rows times two vectors of
  /// accumulators, plus the two weight vectors and a broadcast input: 11
  /// of 16 registers with SSE2 (which also needs a product register, no
  /// FMA), 15 of 16 with AVX2, 19 of 32 with AVX-512. At batch 64,
  /// 1024 x 1024, AVX2 peaked at 104 GFLOP/s with 6 rows, 99 with 4 (on
  /// a noisy machine; 6 also means fewer weight loads per FMA).
  static constexpr int kBlockRows = W == 16 ? 8 : W == 8 ? 6 : 4;
  /// Vectors of outputs in the one-row path (8 independent accumulators,
  /// enough to hide the FMA latency without a second row).
  static constexpr int kRowVectors = 8;

  // --- memory ---------------------------------------------------------

  static const float *rowOf(const Src &s, int64_t r) {
    return s.data + (s.period ? r % s.period : r) * s.stride;
  }
  static float *rowOf(const Dst &d, int64_t r) { return d.data + r * d.stride; }

  static F load(const float *p) { return F::load_unaligned(p); }
  static void store(float *p, F v) { v.store_unaligned(p); }

  /// Lanes [0, n) set, for 0 <= n <= W.
  static M laneMask(int64_t n) { return F::load_aligned(kLaneIndex) < F(static_cast<float>(n)); }

  /// p[0, n) into lanes [0, n), zeros above; reads nothing past p + n.
  static F loadPartial(const float *p, int64_t n) {
#if defined(__AVX512F__)
    if constexpr (W == 16)
      return F(_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p));
    else
#elif defined(__AVX2__)
    if constexpr (W == 8)
      return F(_mm256_maskload_ps(p, avx2Mask(n)));
    else
#endif
    {
      alignas(64) float tmp[W] = {};
      for (int64_t i = 0; i < n; ++i)
        tmp[i] = p[i];
      return F::load_aligned(tmp);
    }
  }

  /// Lanes [0, n) of v to p[0, n); writes nothing else.
  static void storePartial(float *p, F v, int64_t n) {
#if defined(__AVX512F__)
    if constexpr (W == 16)
      _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), v);
    else
#elif defined(__AVX2__)
    if constexpr (W == 8)
      _mm256_maskstore_ps(p, avx2Mask(n), v);
    else
#endif
    {
      alignas(64) float tmp[W];
      v.store_aligned(tmp);
      for (int64_t i = 0; i < n; ++i)
        p[i] = tmp[i];
    }
  }

#if defined(__AVX2__) && !defined(__AVX512F__)
  static __m256i avx2Mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
#endif

  /// Loads n lanes (W: a whole vector).
  static F loadN(const float *p, int64_t n) { return n == W ? load(p) : loadPartial(p, n); }
  static void storeN(float *p, F v, int64_t n) {
    if (n == W)
      store(p, v);
    else
      storePartial(p, v, n);
  }

  static float reduceMax(F v) {
    alignas(64) float tmp[W];
    v.store_aligned(tmp);
    float m = tmp[0];
    for (int64_t i = 1; i < W; ++i)
      m = tmp[i] > m ? tmp[i] : m;
    return m;
  }

  // --- the fused layers' epilogue -------------------------------------

  /// One vector of a fused layer's sums for one row (lanes = columns
  /// [col, col + n)): + bias, + residual, the activation, one store. `res`
  /// and `y` are the row's residual (or null) and output.
  template <class Op>
  static void finishVec(Op op, F s, const float *bias, const float *res, float *y, int64_t col,
                        int64_t n) {
    if (bias)
      s = s + loadN(bias + col, n);
    if (res)
      s = s + loadN(res + col, n);
    storeN(y + col, op(s), n);
  }

  /// Runs tile(op) with the layer's activation as `op` (softmax as the
  /// identity), then softmaxes rows [r0, r1) of y, which must then be
  /// whole rows of `units` columns.
  template <class Tile>
  static void fusedLayer(const ir::Activation &act, const Dst &y, int64_t units, int64_t r0,
                         int64_t r1, [[maybe_unused]] int64_t c0, [[maybe_unused]] int64_t c1,
                         Tile &&tile) {
    withAct<A>(act.kind, act.param, tile);
    if (act.kind == ir::ActKind::Softmax) {
      assert(c0 == 0 && c1 == units && "softmax needs whole rows");
      softmax(Src{y.data, y.stride, 0}, y, units, r0, r1);
    }
  }

  // --- dense ----------------------------------------------------------

  /// Where one vector of outputs comes from and goes: its first column,
  /// its weights (panel p, lane offset; the next input is `panel` floats
  /// on) and how many of its lanes are real outputs (0: a duplicate that
  /// only fills a register block and is not stored).
  struct OutVec {
    int64_t col;
    const float *w;
    int64_t lanes;
  };

  static OutVec outVec(const DenseArgs &a, int64_t col, int64_t c1) {
    const int64_t p = col / a.panel;
    const int64_t n = c1 - col < W ? c1 - col : W;
    return {col, a.packed + p * a.inputs * a.panel + (col - p * a.panel), n};
  }

  /// acc[i][v] = sum_k x[row i][k] * w_v[k], k ascending: the same order
  /// in every block shape, so a row's result does not depend on the block
  /// it falls in.
  template <int R, int NV>
  static void accumulate(const DenseArgs &a, const float *const (&xr)[R], const OutVec (&vec)[NV],
                         F (&acc)[R][NV]) {
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v)
        acc[i][v] = F(0.0f);
    const int64_t K = a.inputs, P = a.panel;
    const float *w[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v)
      w[v] = vec[v].w;
    for (int64_t k = 0, kp = 0; k < K; ++k, kp += P) {
      F wv[NV];
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v)
        wv[v] = load(w[v] + kp);
#pragma GCC unroll 16
      for (int i = 0; i < R; ++i) {
        const F xb(xr[i][k]);
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v)
          acc[i][v] = fmadd<A>(xb, wv[v], acc[i][v]);
      }
    }
  }

  /// The epilogue of a block: each output vector through finishVec.
  template <int R, int NV, class Op>
  static void finish(const DenseArgs &a, Op op, int64_t row, const OutVec (&vec)[NV],
                     F (&acc)[R][NV]) {
    for (int i = 0; i < R; ++i) {
      float *y = rowOf(a.y, row + i);
      const float *res = a.residual.data ? rowOf(a.residual, row + i) : nullptr;
      for (int v = 0; v < NV; ++v)
        if (vec[v].lanes > 0)
          finishVec(op, acc[i][v], a.bias, res, y, vec[v].col, vec[v].lanes);
    }
  }

  template <int R, int NV, class Op>
  static void block(const DenseArgs &a, Op op, int64_t row, const OutVec (&vec)[NV]) {
    const float *xr[R];
    for (int i = 0; i < R; ++i)
      xr[i] = rowOf(a.x, row + i);
    F acc[R][NV];
    accumulate<R, NV>(a, xr, vec, acc);
    finish<R, NV>(a, op, row, vec, acc);
  }

  template <class Op>
  static void denseTile(const DenseArgs &a, Op op, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    constexpr int R = kBlockRows;
    const int64_t rowsInBlocks = (r1 - r0) / R * R;
    // Blocked rows: for each pair of output vectors, every block of R rows
    // (the pair's weights stay in cache across the blocks).
    if (rowsInBlocks > 0)
      for (int64_t col = c0; col < c1; col += 2 * W) {
        OutVec vec[2] = {outVec(a, col, c1), {}};
        // An odd last vector is paired with itself and stored once.
        vec[1] = col + W < c1 ? outVec(a, col + W, c1) : OutVec{col, vec[0].w, 0};
        for (int64_t row = r0; row < r0 + rowsInBlocks; row += R)
          block<R, 2>(a, op, row, vec);
      }
    // Rows left over (all of them for a batch smaller than a block): one
    // row at a time over eight output vectors, then pairs.
    for (int64_t row = r0 + rowsInBlocks; row < r1; ++row) {
      int64_t col = c0;
      for (; c1 - col >= kRowVectors * W; col += kRowVectors * W) {
        OutVec vec[kRowVectors];
        for (int v = 0; v < kRowVectors; ++v)
          vec[v] = outVec(a, col + v * W, c1);
        block<1, kRowVectors>(a, op, row, vec);
      }
      for (; col < c1; col += 2 * W) {
        OutVec vec[2] = {outVec(a, col, c1), {}};
        vec[1] = col + W < c1 ? outVec(a, col + W, c1) : OutVec{col, vec[0].w, 0};
        block<1, 2>(a, op, row, vec);
      }
    }
  }

  static void dense(const DenseArgs &a, int64_t r0, int64_t r1, int64_t c0, int64_t c1) noexcept {
    assert(a.panel > 0 && a.panel % W == 0 && "weights packed for a wider instruction set");
    assert(c0 % a.panel == 0 && c1 <= a.units && "a tile starts on a panel");
    if (r0 >= r1 || c0 >= c1)
      return;
    fusedLayer(a.act, a.y, a.units, r0, r1, c0, c1,
               [&](auto op) { denseTile(a, op, r0, r1, c0, c1); });
  }

  // --- elementwise ----------------------------------------------------

  static void add(const Src &a, const Src &b, const Dst &y, const ir::Activation &act, int64_t r0,
                  int64_t r1, int64_t c0, int64_t c1) noexcept {
    assert(act.kind != ir::ActKind::Softmax && "add's activation is elementwise");
    withAct<A>(act.kind, act.param, [&](auto op) {
      for (int64_t r = r0; r < r1; ++r) {
        const float *pa = rowOf(a, r), *pb = rowOf(b, r);
        float *py = rowOf(y, r);
        int64_t c = c0;
        for (; c + W <= c1; c += W)
          store(py + c, op(load(pa + c) + load(pb + c)));
        if (c < c1)
          storePartial(py + c, op(loadPartial(pa + c, c1 - c) + loadPartial(pb + c, c1 - c)),
                       c1 - c);
      }
    });
  }

  static void activation(const Src &x, const Dst &y, const ir::Activation &act, int64_t r0,
                         int64_t r1, int64_t c0, int64_t c1) noexcept {
    if (act.kind == ir::ActKind::Softmax) {
      softmax(Src{x.data + c0, x.stride, x.period}, Dst{y.data + c0, y.stride}, c1 - c0, r0, r1);
      return;
    }
    withAct<A>(act.kind, act.param, [&](auto op) {
      for (int64_t r = r0; r < r1; ++r) {
        const float *px = rowOf(x, r);
        float *py = rowOf(y, r);
        int64_t c = c0;
        for (; c + W <= c1; c += W)
          store(py + c, op(load(px + c)));
        if (c < c1)
          storePartial(py + c, op(loadPartial(px + c, c1 - c)), c1 - c);
      }
    });
  }

  static void scaleShift(const Src &x, const float *scale, const float *shift, const Dst &y,
                         int64_t r0, int64_t r1, int64_t c0, int64_t c1) noexcept {
    for (int64_t r = r0; r < r1; ++r) {
      const float *px = rowOf(x, r);
      float *py = rowOf(y, r);
      for (int64_t c = c0; c < c1; c += W) {
        const int64_t n = c1 - c < W ? c1 - c : W;
        storeN(py + c, fmadd<A>(loadN(px + c, n), loadN(scale + c, n), loadN(shift + c, n)), n);
      }
    }
  }

  static void batchNorm(const Src &x, const float *mean, const float *var, const float *scale,
                        const float *shift, float epsilon, const Dst &y, int64_t r0, int64_t r1,
                        int64_t c0, int64_t c1) noexcept {
    const F eps(epsilon);
    for (int64_t r = r0; r < r1; ++r) {
      const float *px = rowOf(x, r);
      float *py = rowOf(y, r);
      for (int64_t c = c0; c < c1; c += W) {
        const int64_t n = c1 - c < W ? c1 - c : W;
        // Lanes past n read zeros: var + eps > 0 there, and they are not stored.
        const F sd = xsimd::sqrt(loadN(var + c, n) + eps);
        const F norm = (loadN(px + c, n) - loadN(mean + c, n)) / sd;
        storeN(py + c, fmadd<A>(norm, loadN(scale + c, n), loadN(shift + c, n)), n);
      }
    }
  }

  // --- row-wise -------------------------------------------------------

  static void softmax(const Src &x, const Dst &y, int64_t cols, int64_t r0, int64_t r1) noexcept {
    const F negInf(-INFINITY);
    for (int64_t r = r0; r < r1; ++r) {
      const float *px = rowOf(x, r);
      float *py = rowOf(y, r);
      const int64_t tail = cols % W, body = cols - tail;
      const M tailMask = laneMask(tail);
      // 1. the row's maximum, and whether it holds a NaN
      F max = negInf;
      M nan = xsimd::isnan(negInf);
      auto maxStep = [&](F v) {
        nan = nan | xsimd::isnan(v);
        max = xsimd::select(v > max, v, max);
      };
      for (int64_t c = 0; c < body; c += W)
        maxStep(load(px + c));
      if (tail)
        maxStep(xsimd::select(tailMask, loadPartial(px + body, tail), negInf));
      const F m(reduceMax(max));
      // 2. e = exp(x - max), stored and summed
      F sum(0.0f);
      for (int64_t c = 0; c < body; c += W) {
        const F e = Math::exp(load(px + c) - m);
        store(py + c, e);
        sum = sum + e;
      }
      if (tail) {
        const F e = xsimd::select(tailMask, Math::exp(loadPartial(px + body, tail) - m), F(0.0f));
        storePartial(py + body, e, tail);
        sum = sum + e;
      }
      // 3. scaled by 1 / sum; NaN everywhere if the row held one
      const float total = xsimd::hadd(sum);
      const F scale(xsimd::any(nan) ? NAN : 1.0f / total);
      for (int64_t c = 0; c < body; c += W)
        store(py + c, load(py + c) * scale);
      if (tail)
        storePartial(py + body, loadPartial(py + body, tail) * scale, tail);
    }
  }

  static void layerNorm(const Src &x, const float *scale, const float *shift, float epsilon,
                        const Dst &y, int64_t cols, int64_t r0, int64_t r1) noexcept {
    const float invCols = static_cast<float>(1.0 / static_cast<double>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      const float *px = rowOf(x, r);
      float *py = rowOf(y, r);
      const int64_t tail = cols % W, body = cols - tail;
      // The mean, then the population variance around it (two passes: no
      // cancellation from sum(x^2) - mean^2).
      F s1(0.0f);
      for (int64_t c = 0; c < body; c += W)
        s1 = s1 + load(px + c);
      if (tail)
        s1 = s1 + loadPartial(px + body, tail);
      const F mean(xsimd::hadd(s1) * invCols);
      F s2(0.0f);
      for (int64_t c = 0; c < body; c += W) {
        const F d = load(px + c) - mean;
        s2 = fmadd<A>(d, d, s2);
      }
      if (tail) {
        const F d = xsimd::select(laneMask(tail), loadPartial(px + body, tail) - mean, F(0.0f));
        s2 = fmadd<A>(d, d, s2);
      }
      const float var = xsimd::hadd(s2) * invCols;
      const F inv = F(1.0f) / xsimd::sqrt(F(var + epsilon));
      for (int64_t c = 0; c < cols; c += W) {
        const int64_t n = cols - c < W ? cols - c : W;
        const F norm = (loadN(px + c, n) - mean) * inv;
        storeN(py + c, fmadd<A>(norm, loadN(scale + c, n), loadN(shift + c, n)), n);
      }
    }
  }

  static void exp(const float *in, float *out, int64_t n) noexcept {
    int64_t i = 0;
    for (; i + W <= n; i += W)
      store(out + i, Math::exp(load(in + i)));
    if (i < n)
      storePartial(out + i, Math::exp(loadPartial(in + i, n - i)), n - i);
  }

  static constexpr KernelTable table(Isa isa) {
    return {isa, W, kBlockRows, 2 * W, &dense, &add, &activation, &scaleShift, &batchNorm, &softmax, &layerNorm, &exp};
  }
};

} // namespace
} // namespace soma::runtime::kernels
