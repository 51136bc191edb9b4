// The numbers behind soma's f32 activation functions: polynomial
// coefficients, range-reduction constants, clamps and cut-offs. Two
// implementations compute the same straight-line algorithm from them, the
// JIT's IR emitter (compiler/codegen/VectorMath.cpp) and the vec engine's
// xsimd templates (runtime/kernels/VecMath.h); docs/codegen-math.md gives
// the algorithms and their error budgets. Keeping the numbers here, once,
// keeps the two engines' results the same to the bit.
//
// Plain constexpr data, no LLVM and no xsimd: both sides include it. The
// constants have internal linkage (namespace-scope constexpr), so the
// per-instruction-set kernel objects share no weak symbol through them.
//
// The polynomials are minimax fits found by the Remez exchange algorithm in
// double precision (NumPy, relative-error weighting, 200 001-point grid),
// then rounded to f32; the errors quoted are those of the fits, before that
// rounding. Coefficients run from the constant term up (Horner's scheme).
// Hex float literals are the exact f32 values: change none of them without
// re-running the accuracy tests (soma_vmath_tests, soma_kernels_tests).
#pragma once

#include <bit>

namespace soma::ir::actmath {

// --- The f32 format, for building 2^k in the exponent field:
// bitcast((k + kF32ExponentBias) << kF32MantissaBits) for k in [-126, 127].
constexpr int kF32ExponentBias = 127;
constexpr int kF32MantissaBits = 23;

// --- exp(a) = p * 2^n (every activation below except relu, leaky_relu,
// hard_sigmoid and step, and softmax's exp).
// n = round(a * log2 e), rounded by adding and subtracting kRoundMagic
// (1.5 * 2^23 rounds |v| < 2^22 to the nearest integer without an SSE4.1
// round instruction).
constexpr float kLog2e = 0x1.715476p0f; // log2(e) rounded to f32
constexpr float kRoundMagic = 0x1.8p23f;
// Cody-Waite reduction r = (a - n * kLn2Hi) - n * kLn2Lo, |r| <= 0.347:
// ln 2 = kLn2Hi + kLn2Lo; kLn2Hi has 9 significant bits, so n * kLn2Hi is
// exact for |n| < 2^15 and a - n * kLn2Hi is exact.
constexpr float kLn2Hi = 0x1.63p-1f;
constexpr float kLn2Lo = -0x1.bd0106p-13f;
// exp's argument is clamped to [kExpMin, kExpMax]: exp(kExpMin) = 3.5e-57
// rounds to 0 even times 130 (silu), and exp(kExpMax) overflows.
constexpr float kExpMin = -130.0f;
constexpr float kExpMax = 89.0f;
// exp(r) - 1 = r + r^2 * q(r) on |r| <= 0.347: q of degree 5, minimax,
// relative error of exp(r) - 1 2.4e-10.
constexpr float kExpQ[] = {0x1p-1f,        0x1.555554p-3f, 0x1.5554bp-5f,
                           0x1.11118ap-7f, 0x1.6d72cp-10f, 0x1.a032ccp-13f};

// --- expm1(x) = 2^n * (exp(r) - 1) + (2^n - 1) (elu, tanh): x is clamped
// to [-kExpm1Max, kExpm1Max]; expm1(-30) rounds to -1 in f32, and tanh's
// expm1(2|x|) saturates its quotient at 1 from |x| = 15 on.
constexpr float kExpm1Max = 30.0f;

// --- silu: below kSiluZeroBelow the result is -0 (silu(-120) ~ -9.2e-51;
// the clamped exponential would not be small enough to make it so).
constexpr float kSiluZeroBelow = -120.0f;

// --- softplus = max(x, 0) + log1p(u), u = exp(-|x|); with t = u / (2 + u)
// in [0, 1/3], log1p(u) = 2 atanh(t) = u * 2/(2 + u) * A(t^2).
// A(z) = atanh(sqrt z) / sqrt z on 0 <= z <= 1/9: degree 4, minimax,
// relative error 4.0e-9.
constexpr float kAtanhA[] = {0x1p0f, 0x1.5554dep-2f, 0x1.99db18p-3f, 0x1.1e4dd4p-3f,
                             0x1.209c54p-3f};
// softplus(beta) = max(x, 0) + log1p(u) / beta, u = exp(-|beta x|), with
// |beta x| = p + e split exactly (Dekker, halves by kHighHalfMask below), so
// u keeps its digits where |beta x| is large; beta = 1 is the plain
// softplus above. |x| is first clamped to kSoftplusMaxY / beta (u and the
// result's second term are 0 there for any beta >= kSoftplusMinBeta, so the
// split never overflows); log1p(u) / beta is formed before 2^n is applied
// (it stays below 2^127 for a normal beta), so a subnormal result is
// rounded once.
constexpr float kSoftplusMaxY = 131.0f;
constexpr float kSoftplusMinBeta = 1e-10f;

// --- gelu = x * (1 - E/2) for x >= 0 and (x/2) * E for x < 0, with s = |x|
// and E = erfc(s / sqrt 2) = exp(-s^2/2) * P(y) / (s + kGeluK),
// y = (s - kGeluK) / (s + kGeluK) in [-1, 2/3].
// s is clamped to kGeluMaxAbs, and below -kGeluMaxAbs the result is -0
// (gelu(-15) ~ -5.5e-50).
constexpr float kGeluMaxAbs = 15.0f;
// Veltkamp's split s = sh + sl into 12-bit halves (2^12 + 1), so that
// s^2 = hi + lo exactly (Dekker's product, no fma needed).
constexpr float kVeltkampSplit = 4097.0f;
constexpr float kGeluK = 3.0f;
// P(y): erfc(s / sqrt 2) * exp(s^2 / 2) * (s + kGeluK) as a polynomial in
// y, for 0 <= s <= 15; degree 10, minimax, relative error 9.4e-10. The
// change of variable maps the half line onto a bounded interval on which
// the scaled tail is smooth, so one polynomial covers erf and erfc.
constexpr float kGeluP[] = {0x1.754a76p0f,   -0x1.04c72ap0f,  0x1.d71386p-2f, -0x1.832d0ap-4f,
                            -0x1.56d5ecp-6f, 0x1.c8bda4p-7f,  0x1.0ca214p-9f, -0x1.0eaed8p-9f,
                            -0x1.009e4p-11f, 0x1.136b6cp-12f, 0x1.c9168ep-14f};

// --- hard_sigmoid = clamp((x + kHardSigmoidShift) / kHardSigmoidScale, 0, 1),
// i.e. x / 6 + 1/2 (ONNX's alpha = 1/6, beta = 1/2), written so that the sum
// is exact near x = -3 where x / 6 + 1/2 would cancel.
constexpr float kHardSigmoidShift = 3.0f;
constexpr float kHardSigmoidScale = 6.0f;
// Those are hard_sigmoid's default alpha (1/6 rounded to f32) and beta; any
// other pair is computed as alpha x + beta, alpha x split exactly into two
// terms (Dekker) on halves kept by kHighHalfMask (sign, exponent and the top
// 11 stored mantissa bits: 12 significant bits, so products of halves are
// exact), and x first clamped to +-kF32Max (so 0 * inf is not NaN).
constexpr float kHardSigmoidAlpha = static_cast<float>(1.0 / 6.0);
constexpr float kHardSigmoidBeta = 0.5f;
constexpr int kHighHalfMask = static_cast<int>(0xfffff000u);
constexpr float kF32Max = 0x1.fffffep127f;
/// v's high half by kHighHalfMask, for constants (static: internal linkage,
/// like the constants, for the per-instruction-set kernel objects).
static constexpr float highHalf(float v) {
  return std::bit_cast<float>(std::bit_cast<unsigned>(v) & static_cast<unsigned>(kHighHalfMask));
}

// --- gelu(approximate = tanh) = x (1 + tanh u) / 2 = x * sigmoid(v),
// v = 2u = x * (kGeluTanhK1 + kGeluTanhK3 * x^2), K1 = 2 sqrt(2 / pi) and
// K3 = 0.044715 K1, each a double-f32 pair hi + lo. v is computed as an
// unevaluated sum hi + lo (Dekker's products on Veltkamp splits), since the
// relative error of the negative tail x e^v is the absolute error of v,
// and |v| reaches 100. |x| is clamped to kGeluTanhMaxAbs for v; below
// -kGeluTanhMaxAbs the result is -0 (x e^v ~ -2e-62), above it x.
constexpr float kGeluTanhK1Hi = 0x1.988454p0f;
constexpr float kGeluTanhK1Lo = -0x1.857936p-25f;
constexpr float kGeluTanhK3Hi = 0x1.2444f2p-4f;
constexpr float kGeluTanhK3Lo = 0x1.49b16ap-29f;
constexpr float kGeluTanhMaxAbs = 12.0f;

// --- log1p(u) for u >= 0 (log_softmax's log of its row sum 1 + u): with
// w = 1 + u = m 2^e, m in [sqrt(1/2), sqrt 2), log1p(u) = e ln 2 + 2 atanh(t),
// t = (m - 1) / (m + 1), or t = u / (2 + u) (exact u, no rounding of 1 + u)
// when w < sqrt 2; |t| <= 0.1716, within kAtanhA's range (t^2 <= 1/9).
constexpr float kSqrt2 = 0x1.6a09e6p0f;

} // namespace soma::ir::actmath
