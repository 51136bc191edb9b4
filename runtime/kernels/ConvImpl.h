// The direct convolution (Kernels.h conv), written once over an xsimd
// architecture A like the rest of KernelsImpl.h, which includes this file
// after Impl<A> (whose loads, stores and activations it uses) and puts
// ConvImpl<A>::conv in each instruction set's table. No im2col buffer: the
// output positions of one row run in the vector lanes, each tap's inputs
// are loaded straight from the input (a contiguous load for a stride of 1
// inside it; at the padded edges the run of lanes inside it copied into
// zeros; lanes gathered one by one for longer strides), and a block of
// output channels shares every load. When a group's output channels fill
// whole vectors (block = V * W), the output channels run in the lanes
// instead (lanes<V>): a register block of P output positions times V
// vectors of channels, each input broadcast once to V FMAs and each packed
// filter vector shared by P positions. That kernel also reads x and writes
// y and the residual in ChannelLayout::Blocked (blocks of W channels, W
// lanes of one position contiguous): the inputs' offsets change, and the
// epilogue stores each accumulator vector whole instead of scattering its
// lanes over W channel planes; the sums are the same, so are the bits.
#pragma once

namespace soma::runtime::kernels {
namespace {

template <class A> struct ConvImpl {
  using I = Impl<A>;
  using F = typename I::F;
  static constexpr int64_t W = I::W;

  /// The inputs tap column kw of input row `row` meets at output positions
  /// [ow, ow + n): 0 where the tap falls in the padding.
  static F inputs(const ConvArgs &a, const float *row, int64_t ow, int64_t n, int64_t kw) {
    const int64_t iw0 = ow * a.strideW - a.padLeft + kw * a.dilW;
    if (a.strideW == 1 && iw0 >= 0 && iw0 + n <= a.inW)
      return I::loadN(row + iw0, n);
    alignas(64) float lanes[W] = {};
    if (a.strideW == 1) { // at an edge: the lanes inside x are one run [lo, hi)
      const int64_t lo = iw0 < 0 ? -iw0 : 0, hi = a.inW - iw0 < n ? a.inW - iw0 : n;
      if (lo < hi)
        std::memcpy(lanes + lo, row + iw0 + lo, static_cast<size_t>(hi - lo) * sizeof(float));
      return F::load_aligned(lanes);
    }
    for (int64_t j = 0; j < n; ++j) {
      const int64_t iw = iw0 + j * a.strideW;
      if (iw >= 0 && iw < a.inW)
        lanes[j] = row[iw];
    }
    return F::load_aligned(lanes);
  }

  /// Rows [r0, r1) in blocks of CB channels times every output row.
  template <int CB, class Op> static void rows(const ConvArgs &a, Op op, int64_t r0, int64_t r1) {
    const int64_t cg = a.inChannels / a.groups, og = a.outChannels / a.groups;
    const int64_t taps = a.kH * a.kW, inPlane = a.inH * a.inW, outPlane = a.outH * a.outW;
    for (int64_t r = r0; r < r1; r += CB * a.outH) {
      const int64_t n = r / (a.outChannels * a.outH), o0 = (r / a.outH) % a.outChannels;
      const float *xs = a.x + (n * a.inChannels + o0 / og * cg) * inPlane;
      const float *wb = a.packed + o0 * cg * taps; // this block's packed filters
      float *ys = a.y + (n * a.outChannels + o0) * outPlane;
      const float *rs = a.residual ? a.residual + (n * a.outChannels + o0) * outPlane : nullptr;
      for (int64_t oh = 0; oh < a.outH; ++oh)
        for (int64_t ow = 0; ow < a.outW; ow += W) {
          const int64_t lanes = a.outW - ow < W ? a.outW - ow : W;
          F acc[CB];
          for (int j = 0; j < CB; ++j)
            acc[j] = F(0.0f);
          for (int64_t ci = 0; ci < cg; ++ci) {
            const float *plane = xs + ci * inPlane, *wc = wb + ci * taps * CB;
            for (int64_t kh = 0; kh < a.kH; ++kh) {
              const int64_t ih = oh * a.strideH - a.padTop + kh * a.dilH;
              if (ih < 0 || ih >= a.inH)
                continue; // a row of padding adds nothing
              const float *row = plane + ih * a.inW, *wk = wc + kh * a.kW * CB;
              for (int64_t kw = 0; kw < a.kW; ++kw) {
                const F v = inputs(a, row, ow, lanes, kw);
                for (int j = 0; j < CB; ++j)
                  acc[j] = fmadd<A>(v, F(wk[kw * CB + j]), acc[j]);
              }
            }
          }
          for (int j = 0; j < CB; ++j) {
            const int64_t at = j * outPlane + oh * a.outW + ow;
            F v = acc[j] + F(a.bias[o0 + j]);
            if (rs)
              v = v + I::loadN(rs + at, lanes);
            I::storeN(ys + at, op(v), lanes);
          }
        }
    }
  }

  /// The channel-lane kernel's positions per register block: P * V
  /// accumulators, 24 of the 32 vector registers (12 of 16 without AVX-512).
  template <int V> static constexpr int positions() { return (W >= 16 ? 24 : 12) / V; }

  /// Output positions [q0, q0 + P) of one sample's plane (flat oh * outW +
  /// ow; a position past the plane repeats the last one and is not stored)
  /// for V * W output channels: for each (ci, kh, kw), V filter vectors and
  /// one broadcast input per position. Edge: some tap of some position
  /// falls in the padding and reads a zero instead of x (an explicit 0 * w,
  /// as in jit.conv: a branch per tap and position mispredicted so often
  /// that it cost a third of the time on 7x7 planes); else one flat loop
  /// over the taps.
  template <int V, bool Edge, class Op>
  static void lanesBlock(const ConvArgs &a, Op op, const float *xs, const float *wb,
                         const float *bias, float *ys, const float *rs, int64_t q0) {
    constexpr int P = positions<V>();
    const int64_t cg = a.inChannels / a.groups, taps = a.kH * a.kW, inPlane = a.inH * a.inW;
    const int64_t outPlane = a.outH * a.outW, block = V * W;
    // Blocked x: a position's inputs are W floats apart, a channel's at
    // (ci / W) * inPlane * W + ci % W from the block's first.
    const bool inBlocked = a.in == ChannelLayout::Blocked;
    const int64_t posStride = inBlocked ? W : 1;
    int64_t ih0[P], iw0[P], off[P];
    for (int p = 0; p < P; ++p) {
      const int64_t q = q0 + p < outPlane ? q0 + p : outPlane - 1;
      ih0[p] = q / a.outW * a.strideH - a.padTop;
      iw0[p] = q % a.outW * a.strideW - a.padLeft;
      off[p] = (ih0[p] * a.inW + iw0[p]) * posStride;
    }
    F acc[P][V];
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < V; ++v)
        acc[p][v] = F(0.0f);
    if constexpr (!Edge) {
      // Every tap inside x: one loop over (ci, kh, kw), in the packed
      // filters' order, each tap's input at a fixed offset from each
      // position's first (a.tapOffsets, computed at compile time in x's
      // layout).
      const float *base[P];
      for (int p = 0; p < P; ++p)
        base[p] = xs + off[p];
      const float *wt = wb;
      for (int64_t i = 0; i < cg * taps; ++i, wt += block) {
        F wv[V];
        for (int v = 0; v < V; ++v)
          wv[v] = F::load_aligned(wt + v * W);
        const int64_t t = a.tapOffsets[i];
        for (int p = 0; p < P; ++p) {
          const F xb(base[p][t]);
          for (int v = 0; v < V; ++v)
            acc[p][v] = fmadd<A>(xb, wv[v], acc[p][v]);
        }
      }
    }
    if constexpr (Edge) {
      // Bit p of a tap's mask: position p's input for that tap is inside x
      // (the masks of up to 64 taps computed once per block).
      auto tapMask = [&](int64_t tap) {
        const int64_t dh = tap / a.kW * a.dilH, dw = tap % a.kW * a.dilW;
        uint32_t m = 0;
        for (int p = 0; p < P; ++p)
          if (static_cast<uint64_t>(ih0[p] + dh) < static_cast<uint64_t>(a.inH) &&
              static_cast<uint64_t>(iw0[p] + dw) < static_cast<uint64_t>(a.inW))
            m |= uint32_t(1) << p;
        return m;
      };
      constexpr int64_t MaxMasks = 64;
      uint32_t masks[MaxMasks];
      for (int64_t j = 0; j < taps && j < MaxMasks; ++j)
        masks[j] = tapMask(j);
      const float *wt = wb;
      for (int64_t ci = 0; ci < cg; ++ci) {
        const float *plane = xs + (inBlocked ? ci / W * inPlane * W + ci % W : ci * inPlane);
        for (int64_t j = 0; j < taps; ++j, wt += block) {
          const uint32_t m = j < MaxMasks ? masks[j] : tapMask(j);
          F wv[V];
          for (int v = 0; v < V; ++v)
            wv[v] = F::load_aligned(wt + v * W);
          const int64_t t = a.tapOffsets[j]; // the first channel's, in x's layout
          for (int p = 0; p < P; ++p) {
            // A tap in the padding reads a zero (no branch: the pattern of
            // taps in the padding changes from tap to tap).
            static const float zero = 0.0f;
            const float *src = m >> p & 1 ? plane + off[p] + t : &zero;
            const F xb(*src);
            for (int v = 0; v < V; ++v)
              acc[p][v] = fmadd<A>(xb, wv[v], acc[p][v]);
          }
        }
      }
    }
    if (a.out == ChannelLayout::Blocked) {
      // Vector v of position q is W contiguous channels of block v: one
      // load of the residual and one store.
      for (int p = 0; p < P && q0 + p < outPlane; ++p)
        for (int v = 0; v < V; ++v) {
          const int64_t at = (v * outPlane + q0 + p) * W;
          F r = acc[p][v] + F::load_unaligned(bias + v * W);
          if (rs)
            r = r + F::load_unaligned(rs + at);
          op(r).store_unaligned(ys + at);
        }
      return;
    }
    alignas(64) float lanes[W];
    for (int p = 0; p < P && q0 + p < outPlane; ++p)
      for (int v = 0; v < V; ++v) {
        F r = acc[p][v] + F::load_unaligned(bias + v * W);
        if (rs) {
          for (int64_t j = 0; j < W; ++j)
            lanes[j] = rs[(v * W + j) * outPlane + q0 + p];
          r = r + F::load_aligned(lanes);
        }
        op(r).store_aligned(lanes);
        for (int64_t j = 0; j < W; ++j)
          ys[(v * W + j) * outPlane + q0 + p] = lanes[j];
      }
  }

