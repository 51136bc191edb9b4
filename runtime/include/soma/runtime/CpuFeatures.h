// The instruction-set features of this CPU, by LLVM's names ("avx2",
// "avx512bw", "fma" on x86-64; "neon", "sve" on aarch64), found without
// LLVM: x86-64's cpuid (with the OS's register state for AVX, AVX-512,
// AMX and APX), aarch64's HWCAP bits. A bundle records the features its
// code was compiled with, and the loader refuses a CPU that lacks one
// (runtime/bundle/BundleLoader.cpp); the JIT refuses to run code for
// features this CPU lacks with the same table (jit/Jit.cpp).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace soma::runtime {

/// "x86_64" or "aarch64": the architecture this runtime was built for.
const char *hostArch() noexcept;

/// The features of `arch` ("x86_64" or "aarch64") this runtime can look
/// for in a CPU of that architecture, by LLVM's names: those a bundle
/// records. Empty for another architecture.
const std::vector<std::string_view> &checkableFeatures(std::string_view arch);

/// Whether this CPU (and its OS, for register state) has `feature`, a name
/// of checkableFeatures(hostArch()); false for any other name.
bool hostHasFeature(std::string_view feature);

/// Of the comma-separated `features` (LLVM's names, without '+'), those
/// this CPU lacks, in the order given; a name this runtime cannot look for counts as
/// lacking, since nothing shows the CPU has it.
std::vector<std::string> missingHostFeatures(std::string_view features);

/// This CPU's name as it gives it (cpuid's brand string, "AMD EPYC ...";
/// on aarch64 "aarch64"), for messages.
std::string hostCpuName();

} // namespace soma::runtime
