// Activation functions as straight-line vector IR. Every function is built
// from IEEE arithmetic, compares, selects and the intrinsics fmuladd, fabs
// and copysign, so it works at any vector width, has no branches and never
// calls libm. The algorithms and their error budgets are in
// docs/codegen-math.md. The polynomials (minimax fits rounded to f32) and
// every other constant of the algorithms are in soma/ir/ActivationMath.h,
// which the vec engine's xsimd twin (runtime/kernels/VecMath.h) reads too.
//
// Exactness tricks used below rely on strict IEEE semantics: the builder's
// fast-math flags are cleared, and no step needs a fused multiply-add to be
// exact (fmuladd may or may not fuse), so the code is correct on any x86-64.
#include "VectorMath.h"

#include "soma/ir/ActivationMath.h"

#include <llvm/IR/Intrinsics.h>

#include <cassert>
#include <cmath>
#include <span>

namespace soma::codegen {

using namespace llvm;

namespace {

using namespace ir::actmath;

/// 2^n as two normal factors 2^(n >> 1) * 2^(n - (n >> 1)), valid for n in
/// [-252, 254]. v * lo * hi rounds once: v * lo stays normal for the
/// exponents used here, so subnormal results and overflow come out right.
struct Pow2 {
  Value *lo;
  Value *hi;
};

/// exp(a + tail) = p * 2^n with p in [0.7, 1.42]; em1 = exp(r) - 1, from
/// which p = 1 + em1 was rounded (expm1 needs it unrounded).
struct ExpParts {
  Value *p;
  Value *em1;
  Value *n;
};

class MathEmitter {
public:
  MathEmitter(IRBuilder<> &b, Type *ty) : b(b), fTy(ty), iTy(ty->getWithNewType(b.getInt32Ty())) {
    assert(ty->getScalarType()->isFloatTy() && "vector math works on f32 values");
  }

  Value *c(float v) const { return ConstantFP::get(fTy, v); }
  Value *ci(int v) const { return ConstantInt::get(iTy, v, /*IsSigned=*/true); }

  Value *add(Value *x, Value *y) { return b.CreateFAdd(x, y); }
  Value *sub(Value *x, Value *y) { return b.CreateFSub(x, y); }
  Value *mul(Value *x, Value *y) { return b.CreateFMul(x, y); }
  Value *div(Value *x, Value *y) { return b.CreateFDiv(x, y); }
  Value *neg(Value *x) { return b.CreateFNeg(x); }
  /// x * y + z, fused where the target has FMA.
  Value *fma(Value *x, Value *y, Value *z) {
    return b.CreateIntrinsic(Intrinsic::fmuladd, {fTy}, {x, y, z});
  }
  Value *fabs(Value *x) { return b.CreateUnaryIntrinsic(Intrinsic::fabs, x); }
  Value *copysign(Value *mag, Value *sign) {
    return b.CreateBinaryIntrinsic(Intrinsic::copysign, mag, sign);
  }
  Value *select(Value *cond, Value *x, Value *y) { return b.CreateSelect(cond, x, y); }

  // Ordered compares are false for NaN, so select(x > hi, hi, x) keeps NaN;
  // maxnum/minnum would replace it.
  Value *gt(Value *x, float v) { return b.CreateFCmpOGT(x, c(v)); }
  Value *ge(Value *x, float v) { return b.CreateFCmpOGE(x, c(v)); }
  Value *lt(Value *x, float v) { return b.CreateFCmpOLT(x, c(v)); }
  /// x > v or x is NaN.
  Value *gtOrNan(Value *x, float v) { return b.CreateFCmpUGT(x, c(v)); }
  Value *isNan(Value *x) { return b.CreateFCmpUNO(x, x); }
  Value *keepNan(Value *x, Value *y) { return select(isNan(x), x, y); }

  /// Horner's scheme; coefficients from the constant term up.
  Value *poly(Value *x, std::span<const float> coeffs) {
    Value *acc = c(coeffs.back());
    for (size_t i = coeffs.size() - 1; i-- > 0;)
      acc = fma(acc, x, c(coeffs[i]));
    return acc;
  }

  /// 2^k for integer k in [-126, 127], by building the exponent field.
  Value *exp2Int(Value *k) {
    return b.CreateBitCast(b.CreateShl(b.CreateAdd(k, ci(kF32ExponentBias)), ci(kF32MantissaBits)),
                           fTy);
  }

