// The row-tile kernel of the direct convolution (ConvImpl.h), for the
// channel-lane blocks (output channels in the lanes, a block of W or 2 W)
// at a horizontal stride of 1 or 2. A register tile is R output rows (1
// or 2) times C positions of each (14, or 7 on rows of 7 to 13) times the
// block's V vectors of output channels: 28 accumulators with AVX-512.
// Position c's input for any tap is c * stride input positions from
// position 0's: a displacement known at compile time (template PS, in
// floats), so one pointer per tile row serves every position and each
// broadcast input is one load, where the flat tiles of ConvImpl::lanes
// need a pointer per position (more than the registers hold) and a
// select per position and tap near the padding. A tile some of whose taps
// fall in the padding first copies the input it reads into a zero-padded
// strip on the stack (ConvArgs::stripRows x stripCols positions per
// channel, in x's layout, in chunks of channels when they do not all fit)
// and reads that instead: no bounds in the loop. The sums are
// ConvImpl::lanes' (ci, kh, kw) order, with a 0 * w for a tap in the
// padding; so are the bits (VecConvTileTest).
#pragma once

namespace soma::runtime::kernels {
namespace {

template <class A> struct ConvTileImpl {
  using I = Impl<A>;
  using F = typename I::F;
  static constexpr int64_t W = I::W;

  /// Positions per tile: R * C * V accumulators, at most 28 of the 32
  /// vector registers (12 of 16 without AVX-512).
  static constexpr int maxPositions(int v) { return (W >= 16 ? 28 : 12) / v; }

  /// One tile's operands. x: the group's first input channel of the
  /// sample; w: the packed filters of the block; y, r: the output and
  /// residual at the block's first channel; (oh, ow): the tile's first
  /// output position; skipCols: its first columns already stored by the
  /// tile before it (a row's last tile overlaps the one before when the
  /// tile does not divide the row).
  struct Tile {
    const float *x, *w, *bias;
    float *y;
    const float *r;
    int64_t oh, ow, skipCols;
  };

  /// Copies channels [c0, c1) of the input rows [ih0, ih0 + rows) and
  /// columns [iw0, iw0 + cols) into strip (channel plane by channel
  /// plane of stripRows x stripCols positions, in x's layout), zeros where
  /// that is outside x.
  static void fillStrip(const ConvArgs &a, const float *x, int64_t c0, int64_t c1, int64_t ih0,
                        int64_t iw0, int64_t rows, int64_t cols, float *strip) {
    const int64_t plane = a.stripRows * a.stripCols, inPlane = a.inH * a.inW;
    const int64_t lo = iw0 < 0 ? -iw0 : 0, hi = a.inW - iw0 < cols ? a.inW - iw0 : cols;
    if (a.in == ChannelLayout::Blocked) {
      for (int64_t cb = c0 / W; cb < (c1 + W - 1) / W; ++cb)
        for (int64_t r = 0; r < rows; ++r) {
          float *dst = strip + ((cb - c0 / W) * plane + r * a.stripCols) * W;
          const int64_t ih = ih0 + r;
          const bool rowInside = ih >= 0 && ih < a.inH;
          for (int64_t c = 0; c < cols; ++c) {
            const bool inside = rowInside && c >= lo && c < hi;
            const F v =
                inside ? F::load_unaligned(x + (cb * inPlane + ih * a.inW + iw0 + c) * W) : F(0.0f);
            v.store_aligned(dst + c * W);
          }
        }
      return;
    }
    // Planar: a row's inside columns [lo, hi) are one run of x's row.
    for (int64_t ci = c0; ci < c1; ++ci)
      for (int64_t r = 0; r < rows; ++r) {
        float *dst = strip + (ci - c0) * plane + r * a.stripCols;
        for (int64_t c = 0; c < cols; c += W)
          I::storeN(dst + c, F(0.0f), cols - c < W ? cols - c : W);
        const int64_t ih = ih0 + r;
        if (ih < 0 || ih >= a.inH)
          continue;
        const float *src = x + ci * inPlane + ih * a.inW + iw0;
        for (int64_t c = lo; c < hi; c += W) {
          const int64_t n = hi - c < W ? hi - c : W;
          I::storeN(dst + c, I::loadN(src + c, n), n);
        }
      }
  }

  /// The stores of a tile: bias, residual and activation in registers,
  /// then each vector whole (Blocked y) or lane by lane over W channel
  /// planes (Planar y).
  template <int R, int C, int V, class Op>
  static void store(const ConvArgs &a, Op op, const Tile &t, F (&acc)[R * C][V]) {
    const int64_t outPlane = a.outH * a.outW;
    alignas(64) float lanes[W];
    for (int rr = 0; rr < R; ++rr)
      for (int c = static_cast<int>(t.skipCols); c < C; ++c) {
        const int64_t q = (t.oh + rr) * a.outW + t.ow + c;
        for (int v = 0; v < V; ++v) {
          F s = acc[rr * C + c][v] + F::load_unaligned(t.bias + v * W);
          if (a.out == ChannelLayout::Blocked) {
            const int64_t at = (v * outPlane + q) * W;
            if (t.r)
              s = s + F::load_unaligned(t.r + at);
            op(s).store_unaligned(t.y + at);
            continue;
          }
          if (t.r) {
            for (int64_t j = 0; j < W; ++j)
              lanes[j] = t.r[(v * W + j) * outPlane + q];
            s = s + F::load_aligned(lanes);
          }
          op(s).store_aligned(lanes);
          for (int64_t j = 0; j < W; ++j)
            t.y[(v * W + j) * outPlane + q] = lanes[j];
        }
      }
  }

  /// R output rows times C positions of each, V vectors of channels. PS:
  /// floats from one position's input to the next's in the row.
  template <int R, int C, int V, int PS, class Op>
  static void tile(const ConvArgs &a, Op op, const Tile &t, float *strip) {
    const int64_t cg = a.inChannels / a.groups, taps = a.kH * a.kW;
    const int64_t ih0 = t.oh * a.strideH - a.padTop, iw0 = t.ow * a.strideW - a.padLeft;
    // The input rows and columns the tile reads.
    const int64_t rows = (R - 1) * a.strideH + (a.kH - 1) * a.dilH + 1;
    const int64_t cols = (C - 1) * a.strideW + (a.kW - 1) * a.dilW + 1;
    const bool edge = ih0 < 0 || ih0 + rows > a.inH || iw0 < 0 || iw0 + cols > a.inW;
    const bool inBlocked = a.in == ChannelLayout::Blocked;
    const int64_t unit = inBlocked ? W : 1; // floats per input position
    // Channels per strip: whole blocks of W in a Blocked x.
    const int64_t fit = kConvStripFloats / (a.stripRows * a.stripCols * unit) * unit;
    F acc[R * C][V];
    for (int p = 0; p < R * C; ++p)
      for (int v = 0; v < V; ++v)
        acc[p][v] = F(0.0f);
    for (int64_t c0 = 0; c0 < cg; c0 += edge ? fit : cg) {
      const int64_t c1 = edge && c0 + fit < cg ? c0 + fit : cg;
      const float *src = strip;
      const int64_t *offsets = a.stripOffsets;
      int64_t shift = 0, rowStep = a.strideH * a.stripCols * unit;
      if (edge) {
        fillStrip(a, t.x, c0, c1, ih0, iw0, rows, cols, strip);
        shift = offsets[c0 * taps]; // channel c0's first tap is the strip's first float
      } else {
        src = t.x + (ih0 * a.inW + iw0) * unit;
        offsets = a.tapOffsets;
        rowStep = a.strideH * a.inW * unit;
      }
      const float *wt = t.w + c0 * taps * a.block;
      for (int64_t i = c0 * taps; i < c1 * taps; ++i, wt += a.block) {
        F wv[V];
        for (int v = 0; v < V; ++v)
          wv[v] = F::load_aligned(wt + v * W);
        for (int rr = 0; rr < R; ++rr) {
          const float *px = src + (offsets[i] - shift) + rr * rowStep;
          for (int c = 0; c < C; ++c) {
            const F xb(px[c * PS]);
            for (int v = 0; v < V; ++v)
              acc[rr * C + c][v] = fmadd<A>(xb, wv[v], acc[rr * C + c][v]);
          }
        }
      }
    }
    store<R, C, V>(a, op, t, acc);
  }

  /// The plane in tiles of R x C positions: the last tile of a row
  /// overlapping the one before when C does not divide the row; a last row
  /// of one-row tiles when R = 2 does not divide the plane (as many FMAs in
  /// flight as the latency needs, none wasted).
  template <int R, int C, int V, int PS, class Op>
  static void plane(const ConvArgs &a, Op op, Tile t, float *strip) {
    for (t.oh = 0; t.oh < a.outH; t.oh += R)
      for (int64_t ow = 0; ow < a.outW; ow += C) {
        t.ow = ow + C <= a.outW ? ow : a.outW - C;
        t.skipCols = ow - t.ow;
        if (R == 2 && t.oh + R > a.outH)
          tile<1, C, V, PS>(a, op, t, strip);
        else
          tile<R, C, V, PS>(a, op, t, strip);
      }
  }

  /// The widest tile row of {14, 7, 4, 2, 1} positions (at most
  /// maxPositions) that fits the plane's rows, two rows of it when the
  /// registers hold them and the plane has them.
  template <int V, int PS, int K = 0, class Op>
  static void plane(const ConvArgs &a, Op op, const Tile &t, float *strip) {
    constexpr int widths[] = {14, 7, 4, 2, 1};
    constexpr int C = widths[K] < maxPositions(V) ? widths[K] : maxPositions(V);
    if constexpr (C > 1)
      if (a.outW < C)
        return plane<V, PS, K + 1>(a, op, t, strip);
    if constexpr (2 * C <= maxPositions(V))
      if (a.outH >= 2)
        return plane<2, C, V, PS>(a, op, t, strip);
    plane<1, C, V, PS>(a, op, t, strip);
  }

  template <int V, class Op>
  static void plane(const ConvArgs &a, Op op, const Tile &t, float *strip) {
    const bool inBlocked = a.in == ChannelLayout::Blocked;
    if (a.strideW == 1)
      return inBlocked ? plane<V, W>(a, op, t, strip) : plane<V, 1>(a, op, t, strip);
    return inBlocked ? plane<V, 2 * W>(a, op, t, strip) : plane<V, 2>(a, op, t, strip);
  }

  /// Rows [r0, r1) (whole blocks), or false when this kernel does not take
  /// a (no strip: ConvArgs::stripOffsets).
  template <class Op> static bool run(const ConvArgs &a, Op op, int64_t r0, int64_t r1) {
    if (!a.stripOffsets)
      return false;
    alignas(64) float strip[kConvStripFloats];
    const int64_t cg = a.inChannels / a.groups, og = a.outChannels / a.groups;
    const int64_t taps = a.kH * a.kW, outPlane = a.outH * a.outW;
    for (int64_t r = r0; r < r1; r += a.block * a.outH) {
      const int64_t n = r / (a.outChannels * a.outH), o0 = (r / a.outH) % a.outChannels;
      const Tile t{a.x + (n * a.inChannels + o0 / og * cg) * a.inH * a.inW,
                   a.packed + o0 * cg * taps,
                   a.bias + o0,
                   a.y + (n * a.outChannels + o0) * outPlane,
                   a.residual ? a.residual + (n * a.outChannels + o0) * outPlane : nullptr,
                   0,
                   0,
                   0};
      if (a.block == 2 * W)
        plane<2>(a, op, t, strip);
      else
        plane<1>(a, op, t, strip);
    }
    return true;
  }
};

} // namespace
} // namespace soma::runtime::kernels
