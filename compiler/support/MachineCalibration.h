// The host's calibration (Machine.cpp caches it): microbenchmarks of a few
// milliseconds for what CPUID and sysfs do not say.
#pragma once

#include <cstdint>

namespace soma {

struct Calibration {
  int64_t fmaPipes = 1;
  int64_t fmaLatency = 4;
  double l1ReadGBs = 0, l2ReadGBs = 0, l3ReadGBs = 0, memoryReadGBs = 0;
};

/// Measures the FMA pipes and latency at `vectorWidth` f32 lanes (16, 8;
/// 4: SSE has no FMA, the defaults are kept) and one core's read bandwidth
/// from buffers sized for each cache level and for memory.
Calibration calibrate(int64_t vectorWidth, int64_t l1Bytes, int64_t l2Bytes, int64_t l3Bytes);

} // namespace soma
