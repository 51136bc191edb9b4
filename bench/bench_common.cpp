// Helpers bench/dense_bench.cpp and bench/conv_bench.cpp share: .npy
// files in a temporary directory (the weights soma reads), and the CPU
// recorded in the JSON's context for bench/report.py's heading.
#include "DenseBench.h"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>

namespace bench {

namespace fs = std::filesystem;

void writeNpy(const fs::path &path, const std::vector<float> &values,
              const std::vector<int64_t> &shape) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (int64_t d : shape)
    header += std::to_string(d) + ", ";
  header += "), }";
  // Magic (6) + version (2) + length (2) + header, padded to 64 bytes with '\n' last.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  const unsigned short len = static_cast<unsigned short>(header.size());
  out.write("\x93NUMPY\x01\x00", 8);
  out.put(static_cast<char>(len & 0xff));
  out.put(static_cast<char>(len >> 8));
  out << header;
  out.write(reinterpret_cast<const char *>(values.data()),
            static_cast<std::streamsize>(values.size() * 4));
  if (!out)
    throw std::runtime_error("cannot write " + path.string());
}

namespace {

/// The temporary directory holding every case's weight files, removed at exit.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "soma-bench-XXXXXX").string();
    if (!mkdtemp(pattern.data()))
      throw std::runtime_error("cannot create a temporary directory");
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

} // namespace

const fs::path &tempDir() {
  static TempDir dir;
  return dir.path;
}

/// Records the CPU in the JSON's context, for the report's heading: the
/// first processor's /proc/cpuinfo entries that lscpu shows as Vendor ID,
/// Model name, CPU family, Model and Stepping, and the vector extensions
/// among its flags. The caches are in Google Benchmark's own context.
void addCpuContext() {
  const std::map<std::string, std::string> keys = {{"vendor_id", "cpu_vendor"},
                                                   {"model name", "cpu_model"},
                                                   {"cpu family", "cpu_family"},
                                                   {"model", "cpu_model_number"},
                                                   {"stepping", "cpu_stepping"}};
  const char *const vectorFlags[] = {"avx2",        "fma",      "avx512f",     "avx512dq",
                                     "avx512bw",    "avx512vl", "avx512_vnni", "avx512_bf16",
                                     "avx512_fp16", "amx_bf16", "amx_int8",    "amx_tile"};
  std::ifstream in("/proc/cpuinfo");
  std::string line, isa;
  // The first processor's entries end at the first empty line.
  while (std::getline(in, line) && !line.empty()) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos)
      continue;
    std::string key = line.substr(0, colon);
    key.erase(key.find_last_not_of(" \t") + 1);
    const std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (auto it = keys.find(key); it != keys.end())
      benchmark::AddCustomContext(it->second, value);
    if (key == "flags")
      for (const char *f : vectorFlags)
        if ((" " + value + " ").find(" " + std::string(f) + " ") != std::string::npos)
          isa += (isa.empty() ? "" : " ") + std::string(f);
  }
  benchmark::AddCustomContext("cpu_vector_flags", isa.empty() ? "none of note" : isa);
}

} // namespace bench
