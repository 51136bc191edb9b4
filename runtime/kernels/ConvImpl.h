// The direct convolution (Kernels.h conv), written once over an xsimd
// architecture A like the rest of KernelsImpl.h, which includes this file
// after Impl<A> (whose loads, stores and activations it uses) and puts
// ConvImpl<A>::conv in each instruction set's table. No im2col buffer: the
// output positions of one row run in the vector lanes, each tap's inputs
// are loaded straight from the input (a contiguous load for a stride of 1
// inside it; at the padded edges the run of lanes inside it copied into
// zeros; lanes gathered one by one for longer strides), and a block of
// output channels shares every load.
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

  static void conv(const ConvArgs &a, int64_t r0, int64_t r1) noexcept {
    assert(a.act.kind != ir::ActKind::Softmax && "a convolution's activation is elementwise");
    assert(r0 % (a.block * a.outH) == 0 && r1 % (a.block * a.outH) == 0 && "whole blocks");
    withAct<A>(a.act.kind, a.act.param, [&](auto op) {
      switch (a.block) {
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
