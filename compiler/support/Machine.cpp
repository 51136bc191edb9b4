// The machine model (Machine.h). The host: CPU features by CPUID (GCC's
// __builtin_cpu_supports; an aarch64 host has NEON), cache sizes from
// /sys/devices/system/cpu/cpu0/cache/index*/{level,type,size}, and a
// calibration (MachineCalibration.cpp) for what neither says, cached per
// CPU. Named CPUs: the table below, from the vendors' optimisation manuals.
#include "soma/support/Machine.h"

#include "MachineCalibration.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <unistd.h>

namespace soma {

namespace {

/// "32K", "1024K", "32M" -> bytes; 0 when unreadable.
int64_t parseSize(const std::string &text) {
  int64_t n = 0;
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9')
    n = n * 10 + (text[i++] - '0');
  if (i < text.size() && text[i] == 'K')
    n *= 1024;
  else if (i < text.size() && text[i] == 'M')
    n *= 1024 * 1024;
  return n;
}

std::string readLine(const std::string &path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

/// What CPUID and sysfs say, before any measurement.
MachineInfo detect() {
  MachineInfo m;
  m.name = "host";
#if defined(__aarch64__)
  // NEON: 4 lanes, 32 registers, on every aarch64 CPU (the runtime's
  // kernels use no SVE).
  m.vectorWidth = 4;
  m.vectorRegisters = 32;
#else
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  m.vectorWidth = avx512 ? 16 : __builtin_cpu_supports("avx2") ? 8 : 4;
  m.vectorRegisters = avx512 ? 32 : 16;
#endif
  m.cores = std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
  for (int index = 0; index < 8; ++index) {
    const std::string dir =
        "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    const std::string level = readLine(dir + "level"), type = readLine(dir + "type");
    const int64_t size = parseSize(readLine(dir + "size"));
    if (size <= 0 || type == "Instruction")
      continue;
    if (level == "1")
      m.l1Bytes = size;
    else if (level == "2")
      m.l2Bytes = size;
    else if (level == "3")
      m.l3Bytes = size;
  }
  return m;
}

/// Names this CPU in the cache, so a cache copied to (or a home directory
/// shared with) another machine is not believed there.
std::string cpuKey(const MachineInfo &m) {
  std::ifstream in("/proc/cpuinfo");
  std::string line, key;
  for (const char *field : {"vendor_id", "cpu family", "model", "model name", "stepping"}) {
    in.clear();
    in.seekg(0);
    while (std::getline(in, line))
      if (line.rfind(field, 0) == 0 && line.size() > std::string(field).size() &&
          (line[std::string(field).size()] == ' ' || line[std::string(field).size()] == '\t')) {
        key += line.substr(line.find(':') == std::string::npos ? 0 : line.find(':') + 1) + ";";
        break;
      }
  }
  return key + " cores " + std::to_string(m.cores) + " width " + std::to_string(m.vectorWidth) +
         " caches " + std::to_string(m.l1Bytes) + "/" + std::to_string(m.l2Bytes) + "/" +
         std::to_string(m.l3Bytes);
}

std::filesystem::path cachePath() {
  if (const char *path = std::getenv("SOMA_MACHINE_CACHE"))
    return path; // empty: no cache
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::filesystem::path(xdg) / "soma" / "machine";
  if (const char *home = std::getenv("HOME"); home && *home)
    return std::filesystem::path(home) / ".cache" / "soma" / "machine";
  return {};
}

/// The cached calibration of this CPU, if the cache holds one.
bool readCache(const std::filesystem::path &path, const std::string &key, MachineInfo &m) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line) || line != "soma-machine 1" || !std::getline(in, line) ||
      line != "cpu " + key)
    return false;
  std::map<std::string, double> values;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    double value = 0;
    if (fields >> name >> value)
      values[name] = value;
  }
  for (const char *name :
       {"fma_pipes", "fma_latency", "l1_read_gbs", "l2_read_gbs", "l3_read_gbs", "memory_read_gbs"})
    if (!values.count(name))
      return false;
  m.fmaPipes = std::clamp<int64_t>(static_cast<int64_t>(values["fma_pipes"]), 1, 4);
  m.fmaLatency = std::clamp<int64_t>(static_cast<int64_t>(values["fma_latency"]), 1, 16);
  m.l1ReadGBs = values["l1_read_gbs"];
  m.l2ReadGBs = values["l2_read_gbs"];
  m.l3ReadGBs = values["l3_read_gbs"];
  m.memoryReadGBs = values["memory_read_gbs"];
  return true;
}

