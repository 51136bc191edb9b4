// The geometry of the spatial ops (conv, max_pool, avg_pool,
// global_avg_pool): their shape rules, and one normalised description of a
// window sweep that the interpreter and the kernels read, so the arithmetic
// of pads, strides and dilations is written once. A 1-D op ([C, L]) is
// described as a 2-D one with a height of 1.
#pragma once

#include "soma/ir/Graph.h"
#include "soma/support/Diagnostics.h"

#include <cstdint>

namespace soma::ir {

/// Whether `kind` is one of the window ops whose shape rule is here.
bool isSpatial(OpKind kind);

/// The result type of a conv, max_pool, avg_pool or global_avg_pool op whose
/// operands' types are known; an error at op.loc and an unknown type when
/// the kernel, strides, pads, dilations, groups or channels do not fit.
TensorType inferSpatialType(const Op &op, DiagnosticEngine &diags);

/// A conv or pooling op over a [C, H, W] value (a [C, L] one has H = 1,
/// the vertical kernel, stride and dilation 1 and no vertical pads).
struct WindowGeometry {
  int spatialRank = 2; // as written: 1 or 2
  int64_t inChannels = 0, outChannels = 0, groups = 1;
  int64_t inH = 1, inW = 1, outH = 1, outW = 1;
  int64_t kH = 1, kW = 1, strideH = 1, strideW = 1, dilH = 1, dilW = 1;
  int64_t padTop = 0, padLeft = 0, padBottom = 0, padRight = 0;

  int64_t inChannelsPerGroup() const { return inChannels / groups; }
  int64_t outChannelsPerGroup() const { return outChannels / groups; }
  int64_t inPlane() const { return inH * inW; }
  int64_t outPlane() const { return outH * outW; }
};

/// The geometry of `op` (conv, max_pool or avg_pool; its type and its
/// operands' types known and verified).
WindowGeometry windowGeometry(const Op &op);

/// Calls f(tap, x index within the plane) for every tap of the window at
/// output position (oh, ow) that falls inside the input, in (kh, kw)
/// order (tap = kh * kW + kw); returns how many did.
template <class F> int64_t forEachTap(const WindowGeometry &g, int64_t oh, int64_t ow, F &&f) {
  int64_t inside = 0;
  for (int64_t kh = 0; kh < g.kH; ++kh) {
    const int64_t ih = oh * g.strideH - g.padTop + kh * g.dilH;
    if (ih < 0 || ih >= g.inH)
      continue;
    for (int64_t kw = 0; kw < g.kW; ++kw) {
      const int64_t iw = ow * g.strideW - g.padLeft + kw * g.dilW;
      if (iw < 0 || iw >= g.inW)
        continue;
      f(kh * g.kW + kw, ih * g.inW + iw);
      ++inside;
    }
  }
  return inside;
}

/// Why the conv kernel families (vec.conv, jit.conv) cannot pack `op`: it
/// is not a conv, or its filters or bias are not a constant; empty when
/// they can.
std::string convNotPackable(const Op &op);

/// The reference semantics of conv, conv_add, max_pool, avg_pool and
/// global_avg_pool (ir::evaluateOp): `samples` samples of x, w and b (conv
/// only: weights [O, C / groups, kernel...] and bias [O]; conv_add: and the
/// residual r, of y's shape) to y, in double (the sum, + b, + r, then the
/// activation), rounded to f32 once per element. Padded positions add 0 to
/// a convolution, never win a max and count in an average's divisor only
/// under pad_count = include.
void evaluateSpatial(const Op &op, const float *x, const float *w, const float *b, int64_t samples,
                     float *y, const float *r = nullptr);

/// Rows [r0, r1) of a max_pool (isMax) or avg_pool result, row
/// (n * C + c) * outH + oh holding its outW positions, as evaluateSpatial
/// computes them; the vec engine's pooling family runs it over row tiles.
void poolRows(bool isMax, PadCount padCount, const WindowGeometry &g, const float *x, int64_t r0,
              int64_t r1, float *y);
/// Channels [p0, p1) of a global_avg_pool result (channel p = n * C + c of
/// the batch), each the mean of the `plane` values it averages.
void globalPoolRows(int64_t plane, const float *x, int64_t p0, int64_t p1, float *y);

} // namespace soma::ir
