// The depthwise convolution (Kernels.h conv with one input and one output
// channel per group), written once over an xsimd architecture A like
// ConvImpl.h, which calls it. A depthwise layer does 2 flops per filter tap
// and output against one input it loads: it is bound by loads, not FMAs.
// Both variants keep Chains independent FMA chains in flight, with their
// accumulators in registers, and load each input once per tap, no gathers.
//
// - Channel lanes (x or y Blocked, ConvArgs::in/out): a block of B = W
//   channels runs in the lanes; each tap is one vector load of the B
//   channels of one input position and one FMA with the tap's B filter
//   weights, for Chains output positions of a row side by side. The taps of
//   a row's first and last positions that fall in the padding are skipped
//   one position at a time; the rows of padding are skipped for the whole
//   row. A Planar x or y (at the edge of a chain of Blocked values) is read
//   or written lane by lane.
// - Position lanes (both Planar): output positions of one channel run in
//   the lanes, blocks of rows times vectors of them side by side. A strip
//   of the channel's input rows is first copied into a stack buffer with
//   its padding made zeros, so every tap is one load (a stride of 2: two
//   loads and a permute keeping the even lanes) with no bounds to test.
//
// Every output sums its taps in (kh, kw) order, skipping taps in the
// padding (or adding 0 * w, which leaves the sum's value as it is), then
// adds the bias and the residual and applies the activation: the bits do
// not depend on the tiling or the thread count.
#pragma once

