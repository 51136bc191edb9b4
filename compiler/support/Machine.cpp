// Host detection for the cost models: CPU features by CPUID (GCC's
// __builtin_cpu_supports), cache sizes from
// /sys/devices/system/cpu/cpu0/cache/index*/{level,type,size}.
#include "soma/support/Machine.h"

#include <fstream>
#include <string>
#include <thread>

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

MachineInfo detect() {
  MachineInfo m;
  __builtin_cpu_init();
  m.vectorWidth = __builtin_cpu_supports("avx512f") ? 16 : __builtin_cpu_supports("avx2") ? 8 : 4;
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

} // namespace

const MachineInfo &hostMachine() {
  static const MachineInfo machine = detect();
  return machine;
}

} // namespace soma