  /// Rows [r0, r1) in blocks of V * W channels (output channels in the lanes).
  template <int V, class Op> static void lanes(const ConvArgs &a, Op op, int64_t r0, int64_t r1) {
    constexpr int P = positions<V>();
    const int64_t cg = a.inChannels / a.groups, og = a.outChannels / a.groups;
    const int64_t taps = a.kH * a.kW, outPlane = a.outH * a.outW;
    // The positions whose every tap is inside x: rows [hLo, hHi), columns [wLo, wHi).
    auto firstInside = [](int64_t pad, int64_t stride) { return (pad + stride - 1) / stride; };
    auto endInside = [](int64_t in, int64_t pad, int64_t span, int64_t stride) {
      return in + pad - span < 0 ? int64_t(0) : (in + pad - span) / stride + 1;
    };
    const int64_t hLo = firstInside(a.padTop, a.strideH), wLo = firstInside(a.padLeft, a.strideW);
    const int64_t hHi = endInside(a.inH, a.padTop, (a.kH - 1) * a.dilH + 1, a.strideH);
    const int64_t wHi = endInside(a.inW, a.padLeft, (a.kW - 1) * a.dilW + 1, a.strideW);
    auto inside = [&](int64_t q) {
      const int64_t oh = q / a.outW, ow = q % a.outW;
      return oh >= hLo && oh < hHi && ow >= wLo && ow < wHi;
    };
    for (int64_t r = r0; r < r1; r += V * W * a.outH) {
      const int64_t n = r / (a.outChannels * a.outH), o0 = (r / a.outH) % a.outChannels;
      // The first input and output of the block's group and channels: the
      // same offsets in both layouts (a group's first channel and o0 are
      // multiples of W wherever a layout is Blocked).
      const float *xs = a.x + (n * a.inChannels + o0 / og * cg) * a.inH * a.inW;
      const float *wb = a.packed + o0 * cg * taps;
      float *ys = a.y + (n * a.outChannels + o0) * outPlane;
      const float *rs = a.residual ? a.residual + (n * a.outChannels + o0) * outPlane : nullptr;
      for (int64_t q0 = 0; q0 < outPlane; q0 += P) {
        const int64_t last = q0 + P < outPlane ? q0 + P - 1 : outPlane - 1;
        bool edge = false;
        for (int64_t q = q0; q <= last && !edge; ++q)
          edge = !inside(q);
        if (edge)
          lanesBlock<V, true>(a, op, xs, wb, a.bias + o0, ys, rs, q0);
        else
          lanesBlock<V, false>(a, op, xs, wb, a.bias + o0, ys, rs, q0);
      }
    }
  }