  Pow2 pow2(Value *n) {
    Value *n1 = b.CreateAShr(n, ci(1));
    return {exp2Int(n1), exp2Int(b.CreateSub(n, n1))};
  }

  Value *scale(Value *v, Pow2 s) { return mul(mul(v, s.lo), s.hi); }

  /// Cody-Waite reduction a = n ln2 + r, |r| <= 0.347, and a degree-7
  /// polynomial for exp(r) - 1. `tail` is a small correction to a (the low
  /// half of a double-f32 argument), added to r. NaN in a gives garbage in
  /// p (callers restore NaN) but never poison: n is always in range.
  ExpParts expParts(Value *a, Value *tail = nullptr) {
    a = select(b.CreateFCmpULT(a, c(kExpMin)), c(kExpMin), a); // NaN too
    a = select(gt(a, kExpMax), c(kExpMax), a);
    Value *nf = sub(add(mul(a, c(kLog2e)), c(kRoundMagic)), c(kRoundMagic));
    Value *r = fma(nf, c(-kLn2Hi), a); // exact, fused or not
    r = fma(nf, c(-kLn2Lo), r);
    if (tail)
      r = add(r, tail);
    Value *em1 = fma(mul(r, r), poly(r, kExpQ), r);
    return {add(em1, c(1.0f)), em1, b.CreateFPToSI(nf, iTy)};
  }

  /// exp(x) - 1 without cancellation near 0: 2^n * em1(r) + (2^n - 1), where
  /// 2^n - 1 is exact for |n| <= 24 and the sum cancels at most one bit.
  /// x is clamped to [-30, 30]; expm1(-30) rounds to -1 in f32.
  Value *expm1(Value *x) {
    x = select(lt(x, -kExpm1Max), c(-kExpm1Max), x);
    x = select(gt(x, kExpm1Max), c(kExpm1Max), x);
    ExpParts e = expParts(x);
    Value *twoN = exp2Int(e.n); // |n| <= 44
    return fma(twoN, e.em1, sub(twoN, c(1.0f)));
  }

  // --- The activations. NaN handling noted where it is not a plain select.

  Value *relu(Value *x) { return select(gtOrNan(x, 0.0f), x, c(0.0f)); }

  Value *leakyRelu(Value *x, float alpha) {
    // alpha = 0 is relu: the limit at -inf is 0, not 0 * -inf.
    Value *negative = alpha == 0.0f ? c(0.0f) : mul(c(alpha), x);
    return select(gtOrNan(x, 0.0f), x, negative);
  }

  /// 1 / (1 + e) for x >= 0, else e / (1 + e) with e = exp(-|x|) = p * 2^n;
  /// the 2^n is applied last, so a subnormal result is rounded once.
  Value *sigmoid(Value *x) {
    ExpParts e = expParts(neg(fabs(x)));
    Pow2 s = pow2(e.n);
    Value *den = add(c(1.0f), scale(e.p, s));
    Value *nonNeg = ge(x, 0.0f);
    Value *r = div(select(nonNeg, c(1.0f), e.p), den);
    return keepNan(x, select(nonNeg, r, scale(r, s)));
  }

  /// x * sigmoid(x), the same way; below -120 the result is 0 (and the
  /// clamped exponential would not be small enough to make it so).
  Value *silu(Value *x) {
    ExpParts e = expParts(neg(fabs(x)));
    Pow2 s = pow2(e.n);
    Value *den = add(c(1.0f), scale(e.p, s));
    Value *nonNeg = ge(x, 0.0f);
    Value *r = div(select(nonNeg, x, mul(x, e.p)), den);
    Value *y = select(nonNeg, r, scale(r, s));
    return keepNan(x, select(lt(x, kSiluZeroBelow), c(-0.0f), y));
  }

  /// sign(x) * m / (m + 2) with m = expm1(2|x|): no cancellation for small
  /// |x|, and m = expm1(30) saturates the quotient at 1 for |x| >= 15.
  Value *tanh(Value *x) {
    Value *m = expm1(mul(c(2.0f), fabs(x)));
    return keepNan(x, copysign(div(m, add(m, c(2.0f))), x));
  }

