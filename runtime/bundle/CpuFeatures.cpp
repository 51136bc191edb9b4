// This CPU's instruction-set features without LLVM (CpuFeatures.h). One
// table per architecture names each feature as LLVM does and says where
// the CPU reports it: x86-64's cpuid leaf, subleaf, register and bit, and
// the register state the OS must save for it (XCR0: AVX's YMM, AVX-512's
// ZMM and opmasks, AMX's tiles, APX's extra registers), as LLVM's own host
// detection reads them (sys::getHostCPUFeatures; a unit test of the JIT
// compares the two on the machine that runs it); aarch64's AT_HWCAP and
// AT_HWCAP2 bits (Linux's asm/hwcap.h). Both tables are here whatever
// this runtime is built for: the compiler records the features of the
// target's architecture in a bundle, the loader checks its own.
#include "soma/runtime/CpuFeatures.h"

#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

namespace soma::runtime {

namespace {

enum Reg : uint8_t { Eax, Ebx, Ecx, Edx };

/// The register state a feature's instructions need saved by the OS.
enum class State : uint8_t { None, Avx, Avx512, Amx, Apx };

struct X86Feature {
  const char *name;
  uint32_t leaf, subleaf;
  Reg reg;
  uint8_t bit;
  State state;
  /// Another feature this one needs reported too ("" if none).
  const char *also;
};

constexpr uint32_t kExt = 0x80000000u;

// clang-format off
constexpr X86Feature kX86[] = {
    {"64bit", kExt + 1, 0, Edx, 29, State::None, ""},
    {"cx8", 1, 0, Edx, 8, State::None, ""},
    {"cmov", 1, 0, Edx, 15, State::None, ""},
    {"mmx", 1, 0, Edx, 23, State::None, ""},
    {"fxsr", 1, 0, Edx, 24, State::None, ""},
    {"sse", 1, 0, Edx, 25, State::None, ""},
    {"sse2", 1, 0, Edx, 26, State::None, ""},
    {"sse3", 1, 0, Ecx, 0, State::None, ""},
    {"pclmul", 1, 0, Ecx, 1, State::None, ""},
    {"ssse3", 1, 0, Ecx, 9, State::None, ""},
    {"fma", 1, 0, Ecx, 12, State::Avx, ""},
    {"cx16", 1, 0, Ecx, 13, State::None, ""},
    {"sse4.1", 1, 0, Ecx, 19, State::None, ""},
    {"sse4.2", 1, 0, Ecx, 20, State::None, ""},
    {"crc32", 1, 0, Ecx, 20, State::None, ""},
    {"movbe", 1, 0, Ecx, 22, State::None, ""},
    {"popcnt", 1, 0, Ecx, 23, State::None, ""},
    {"aes", 1, 0, Ecx, 25, State::None, ""},
    {"xsave", 1, 0, Ecx, 26, State::Avx, ""},
    {"avx", 1, 0, Ecx, 28, State::Avx, ""},
    {"f16c", 1, 0, Ecx, 29, State::Avx, ""},
    {"rdrnd", 1, 0, Ecx, 30, State::None, ""},
    {"fsgsbase", 7, 0, Ebx, 0, State::None, ""},
    {"sgx", 7, 0, Ebx, 2, State::None, ""},
    {"bmi", 7, 0, Ebx, 3, State::None, ""},
    {"avx2", 7, 0, Ebx, 5, State::Avx, ""},
    {"bmi2", 7, 0, Ebx, 8, State::None, ""},
    {"invpcid", 7, 0, Ebx, 10, State::None, ""},
    {"rtm", 7, 0, Ebx, 11, State::None, ""},
    {"avx512f", 7, 0, Ebx, 16, State::Avx512, ""},
    {"evex512", 7, 0, Ebx, 16, State::Avx512, ""},
    {"avx512dq", 7, 0, Ebx, 17, State::Avx512, ""},
    {"rdseed", 7, 0, Ebx, 18, State::None, ""},
    {"adx", 7, 0, Ebx, 19, State::None, ""},
    {"avx512ifma", 7, 0, Ebx, 21, State::Avx512, ""},
    {"clflushopt", 7, 0, Ebx, 23, State::None, ""},
    {"clwb", 7, 0, Ebx, 24, State::None, ""},
    {"avx512cd", 7, 0, Ebx, 28, State::Avx512, ""},
    {"sha", 7, 0, Ebx, 29, State::None, ""},
    {"avx512bw", 7, 0, Ebx, 30, State::Avx512, ""},
    {"avx512vl", 7, 0, Ebx, 31, State::Avx512, ""},
    {"avx512vbmi", 7, 0, Ecx, 1, State::Avx512, ""},
    {"pku", 7, 0, Ecx, 4, State::None, ""},
    {"waitpkg", 7, 0, Ecx, 5, State::None, ""},
    {"avx512vbmi2", 7, 0, Ecx, 6, State::Avx512, ""},
    {"shstk", 7, 0, Ecx, 7, State::None, ""},
    {"gfni", 7, 0, Ecx, 8, State::None, ""},
    {"vaes", 7, 0, Ecx, 9, State::Avx, ""},
    {"vpclmulqdq", 7, 0, Ecx, 10, State::Avx, ""},
    {"avx512vnni", 7, 0, Ecx, 11, State::Avx512, ""},
    {"avx512bitalg", 7, 0, Ecx, 12, State::Avx512, ""},
    {"avx512vpopcntdq", 7, 0, Ecx, 14, State::Avx512, ""},
    {"rdpid", 7, 0, Ecx, 22, State::None, ""},
    {"kl", 7, 0, Ecx, 23, State::None, ""},
    {"cldemote", 7, 0, Ecx, 25, State::None, ""},
    {"movdiri", 7, 0, Ecx, 27, State::None, ""},
    {"movdir64b", 7, 0, Ecx, 28, State::None, ""},
    {"enqcmd", 7, 0, Ecx, 29, State::None, ""},
    {"uintr", 7, 0, Edx, 5, State::None, ""},
    {"avx512vp2intersect", 7, 0, Edx, 8, State::Avx512, ""},
    {"serialize", 7, 0, Edx, 14, State::None, ""},
    {"tsxldtrk", 7, 0, Edx, 16, State::None, ""},
    {"pconfig", 7, 0, Edx, 18, State::None, ""},
    {"amx-bf16", 7, 0, Edx, 22, State::Amx, ""},
    {"avx512fp16", 7, 0, Edx, 23, State::Avx512, ""},
    {"amx-tile", 7, 0, Edx, 24, State::Amx, ""},
    {"amx-int8", 7, 0, Edx, 25, State::Amx, ""},
    {"sha512", 7, 1, Eax, 0, State::Avx, ""},
    {"sm3", 7, 1, Eax, 1, State::Avx, ""},
    {"sm4", 7, 1, Eax, 2, State::Avx, ""},
    {"raoint", 7, 1, Eax, 3, State::None, ""},
    {"avxvnni", 7, 1, Eax, 4, State::Avx, ""},
    {"avx512bf16", 7, 1, Eax, 5, State::Avx512, ""},
    {"cmpccxadd", 7, 1, Eax, 7, State::None, ""},
    {"amx-fp16", 7, 1, Eax, 21, State::Amx, ""},
    {"hreset", 7, 1, Eax, 22, State::None, ""},
    {"avxifma", 7, 1, Eax, 23, State::Avx, ""},
    {"avxvnniint8", 7, 1, Edx, 4, State::Avx, ""},
    {"avxneconvert", 7, 1, Edx, 5, State::Avx, ""},
    {"amx-complex", 7, 1, Edx, 8, State::Amx, ""},
    {"avxvnniint16", 7, 1, Edx, 10, State::Avx, ""},
    {"prefetchi", 7, 1, Edx, 14, State::None, ""},
    {"usermsr", 7, 1, Edx, 15, State::None, ""},
    {"avx10.1-256", 7, 1, Edx, 19, State::Avx512, ""},
    {"avx10.1-512", 0x24, 0, Ebx, 18, State::Avx512, "avx10.1-256"},
    {"egpr", 7, 1, Edx, 21, State::Apx, ""},
    {"push2pop2", 7, 1, Edx, 21, State::Apx, ""},
    {"ppx", 7, 1, Edx, 21, State::Apx, ""},
    {"ndd", 7, 1, Edx, 21, State::Apx, ""},
    {"ccmp", 7, 1, Edx, 21, State::Apx, ""},
    {"cf", 7, 1, Edx, 21, State::Apx, ""},
    {"xsaveopt", 0xd, 1, Eax, 0, State::Avx, ""},
    {"xsavec", 0xd, 1, Eax, 1, State::Avx, ""},
    {"xsaves", 0xd, 1, Eax, 3, State::Avx, ""},
    {"ptwrite", 0x14, 0, Ebx, 4, State::None, ""},
    {"widekl", 0x19, 0, Ebx, 2, State::None, "kl"},
    {"sahf", kExt + 1, 0, Ecx, 0, State::None, ""},
    {"lzcnt", kExt + 1, 0, Ecx, 5, State::None, ""},
    {"sse4a", kExt + 1, 0, Ecx, 6, State::None, ""},
    {"prfchw", kExt + 1, 0, Ecx, 8, State::None, ""},
    {"xop", kExt + 1, 0, Ecx, 11, State::Avx, ""},
    {"lwp", kExt + 1, 0, Ecx, 15, State::None, ""},
    {"fma4", kExt + 1, 0, Ecx, 16, State::Avx, ""},
    {"tbm", kExt + 1, 0, Ecx, 21, State::None, ""},
    {"mwaitx", kExt + 1, 0, Ecx, 29, State::None, ""},
    {"clzero", kExt + 8, 0, Ebx, 0, State::None, ""},
    {"rdpru", kExt + 8, 0, Ebx, 4, State::None, ""},
    {"wbnoinvd", kExt + 8, 0, Ebx, 9, State::None, ""},
};
// clang-format on

/// aarch64: a feature is there when every bit of `hwcap` (AT_HWCAP) and
/// `hwcap2` (AT_HWCAP2) is set.
struct ArmFeature {
  const char *name;
  uint64_t hwcap, hwcap2;
};

constexpr uint64_t bit(unsigned n) { return uint64_t(1) << n; }

// clang-format off
constexpr ArmFeature kArm[] = {
    {"fp-armv8", bit(0), 0},          // FP
    {"neon", bit(1), 0},              // ASIMD
    {"aes", bit(3) | bit(4), 0},      // AES, PMULL
    {"sha2", bit(5) | bit(6), 0},     // SHA1, SHA2
    {"crc", bit(7), 0},               // CRC32
    {"lse", bit(8), 0},               // ATOMICS
    {"fullfp16", bit(9) | bit(10), 0}, // FPHP, ASIMDHP
    {"rdm", bit(12), 0},              // ASIMDRDM
    {"jsconv", bit(13), 0},           // JSCVT
    {"complxnum", bit(14), 0},        // FCMA
    {"rcpc", bit(15), 0},             // LRCPC
    {"ccpp", bit(16), 0},             // DCPOP
    {"sha3", bit(17) | bit(21), 0},   // SHA3, SHA512
    {"sm4", bit(18) | bit(19), 0},    // SM3, SM4
    {"dotprod", bit(20), 0},          // ASIMDDP
    {"sve", bit(22), 0},              // SVE
    {"fp16fml", bit(23), 0},          // ASIMDFHM
    {"dit", bit(24), 0},              // DIT
    {"flagm", bit(27), 0},            // FLAGM
    {"ssbs", bit(28), 0},             // SSBS
    {"sb", bit(29), 0},               // SB
    {"pauth", bit(30) | bit(31), 0},  // PACA, PACG
    {"sve2", 0, bit(1)},              // SVE2
    {"f32mm", 0, bit(10)},            // SVEF32MM
    {"f64mm", 0, bit(11)},            // SVEF64MM
    {"i8mm", 0, bit(13)},             // I8MM
    {"bf16", 0, bit(14)},             // BF16
    {"rand", 0, bit(16)},             // RNG
    {"bti", 0, bit(17)},              // BTI
};
// clang-format on

template <typename Table> std::vector<std::string_view> namesOf(const Table &table) {
  std::vector<std::string_view> names;
  for (const auto &f : table)
    names.emplace_back(f.name);
  return names;
}

#if defined(__x86_64__)

struct Cpuid {
  uint32_t r[4] = {0, 0, 0, 0};
  bool valid = false;
};

Cpuid cpuid(uint32_t leaf, uint32_t subleaf) {
  Cpuid c;
  // __get_cpuid_count checks the leaf against the CPU's highest one.
  c.valid = __get_cpuid_count(leaf, subleaf, &c.r[0], &c.r[1], &c.r[2], &c.r[3]) != 0;
  if (!c.valid)
    c = Cpuid{};
  return c;
}

/// The CPU's answers and the OS's register state, read once.
struct X86Host {
  Cpuid l1, l7, l7s1, ld1, l14, l19, l24, e1, e8;
  bool avx = false, avx512 = false, amx = false, apx = false;

