// The activation functions on xsimd vectors: the algorithms of the JIT's
// compiler/codegen/VectorMath.cpp, written once more as templates over the
// xsimd architecture, on the same constants (soma/ir/ActivationMath.h, which
// both read), so the vec engine meets the same accuracy contract
// (docs/codegen-math.md: relative error <= 1e-6 against the double
// reference, NaN propagates, the limits at +-inf) without libm and without
// xsimd's own exp/tanh/erf. Straight-line code: IEEE arithmetic, compares,
// selects and integer ops on the exponent field, correct at every width.
//
// Only the per-instruction-set kernel files include this header, each
// compiled with its own -m flags. None of them may share an inline function
// with another: the linker keeps one copy of a weak symbol, and if it kept
// the AVX-512 copy of, say, xsimd::constants::minuszero<float>(), the SSE2
// kernels would run AVX-512 code. So soma's code here is in an unnamed
// namespace, and xsimd itself is compiled into a namespace of its own per
// instruction set: the file defines SOMA_XSIMD_NAMESPACE (soma_xsimd_sse2,
// ...) and the macro below renames the token `xsimd` (xsimd's includes are
// quoted paths, which macros do not touch). The kernels_isa_objects test
// checks the objects for shared weak symbols.
#pragma once

#include "soma/ir/Activation.h"
#include "soma/ir/ActivationMath.h"

#ifndef SOMA_XSIMD_NAMESPACE
#error "define SOMA_XSIMD_NAMESPACE (one per instruction set) before including the kernels"
#endif
#define xsimd SOMA_XSIMD_NAMESPACE
#include <xsimd/xsimd.hpp>

#include <cstdint>