  /// With s = |x| and E = erfc(s / sqrt 2): gelu = x * (1 - E/2) for x >= 0
  /// and x * E/2 for x < 0, so the negative tail keeps full relative
  /// accuracy. E = exp(-s^2/2) * P(y) / (s + K); s^2 is split exactly into
  /// hi + lo (Dekker's product, no fma needed) because an error of one ulp
  /// of s^2 ~ 200 would be an error of 1e-5 in exp(-s^2/2).
  Value *gelu(Value *x) {
    Value *s = fabs(x);
    s = select(gt(s, kGeluMaxAbs), c(kGeluMaxAbs), s);
    Value *split = mul(s, c(kVeltkampSplit)); // Veltkamp: s = sh + sl, 12 bits each
    Value *sh = sub(split, sub(split, s));
    Value *sl = sub(s, sh);
    Value *sqHi = mul(s, s);
    Value *sqLo = add(add(sub(mul(sh, sh), sqHi), mul(mul(c(2.0f), sh), sl)), mul(sl, sl));
    ExpParts e = expParts(mul(c(-0.5f), sqHi), mul(c(-0.5f), sqLo));
    Pow2 p2 = pow2(e.n);
    Value *invD = div(c(1.0f), add(s, c(kGeluK)));
    Value *y = mul(sub(s, c(kGeluK)), invD);
    Value *core = mul(mul(e.p, poly(y, kGeluP)), invD); // E = core * 2^n
    Value *pos = mul(x, fma(c(-0.5f), scale(core, p2), c(1.0f)));
    Value *negative = scale(mul(mul(x, c(0.5f)), core), p2);
    Value *r = select(ge(x, 0.0f), pos, negative);
    // Below -15 gelu rounds to 0; s was clamped there, so say it directly.
    return keepNan(x, select(lt(x, -kGeluMaxAbs), c(-0.0f), r));
  }

  Value *elu(Value *x, float alpha) { return select(gtOrNan(x, 0.0f), x, mul(c(alpha), expm1(x))); }

  /// max(x, 0) + log1p(u), u = exp(-|x|) = p * 2^n in (0, 1]. With
  /// t = u / (2 + u) in [0, 1/3], log1p(u) = 2 atanh(t) = u * 2/(2+u) * A(t^2);
  /// p stands in for u and 2^n is applied last, so a subnormal result (x
  /// below -87) is rounded once.
  Value *softplus(Value *x) {
    ExpParts e = expParts(neg(fabs(x)));
    Pow2 s = pow2(e.n);
    Value *u = scale(e.p, s);
    Value *q = div(c(1.0f), add(c(2.0f), u));
    Value *t = mul(u, q);
    Value *a = poly(mul(t, t), kAtanhA);
    Value *l = scale(mul(mul(e.p, mul(c(2.0f), q)), a), s);
    return keepNan(x, add(select(gt(x, 0.0f), x, c(0.0f)), l));
  }

  /// max(x, 0) + log1p(u) / beta, u = exp(-|beta x|) with |beta x| = p + e
  /// split exactly (Dekker); the constants' comment in ActivationMath.h.
  Value *softplus(Value *x, float beta) {
    if (beta == 1.0f)
      return softplus(x);
    const float bh = highHalf(beta), bl = beta - bh;
    const float maxAbs = kSoftplusMaxY / beta;
    Value *ax = fabs(x);
    ax = select(gt(ax, maxAbs), c(maxAbs), ax);
    Value *xh = b.CreateBitCast(b.CreateAnd(b.CreateBitCast(ax, iTy), ci(kHighHalfMask)), fTy);
    Value *xl = sub(ax, xh);
    Value *p = mul(c(beta), ax);
    Value *e =
        add(add(add(sub(mul(c(bh), xh), p), mul(c(bh), xl)), mul(c(bl), xh)), mul(c(bl), xl));
    ExpParts ep = expParts(neg(p), neg(e));
    Pow2 s = pow2(ep.n);
    Value *u = scale(ep.p, s);
    Value *q = div(c(1.0f), add(c(2.0f), u));
    Value *t = mul(u, q);
    Value *a = poly(mul(t, t), kAtanhA);
    Value *l = scale(div(mul(mul(ep.p, mul(c(2.0f), q)), a), c(beta)), s);
    return keepNan(x, add(select(gt(x, 0.0f), x, c(0.0f)), l));
  }

  /// (x + 3) / 6 rather than x / 6 + 1/2: near x = -3 the sum is exact and
  /// the latter would cancel.
  Value *hardSigmoid(Value *x) {
    Value *h = div(add(x, c(kHardSigmoidShift)), c(kHardSigmoidScale));
    h = select(lt(h, 0.0f), c(0.0f), h);
    return select(gt(h, 1.0f), c(1.0f), h);
  }

