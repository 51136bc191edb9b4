// Double-precision evaluation with running error bounds. Notation: u is
// f32's unit roundoff 2^-24; E_x is the bound carried by an operand; "JIT"
// and "interp" name the two engines. Every rule is a first-order bound
// (terms in u^2 are dropped; the comparison adds a relative margin of
// 2^-10 for them), valid whether or not the graph was fused (-O0 runs
// linear, bias_add and activation as separate ops, rounding in between).
//
//   dense   z = sum_k w_k x_k + b. The JIT accumulates in f32, one
//           accumulator per output, k ascending, with fmuladd (fused or
//           not), then adds the bias:
//             E_z(JIT)    = sum_k |w_k| E_x,k + u (sum_j |s_j| + sum_k |w_k x_k| + |z|)
//           where s_j are the partial sums. The interpreter sums in double
//           and rounds once (twice unfused):
//             E_z(interp) = sum_k |w_k| E_x,k + u (|s_K| + |z|)
//   act     y = f(z): the error passed on is the exact range
//           max |f(t) - f(z)| for |t - z| <= E_z (endpoints, plus the
//           minimum of gelu/silu/leaky_relu(alpha < 0) when inside), so
//           step is a tie only when the interval holds its threshold. Own
//           error: JIT 1e-6 |y| for the transcendental ones (VectorMath's
//           contract), u |y| for leaky_relu, 2u |y| for hard_sigmoid, 0 for
//           identity/relu/step; interp u |y|.
//   softmax y_i = e_i / sum e. Passed on: y_i expm1(E_i + G) with
//           G = max(log sum_j y_j e^E_j, -log sum_j y_j e^-E_j) (exact for
//           the log of the normaliser). Own error (JIT): y_i (2e-6 +
//           u |z_i - M| + u sum_j y_j |z_j - M| + (n + 2) u), M the row max.
//   add     E_a + E_b + u |y|.        concat: unchanged.
//   mul     |b| E_a + |a| E_b + E_a E_b + u |y|.
//   scaleshift  |s| E_x + u |y|, + u |x s| for the JIT (fmuladd: one
//           rounding with FMA, two without).
//   batchnorm   |s| a E_x + JIT: |s| 4u |n| + u |n s| + u |y|, with
//           a = 1/sqrt(var + eps) and n = (x - mean) a.
//   layernorm   exact-to-first-order perturbation of (x - mean)/sd over the
//           row, plus the JIT's f32 mean and variance (see layerNorm below).
//
// From -O2 the graph passes fold scale_shift and batch_norm into an
// adjacent dense layer (fold-scale-shift; its tolerance class is declared
// in compiler/passes/FoldScaleShift.cpp), so both engines may run the folded
// weights W' = W s, b' = b s + t ("after" a dense with no activation) or
// W' = W s, b' = b + W t ("before" a dense). Wherever a fold can happen the
// bounds take the larger of the unfolded and the folded rule (the folded
// dot product has its own partial sums) and both engines add the pass's
// bound on how far the folded network's exact values move:
// 2u (|s| (sum |x W| + |b|) + |t|) after, 2u (sum |x s W| + sum |t W| + |b|)
// before. remove-identity, cse and dce change nothing numerically.
//
// The harness's own double rounding (and the interpreter's) is covered by
// 2^-53 (K + 2) sum |w x| per dot product and 8 * 2^-53 |y| per op, added
// to the interpreter's bound.
#include "Reference.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <optional>

