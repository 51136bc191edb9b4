// Helpers bench/dense_bench.cpp and bench/conv_bench.cpp share: .npy
// files in a temporary directory (the weights soma reads), the CPU
// recorded in the JSON's context for bench/report.py's heading, and the
// two measurements of the machine every result is set against (the FMA
// peak and the read bound).
#include "DenseBench.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

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

void BM_FmaPeak(benchmark::State &state, int threads) {
  if (!hasAvx512()) {
    state.SkipWithError("this CPU has no AVX-512F/FMA; the peak loop needs it");
    return;
  }
  constexpr int64_t Iterations = int64_t(1) << 20; // ~25M cycles, ~7 ms per thread at 3.5 GHz
  double flops = 0;
  for (auto _ : state) {
    std::vector<std::thread> others;
    for (int t = 1; t < threads; ++t)
      others.emplace_back([] { fmaLoop(Iterations); });
    flops = fmaLoop(Iterations) * threads;
    for (std::thread &t : others)
      t.join();
  }
  state.counters["flops"] = flops;
  state.counters["threads"] = threads;
}

void registerPeak() {
  for (int t : {1, 2})
    benchmark::RegisterBenchmark(("peak/fma/t" + std::to_string(t)).c_str(), BM_FmaPeak, t)
        ->UseRealTime()
        ->MinTime(0.3)
        ->Unit(benchmark::kMillisecond);
}

void measureReadBound(benchmark::State &state, int64_t floats, int threads) {
  if (!hasAvx512()) {
    state.SkipWithError("this CPU has no AVX-512F; the read loop needs it");
    return;
  }
  const int64_t share = (floats / threads + 127) / 128 * 128;
  // About 256 MiB read per thread and iteration: the threads' start and
  // end are under 1% of it. (Google Benchmark's iteration count would
  // follow the manual time per read, so callers fix it when they register.)
  const int64_t passes = std::max<int64_t>(4, (int64_t(1) << 26) / share);
  std::vector<std::unique_ptr<float[], decltype(&std::free)>> buffers;
  for (int t = 0; t < threads; ++t) {
    auto *p = static_cast<float *>(std::aligned_alloc(64, static_cast<size_t>(share) * 4));
    std::fill(p, p + share, 1.0f);
    buffers.emplace_back(p, &std::free);
  }
  for (auto _ : state) {
    std::atomic<int> started{0};
    auto work = [&](int t) {
      readLoop(buffers[static_cast<size_t>(t)].get(), share, 1); // into its cache
      started.fetch_add(1);
      while (started.load() < threads) {
      }
      readLoop(buffers[static_cast<size_t>(t)].get(), share, passes);
    };
    std::vector<std::thread> others;
    for (int t = 1; t < threads; ++t)
      others.emplace_back(work, t);
    readLoop(buffers[0].get(), share, 1);
    started.fetch_add(1);
    while (started.load() < threads) {
    }
    const auto t0 = std::chrono::steady_clock::now();
    readLoop(buffers[0].get(), share, passes);
    for (std::thread &t : others)
      t.join();
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
    state.SetIterationTime(took.count() / static_cast<double>(passes));
  }
  state.counters["bytes"] = static_cast<double>(share * threads * 4);
  state.counters["threads"] = threads;
}

} // namespace bench