  static void conv(const ConvArgs &a, int64_t r0, int64_t r1) noexcept {
    assert(!ir::isRowwise(a.act.kind) && "a convolution's activation is elementwise");
    assert(r0 % (a.block * a.outH) == 0 && r1 % (a.block * a.outH) == 0 && "whole blocks");
    withAct<A>(a.act, [&](auto op) {
      if (DepthwiseImpl<A>::isDepthwise(a) && DepthwiseImpl<A>::run(a, op, r0, r1))
        return;
      assert(((a.in == ChannelLayout::Planar && a.out == ChannelLayout::Planar) ||
              ((a.block == 2 * W || (a.block == W && W > 4)) &&
               (a.in == ChannelLayout::Planar || (a.inChannels / a.groups) % W == 0 ||
                a.groups == 1))) &&
             "blocked layouts only in the channel-lane kernel, in blocks of this W");
      if (ConvTileImpl<A>::run(a, op, r0, r1))
        return;
      if (a.block == 2 * W)
        return lanes<2>(a, op, r0, r1);
      if (a.block == W && W > 4)
        return lanes<1>(a, op, r0, r1);
      switch (a.block) {
      case 8:
        rows<8>(a, op, r0, r1);
        break;
      case 4:
        rows<4>(a, op, r0, r1);
        break;
      case 2:
        rows<2>(a, op, r0, r1);
        break;
      default:
        rows<1>(a, op, r0, r1);
        break;
      }
    });
  }
};

} // namespace
} // namespace soma::runtime::kernels