namespace soma::numerical {

namespace {

constexpr double kU = kU32;
constexpr double kU64 = 0x1p-53;
constexpr double kSqrt2 = 1.41421356237309504880;
constexpr double kPi = 3.14159265358979323846;
/// Where gelu(approximate = tanh) has its minimum.
constexpr double kGeluTanhMin = -0.752461422071016258;

/// The interval [z - e, z + e] mapped through f: the largest |f(t) - f(z)|.
double propagate(const Activation &act, double z, double e) {
  if (e == 0)
    return 0;
  if (!std::isfinite(e))
    return INFINITY;
  double fz = activationValue(act, z);
  double worst = std::max(std::fabs(activationValue(act, z - e) - fz),
                          std::fabs(activationValue(act, z + e) - fz));
  // Interior extrema of the functions that are not monotone.
  double critical = NAN;
  if (act.kind == Act::Gelu)
    critical = -0.751791524693564457;
  else if (act.kind == Act::Silu)
    critical = -1.27846454276107380;
  else if (act.kind == Act::GeluTanh)
    critical = kGeluTanhMin;
  else if (act.kind == Act::LeakyRelu && act.param < 0)
    critical = 0;
  if (std::fabs(critical - z) < e)
    worst = std::max(worst, std::fabs(activationValue(act, critical) - fz));
  return worst;
}

/// The JIT's own error for y = f(z), beyond what z's error passes on.
double jitActivationError(const Activation &act, double y) {
  switch (act.kind) {
  case Act::Identity:
  case Act::Relu:
  case Act::Step:
  case Act::Clip:
    return 0; // selects only
  case Act::LeakyRelu:
    return kU * std::fabs(y); // one multiply
  case Act::HardSigmoid:
    return 2 * kU * std::fabs(y); // (x + 3) / 6, or alpha x + beta within an ulp
  default:
    return kMathRel * std::fabs(y);
  }
}

/// Applies an elementwise activation (not softmax) to z in place.
void applyActivation(const Activation &act, BoundedValue &z) {
  for (size_t i = 0; i < z.ref.size(); ++i) {
    double x = z.ref[i];
    double y = activationValue(act, x);
    z.errJit[i] = propagate(act, x, z.errJit[i]) + jitActivationError(act, y);
    z.errInterp[i] = propagate(act, x, z.errInterp[i]) + (kU + 8 * kU64) * std::fabs(y);
    z.ref[i] = y;
  }
}

/// Softmax along rows of `width`.
void applySoftmax(BoundedValue &z, int64_t width) {
  const int64_t rows = static_cast<int64_t>(z.ref.size()) / width;
  std::vector<double> y(static_cast<size_t>(width));
  for (int64_t r = 0; r < rows; ++r) {
    double *zr = z.ref.data() + r * width;
    double *ej = z.errJit.data() + r * width;
    double *ei = z.errInterp.data() + r * width;
    double m = *std::max_element(zr, zr + width);
    double sum = 0;
    for (int64_t c = 0; c < width; ++c)
      sum += y[static_cast<size_t>(c)] = std::exp(zr[c] - m);
    double spread = 0; // sum_j y_j |z_j - M|
    for (int64_t c = 0; c < width; ++c) {
      y[static_cast<size_t>(c)] /= sum;
      if (y[static_cast<size_t>(c)] > 0) // exp(-inf) is exactly 0 in every engine
        spread += y[static_cast<size_t>(c)] * (m - zr[c]);
    }
    // G: the most the log of the normaliser can move.
    auto normaliserShift = [&](const double *e) {
      double up = 0, down = 0;
      for (int64_t c = 0; c < width; ++c) {
        up += y[static_cast<size_t>(c)] * std::exp(e[c]);
        down += y[static_cast<size_t>(c)] * std::exp(-e[c]);
      }
      return std::max(std::log(up), -std::log(down));
    };
    double gJit = normaliserShift(ej), gInterp = normaliserShift(ei);
    for (int64_t c = 0; c < width; ++c) {
      double yc = y[static_cast<size_t>(c)];
      if (yc == 0) { // underflow: 0, or a subnormal in f32
        ej[c] = ei[c] = kTiny;
        zr[c] = 0;
        continue;
      }
      double own =
          yc * (2 * kMathRel + kU * ((m - zr[c]) + spread) + static_cast<double>(width + 2) * kU) +
          kTiny;
      ej[c] = std::min(1.0, yc * std::expm1(ej[c] + gJit)) + own;
      ei[c] = std::min(1.0, yc * std::expm1(ei[c] + gInterp)) + (kU + 8 * kU64) * yc;
      zr[c] = yc;
    }
  }
}

/// log_softmax along rows of `width`: y_i = d_i - L, d_i = z_i - M,
/// L = log sum_j e^d_j. Passed on: E_i + G (G as softmax's). Own error
/// (JIT): u |d_i| for the subtraction, L's (1e-6 L for its log1p, and
/// (1e-6 + (n + 2) u) rest / S from the sum of the exponentials other than
/// the maxima, S the whole sum), u |y| for the last subtraction.
void applyLogSoftmax(BoundedValue &z, int64_t width) {
  const int64_t rows = static_cast<int64_t>(z.ref.size()) / width;
  std::vector<double> p(static_cast<size_t>(width));
  for (int64_t r = 0; r < rows; ++r) {
    double *zr = z.ref.data() + r * width;
    double *ej = z.errJit.data() + r * width;
    double *ei = z.errInterp.data() + r * width;
    double m = *std::max_element(zr, zr + width);
    double sum = 0, rest = 0;
    for (int64_t c = 0; c < width; ++c) {
      sum += p[static_cast<size_t>(c)] = std::exp(zr[c] - m);
      if (zr[c] != m)
        rest += p[static_cast<size_t>(c)];
    }
    for (double &v : p)
      v /= sum;
    auto normaliserShift = [&](const double *e) {
      double up = 0, down = 0;
      for (int64_t c = 0; c < width; ++c) {
        up += p[static_cast<size_t>(c)] * std::exp(e[c]);
        down += p[static_cast<size_t>(c)] * std::exp(-e[c]);
      }
      return std::max(std::log(up), -std::log(down));
    };
    const double gJit = normaliserShift(ej), gInterp = normaliserShift(ei);
    const double logSum = std::log(sum);
    const double ownLog =
        kMathRel * logSum + (kMathRel + static_cast<double>(width + 2) * kU) * rest / sum;
    for (int64_t c = 0; c < width; ++c) {
      const double d = zr[c] - m, y = d - logSum;
      ej[c] = ej[c] + gJit + kU * std::fabs(d) + ownLog + kU * std::fabs(y) + kTiny;
      ei[c] = ei[c] + gInterp + (kU + 8 * kU64) * std::fabs(y);
      zr[c] = y;
    }
  }
}

/// softmax or log_softmax along rows of `width`.
void applyRowwise(Act kind, BoundedValue &z, int64_t width) {
  if (kind == Act::LogSoftmax)
    applyLogSoftmax(z, width);
  else
    applySoftmax(z, width);
}

bool isRowwise(Act kind) { return kind == Act::Softmax || kind == Act::LogSoftmax; }

BoundedValue sized(int64_t n) {
  BoundedValue v;
  v.ref.assign(static_cast<size_t>(n), 0.0);
  v.errJit.assign(static_cast<size_t>(n), 0.0);
  v.errInterp.assign(static_cast<size_t>(n), 0.0);
  return v;
}

/// A per-feature affine layer as fold-scale-shift sees it: y = x s + t.
struct AffineForm {
  std::vector<double> s, t;
};

std::optional<AffineForm> affineForm(const Layer &l) {
  AffineForm a;
  if (l.kind == LayerKind::ScaleShift) {
    a.s.assign(l.scale.values.begin(), l.scale.values.end());
    a.t.assign(l.shift.values.begin(), l.shift.values.end());
    return a;
  }
  if (l.kind != LayerKind::BatchNorm)
    return std::nullopt;
  for (size_t c = 0; c < l.scale.values.size(); ++c) {
    double sc = l.scale.values[c] / std::sqrt(static_cast<double>(l.variance.values[c]) +
                                              static_cast<double>(l.epsilon));
    a.s.push_back(sc);
    a.t.push_back(static_cast<double>(l.shift.values[c]) -
                  static_cast<double>(l.mean.values[c]) * sc);
  }
  return a;
}

/// Layers remove-identity deletes: they cannot stop a fold.
bool transparent(const Layer &l) {
  if (l.kind == LayerKind::Activation)
    return l.act.kind == Act::Identity;
  if (l.kind != LayerKind::ScaleShift)
    return false;
  auto one = [](float v) { return v == 1.0f; };
  auto zero = [](float v) { return v == 0.0f; };
  return std::all_of(l.scale.values.begin(), l.scale.values.end(), one) &&
         std::all_of(l.shift.values.begin(), l.shift.values.end(), zero);
}

/// What the evaluation knows besides the values: each value's producing
/// layer, and for values a fold "after" may have produced, sum |x W| + |b|
/// of the dense layer they come from (carried through chains of folds).
struct Context {
  std::vector<const Layer *> producer;
  std::vector<std::vector<double>> foldMagnitude;
};

/// The affine layer fold-scale-shift may fold into dense layer `l` (the
/// "before" form), or null.
const Layer *foldedBefore(const Layer &l, const Context &ctx) {
  if (l.operands.size() != 1)
    return nullptr; // several operands: a concat stands in between
  const Layer *p = ctx.producer[static_cast<size_t>(l.operands[0])];
  while (p && transparent(*p))
    p = ctx.producer[static_cast<size_t>(p->operands[0])];
  return p && affineForm(*p) ? p : nullptr;
}

/// The operands of a dense layer concatenated along their last axis and
/// flattened per sample, as soma's frontend does.
BoundedValue denseInput(const Network &net, const Layer &l, const std::vector<BoundedValue> &vals) {
  if (l.operands.size() == 1)
    return vals[static_cast<size_t>(l.operands[0])];
  const Value &first = net.values[static_cast<size_t>(l.operands[0])];
  int64_t total = 0;
  for (int v : l.operands)
    total += net.values[static_cast<size_t>(v)].size();
  BoundedValue out = sized(net.batch * total);
  const int64_t rows = net.batch * first.rows();
  int64_t width = 0;
  for (int v : l.operands)
    width += net.values[static_cast<size_t>(v)].last();
  int64_t offset = 0;
  for (int v : l.operands) {
    const int64_t part = net.values[static_cast<size_t>(v)].last();
    const BoundedValue &in = vals[static_cast<size_t>(v)];
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < part; ++c) {
        size_t to = static_cast<size_t>(r * width + offset + c),
               from = static_cast<size_t>(r * part + c);
        out.ref[to] = in.ref[from];
        out.errJit[to] = in.errJit[from];
        out.errInterp[to] = in.errInterp[from];
      }
    offset += part;
  }
  return out;
}

BoundedValue dense(const Network &net, const Layer &l, const std::vector<BoundedValue> &vals,
                   Context &ctx) {
  BoundedValue x = denseInput(net, l, vals);
  const int64_t units = l.units, k = static_cast<int64_t>(l.weights.values.size()) / units;
  BoundedValue z = sized(net.batch * units);
  // The "before" fold: the layer may read the affine layer's input instead.
  const Layer *fold = foldedBefore(l, ctx);
  std::optional<AffineForm> af = fold ? affineForm(*fold) : std::nullopt;
  const BoundedValue *xa = fold ? &vals[static_cast<size_t>(fold->operands[0])] : nullptr;
  const size_t features =
      fold ? static_cast<size_t>(net.values[static_cast<size_t>(fold->result)].last()) : 1;
  std::vector<double> &magnitude = ctx.foldMagnitude[static_cast<size_t>(l.result)];
  if (l.act.kind == Act::Identity)
    magnitude.assign(z.ref.size(), 0.0);
  for (int64_t n = 0; n < net.batch; ++n) {
    const double *xr = x.ref.data() + n * k;
    const double *xj = x.errJit.data() + n * k;
    const double *xi = x.errInterp.data() + n * k;
    for (int64_t o = 0; o < units; ++o) {
      const float *w = l.weights.values.data() + o * k;
      const double b = l.bias.values[static_cast<size_t>(o)];
      double s = 0, partials = 0, products = 0, propJit = 0, propInterp = 0;
      for (int64_t i = 0; i < k; ++i) {
        double p = static_cast<double>(w[i]) * xr[i];
        s += p;
        partials += std::fabs(s);
        products += std::fabs(p);
        propJit += std::fabs(static_cast<double>(w[i])) * xj[i];
        propInterp += std::fabs(static_cast<double>(w[i])) * xi[i];
      }
      double zo = s + b;
      size_t at = static_cast<size_t>(n * units + o);
      z.ref[at] = zo;
      z.errJit[at] = propJit + kU * (partials + products + std::fabs(zo));
      z.errInterp[at] = propInterp + kU * (std::fabs(s) + std::fabs(zo)) +
                        2 * kU64 * static_cast<double>(k + 2) * (products + std::fabs(zo));
      if (!magnitude.empty())
        magnitude[at] = products + std::fabs(b);
      if (!fold)
        continue;
      // Folded: sum_i (w_i s_i) xa_i, then the bias b + sum_i w_i t_i.
      double sf = 0, partialsF = 0, productsF = 0, shifts = 0, propJitF = 0, propInterpF = 0;
      for (int64_t i = 0; i < k; ++i) {
        const size_t f = static_cast<size_t>(i) % features, ai = static_cast<size_t>(n * k + i);
        double ws = static_cast<double>(w[i]) * af->s[f];
        double p = ws * xa->ref[ai];
        sf += p;
        partialsF += std::fabs(sf);
        productsF += std::fabs(p);
        shifts += std::fabs(static_cast<double>(w[i]) * af->t[f]);
        propJitF += std::fabs(ws) * xa->errJit[ai];
        propInterpF += std::fabs(ws) * xa->errInterp[ai];
      }
      if (!magnitude.empty()) // for a later fold "after": the larger of both forms
        magnitude[at] = std::max(magnitude[at], productsF + shifts + std::fabs(b));
      const double moved = 2 * kU * (productsF + shifts + std::fabs(b));
      z.errJit[at] =
          std::max(z.errJit[at], propJitF + kU * (partialsF + productsF + std::fabs(zo))) + moved;
      z.errInterp[at] = std::max(z.errInterp[at], propInterpF + kU * std::fabs(zo) +
                                                      2 * kU64 * static_cast<double>(k + 2) *
                                                          (productsF + shifts + std::fabs(b))) +
                        moved;
    }
  }
  if (isRowwise(l.act.kind))
    applyRowwise(l.act.kind, z, units);
  else
    applyActivation(l.act, z);
  return z;
}

/// The "after" fold: affine layer `l` on a value a dense layer with no
/// activation produced (through earlier folds too) moves the exact values
/// by 2u (|s| M + |t|), M = sum |x W| + |b| of that layer.
void foldAfter(const Network &net, const Layer &l, BoundedValue &y, Context &ctx) {
  const std::vector<double> &m = ctx.foldMagnitude[static_cast<size_t>(l.operands[0])];
  std::optional<AffineForm> af = affineForm(l);
  if (m.empty() || !af)
    return;
  const size_t features = static_cast<size_t>(net.values[static_cast<size_t>(l.result)].last());
  std::vector<double> &out = ctx.foldMagnitude[static_cast<size_t>(l.result)];
  out.assign(m.size(), 0.0);
  for (size_t i = 0; i < m.size(); ++i) {
    const size_t f = i % features;
    out[i] = std::fabs(af->s[f]) * m[i] + std::fabs(af->t[f]);
    y.errJit[i] += 2 * kU * out[i];
    y.errInterp[i] += 2 * kU * out[i];
  }
}

BoundedValue add(const Network &net, const Layer &l, const std::vector<BoundedValue> &vals) {
  (void)net;
  BoundedValue acc = vals[static_cast<size_t>(l.operands[0])];
  for (size_t k = 1; k < l.operands.size(); ++k) {
    const BoundedValue &b = vals[static_cast<size_t>(l.operands[k])];
    for (size_t i = 0; i < acc.ref.size(); ++i) {
      double y = acc.ref[i] + b.ref[i];
      acc.errJit[i] += b.errJit[i] + kU * std::fabs(y);
      acc.errInterp[i] += b.errInterp[i] + (kU + 8 * kU64) * std::fabs(y);
      acc.ref[i] = y;
    }
  }
  return acc;
}

BoundedValue mul(const Layer &l, const std::vector<BoundedValue> &vals) {
  BoundedValue acc = vals[static_cast<size_t>(l.operands[0])];
  for (size_t k = 1; k < l.operands.size(); ++k) {
    const BoundedValue &b = vals[static_cast<size_t>(l.operands[k])];
    for (size_t i = 0; i < acc.ref.size(); ++i) {
      const double y = acc.ref[i] * b.ref[i];
      const double a = std::fabs(acc.ref[i]), c = std::fabs(b.ref[i]);
      acc.errJit[i] =
          c * acc.errJit[i] + a * b.errJit[i] + acc.errJit[i] * b.errJit[i] + kU * std::fabs(y);
      acc.errInterp[i] = c * acc.errInterp[i] + a * b.errInterp[i] +
                         acc.errInterp[i] * b.errInterp[i] + (kU + 8 * kU64) * std::fabs(y);
      acc.ref[i] = y;
    }
  }
  return acc;
}

/// Exact copies: the same layout as a dense layer's concatenated input.
BoundedValue concat(const Network &net, const Layer &l, const std::vector<BoundedValue> &vals) {
  return denseInput(net, l, vals);
}

BoundedValue scaleShift(const Network &net, const Layer &l, const std::vector<BoundedValue> &vals) {
  BoundedValue y = vals[static_cast<size_t>(l.operands[0])];
  const int64_t c = net.values[static_cast<size_t>(l.result)].last();
  for (size_t i = 0; i < y.ref.size(); ++i) {
    size_t f = i % static_cast<size_t>(c);
    double s = l.scale.values[f], t = l.shift.values[f];
    double v = y.ref[i] * s + t;
    // fmuladd: the product is rounded too where the target has no FMA.
    y.errJit[i] = std::fabs(s) * y.errJit[i] + kU * (std::fabs(y.ref[i] * s) + std::fabs(v));
    y.errInterp[i] = std::fabs(s) * y.errInterp[i] + (kU + 8 * kU64) * std::fabs(v);
    y.ref[i] = v;
  }
  return y;
}

BoundedValue batchNorm(const Network &net, const Layer &l, const std::vector<BoundedValue> &vals) {
  BoundedValue y = vals[static_cast<size_t>(l.operands[0])];
  const int64_t c = net.values[static_cast<size_t>(l.result)].last();
  for (size_t i = 0; i < y.ref.size(); ++i) {
    size_t f = i % static_cast<size_t>(c);
    double a =
        1 / std::sqrt(static_cast<double>(l.variance.values[f]) + static_cast<double>(l.epsilon));
    double s = l.scale.values[f];
    double n = (y.ref[i] - static_cast<double>(l.mean.values[f])) * a;
    double v = n * s + static_cast<double>(l.shift.values[f]);
    // JIT: var + eps, sqrt, x - mean, divide (4u on n), then fmuladd.
    y.errJit[i] = std::fabs(s) * (a * y.errJit[i] + 5 * kU * std::fabs(n)) + kU * std::fabs(v);
    y.errInterp[i] = std::fabs(s) * a * y.errInterp[i] + (kU + 8 * kU64) * std::fabs(v);
    y.ref[i] = v;
  }
  return y;
}

/// Layer norm along rows of C. Passed on: with d_c = x_c - mean and
/// perturbations of at most E_c (mean E: Ebar), d_c moves by at most
/// E_c + Ebar and var by at most dV = (1/C) sum (2 |d_j| (E_j + Ebar) +
/// (E_j + Ebar)^2), so n_c = d_c / sqrt(var + eps) moves by at most
/// (E_c + Ebar) a_hi + |d_c| (a_hi - a), a_hi = 1/sqrt(max(var + eps - dV,
/// eps)) (and never by more than |n_c| + sqrt(C), as |n| <= sqrt(C)).
/// The JIT's own error: its f32 mean is off by Em = u ((C - 1) mean|x| +
/// 2 |mean|) in any summation order; its variance (two-pass, fmuladd) by
/// (C + 5) u var + 2u eps + Em^2; so n_c is off by Em/sd + |n_c| (dV/(2 (var
/// + eps)) + 4u) (sqrt, reciprocal, subtract, multiply), then fmuladd (u |n s|
/// more where the target has no FMA).
BoundedValue layerNorm(const Network &net, const Layer &l, const std::vector<BoundedValue> &vals) {
  BoundedValue y = vals[static_cast<size_t>(l.operands[0])];
  const int64_t width = net.values[static_cast<size_t>(l.result)].last();
  const int64_t rows = static_cast<int64_t>(y.ref.size()) / width;
  const double cols = static_cast<double>(width), eps = l.epsilon;
  std::vector<double> d(static_cast<size_t>(width));
  for (int64_t r = 0; r < rows; ++r) {
    double *xr = y.ref.data() + r * width;
    double *ej = y.errJit.data() + r * width;
    double *ei = y.errInterp.data() + r * width;
    double mean = 0, absSum = 0;
    for (int64_t c = 0; c < width; ++c) {
      mean += xr[c];
      absSum += std::fabs(xr[c]);
    }
    mean /= cols;
    double var = 0;
    for (int64_t c = 0; c < width; ++c) {
      d[static_cast<size_t>(c)] = xr[c] - mean;
      var += d[static_cast<size_t>(c)] * d[static_cast<size_t>(c)];
    }
    var /= cols;
    const double s2 = var + eps, a = 1 / std::sqrt(s2);
    auto passedOn = [&](const double *e, std::vector<double> &dn) {
      double ebar = 0;
      for (int64_t c = 0; c < width; ++c)
        ebar += e[c];
      ebar /= cols;
      double dv = 0;
      for (int64_t c = 0; c < width; ++c) {
        double de = e[c] + ebar;
        dv += 2 * std::fabs(d[static_cast<size_t>(c)]) * de + de * de;
      }
      dv /= cols;
      double aHi = 1 / std::sqrt(std::max(s2 - dv, eps));
      dn.resize(static_cast<size_t>(width));
      for (int64_t c = 0; c < width; ++c) {
        double dc = d[static_cast<size_t>(c)];
        dn[static_cast<size_t>(c)] = std::min((e[c] + ebar) * aHi + std::fabs(dc) * (aHi - a),
                                              std::fabs(dc) * a + std::sqrt(cols));
      }
    };
    std::vector<double> dnJit, dnInterp;
    passedOn(ej, dnJit);
    passedOn(ei, dnInterp);
    const double em = kU * ((cols - 1) * absSum / cols + 2 * std::fabs(mean));
    const double ds2 = (cols + 5) * kU * var + 2 * kU * eps + em * em;
    const double relSd = ds2 / (2 * s2) + kU;
    for (int64_t c = 0; c < width; ++c) {
      size_t f = static_cast<size_t>(c);
      double n = d[f] * a, s = l.scale.values[f];
      double v = n * s + static_cast<double>(l.shift.values[f]);
      double own = em * a + std::fabs(n) * (relSd + 4 * kU);
      ej[c] = std::fabs(s) * (dnJit[f] + own) + kU * std::fabs(v);
      // The interpreter's (and the harness's) double rounding, the same
      // terms with 2^-53 for u.
      double ownInterp = 2 * kU64 * ((cols + 1) * absSum / cols * a + (cols + 8) * std::fabs(n));
      ei[c] = std::fabs(s) * (dnInterp[f] + ownInterp) + (kU + 8 * kU64) * std::fabs(v);
      xr[c] = v;
    }
  }
  return y;
}

} // namespace

