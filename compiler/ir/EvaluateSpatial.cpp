// The reference semantics of the window ops (Spatial.h evaluateSpatial):
// plain loops over samples, channels, output positions and taps, each sum in
// double, rounded to f32 once. They are the oracle the convolution kernels
// are tested against, and are themselves checked against NumPy
// (tests/reference/spatial).
#include "soma/ir/Evaluate.h"
#include "soma/ir/Spatial.h"

#include <cassert>
#include <cmath>

namespace soma::ir {

namespace {

void conv(const Op &op, const WindowGeometry &g, const float *x, const float *w, const float *b,
          const float *r, int64_t samples, float *y) {
  const int64_t taps = g.kH * g.kW, cg = g.inChannelsPerGroup(), og = g.outChannelsPerGroup();
  for (int64_t n = 0; n < samples; ++n)
    for (int64_t o = 0; o < g.outChannels; ++o) {
      const int64_t group = o / og;
      for (int64_t oh = 0; oh < g.outH; ++oh)
        for (int64_t ow = 0; ow < g.outW; ++ow) {
          double sum = 0;
          for (int64_t ci = 0; ci < cg; ++ci) {
            const float *plane = x + (n * g.inChannels + group * cg + ci) * g.inPlane();
            const float *filter = w + (o * cg + ci) * taps;
            forEachTap(g, oh, ow, [&](int64_t tap, int64_t at) {
              sum += static_cast<double>(plane[at]) * static_cast<double>(filter[tap]);
            });
          }
          sum += static_cast<double>(b[o]);
          const int64_t at = (n * g.outChannels + o) * g.outPlane() + oh * g.outW + ow;
          if (r)
            sum += static_cast<double>(r[at]);
          y[at] = static_cast<float>(referenceActivation(op.fn, sum));
        }
    }
}

} // namespace

void poolRows(bool isMax, PadCount padCount, const WindowGeometry &g, const float *x, int64_t r0,
              int64_t r1, float *y) {
  for (int64_t r = r0; r < r1; ++r) {
    const float *plane = x + r / g.outH * g.inPlane(); // row r is plane (n, c), output row oh
    const int64_t oh = r % g.outH;
    for (int64_t ow = 0; ow < g.outW; ++ow) {
      double acc = isMax ? -INFINITY : 0.0;
      bool nan = false;
      const int64_t inside = forEachTap(g, oh, ow, [&](int64_t, int64_t at) {
        const double v = plane[at];
        nan |= std::isnan(v);
        acc = isMax ? std::max(acc, v) : acc + v;
      });
      assert(inside > 0 && "a pad is smaller than the window");
      if (!isMax)
        acc /= static_cast<double>(padCount == PadCount::Include ? g.kH * g.kW : inside);
      y[r * g.outW + ow] = nan ? NAN : static_cast<float>(acc);
    }
  }
}

void globalPoolRows(int64_t plane, const float *x, int64_t p0, int64_t p1, float *y) {
  for (int64_t i = p0; i < p1; ++i) {
    double sum = 0;
    for (int64_t p = 0; p < plane; ++p)
      sum += x[i * plane + p];
    y[i] = static_cast<float>(sum / static_cast<double>(plane));
  }
}

void evaluateSpatial(const Op &op, const float *x, const float *w, const float *b, int64_t samples,
                     float *y, const float *r) {
  if (op.kind == OpKind::GlobalAvgPool) {
    const int64_t channels = op.type.dims[0];
    globalPoolRows(op.operands[0]->type.sampleElements() / channels, x, 0, samples * channels, y);
    return;
  }
  const WindowGeometry g = windowGeometry(op);
  if (isConv(op.kind))
    conv(op, g, x, w, b, r, samples, y);
  else
    poolRows(op.kind == OpKind::MaxPool, op.padCount, g, x, 0, samples * g.inChannels * g.outH, y);
}

} // namespace soma::ir