namespace soma::runtime::kernels {
namespace {

// The constants of soma/ir/ActivationMath.h by their short names (only the
// kernel objects include this header).
using namespace ir::actmath;

/// x * y + z, fused where the instruction set has FMA (AVX2, AVX-512 and
/// NEON here, not SSE2). xsimd 8.1 has no FMA for AVX-512 (its xsimd::fma falls
/// back to a multiply and an add there), so that one is the intrinsic.
template <class A>
xsimd::batch<float, A> fmadd(xsimd::batch<float, A> x, xsimd::batch<float, A> y,
                             xsimd::batch<float, A> z) {
#if defined(__AVX512F__)
  if constexpr (xsimd::batch<float, A>::size == 16)
    return _mm512_fmadd_ps(x, y, z);
  else
#endif
    return xsimd::fma(x, y, z);
}

/// Four lanes in a register of the architecture's base vectors (SSE on
/// x86-64, in every kernel object; NEON on aarch64), for the code that
/// works in groups of four whatever the object's width.
#if defined(__aarch64__)
using Vec4 = float32x4_t;
inline Vec4 zero4() { return vdupq_n_f32(0.0f); }
inline Vec4 load4(const float *p) { return vld1q_f32(p); }
inline Vec4 loadu4(const float *p) { return vld1q_f32(p); }
inline void store4(float *p, Vec4 v) { vst1q_f32(p, v); }
inline Vec4 set4(float a, float b, float c, float d) {
  const float lanes[4] = {a, b, c, d};
  return vld1q_f32(lanes);
}
#else
using Vec4 = __m128;
inline Vec4 zero4() { return _mm_setzero_ps(); }
/// p 16-byte aligned.
inline Vec4 load4(const float *p) { return _mm_load_ps(p); }
inline Vec4 loadu4(const float *p) { return _mm_loadu_ps(p); }
inline void store4(float *p, Vec4 v) { _mm_store_ps(p, v); }
inline Vec4 set4(float a, float b, float c, float d) { return _mm_setr_ps(a, b, c, d); }
#endif

/// fmadd on 4 lanes, rounded per lane as fmadd rounds: fused where the
/// object has FMA (every aarch64 one), else a multiply and an add.
inline Vec4 fmadd4(Vec4 x, Vec4 y, Vec4 z) {
#if defined(__aarch64__)
  return vfmaq_f32(z, x, y);
#elif defined(__FMA__)
  return _mm_fmadd_ps(x, y, z);
#else
  return _mm_add_ps(_mm_mul_ps(x, y), z);
#endif
}

template <class A> struct VecMath {
  using F = xsimd::batch<float, A>;
  using I = xsimd::batch<int32_t, A>;
  using M = xsimd::batch_bool<float, A>;

  /// 2^n as two normal factors, applied as v * lo * hi (one rounding into
  /// the subnormal range or to infinity).
  struct Pow2 {
    F lo, hi;
  };
  /// exp(a + tail) = p * 2^n with p in [0.7, 1.42]; em1 = p - 1 unrounded.
  struct ExpParts {
    F p, em1;
    I n;
  };

  static F c(float v) { return F(v); }
  static F fma(F x, F y, F z) { return fmadd<A>(x, y, z); }
  // Ordered compares are false for NaN, so select(x > hi, hi, x) keeps NaN.
  static M gt(F x, float v) { return x > F(v); }
  static M ge(F x, float v) { return x >= F(v); }
  static M lt(F x, float v) { return x < F(v); }
  /// x > v or x is NaN.
  static M gtOrNan(F x, float v) { return !(x <= F(v)); }
  static M isNan(F x) { return xsimd::isnan(x); }
  static F keepNan(F x, F y) { return xsimd::select(isNan(x), x, y); }

  template <size_t N> static F poly(F x, const float (&coeffs)[N]) {
    F acc = c(coeffs[N - 1]);
    for (size_t i = N - 1; i-- > 0;)
      acc = fma(acc, x, c(coeffs[i]));
    return acc;
  }

  /// 2^k for integer k in [-126, 127], by building the exponent field.
  static F exp2Int(I k) {
    return xsimd::bitwise_cast<F>((k + I(kF32ExponentBias)) << kF32MantissaBits);
  }
  static Pow2 pow2(I n) {
    I n1 = n >> 1;
    return {exp2Int(n1), exp2Int(n - n1)};
  }
  static F scale(F v, Pow2 s) { return (v * s.lo) * s.hi; }

  /// Cody-Waite reduction a = n ln2 + r and exp(r) - 1 = r + r^2 q(r). NaN
  /// in `a` is clamped to kExpMin (callers restore NaN), so n is in range.
  static ExpParts expParts(F a, F tail = F(0.0f)) {
    a = xsimd::select(!(a >= c(kExpMin)), c(kExpMin), a); // NaN too
    a = xsimd::select(gt(a, kExpMax), c(kExpMax), a);
    F nf = (a * c(kLog2e) + c(kRoundMagic)) - c(kRoundMagic);
    F r = fma(nf, c(-kLn2Hi), a); // exact, fused or not
    r = fma(nf, c(-kLn2Lo), r);
    r = r + tail;
    F em1 = fma(r * r, poly(r, kExpQ), r);
    return {em1 + c(1.0f), em1, xsimd::to_int(nf)};
  }

  /// exp(x) - 1 = 2^n em1(r) + (2^n - 1) on x clamped to [-30, 30].
  static F expm1(F x) {
    x = xsimd::select(lt(x, -kExpm1Max), c(-kExpm1Max), x);
    x = xsimd::select(gt(x, kExpm1Max), c(kExpm1Max), x);
    ExpParts e = expParts(x);
    F twoN = exp2Int(e.n);
    return fma(twoN, e.em1, twoN - c(1.0f));
  }

  static F exp(F x) {
    ExpParts e = expParts(x);
    return keepNan(x, scale(e.p, pow2(e.n)));
  }

  static F relu(F x) { return xsimd::select(gtOrNan(x, 0.0f), x, c(0.0f)); }

  static F leakyRelu(F x, float alpha) {
    // alpha = 0 is relu: the limit at -inf is 0, not 0 * -inf.
    F negative = alpha == 0.0f ? c(0.0f) : c(alpha) * x;
    return xsimd::select(gtOrNan(x, 0.0f), x, negative);
  }

  /// 1 / (1 + e) for x >= 0, else e / (1 + e), e = exp(-|x|) = p 2^n, with
  /// 2^n applied last.
  static F sigmoid(F x) {
    ExpParts e = expParts(-xsimd::abs(x));
    Pow2 s = pow2(e.n);
    F den = c(1.0f) + scale(e.p, s);
    M nonNeg = ge(x, 0.0f);
    F r = xsimd::select(nonNeg, c(1.0f), e.p) / den;
    return keepNan(x, xsimd::select(nonNeg, r, scale(r, s)));
  }

  /// x * sigmoid(x), the same way; 0 below -120.
  static F silu(F x) {
    ExpParts e = expParts(-xsimd::abs(x));
    Pow2 s = pow2(e.n);
    F den = c(1.0f) + scale(e.p, s);
    M nonNeg = ge(x, 0.0f);
    F r = xsimd::select(nonNeg, x, x * e.p) / den;
    F y = xsimd::select(nonNeg, r, scale(r, s));
    return keepNan(x, xsimd::select(lt(x, kSiluZeroBelow), c(-0.0f), y));
  }

  /// sign(x) m / (m + 2) with m = expm1(2|x|).
  static F tanh(F x) {
    F m = expm1(c(2.0f) * xsimd::abs(x));
    return keepNan(x, xsimd::copysign(m / (m + c(2.0f)), x));
  }

  /// x (1 - E/2) for x >= 0, x E/2 below, E = erfc(|x| / sqrt 2) =
  /// exp(-s^2/2) P(y) / (s + K), with s^2 split exactly (Dekker).
  static F gelu(F x) {
    F s = xsimd::abs(x);
    s = xsimd::select(gt(s, kGeluMaxAbs), c(kGeluMaxAbs), s);
    F split = s * c(kVeltkampSplit); // Veltkamp: s = sh + sl, 12 bits each
    F sh = split - (split - s);
    F sl = s - sh;
    F sqHi = s * s;
    F sqLo = ((sh * sh - sqHi) + (c(2.0f) * sh) * sl) + sl * sl;
    ExpParts e = expParts(c(-0.5f) * sqHi, c(-0.5f) * sqLo);
    Pow2 p2 = pow2(e.n);
    F invD = c(1.0f) / (s + c(kGeluK));
    F y = (s - c(kGeluK)) * invD;
    F core = (e.p * poly(y, kGeluP)) * invD; // E = core * 2^n
    F pos = x * fma(c(-0.5f), scale(core, p2), c(1.0f));
    F negative = scale((x * c(0.5f)) * core, p2);
    F r = xsimd::select(ge(x, 0.0f), pos, negative);
    return keepNan(x, xsimd::select(lt(x, -kGeluMaxAbs), c(-0.0f), r));
  }

  static F elu(F x, float alpha) { return xsimd::select(gtOrNan(x, 0.0f), x, c(alpha) * expm1(x)); }

  /// max(x, 0) + log1p(u), u = exp(-|x|) = p 2^n, log1p(u) = 2 atanh(t),
  /// t = u / (2 + u).
  static F softplus(F x) {
    ExpParts e = expParts(-xsimd::abs(x));
    Pow2 s = pow2(e.n);
    F u = scale(e.p, s);
    F q = c(1.0f) / (c(2.0f) + u);
    F t = u * q;
    F a = poly(t * t, kAtanhA);
    F l = scale((e.p * (c(2.0f) * q)) * a, s);
    return keepNan(x, xsimd::select(gt(x, 0.0f), x, c(0.0f)) + l);
  }

  /// max(x, 0) + log1p(u) / beta, u = exp(-|beta x|), |beta x| split
  /// exactly (Dekker) into the exponential's argument and its tail.
  static F softplus(F x, float beta) {
    if (beta == 1.0f)
      return softplus(x);
    const float bh = ir::actmath::highHalf(beta), bl = beta - bh;
    const float maxAbs = kSoftplusMaxY / beta;
    F ax = xsimd::abs(x);
    ax = xsimd::select(gt(ax, maxAbs), c(maxAbs), ax);
    F xh = highHalf(ax), xl = ax - xh;
    F p = c(beta) * ax;
    F e = ((c(bh) * xh - p) + c(bh) * xl + c(bl) * xh) + c(bl) * xl;
    ExpParts ep = expParts(-p, -e);
    Pow2 s = pow2(ep.n);
    F u = scale(ep.p, s);
    F q = c(1.0f) / (c(2.0f) + u);
    F t = u * q;
    F a = poly(t * t, kAtanhA);
    F l = scale(((ep.p * (c(2.0f) * q)) * a) / c(beta), s);
    return keepNan(x, xsimd::select(gt(x, 0.0f), x, c(0.0f)) + l);
  }

  /// (x + 3) / 6 (exact near -3, where x / 6 + 1/2 would cancel), clamped.
  static F hardSigmoid(F x) {
    F h = (x + c(kHardSigmoidShift)) / c(kHardSigmoidScale);
    h = xsimd::select(lt(h, 0.0f), c(0.0f), h);
    return xsimd::select(gt(h, 1.0f), c(1.0f), h);
  }

  /// The top 12 significant bits of v (sign and exponent kept), so that
  /// v = hi + (v - hi) exactly and products of such halves are exact.
  static F highHalf(F v) {
    return xsimd::bitwise_cast<F>(xsimd::bitwise_cast<I>(v) & I(kHighHalfMask));
  }

  /// alpha x + beta with Dekker's product and Knuth's sum, so that it is
  /// within an ulp without FMA too, and does not cancel near its zero (the
  /// default's (x + 3) / 6 above); clamped to [0, 1].
  static F hardSigmoid(F x, float alpha, float beta) {
    if (alpha == kHardSigmoidAlpha && beta == kHardSigmoidBeta)
      return keepNan(x, hardSigmoid(x));
    const float ah = ir::actmath::highHalf(alpha), al = alpha - ah;
    F xc = xsimd::select(xsimd::abs(x) == c(INFINITY), xsimd::copysign(c(kF32Max), x), x);
    F xh = highHalf(xc), xl = xc - xh;
    F p = c(alpha) * xc;
    F e = ((c(ah) * xh - p) + c(ah) * xl + c(al) * xh) + c(al) * xl;
    F s = p + c(beta);
    F bb = s - p;
    F t = (p - (s - bb)) + (c(beta) - bb);
    F h = s + (t + e);
    h = xsimd::select(xsimd::abs(s) == c(INFINITY), s, h); // saturated: e may be NaN
    h = xsimd::select(lt(h, 0.0f), c(0.0f), h);
    return keepNan(x, xsimd::select(gt(h, 1.0f), c(1.0f), h));
  }

  /// min(max(x, lo), hi); NaN stays (ordered compares).
  static F clip(F x, float lo, float hi) {
    x = xsimd::select(lt(x, lo), c(lo), x);
    return xsimd::select(gt(x, hi), c(hi), x);
  }

  static F step(F x, float threshold) {
    return keepNan(x, xsimd::select(gt(x, threshold), c(1.0f), c(0.0f)));
  }

  /// gamma * elu(x, alpha), each product rounded once.
  static F selu(F x, float alpha, float gamma) { return c(gamma) * elu(x, alpha); }

  /// x / (1 + |x|); +-1 at +-inf (inf / inf would be NaN).
  static F softsign(F x) {
    F a = xsimd::abs(x);
    F r = x / (c(1.0f) + a);
    return xsimd::select(a == c(INFINITY), xsimd::copysign(c(1.0f), x), r);
  }

  /// Veltkamp's split v = hi + lo into 12-bit halves.
  static void veltkamp(F v, F &hi, F &lo) {
    F t = v * c(kVeltkampSplit);
    hi = t - (t - v);
    lo = v - hi;
  }
  /// a * b = p + e exactly (Dekker), no fma needed.
  static F twoProd(F a, F b, F &e) {
    F p = a * b, ah, al, bh, bl;
    veltkamp(a, ah, al);
    veltkamp(b, bh, bl);
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    return p;
  }

  /// x * sigmoid(v), v = x (K1 + K3 x^2) as hi + lo (ActivationMath.h), the
  /// sigmoid as silu's, with lo as exp's tail.
  static F geluTanh(F x) {
    F s = xsimd::select(gt(xsimd::abs(x), kGeluTanhMaxAbs), xsimd::copysign(c(kGeluTanhMaxAbs), x),
                        x);
    F sqLo, qLo, vLo;
    F sqHi = twoProd(s, s, sqLo);
    F qHi = twoProd(c(kGeluTanhK3Hi), sqHi, qLo);
    qLo = qLo + (c(kGeluTanhK3Hi) * sqLo + c(kGeluTanhK3Lo) * sqHi);
    F rHi = c(kGeluTanhK1Hi) + qHi; // Knuth's TwoSum: either may be larger
    F bb = rHi - c(kGeluTanhK1Hi);
    F rLo = ((c(kGeluTanhK1Hi) - (rHi - bb)) + (qHi - bb)) + (qLo + c(kGeluTanhK1Lo));
    F vHi = twoProd(s, rHi, vLo);
    vLo = vLo + s * rLo;
    M nonNeg = ge(x, 0.0f);
    // exp(-|v|): v has x's sign
    ExpParts e = expParts(-xsimd::abs(vHi), xsimd::select(nonNeg, -vLo, vLo));
    Pow2 p2 = pow2(e.n);
    F den = c(1.0f) + scale(e.p, p2);
    F r = xsimd::select(nonNeg, x, x * e.p) / den;
    F y = xsimd::select(nonNeg, r, scale(r, p2));
    y = xsimd::select(gt(x, kGeluTanhMaxAbs), x, y);
    return keepNan(x, xsimd::select(lt(x, -kGeluTanhMaxAbs), c(-0.0f), y));
  }

  /// log1p(u) for u >= 0 (ActivationMath.h, kSqrt2): e ln 2 + 2 atanh(t).
  static F log1p(F u) {
    F w = c(1.0f) + u;
    I bits = xsimd::bitwise_cast<I>(w);
    F e = xsimd::to_float((bits >> kF32MantissaBits) - I(kF32ExponentBias));
    F m = xsimd::bitwise_cast<F>((bits & I((1 << kF32MantissaBits) - 1)) |
                                 I(kF32ExponentBias << kF32MantissaBits));
    M big = gt(m, kSqrt2);
    m = xsimd::select(big, m * c(0.5f), m);
    e = e + xsimd::select(big, c(1.0f), c(0.0f));
    M small = lt(w, kSqrt2);
    F t = xsimd::select(small, u / (c(2.0f) + u), (m - c(1.0f)) / (m + c(1.0f)));
    e = xsimd::select(small, c(0.0f), e);
    F l = (c(2.0f) * t) * poly(t * t, kAtanhA);
    F r = fma(e, c(kLn2Hi), fma(e, c(kLn2Lo), l));
    return keepNan(u, xsimd::select(u == c(INFINITY), u, r));
  }
};

/// One activation as a function object, its kind fixed at compile time so
/// a loop over vectors inlines it. Softmax and log_softmax are not
/// elementwise: as an ActOp each is the identity (the kernels softmax whole rows afterwards).
template <class A, ir::ActKind K> struct ActOp {
  using F = xsimd::batch<float, A>;
  using Math = VecMath<A>;
  float param, param2;

  F operator()(F x) const {
    using ir::ActKind;
    if constexpr (K == ActKind::Relu)
      return Math::relu(x);
    else if constexpr (K == ActKind::LeakyRelu)
      return Math::leakyRelu(x, param);
    else if constexpr (K == ActKind::Sigmoid)
      return Math::sigmoid(x);
    else if constexpr (K == ActKind::Tanh)
      return Math::tanh(x);
    else if constexpr (K == ActKind::Gelu)
      return Math::gelu(x);
    else if constexpr (K == ActKind::Silu)
      return Math::silu(x);
    else if constexpr (K == ActKind::Elu)
      return Math::elu(x, param);
    else if constexpr (K == ActKind::Softplus)
      return Math::softplus(x, param);
    else if constexpr (K == ActKind::HardSigmoid)
      return Math::hardSigmoid(x, param, param2);
    else if constexpr (K == ActKind::Clip)
      return Math::clip(x, param, param2);
    else if constexpr (K == ActKind::Step)
      return Math::step(x, param);
    else if constexpr (K == ActKind::Selu)
      return Math::selu(x, param, param2);
    else if constexpr (K == ActKind::Softsign)
      return Math::softsign(x);
    else if constexpr (K == ActKind::GeluTanh)
      return Math::geluTanh(x);
    else
      return x; // identity, softmax, log_softmax
  }
};

/// Calls body(ActOp<A, kind>{params}) for the run-time kind: one switch per
/// kernel call, then loops with the activation inlined.
template <class A, class Body> void withAct(const ir::Activation &act, Body &&body) {
  using ir::ActKind;
  switch (act.kind) {
#define SOMA_ACT(Enum, Name, Param, Default, Param2, Default2, Formula)                            \
  case ActKind::Enum:                                                                              \
    body(ActOp<A, ActKind::Enum>{act.param, act.param2});                                          \
    return;
#include "soma/ir/Activations.def"
  }
}

} // namespace
} // namespace soma::runtime::kernels
