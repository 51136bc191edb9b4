// The calibration's microbenchmarks. Cycles are counted by a chain of
// dependent integer adds, which retire one per cycle on every x86-64 core,
// timed next to the FMA loops at the same clock: no cycle counter or
// frequency is needed, and turbo or a hypervisor cannot skew the ratio.
//   latency: one chain of dependent FMAs, its time per FMA in add-cycles;
//   pipes:   16 (AVX2: 12) independent chains, FMAs per add-cycle.
// Each figure is the best of several short trials, so that a trial another
// process interrupts does not count. Read bandwidth: one core summing a
// buffer of half the L1, half the L2, a quarter of the L3 (at most 8 MiB)
// and twice the L3 (32 to 256 MiB: memory) with its widest vectors.
#include "MachineCalibration.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

namespace soma {

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

/// kSteps * 4 dependent FMAs (chains = 1), or as many over 16 chains.
__attribute__((target("avx512f,fma"))) void fmaLoop512(int chains) {
  __m512 acc[16];
  for (int c = 0; c < 16; ++c)
    acc[c] = _mm512_set1_ps(0.01f * static_cast<float>(c));
  const __m512 m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(0.001f);
  if (chains == 1)
    for (int64_t i = 0; i < kSteps * 4; ++i)
      acc[0] = _mm512_fmadd_ps(acc[0], m, a);
  else
    for (int64_t i = 0; i < kSteps / 4; ++i)
      for (int c = 0; c < 16; ++c)
        acc[c] = _mm512_fmadd_ps(acc[c], m, a);
  __m512 sum = acc[0];
  for (int c = 1; c < 16; ++c)
    sum = _mm512_add_ps(sum, acc[c]);
  alignas(64) float out[16];
  _mm512_store_ps(out, sum);
  sink = out[0];
}

/// The same with 256-bit vectors, over 12 chains (AVX2 has 16 registers).
__attribute__((target("avx2,fma"))) void fmaLoop256(int chains) {
  __m256 acc[12];
  for (int c = 0; c < 12; ++c)
    acc[c] = _mm256_set1_ps(0.01f * static_cast<float>(c));
  const __m256 m = _mm256_set1_ps(0.999f), a = _mm256_set1_ps(0.001f);
  if (chains == 1)
    for (int64_t i = 0; i < kSteps * 4; ++i)
      acc[0] = _mm256_fmadd_ps(acc[0], m, a);
  else
    for (int64_t i = 0; i < kSteps / 3; ++i)
      for (int c = 0; c < 12; ++c)
        acc[c] = _mm256_fmadd_ps(acc[c], m, a);
  __m256 sum = acc[0];
  for (int c = 1; c < 12; ++c)
    sum = _mm256_add_ps(sum, acc[c]);
  alignas(32) float out[8];
  _mm256_store_ps(out, sum);
  sink = out[0];
}

/// Sums n floats (a multiple of 64), `passes` times, with 4 accumulators of
/// the widest vectors: the loads, not the adds, are what is timed.
__attribute__((target("avx512f"))) void sum512(const float *p, int64_t n, int passes) {
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

__attribute__((target("avx2"))) void sum256(const float *p, int64_t n, int passes) {
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

void sum128(const float *p, int64_t n, int passes) {
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
    void (*loop)(int) = wide ? fmaLoop512 : fmaLoop256;
    const double chain = bestSeconds(9, [&] { loop(1); }) / (kSteps * 4);
    const double many = bestSeconds(9, [&] { loop(0); }) /
                        static_cast<double>(wide ? kSteps / 4 * 16 : kSteps / 3 * 12);
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

} // namespace soma