namespace soma::runtime::kernels {
namespace {

template <class A> struct DepthwiseImpl {
  using I = Impl<A>;
  using F = typename I::F;
  static constexpr int64_t W = I::W;
  /// Accumulators in flight: the FMA latency times the FMA pipes of the
  /// cores soma meets (4 x 2).
  static constexpr int Chains = 8;
  /// The position-lane kernel's input buffer, in floats (64 KiB of stack).
  static constexpr int64_t kBuffer = 16384;

  static bool isDepthwise(const ConvArgs &a) {
    return convIsDepthwise(a.inChannels, a.outChannels, a.groups);
  }

  // --- channel lanes -------------------------------------------------

  /// The W channels of block cb at position (h, w) of a sample's
  /// [C, height, width] value stored in `layout`.
  static F loadChannels(ChannelLayout layout, const float *s, int64_t cb, int64_t h, int64_t w,
                        int64_t height, int64_t width) {
    if (layout == ChannelLayout::Blocked)
      return F::load_unaligned(s + ((cb * height + h) * width + w) * W);
    alignas(64) float lanes[W];
    const int64_t plane = height * width;
    const float *p = s + cb * W * plane + h * width + w;
    for (int64_t j = 0; j < W; ++j)
      lanes[j] = p[j * plane];
    return F::load_aligned(lanes);
  }
  static void storeChannels(ChannelLayout layout, float *s, int64_t cb, int64_t h, int64_t w,
                            int64_t height, int64_t width, F v) {
    if (layout == ChannelLayout::Blocked)
      return v.store_unaligned(s + ((cb * height + h) * width + w) * W);
    alignas(64) float lanes[W];
    v.store_aligned(lanes);
    const int64_t plane = height * width;
    float *p = s + cb * W * plane + h * width + w;
    for (int64_t j = 0; j < W; ++j)
      p[j * plane] = lanes[j];
  }

  /// One output row of one block of channels: where x, y, the residual and
  /// the filters are, and the taps whose input rows are inside x.
  struct ChannelRow {
    const float *xs, *wb;
    float *ys;
    const float *rs;
    F bias;
    int64_t cb, oh, ih0, khLo, khHi;
  };

  /// The bias, the residual, the activation and the store of position ow.
  template <class Op>
  static void finish(const ConvArgs &a, Op op, const ChannelRow &c, int64_t ow, F acc) {
    F r = acc + c.bias;
    if (c.rs)
      r = r + loadChannels(a.out, c.rs, c.cb, c.oh, ow, a.outH, a.outW);
    storeChannels(a.out, c.ys, c.cb, c.oh, ow, a.outH, a.outW, op(r));
  }

  /// Position ow alone, each tap checked against x's columns.
  template <class Op>
  static void channelEdge(const ConvArgs &a, Op op, const ChannelRow &c, int64_t ow) {
    F acc(0.0f);
    for (int64_t kh = c.khLo; kh < c.khHi; ++kh)
      for (int64_t kw = 0; kw < a.kW; ++kw) {
        const int64_t iw = ow * a.strideW - a.padLeft + kw * a.dilW;
        if (iw >= 0 && iw < a.inW)
          acc = fmadd<A>(loadChannels(a.in, c.xs, c.cb, c.ih0 + kh * a.dilH, iw, a.inH, a.inW),
                         F::load_unaligned(c.wb + (kh * a.kW + kw) * W), acc);
      }
    finish(a, op, c, ow, acc);
  }

  /// Positions [ow, ow + Chains), every tap of each inside x's columns, x
  /// Blocked: each tap's input is at a fixed offset (a.tapOffsets, times
  /// W) from its position's first, the positions S * W floats apart (S:
  /// the stride, 0 for one known only at run time).
  template <int S, class Op>
  static void channelGroup(const ConvArgs &a, Op op, const ChannelRow &c, int64_t ow) {
    F acc[Chains];
#pragma GCC unroll 16
    for (int p = 0; p < Chains; ++p)
      acc[p] = F(0.0f);
    const int64_t step = (S ? S : a.strideW) * W;
    const float *base = c.xs + ((c.cb * a.inH + c.ih0) * a.inW + ow * a.strideW - a.padLeft) * W;
    for (int64_t t = c.khLo * a.kW; t < c.khHi * a.kW; ++t) {
      const F w = F::load_unaligned(c.wb + t * W);
      const float *px = base + a.tapOffsets[t] * W;
#pragma GCC unroll 16
      for (int p = 0; p < Chains; ++p)
        acc[p] = fmadd<A>(F::load_unaligned(px + p * step), w, acc[p]);
    }
    if (a.out != ChannelLayout::Blocked) {
      for (int p = 0; p < Chains; ++p)
        finish(a, op, c, ow + p, acc[p]);
      return;
    }
    const int64_t at = ((c.cb * a.outH + c.oh) * a.outW + ow) * W;
    float *py = c.ys + at;
#pragma GCC unroll 16
    for (int p = 0; p < Chains; ++p) {
      F r = acc[p] + c.bias;
      if (c.rs)
        r = r + F::load_unaligned(c.rs + at + p * W);
      op(r).store_unaligned(py + p * W);
    }
  }

  /// The interior positions [lo, hi) of a row: groups of Chains (the last
  /// one moved back to end at hi, recomputing a few positions with the
  /// same bits), one by one when there are fewer or x is Planar.
  template <class Op>
  static void channelInterior(const ConvArgs &a, Op op, const ChannelRow &c, int64_t lo,
                              int64_t hi) {
    if (a.in != ChannelLayout::Blocked || hi - lo < Chains) {
      for (int64_t ow = lo; ow < hi; ++ow)
        channelEdge(a, op, c, ow);
      return;
    }
    for (int64_t ow = lo; ow < hi; ow += Chains) {
      const int64_t at = hi - ow < Chains ? hi - Chains : ow;
      if (a.strideW == 1)
        channelGroup<1>(a, op, c, at);
      else if (a.strideW == 2)
        channelGroup<2>(a, op, c, at);
      else
        channelGroup<0>(a, op, c, at);
    }
  }

  template <class Op> static void channelLanes(const ConvArgs &a, Op op, int64_t r0, int64_t r1) {
    const int64_t taps = a.kH * a.kW, inPlane = a.inH * a.inW, outPlane = a.outH * a.outW;
    // Columns [wLo, wHi): every kw tap inside x.
    const int64_t wLo = (a.padLeft + a.strideW - 1) / a.strideW;
    const int64_t spanW = (a.kW - 1) * a.dilW + 1;
    const int64_t wEnd =
        a.inW + a.padLeft - spanW < 0 ? 0 : (a.inW + a.padLeft - spanW) / a.strideW + 1;
    const int64_t wHi = wEnd < a.outW ? (wEnd > wLo ? wEnd : wLo) : a.outW;
    for (int64_t r = r0; r < r1; r += W * a.outH) {
      const int64_t n = r / (a.outChannels * a.outH), cb = (r / a.outH) % a.outChannels / W;
      ChannelRow c{a.x + n * a.inChannels * inPlane,
                   a.packed + cb * taps * W,
                   a.y + n * a.outChannels * outPlane,
                   a.residual ? a.residual + n * a.outChannels * outPlane : nullptr,
                   F::load_unaligned(a.bias + cb * W),
                   cb,
                   0,
                   0,
                   0,
                   0};
      for (int64_t oh = 0; oh < a.outH; ++oh) {
        c.oh = oh;
        c.ih0 = oh * a.strideH - a.padTop;
        c.khLo = c.ih0 >= 0 ? 0 : (-c.ih0 + a.dilH - 1) / a.dilH;
        c.khHi = a.inH - c.ih0 <= 0 ? 0 : (a.inH - c.ih0 - 1) / a.dilH + 1;
        c.khHi = c.khHi < a.kH ? c.khHi : a.kH;
        const int64_t lo = wLo < a.outW ? wLo : a.outW;
        for (int64_t ow = 0; ow < lo; ++ow)
          channelEdge(a, op, c, ow);
        channelInterior(a, op, c, lo, wHi);
        for (int64_t ow = wHi > lo ? wHi : lo; ow < a.outW; ++ow)
          channelEdge(a, op, c, ow);
      }
    }
  }

  // --- position lanes ------------------------------------------------

  /// Lanes 0, 2, 4, ... of the 2 W floats lo:hi.
  static F evenLanes(F lo, F hi) {
#if defined(__AVX512F__)
    if constexpr (W == 16) {
      const __m512i even =
          _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
      return F(_mm512_permutex2var_ps(lo, even, hi));
    }
#endif
#if defined(__AVX2__)
    if constexpr (W == 8) {
      const __m256 mixed = _mm256_shuffle_ps(lo, hi, 0x88); // lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6
      return F(_mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(mixed), 0xD8)));
    }
#endif
#if defined(__SSE2__)
    if constexpr (W == 4)
      return F(_mm_shuffle_ps(lo, hi, 0x88));
#endif
    alignas(64) float both[2 * W], even[W];
    lo.store_aligned(both);
    hi.store_aligned(both + W);
    for (int64_t j = 0; j < W; ++j)
      even[j] = both[2 * j];
    return F::load_aligned(even);
  }