double activationValue(const Activation &act, double x) {
  const double p = act.param;
  switch (act.kind) {
  case Act::Identity:
    return x;
  case Act::Relu:
    return x > 0 ? x : 0.0;
  case Act::LeakyRelu:
    return x > 0 ? x : p * x;
  case Act::Sigmoid:
    return 1 / (1 + std::exp(-x));
  case Act::Tanh:
    return std::tanh(x);
  case Act::Softmax:
    return 1; // a one-element row; rows go through applySoftmax
  case Act::Gelu:
    return 0.5 * x * std::erfc(-x / kSqrt2);
  case Act::Silu:
    return x / (1 + std::exp(-x));
  case Act::Elu:
    return x > 0 ? x : p * std::expm1(x);
  case Act::Softplus:
    return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(p * x))) / p;
  case Act::HardSigmoid:
    if (act.param == static_cast<float>(1.0 / 6.0) && act.param2 == 0.5f)
      return std::min(std::max((x + 3) / 6, 0.0), 1.0); // PyTorch's, the default
    if (p == 0)
      return std::min(std::max(static_cast<double>(act.param2), 0.0), 1.0);
    return std::min(std::max(p * x + act.param2, 0.0), 1.0);
  case Act::Step:
    return x > p ? 1.0 : 0.0;
  case Act::LogSoftmax:
    return 0; // a one-element row; rows go through applyLogSoftmax
  case Act::Selu:
    return act.param2 * (x > 0 ? x : p * std::expm1(x));
  case Act::Softsign:
    return x / (1 + std::fabs(x));
  case Act::GeluTanh: {
    const double u = std::sqrt(2 / kPi) * (x + 0.044715 * x * x * x);
    return x / (1 + std::exp(-2 * u));
  }
  case Act::Clip:
    return x < p ? p : x > act.param2 ? static_cast<double>(act.param2) : x;
  }
  return x;
}

