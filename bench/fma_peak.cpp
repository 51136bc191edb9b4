// The machine's FMA peak: a loop of independent AVX-512 fused multiply-adds,
// the ceiling every dense result is measured against. This file alone is
// compiled with -mavx512f -mfma (bench/CMakeLists.txt); the caller checks
// hasAvx512() before calling fmaLoop.
//
// An FMA has a latency of 4 cycles on Zen 4 and one 512-bit FMA issues per
// cycle (two 256-bit pipes), so at least 4 independent chains are needed to
// keep the pipes busy; 12 leave room for other microarchitectures (Intel
// server cores: 2 ports x 4 cycles = 8) and still fit in the 32 registers.
#include "DenseBench.h"

#include <immintrin.h>

namespace bench {

bool hasAvx512() { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"); }

double fmaLoop(int64_t iterations) {
  constexpr int Chains = 12;
  __m512 acc[Chains];
  for (int c = 0; c < Chains; ++c)
    acc[c] = _mm512_set1_ps(static_cast<float>(c) * 0.01f);
  // acc = acc * m + a converges to a / (1 - m): no overflow, no subnormals.
  const __m512 m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(0.001f);
  for (int64_t i = 0; i < iterations; ++i) {
    for (int c = 0; c < Chains; ++c)
      acc[c] = _mm512_fmadd_ps(acc[c], m, a);
    for (int c = 0; c < Chains; ++c)
      acc[c] = _mm512_fmadd_ps(acc[c], m, a);
  }
  __m512 sum = acc[0];
  for (int c = 1; c < Chains; ++c)
    sum = _mm512_add_ps(sum, acc[c]);
  // The result is stored where the optimiser cannot prove it unused.
  alignas(64) float out[16];
  _mm512_store_ps(out, sum);
  volatile float sink = out[0];
  (void)sink;
  return static_cast<double>(iterations) * 2 * Chains * 16 * 2;
}

void readLoop(const float *p, int64_t n, int64_t passes) {
  // Eight streams, one per sum, each over its own eighth of the floats: a
  // layer's kernel reads several weight rows at once, and one sequential
  // stream would leave the hardware prefetchers idle and read the L3
  // slower than the kernel does.
  constexpr int Sums = 8;
  const int64_t stride = n / Sums;
  __m512 sum[Sums];
  for (int s = 0; s < Sums; ++s)
    sum[s] = _mm512_setzero_ps();
  for (int64_t pass = 0; pass < passes; ++pass)
    for (int64_t i = 0; i < stride; i += 16)
      for (int s = 0; s < Sums; ++s)
        sum[s] = _mm512_add_ps(sum[s], _mm512_load_ps(p + s * stride + i));
  for (int s = 1; s < Sums; ++s)
    sum[0] = _mm512_add_ps(sum[0], sum[s]);
  alignas(64) float out[16];
  _mm512_store_ps(out, sum[0]);
  volatile float sink = out[0];
  (void)sink;
}

} // namespace bench