/// Best effort: a cache that cannot be written is measured again next time.
void writeCache(const std::filesystem::path &path, const std::string &key, const MachineInfo &m) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  const std::filesystem::path tmp =
      path.string() + ".tmp" + std::to_string(static_cast<long>(getpid()));
  {
    std::ofstream out(tmp);
    out << "soma-machine 1\ncpu " << key << "\nfma_pipes " << m.fmaPipes << "\nfma_latency "
        << m.fmaLatency << "\nl1_read_gbs " << m.l1ReadGBs << "\nl2_read_gbs " << m.l2ReadGBs
        << "\nl3_read_gbs " << m.l3ReadGBs << "\nmemory_read_gbs " << m.memoryReadGBs << "\n";
    if (!out)
      return std::filesystem::remove(tmp, ec), void();
  }
  std::filesystem::rename(tmp, path, ec); // atomic: a concurrent reader sees old or new
  if (ec)
    std::filesystem::remove(tmp, ec);
}

MachineInfo calibrated(bool useCache) {
  MachineInfo m = detect();
  const std::filesystem::path path = cachePath();
  const std::string key = cpuKey(m);
  if (useCache && !path.empty() && readCache(path, key, m))
    return m;
  const Calibration c = calibrate(m.vectorWidth, m.l1Bytes, m.l2Bytes, m.l3Bytes);
  m.fmaPipes = c.fmaPipes;
  m.fmaLatency = c.fmaLatency;
  m.l1ReadGBs = c.l1ReadGBs;
  m.l2ReadGBs = c.l2ReadGBs;
  m.l3ReadGBs = c.l3ReadGBs;
  m.memoryReadGBs = c.memoryReadGBs;
  if (!path.empty())
    writeCache(path, key, m);
  return m;
}

// clang-format off
struct Modelled {
  const char *name;
  int64_t width, registers, pipes, latency, l1K, l2K, l3M;
};
/// Published parameters: the widest f32 vector, FMAs of that width per
/// cycle and their latency, and per-core L1/L2 with a typical part's L3.
const Modelled kModelled[] = {
    // AVX-512, one 512-bit FMA per cycle (Zen 4 splits it over two 256-bit
    // pipes; the client Intel cores have port 0 only).
    {"znver4",          16, 32, 1, 4, 32, 1024, 32},
    {"rocketlake",      16, 32, 1, 4, 48, 512, 16},
    {"icelake-client",  16, 32, 1, 4, 48, 512, 8},
    {"tigerlake",       16, 32, 1, 4, 48, 1280, 12},
    // AVX-512, two 512-bit FMAs per cycle.
    {"znver5",          16, 32, 2, 4, 48, 1024, 32},
    {"skylake-avx512",  16, 32, 2, 4, 32, 1024, 32},
    {"cascadelake",     16, 32, 2, 4, 32, 1024, 32},
    {"icelake-server",  16, 32, 2, 4, 48, 1280, 48},
    {"sapphirerapids",  16, 32, 2, 4, 48, 2048, 60},
    {"emeraldrapids",   16, 32, 2, 4, 48, 2048, 160},
    {"graniterapids",   16, 32, 2, 4, 48, 2048, 256},
    // AVX2: two 256-bit FMAs per cycle.
    {"haswell",          8, 16, 2, 5, 32, 256, 8},
    {"broadwell",        8, 16, 2, 5, 32, 256, 8},
    {"skylake",          8, 16, 2, 4, 32, 256, 8},
    {"alderlake",        8, 16, 2, 4, 48, 1280, 30},
    {"znver2",           8, 16, 2, 5, 32, 512, 16},
    {"znver3",           8, 16, 2, 4, 32, 512, 32},
    // aarch64 (code emitted with --mtriple=aarch64-...): NEON, 4 lanes and
    // 32 registers; 128-bit FMA pipes. The Cortex-A72's last level is its
    // shared 1 MiB L2 (a Raspberry Pi 4).
    {"cortex-a72",       4, 32, 2, 7, 32, 1024, 1},
    {"cortex-a76",       4, 32, 2, 4, 64, 512, 2},
    {"neoverse-n1",      4, 32, 2, 4, 64, 1024, 32},
    {"neoverse-n2",      4, 32, 2, 4, 64, 1024, 32},
    {"neoverse-v1",      4, 32, 4, 4, 64, 1024, 32},
    {"neoverse-v2",      4, 32, 4, 4, 64, 2048, 36},
};
/// aarch64's generic core (genericMachine("neon")): a Neoverse N1's
/// parameters, the common server core of that class.
const Modelled kGenericNeon = {"neon", 4, 32, 2, 4, 64, 1024, 32};
// clang-format on