  /// alpha x + beta, alpha x split exactly (Dekker, halves by masking) and
  /// the sum with its error (Knuth), so it is within an ulp with or without
  /// FMA and does not cancel near its zero; the default pair (1/6, 1/2) is
  /// (x + 3) / 6. Clamped to [0, 1].
  Value *hardSigmoid(Value *x, float alpha, float beta) {
    if (alpha == kHardSigmoidAlpha && beta == kHardSigmoidBeta)
      return keepNan(x, hardSigmoid(x));
    const float ah = highHalf(alpha), al = alpha - ah;
    Value *xc = select(b.CreateFCmpOEQ(fabs(x), c(INFINITY)), copysign(c(kF32Max), x), x);
    Value *xh = b.CreateBitCast(b.CreateAnd(b.CreateBitCast(xc, iTy), ci(kHighHalfMask)), fTy);
    Value *xl = sub(xc, xh);
    Value *p = mul(c(alpha), xc);
    Value *e =
        add(add(add(sub(mul(c(ah), xh), p), mul(c(ah), xl)), mul(c(al), xh)), mul(c(al), xl));
    Value *s = add(p, c(beta));
    Value *bb = sub(s, p);
    Value *t = add(sub(p, sub(s, bb)), sub(c(beta), bb));
    Value *h = add(s, add(t, e));
    h = select(b.CreateFCmpOEQ(fabs(s), c(INFINITY)), s, h); // saturated: e may be NaN
    h = select(lt(h, 0.0f), c(0.0f), h);
    return keepNan(x, select(gt(h, 1.0f), c(1.0f), h));
  }

  /// min(max(x, lo), hi); NaN stays (ordered compares).
  Value *clip(Value *x, float lo, float hi) {
    x = select(lt(x, lo), c(lo), x);
    return select(gt(x, hi), c(hi), x);
  }

  Value *step(Value *x, float threshold) {
    return keepNan(x, select(gt(x, threshold), c(1.0f), c(0.0f)));
  }

  Value *exp(Value *x) {
    ExpParts e = expParts(x);
    return keepNan(x, scale(e.p, pow2(e.n)));
  }

  /// gamma * elu(x, alpha), each product rounded once.
  Value *selu(Value *x, float alpha, float gamma) { return mul(c(gamma), elu(x, alpha)); }

  /// x / (1 + |x|); +-1 at +-inf (inf / inf would be NaN).
  Value *softsign(Value *x) {
    Value *a = fabs(x);
    Value *r = div(x, add(c(1.0f), a));
    return select(b.CreateFCmpOEQ(a, c(INFINITY)), copysign(c(1.0f), x), r);
  }

  /// a * b = p + e exactly (Dekker's product on Veltkamp splits).
  Value *twoProd(Value *x, Value *y, Value *&e) {
    auto split = [&](Value *v, Value *&hi, Value *&lo) {
      Value *t = mul(v, c(kVeltkampSplit));
      hi = sub(t, sub(t, v));
      lo = sub(v, hi);
    };
    Value *p = mul(x, y), *xh, *xl, *yh, *yl;
    split(x, xh, xl);
    split(y, yh, yl);
    e = add(add(add(sub(mul(xh, yh), p), mul(xh, yl)), mul(xl, yh)), mul(xl, yl));
    return p;
  }

  /// x * sigmoid(v), v = x (K1 + K3 x^2) computed as hi + lo (the relative
  /// error of the negative tail x e^v is the absolute error of v, and |v|
  /// reaches 100), the sigmoid as silu's with lo as exp's tail.
  Value *geluTanh(Value *x) {
    Value *s = select(gt(fabs(x), kGeluTanhMaxAbs), copysign(c(kGeluTanhMaxAbs), x), x);
    Value *sqLo, *qLo, *vLo;
    Value *sqHi = twoProd(s, s, sqLo);
    Value *qHi = twoProd(c(kGeluTanhK3Hi), sqHi, qLo);
    qLo = add(qLo, add(mul(c(kGeluTanhK3Hi), sqLo), mul(c(kGeluTanhK3Lo), sqHi)));
    Value *k1 = c(kGeluTanhK1Hi);
    Value *rHi = add(k1, qHi); // Knuth's TwoSum: either may be larger
    Value *bb = sub(rHi, k1);
    Value *rLo = add(add(sub(k1, sub(rHi, bb)), sub(qHi, bb)), add(qLo, c(kGeluTanhK1Lo)));
    Value *vHi = twoProd(s, rHi, vLo);
    vLo = add(vLo, mul(s, rLo));
    Value *nonNeg = ge(x, 0.0f);
    ExpParts e = expParts(neg(fabs(vHi)), select(nonNeg, neg(vLo), vLo)); // exp(-|v|)
    Pow2 p2 = pow2(e.n);
    Value *den = add(c(1.0f), scale(e.p, p2));
    Value *r = div(select(nonNeg, x, mul(x, e.p)), den);
    Value *y = select(nonNeg, r, scale(r, p2));
    y = select(gt(x, kGeluTanhMaxAbs), x, y);
    return keepNan(x, select(lt(x, -kGeluTanhMaxAbs), c(-0.0f), y));
  }