  X86Host() {
    l1 = cpuid(1, 0);
    l7 = cpuid(7, 0);
    if (l7.valid && l7.r[Eax] >= 1)
      l7s1 = cpuid(7, 1);
    ld1 = cpuid(0xd, 1);
    l14 = cpuid(0x14, 0);
    l19 = cpuid(0x19, 0);
    l24 = cpuid(0x24, 0);
    e1 = cpuid(kExt + 1, 0);
    e8 = cpuid(kExt + 8, 0);
    // OSXSAVE: the OS saves what XCR0 says; xgetbv reads XCR0.
    if ((l1.r[Ecx] >> 27) & 1) {
      uint32_t lo = 0, hi = 0;
      __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
      const uint64_t xcr0 = (uint64_t(hi) << 32) | lo;
      avx = (xcr0 & 0x6) == 0x6;             // XMM, YMM
      avx512 = avx && (xcr0 & 0xe0) == 0xe0; // opmask, ZMM halves
      amx = (xcr0 & 0x60000) == 0x60000;     // TILECFG, TILEDATA
      apx = (xcr0 & 0x80000) == 0x80000;     // EGPR
    }
  }

  const Cpuid &leaf(uint32_t leaf, uint32_t subleaf) const {
    static const Cpuid none;
    switch (leaf) {
    case 1:
      return l1;
    case 7:
      return subleaf == 0 ? l7 : l7s1;
    case 0xd:
      return ld1;
    case 0x14:
      return l14;
    case 0x19:
      return l19;
    case 0x24:
      return l24;
    case kExt + 1:
      return e1;
    case kExt + 8:
      return e8;
    default:
      return none;
    }
  }

