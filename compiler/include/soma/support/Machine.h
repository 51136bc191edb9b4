// The machine model: what the cost models and kernel generators know about
// the machine code will run on. For this host it is detected and measured
// (Machine.cpp): the vector width by CPUID, cache sizes from Linux sysfs,
// and the FMA pipes, FMA latency and read bandwidths by a short calibration
// (about 50 ms and a 64 MiB buffer, once per CPU: cached). CPU names cannot
// be trusted for the host (under a hypervisor an Intel Xeon reports itself
// as "rocketlake"), so the host is never looked up by name. A named target
// (--mcpu) gets its published parameters instead (modelledMachine). No
// LLVM: the passes use it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace soma {

struct MachineInfo {
  /// "host" (detected and measured here), a modelled CPU's name
  /// ("znver4"), or a generic ISA level ("avx512").
  std::string name = "avx512";
  /// f32 lanes of the widest vectors: 16 (AVX-512), 8 (AVX2), 4 (SSE).
  int64_t vectorWidth = 16;
  /// Architectural vector registers: 32 with AVX-512, 16 without.
  int64_t vectorRegisters = 32;
  /// Vector FMAs (of vectorWidth lanes) issued per cycle, and the cycles
  /// from an FMA's inputs to its result.
  int64_t fmaPipes = 1;
  int64_t fmaLatency = 4;
  /// Per-core data cache sizes, and the shared last level, in bytes.
  int64_t l1Bytes = 32 * 1024;
  int64_t l2Bytes = 1024 * 1024;
  int64_t l3Bytes = 32 * 1024 * 1024;
  /// One core's read bandwidth from each level, in GB/s; 0 when unknown
  /// (modelled machines, or the calibration is off).
  double l1ReadGBs = 0, l2ReadGBs = 0, l3ReadGBs = 0, memoryReadGBs = 0;
  /// Hardware threads available to this process.
  int64_t cores = 1;

  /// Independent FMAs that keep every pipe busy: pipes x latency.
  int64_t fmasInFlight() const { return fmaPipes * fmaLatency; }

  /// The cost model's rows per register block of a dense kernel whose
  /// panel is `panelVectors` vectors wide: one row per FMA in flight,
  /// within the vector registers, at most 8. Besides the panel's weight
  /// vectors and `spareRegisters`, each row holds `rowRegisters`: its
  /// accumulators, plus its broadcast input when the code generator issues
  /// a block's broadcasts together (LLVM does; the vec engine's GCC-built
  /// kernel broadcasts one row at a time and spares one register for it).
  /// docs/passes.md#schedule, step 3.
  int64_t blockRows(int64_t panelVectors, int64_t rowRegisters, int64_t spareRegisters) const;
};

/// This machine, detected and calibrated once per process. The calibration
/// is read from a cache file when one exists for this CPU: $SOMA_MACHINE_CACHE
/// if set (empty: no cache, measure every time), else
/// $XDG_CACHE_HOME/soma/machine, else ~/.cache/soma/machine.
const MachineInfo &hostMachine();
/// Measures this machine now, ignoring the cache, and rewrites the cache
/// (soma --print-machine --recalibrate).
MachineInfo recalibrateHost();

/// A generic machine of an ISA level, "avx512", "avx2" or "sse": one FMA
/// pipe of latency 4 and Zen 4's caches; what --machine=avx512 plans for.
/// "neon": aarch64's generic core (4 lanes, 32 registers, two FMA pipes of
/// latency 4, a Neoverse N1's caches), what code for an aarch64 triple
/// with no --mcpu is planned for.
std::optional<MachineInfo> genericMachine(std::string_view level);
/// A named CPU's published parameters (LLVM's -mcpu names: "znver4",
/// "sapphirerapids", "haswell", ..., and aarch64's "neoverse-n1",
/// "cortex-a76", ...), or none for a CPU not modelled.
std::optional<MachineInfo> modelledMachine(std::string_view cpu);
/// The names modelledMachine knows, in table order.
std::vector<std::string> modelledMachineNames();

/// A few lines describing `m`, for soma --print-machine.
std::string describeMachine(const MachineInfo &m);

} // namespace soma
