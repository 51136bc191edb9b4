// The calibration's microbenchmarks. Cycles are counted by a chain of
// dependent integer adds, which retire one per cycle on every x86-64 core,
// timed next to the FMA loops at the same clock: no cycle counter or
// frequency is needed, and turbo or a hypervisor cannot skew the ratio.
//   latency: one chain of dependent FMAs, its time per FMA in add-cycles;
//   pipes:   14 independent chains, FMAs per add-cycle.
// Each figure is the best of several short trials, so that a trial another
// process interrupts does not count. Read bandwidth: one core summing a
// buffer of half the L1, half the L2, a quarter of the L3 (at most 8 MiB)
// and twice the L3 (32 to 256 MiB: memory) with its widest vectors.
//
// The microbenchmarks are x86-64 code; on another architecture (the runtime
// cross-built for aarch64) nothing is measured: the FMA figures keep their
// defaults and the bandwidths stay 0, "not measured".
#include "MachineCalibration.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

namespace soma {

#if defined(__x86_64__)
namespace {

using Clock = std::chrono::steady_clock;

template <class F> double bestSeconds(int trials, F &&body) {
  double best = 1e30;
  for (int t = 0; t < trials; ++t) {
    const auto t0 = Clock::now();
    body();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

constexpr int64_t kSteps = 1 << 15;

/// Seconds per cycle: kSteps x 8 dependent adds.
double cycleSeconds() {
  return bestSeconds(9,
                     [] {
                       uint64_t x = 0;
                       for (int64_t i = 0; i < kSteps; ++i)
                         asm volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                                      "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
                                      : "+r"(x));
                     }) /
         static_cast<double>(kSteps * 8);
}

/// The result is kept where the optimiser cannot drop the loops.
volatile float sink;

// The FMA loops are assembly, so that what is timed does not depend on the
// build's optimisation level or sanitizers (a -O0 build keeps intrinsics'
// accumulators in memory). Registers 0-13 hold the chains, 14 and 15 the
// multiplicands, all zero (0 * 0 + 0: no special values).
#define SOMA_FMA8(op) op op op op op op op op

/// Zeroes the vector registers the loops use, and afterwards clears the
/// upper halves (no AVX-SSE transition penalty for the code that follows).
void zeroVectors() {
  asm volatile("vpxor %%xmm0, %%xmm0, %%xmm0\n\tvpxor %%xmm1, %%xmm1, %%xmm1\n\t"
               "vpxor %%xmm2, %%xmm2, %%xmm2\n\tvpxor %%xmm3, %%xmm3, %%xmm3\n\t"
               "vpxor %%xmm4, %%xmm4, %%xmm4\n\tvpxor %%xmm5, %%xmm5, %%xmm5\n\t"
               "vpxor %%xmm6, %%xmm6, %%xmm6\n\tvpxor %%xmm7, %%xmm7, %%xmm7\n\t"
               "vpxor %%xmm8, %%xmm8, %%xmm8\n\tvpxor %%xmm9, %%xmm9, %%xmm9\n\t"
               "vpxor %%xmm10, %%xmm10, %%xmm10\n\tvpxor %%xmm11, %%xmm11, %%xmm11\n\t"
               "vpxor %%xmm12, %%xmm12, %%xmm12\n\tvpxor %%xmm13, %%xmm13, %%xmm13\n\t"
               "vpxor %%xmm14, %%xmm14, %%xmm14\n\tvpxor %%xmm15, %%xmm15, %%xmm15" ::
                   : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                     "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}
void clearUpper() { asm volatile("vzeroupper"); }

/// kSteps * 4 dependent FMAs.
void fmaChain(bool wide) {
  zeroVectors();
  if (wide)
    for (int64_t i = 0; i < kSteps / 2; ++i)
      asm volatile(SOMA_FMA8("vfmadd231ps %%zmm14, %%zmm15, %%zmm0\n\t")::: "xmm0");
  else
    for (int64_t i = 0; i < kSteps / 2; ++i)
      asm volatile(SOMA_FMA8("vfmadd231ps %%ymm14, %%ymm15, %%ymm0\n\t")::: "xmm0");
  clearUpper();
}

#define SOMA_FMA14(r)                                                                              \
  "vfmadd231ps %%" r "14, %%" r "15, %%" r "0\n\t"                                                 \
  "vfmadd231ps %%" r "14, %%" r "15, %%" r "1\n\t"                                                 \
  "vfmadd231ps %%" r "14, %%" r "15, %%" r "2\n\t"                                                 \
  "vfmadd231ps %%" r "14, %%" r "15, %%" r "3\n\t"                                                 \
  "vfmadd231ps %%" r "14, %%" r "15, %%" r "4\n\t"                                                 \
  "vfmadd231ps %%" r "14, %%" r "15, %%" r "5\n\t"                                                 \
  "vfmadd231ps %%" r "14, %%" r "15, %%" r "6\n\t"                                                 \
  "vfmadd231ps %%" r "14, %%" r "15, %%" r "7\n\t"                                                 \
  "vfmadd231ps %%" r "14, %%" r "15, %%" r "8\n\t"                                                 \
  "vfmadd231ps %%" r "14, %%" r "15, %%" r "9\n\t"                                                 \
  "vfmadd231ps %%" r "14, %%" r "15, %%" r "10\n\t"                                                \
  "vfmadd231ps %%" r "14, %%" r "15, %%" r "11\n\t"                                                \
  "vfmadd231ps %%" r "14, %%" r "15, %%" r "12\n\t"                                                \
  "vfmadd231ps %%" r "14, %%" r "15, %%" r "13\n\t"

constexpr int64_t kChains = 14;

/// kSteps / 4 * kChains FMAs over kChains independent chains.
void fmaChains(bool wide) {
  zeroVectors();
  if (wide)
    for (int64_t i = 0; i < kSteps / 4; ++i)
      asm volatile(SOMA_FMA14("zmm")::
                       : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                         "xmm9", "xmm10", "xmm11", "xmm12", "xmm13");
  else
    for (int64_t i = 0; i < kSteps / 4; ++i)
      asm volatile(SOMA_FMA14("ymm")::
                       : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                         "xmm9", "xmm10", "xmm11", "xmm12", "xmm13");
  clearUpper();
}

/// Sums n floats (a multiple of 64), `passes` times, with 4 accumulators of
/// the widest vectors: the loads, not the adds, are what is timed.
__attribute__((no_sanitize_address)) __attribute__((target("avx512f"))) void
sum512(const float *p, int64_t n, int passes) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (int pass = 0; pass < passes; ++pass)
    for (int64_t i = 0; i < n; i += 64) {
      s0 = _mm512_add_ps(s0, _mm512_loadu_ps(p + i));
      s1 = _mm512_add_ps(s1, _mm512_loadu_ps(p + i + 16));
      s2 = _mm512_add_ps(s2, _mm512_loadu_ps(p + i + 32));
      s3 = _mm512_add_ps(s3, _mm512_loadu_ps(p + i + 48));
    }
  alignas(64) float out[16];
  _mm512_store_ps(out, _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  sink = out[0];
}

__attribute__((no_sanitize_address)) __attribute__((target("avx2"))) void
sum256(const float *p, int64_t n, int passes) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (int pass = 0; pass < passes; ++pass)
    for (int64_t i = 0; i < n; i += 32) {
      s0 = _mm256_add_ps(s0, _mm256_loadu_ps(p + i));
      s1 = _mm256_add_ps(s1, _mm256_loadu_ps(p + i + 8));
      s2 = _mm256_add_ps(s2, _mm256_loadu_ps(p + i + 16));
      s3 = _mm256_add_ps(s3, _mm256_loadu_ps(p + i + 24));
    }
  alignas(32) float out[8];
  _mm256_store_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  sink = out[0];
}

__attribute__((no_sanitize_address)) void sum128(const float *p, int64_t n, int passes) {
  __m128 s0 = _mm_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (int pass = 0; pass < passes; ++pass)
    for (int64_t i = 0; i < n; i += 16) {
      s0 = _mm_add_ps(s0, _mm_loadu_ps(p + i));
      s1 = _mm_add_ps(s1, _mm_loadu_ps(p + i + 4));
      s2 = _mm_add_ps(s2, _mm_loadu_ps(p + i + 8));
      s3 = _mm_add_ps(s3, _mm_loadu_ps(p + i + 12));
    }
  alignas(16) float out[4];
  _mm_store_ps(out, _mm_add_ps(_mm_add_ps(s0, s1), _mm_add_ps(s2, s3)));
  sink = out[0];
}

/// GB/s of reading `bytes` (`passes` times) with vectors of `width` lanes.
double readGBs(std::vector<float> &buffer, int64_t width, int64_t bytes, int passes) {
  const int64_t n = std::max<int64_t>(64, bytes / 4) / 64 * 64;
  if (static_cast<int64_t>(buffer.size()) < n)
    buffer.assign(static_cast<size_t>(n), 1.0f);
  void (*sum)(const float *, int64_t, int) = width == 16 ? sum512 : width == 8 ? sum256 : sum128;
  const float *p = buffer.data();
  const double seconds = bestSeconds(3, [&] { sum(p, n, passes); });
  return static_cast<double>(n) * 4 * passes / seconds / 1e9;
}

} // namespace

Calibration calibrate(int64_t vectorWidth, int64_t l1Bytes, int64_t l2Bytes, int64_t l3Bytes) {
  Calibration c;
  if (vectorWidth >= 8) {
    const double cycle = cycleSeconds();
    const bool wide = vectorWidth == 16;
    const double chain = bestSeconds(9, [&] { fmaChain(wide); }) / (kSteps / 2 * 8);
    const double many = bestSeconds(9, [&] { fmaChains(wide); }) / (kSteps / 4 * kChains);
    c.fmaLatency = std::clamp<int64_t>(std::lround(chain / cycle), 1, 16);
    c.fmaPipes = std::clamp<int64_t>(std::lround(cycle / many), 1, 4);
  }
  std::vector<float> buffer;
  const int64_t w = vectorWidth;
  c.l1ReadGBs = readGBs(buffer, w, l1Bytes / 2, 64);
  c.l2ReadGBs = readGBs(buffer, w, l2Bytes / 2, 8);
  c.l3ReadGBs = readGBs(buffer, w, std::min<int64_t>(l3Bytes / 4, 8 << 20), 2);
  c.memoryReadGBs = readGBs(
      buffer, w, std::clamp<int64_t>(2 * l3Bytes, int64_t{32} << 20, int64_t{256} << 20), 1);
  return c;
}
#else
Calibration calibrate(int64_t, int64_t, int64_t, int64_t) { return Calibration{}; }
#endif

} // namespace soma
