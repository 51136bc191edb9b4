// What the cost models need to know about the machine code will run on:
// vector width, cache sizes and core count. Read from this machine (CPUID
// through the compiler's builtins, cache sizes from Linux sysfs), with
// defaults where the system does not say. No LLVM: the passes use it.
#pragma once

#include <cstdint>

namespace soma {

struct MachineInfo {
  /// f32 lanes of the widest vectors: 16 (AVX-512), 8 (AVX2), 4 (SSE).
  int64_t vectorWidth = 16;
  /// Per-core data cache sizes, and the shared last level, in bytes.
  int64_t l1Bytes = 32 * 1024;
  int64_t l2Bytes = 1024 * 1024;
  int64_t l3Bytes = 32 * 1024 * 1024;
  /// Hardware threads available to this process.
  int64_t cores = 1;
};

/// This machine, detected once; fields it cannot read keep the defaults
/// above (Zen 4's caches).
const MachineInfo &hostMachine();

} // namespace soma