std::vector<BoundedValue> evaluate(const Network &net,
                                   const std::vector<std::vector<float>> &inputs) {
  std::vector<BoundedValue> vals(net.values.size());
  for (size_t i = 0; i < net.inputs.size(); ++i) {
    BoundedValue &v = vals[static_cast<size_t>(net.inputs[i])];
    v = sized(static_cast<int64_t>(inputs[i].size()));
    std::copy(inputs[i].begin(), inputs[i].end(), v.ref.begin());
  }
  Context ctx;
  ctx.producer.assign(net.values.size(), nullptr);
  ctx.foldMagnitude.resize(net.values.size());
  for (const Layer &l : net.layers) {
    BoundedValue out;
    switch (l.kind) {
    case LayerKind::Dense:
    case LayerKind::Neuron:
      out = dense(net, l, vals, ctx);
      break;
    case LayerKind::Add:
      out = add(net, l, vals);
      break;
    case LayerKind::Mul:
      out = mul(l, vals);
      break;
    case LayerKind::Concat:
      out = concat(net, l, vals);
      break;
    case LayerKind::BatchNorm:
      out = batchNorm(net, l, vals);
      break;
    case LayerKind::LayerNorm:
      out = layerNorm(net, l, vals);
      break;
    case LayerKind::ScaleShift:
      out = scaleShift(net, l, vals);
      break;
    case LayerKind::Activation:
      out = vals[static_cast<size_t>(l.operands[0])];
      if (isRowwise(l.act.kind))
        applyRowwise(l.act.kind, out, net.values[static_cast<size_t>(l.result)].last());
      else
        applyActivation(l.act, out);
      if (l.act.kind == Act::Identity) // removed from -O2: a fold can reach through
        ctx.foldMagnitude[static_cast<size_t>(l.result)] =
            ctx.foldMagnitude[static_cast<size_t>(l.operands[0])];
      break;
    }
    foldAfter(net, l, out, ctx);
    ctx.producer[static_cast<size_t>(l.result)] = &l;
    vals[static_cast<size_t>(l.result)] = std::move(out);
  }
  return vals;
}

} // namespace soma::numerical