MachineInfo fromRow(const Modelled &row) {
  MachineInfo m;
  m.name = row.name;
  m.vectorWidth = row.width;
  m.vectorRegisters = row.registers;
  m.fmaPipes = row.pipes;
  m.fmaLatency = row.latency;
  m.l1Bytes = row.l1K * 1024;
  m.l2Bytes = row.l2K * 1024;
  m.l3Bytes = row.l3M * 1024 * 1024;
  m.cores = std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
  return m;
}

std::string gbs(double v) {
  if (v <= 0)
    return "not measured";
  char text[32];
  std::snprintf(text, sizeof text, "%.0f GB/s", v);
  return text;
}

std::string bytes(int64_t n) {
  return n % (1024 * 1024) == 0 ? std::to_string(n / (1024 * 1024)) + " MiB"
                                : std::to_string(n / 1024) + " KiB";
}

} // namespace

const MachineInfo &hostMachine() {
  static const MachineInfo machine = calibrated(true);
  return machine;
}

MachineInfo recalibrateHost() { return calibrated(false); }

std::optional<MachineInfo> genericMachine(std::string_view level) {
  if (level == kGenericNeon.name)
    return fromRow(kGenericNeon);
  MachineInfo m;
  if (level == "avx512")
    m.vectorWidth = 16;
  else if (level == "avx2")
    m.vectorWidth = 8;
  else if (level == "sse")
    m.vectorWidth = 4;
  else
    return std::nullopt;
  m.name = std::string(level);
  m.vectorRegisters = m.vectorWidth == 16 ? 32 : 16;
  return m;
}

std::optional<MachineInfo> modelledMachine(std::string_view cpu) {
  for (const Modelled &row : kModelled)
    if (cpu == row.name)
      return fromRow(row);
  return std::nullopt;
}

std::vector<std::string> modelledMachineNames() {
  std::vector<std::string> names;
  for (const Modelled &row : kModelled)
    names.push_back(row.name);
  return names;
}

int64_t MachineInfo::blockRows(int64_t panelVectors, int64_t rowRegisters,
                               int64_t spareRegisters) const {
  const int64_t fit =
      (vectorRegisters - panelVectors - spareRegisters) / std::max<int64_t>(1, rowRegisters);
  return std::clamp<int64_t>(std::min(fmasInFlight(), fit), 1, 8);
}

std::string describeMachine(const MachineInfo &m) {
  std::string s = "machine: " + m.name;
  s += m.name == "host" ? " (detected and measured)\n" : " (modelled)\n";
  s += "  vectors: " + std::to_string(m.vectorWidth) + " f32 lanes, " +
       std::to_string(m.vectorRegisters) + " registers\n";
  s += "  fma: " + std::to_string(m.fmaPipes) + " pipe" + (m.fmaPipes == 1 ? "" : "s") +
       ", latency " + std::to_string(m.fmaLatency) + " cycles (" +
       std::to_string(m.fmasInFlight()) + " in flight)\n";
  s += "  caches: L1 " + bytes(m.l1Bytes) + ", L2 " + bytes(m.l2Bytes) + " per core, L3 " +
       bytes(m.l3Bytes) + "\n";
  s += "  read bandwidth, one core: L1 " + gbs(m.l1ReadGBs) + ", L2 " + gbs(m.l2ReadGBs) + ", L3 " +
       gbs(m.l3ReadGBs) + ", memory " + gbs(m.memoryReadGBs) + "\n";
  s += "  cores: " + std::to_string(m.cores) + "\n";
  return s;
}

} // namespace soma