  bool stateSaved(State s) const {
    switch (s) {
    case State::None:
      return true;
    case State::Avx:
      return avx;
    case State::Avx512:
      return avx512;
    case State::Amx:
      return amx;
    case State::Apx:
      return apx;
    }
    return false;
  }

  bool has(std::string_view name) const {
    for (const X86Feature &f : kX86) {
      if (name != f.name)
        continue;
      const Cpuid &c = leaf(f.leaf, f.subleaf);
      return c.valid && ((c.r[f.reg] >> f.bit) & 1) && stateSaved(f.state) &&
             (!*f.also || has(f.also));
    }
    return false;
  }
};

const X86Host &x86Host() {
  static const X86Host host;
  return host;
}

#elif defined(__aarch64__)

bool armHas(std::string_view name) {
  static const uint64_t hwcap = getauxval(AT_HWCAP), hwcap2 = getauxval(AT_HWCAP2);
  for (const ArmFeature &f : kArm)
    if (name == f.name)
      return (hwcap & f.hwcap) == f.hwcap && (hwcap2 & f.hwcap2) == f.hwcap2;
  return false;
}

#endif

} // namespace

const char *hostArch() noexcept {
#if defined(__aarch64__)
  return "aarch64";
#else
  return "x86_64";
#endif
}

const std::vector<std::string_view> &checkableFeatures(std::string_view arch) {
  static const std::vector<std::string_view> x86 = namesOf(kX86), arm = namesOf(kArm), none;
  return arch == "x86_64" ? x86 : arch == "aarch64" ? arm : none;
}

bool hostHasFeature(std::string_view feature) {
#if defined(__x86_64__)
  return x86Host().has(feature);
#elif defined(__aarch64__)
  return armHas(feature);
#else
  (void)feature;
  return false;
#endif
}

std::vector<std::string> missingHostFeatures(std::string_view features) {
  std::vector<std::string> missing;
  while (!features.empty()) {
    const size_t comma = features.find(',');
    const std::string_view name = features.substr(0, comma);
    if (!name.empty() && !hostHasFeature(name))
      missing.emplace_back(name);
    features = comma == std::string_view::npos ? std::string_view() : features.substr(comma + 1);
  }
  return missing;
}

std::string hostCpuName() {
#if defined(__x86_64__)
  if (cpuid(kExt + 4, 0).valid) {
    uint32_t words[12];
    for (uint32_t i = 0; i < 3; ++i) {
      const Cpuid c = cpuid(kExt + 2 + i, 0);
      std::memcpy(words + 4 * i, c.r, sizeof c.r);
    }
    std::string name(reinterpret_cast<const char *>(words), sizeof words);
    name.resize(std::strlen(name.c_str()));
    const size_t first = name.find_first_not_of(' '), last = name.find_last_not_of(' ');
    if (first != std::string::npos)
      return name.substr(first, last - first + 1);
  }
  return "an x86-64 CPU";
#else
  return std::string("an ") + hostArch() + " CPU";
#endif
}

} // namespace soma::runtime