  /// The W inputs from p at a stride of S (0: a.strideW, any).
  template <int S> static F strided(const float *p, int64_t stride) {
    if constexpr (S == 1)
      return F::load_unaligned(p);
    if constexpr (S == 2)
      return evenLanes(F::load_unaligned(p), F::load_unaligned(p + W));
    alignas(64) float lanes[W];
    for (int64_t j = 0; j < W; ++j)
      lanes[j] = p[j * stride];
    return F::load_aligned(lanes);
  }

  /// A strip of one channel's input rows in the stack buffer, zeros where
  /// x has padding: buffer row i is input row top + i, buffer column j
  /// input column j - padLeft.
  struct Strip {
    const float *buf;
    int64_t top, width;
  };

  /// Output rows oh0 + [0, R) times vectors v0 + [0, V) of W positions (a
  /// row past ohEnd, the strip's last, or a vector past the row repeats the
  /// last one and is not stored).
  template <int R, int V, int S, class Op>
  static void planarBlock(const ConvArgs &a, Op op, const Strip &s, const float *filter,
                          int64_t filterStride, F bias, float *out, const float *res, int64_t oh0,
                          int64_t ohEnd, int64_t v0, int64_t vecsPerRow) {
    const float *rowAt[R];
    int64_t ow[V];
    for (int r = 0; r < R; ++r) {
      const int64_t oh = oh0 + r < ohEnd ? oh0 + r : ohEnd - 1;
      rowAt[r] = s.buf + (oh * a.strideH - a.padTop - s.top) * s.width;
    }
    for (int v = 0; v < V; ++v)
      ow[v] = (v0 + v < vecsPerRow ? v0 + v : vecsPerRow - 1) * W * a.strideW;
    F acc[R][V];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v)
        acc[r][v] = F(0.0f);
    for (int64_t kh = 0; kh < a.kH; ++kh)
      for (int64_t kw = 0; kw < a.kW; ++kw) {
        const F w(filter[(kh * a.kW + kw) * filterStride]);
        const int64_t tap = kh * a.dilH * s.width + kw * a.dilW;
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
          for (int v = 0; v < V; ++v)
            acc[r][v] = fmadd<A>(strided<S>(rowAt[r] + tap + ow[v], a.strideW), w, acc[r][v]);
      }
    for (int r = 0; r < R && oh0 + r < ohEnd; ++r)
      for (int v = 0; v < V && v0 + v < vecsPerRow; ++v) {
        const int64_t at = (oh0 + r) * a.outW + (v0 + v) * W;
        const int64_t lanes = a.outW - (v0 + v) * W < W ? a.outW - (v0 + v) * W : W;
        F y = acc[r][v] + bias;
        if (res)
          y = y + I::loadN(res + at, lanes);
        I::storeN(out + at, op(y), lanes);
      }
  }

  /// Output rows [oh0, oh1) of one channel from its strip, in blocks of R
  /// rows times V vectors (R * V = Chains; V = 1 for rows of one vector).
  template <int S, class Op>
  static void planarRows(const ConvArgs &a, Op op, const Strip &s, const float *filter,
                         int64_t filterStride, F bias, float *out, const float *res, int64_t oh0,
                         int64_t oh1) {
    const int64_t vecsPerRow = (a.outW + W - 1) / W;
    if (vecsPerRow == 1) {
      for (int64_t oh = oh0; oh < oh1; oh += Chains)
        planarBlock<Chains, 1, S>(a, op, s, filter, filterStride, bias, out, res, oh, oh1, 0, 1);
      return;
    }
    for (int64_t oh = oh0; oh < oh1; oh += Chains / 2)
      for (int64_t v = 0; v < vecsPerRow; v += 2)
        planarBlock<Chains / 2, 2, S>(a, op, s, filter, filterStride, bias, out, res, oh, oh1, v,
                                      vecsPerRow);
  }

  /// The buffer's row width: every column a vector of a row reads (its
  /// last lane's too, for the positions past the row: they are computed,
  /// not stored) and W more for a stride-2 pair of loads, rounded up to
  /// whole vectors.
  static int64_t bufferWidth(const ConvArgs &a) {
    const int64_t width = (a.outW + W - 1) / W * W * a.strideW + (a.kW - 1) * a.dilW + W;
    return (width + W - 1) / W * W; // whole vectors: tap (kh, 0) loads are aligned
  }

  /// One channel's plane: strips of output rows whose input rows fit the
  /// buffer, whose columns outside [padLeft, padLeft + inW) hold zeros.
  template <class Op>
  static void planarChannel(const ConvArgs &a, Op op, float *buf, const float *plane,
                            const float *filter, int64_t filterStride, float bias, float *out,
                            const float *res) {
    const int64_t width = bufferWidth(a);
    const int64_t window = (a.kH - 1) * a.dilH + 1;   // input rows of one output row
    const int64_t rowsFit = kBuffer / width - window; // beyond one output row's window
    const int64_t stripRows = rowsFit < 0 ? 0 : rowsFit / a.strideH + 1;
    assert(stripRows > 0 && "planes this wide are left to the generic kernel");
    for (int64_t oh0 = 0; oh0 < a.outH; oh0 += stripRows) {
      const int64_t oh1 = oh0 + stripRows < a.outH ? oh0 + stripRows : a.outH;
      const int64_t top = oh0 * a.strideH - a.padTop;
      const int64_t rows = (oh1 - 1 - oh0) * a.strideH + window;
      for (int64_t i = 0; i < rows; ++i) {
        float *dst = buf + i * width + a.padLeft;
        const int64_t ih = top + i;
        const float *src = ih >= 0 && ih < a.inH ? plane + ih * a.inW : nullptr;
        int64_t j = 0;
        for (; j + W <= a.inW; j += W)
          I::store(dst + j, src ? I::load(src + j) : F(0.0f));
        if (j < a.inW)
          I::storePartial(dst + j, src ? I::loadPartial(src + j, a.inW - j) : F(0.0f), a.inW - j);
      }
      const Strip s{buf, top, width};
      const F b(bias);
      if (a.strideW == 1)
        planarRows<1>(a, op, s, filter, filterStride, b, out, res, oh0, oh1);
      else if (a.strideW == 2)
        planarRows<2>(a, op, s, filter, filterStride, b, out, res, oh0, oh1);
      else
        planarRows<0>(a, op, s, filter, filterStride, b, out, res, oh0, oh1);
    }
  }

  template <class Op> static void positionLanes(const ConvArgs &a, Op op, int64_t r0, int64_t r1) {
    const int64_t taps = a.kH * a.kW, inPlane = a.inH * a.inW, outPlane = a.outH * a.outW;
    // Zeros once: the channels' copies overwrite only x's columns.
    alignas(64) float buf[kBuffer];
    std::memset(buf, 0, sizeof buf);
    for (int64_t r = r0; r < r1; r += a.outH) {
      const int64_t n = r / (a.outChannels * a.outH), o = (r / a.outH) % a.outChannels;
      // Packed in blocks of a.block channels: (o / block, tap, o % block).
      const float *filter = a.packed + (o / a.block * taps) * a.block + o % a.block;
      const int64_t at = (n * a.outChannels + o) * outPlane;
      planarChannel(a, op, buf, a.x + (n * a.inChannels + o) * inPlane, filter, a.block, a.bias[o],
                    a.y + at, a.residual ? a.residual + at : nullptr);
    }
  }

  /// Whether the position-lane kernel's buffer holds one output row's
  /// input rows (else conv runs the generic position-lane kernel).
  static bool planarFits(const ConvArgs &a) {
    return ((a.kH - 1) * a.dilH + 1) * bufferWidth(a) <= kBuffer;
  }

  /// Runs rows [r0, r1); false when x and y are Planar, the plane is too
  /// wide for the position-lane buffer and the channels are not packed in
  /// vectors: left to ConvImpl's position-lane kernel.
  template <class Op> static bool run(const ConvArgs &a, Op op, int64_t r0, int64_t r1) {
    const bool blocked = a.in == ChannelLayout::Blocked || a.out == ChannelLayout::Blocked;
    assert((!blocked || (a.block == W && a.outChannels % W == 0)) && "blocked: whole blocks");
    if (!blocked && planarFits(a))
      positionLanes(a, op, r0, r1);
    else if (a.block == W)
      channelLanes(a, op, r0, r1);
    else
      return false;
    return true;
  }
};

} // namespace
} // namespace soma::runtime::kernels