  /// log1p(u) for u >= 0: w = 1 + u = m 2^e, e ln 2 + 2 atanh(t) with
  /// t = (m - 1) / (m + 1), or t = u / (2 + u) when w < sqrt 2 (u exact).
  Value *log1p(Value *u) {
    Value *w = add(c(1.0f), u);
    Value *bits = b.CreateBitCast(w, iTy);
    Value *e = b.CreateSIToFP(
        b.CreateSub(b.CreateLShr(bits, ci(kF32MantissaBits)), ci(kF32ExponentBias)), fTy);
    Value *m = b.CreateBitCast(b.CreateOr(b.CreateAnd(bits, ci((1 << kF32MantissaBits) - 1)),
                                          ci(kF32ExponentBias << kF32MantissaBits)),
                               fTy);
    Value *big = gt(m, kSqrt2);
    m = select(big, mul(m, c(0.5f)), m);
    e = add(e, select(big, c(1.0f), c(0.0f)));
    Value *small = lt(w, kSqrt2);
    Value *t = select(small, div(u, add(c(2.0f), u)), div(sub(m, c(1.0f)), add(m, c(1.0f))));
    e = select(small, c(0.0f), e);
    Value *l = mul(mul(c(2.0f), t), poly(mul(t, t), kAtanhA));
    Value *r = fma(e, c(kLn2Hi), fma(e, c(kLn2Lo), l));
    return keepNan(u, select(b.CreateFCmpOEQ(u, c(INFINITY)), u, r));
  }

private:
  IRBuilder<> &b;
  Type *fTy;
  Type *iTy;
};

} // namespace

Value *emitActivation(IRBuilder<> &b, const ir::Activation &act, Value *x) {
  IRBuilderBase::FastMathFlagGuard guard(b);
  b.clearFastMathFlags();
  MathEmitter m(b, x->getType());
  using ir::ActKind;
  switch (act.kind) {
  case ActKind::Identity:
    return x;
  case ActKind::Relu:
    return m.relu(x);
  case ActKind::LeakyRelu:
    return m.leakyRelu(x, act.param);
  case ActKind::Sigmoid:
    return m.sigmoid(x);
  case ActKind::Tanh:
    return m.tanh(x);
  case ActKind::Softmax:
    llvm_unreachable("softmax is lowered per row, with emitExp");
  case ActKind::Gelu:
    return m.gelu(x);
  case ActKind::Silu:
    return m.silu(x);
  case ActKind::Elu:
    return m.elu(x, act.param);
  case ActKind::Softplus:
    return m.softplus(x, act.param);
  case ActKind::HardSigmoid:
    return m.hardSigmoid(x, act.param, act.param2);
  case ActKind::Clip:
    return m.clip(x, act.param, act.param2);
  case ActKind::Step:
    return m.step(x, act.param);
  case ActKind::LogSoftmax:
    llvm_unreachable("log_softmax is lowered per row, with emitExp and emitLog1p");
  case ActKind::Selu:
    return m.selu(x, act.param, act.param2);
  case ActKind::Softsign:
    return m.softsign(x);
  case ActKind::GeluTanh:
    return m.geluTanh(x);
  }
  llvm_unreachable("unknown activation kind");
}

Value *emitExp(IRBuilder<> &b, Value *x) {
  IRBuilderBase::FastMathFlagGuard guard(b);
  b.clearFastMathFlags();
  return MathEmitter(b, x->getType()).exp(x);
}

Value *emitLog1p(IRBuilder<> &b, Value *u) {
  IRBuilderBase::FastMathFlagGuard guard(b);
  b.clearFastMathFlags();
  return MathEmitter(b, u->getType()).log1p(u);
}

} // namespace soma::codegen
