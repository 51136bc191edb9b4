// The bundle test's C++ program: the same as deep_main.c (its usage), with
// the bundle's header included from C++ and the outputs in std::vectors;
// then four threads run the same batch on the one loaded bundle at once,
// and a second load with caller_arena runs it inside the program's own
// oneTBB arena, each of whose outputs must be the same bits as the first
// run's.
#include "deep_net.h"

#include <oneapi/tbb/task_arena.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

std::vector<float> readFloats(const std::string &path, long count) {
  std::vector<float> data(static_cast<size_t>(count));
  std::ifstream in(path, std::ios::binary);
  if (!in.read(reinterpret_cast<char *>(data.data()), count * long(sizeof(float)))) {
    std::fprintf(stderr, "deep_main_cpp: cannot read %ld floats from %s\n", count, path.c_str());
    std::exit(1);
  }
  return data;
}

void writeFloats(const std::string &path, const std::vector<float> &data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char *>(data.data()), long(data.size() * sizeof(float)));
  if (!out.flush()) {
    std::fprintf(stderr, "deep_main_cpp: cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: deep_main_cpp BATCH THREADS X_FILE Z_FILE OUT_PREFIX\n");
    return 2;
  }
  const long batch = std::atol(argv[1]);
  soma_bundle_options options{};
  options.threads = std::atoi(argv[2]);
  std::vector<float> x = readFloats(argv[3], batch * SOMA_DEEP_NET_INPUT0_SIZE);
  std::vector<float> z = readFloats(argv[4], batch * SOMA_DEEP_NET_INPUT1_SIZE);
  std::vector<float> probs(static_cast<size_t>(batch * SOMA_DEEP_NET_OUTPUT0_SIZE));
  std::vector<float> features(static_cast<size_t>(batch * SOMA_DEEP_NET_OUTPUT1_SIZE));

  soma_bundle *raw = nullptr;
  if (soma_deep_net_load(&options, &raw) != SOMA_BUNDLE_OK) {
    std::fprintf(stderr, "deep_main_cpp: %s\n", soma_bundle_last_error());
    return 1;
  }
  std::unique_ptr<soma_bundle, void (*)(soma_bundle *)> net(raw, soma_bundle_free);
  const int64_t dims[] = SOMA_DEEP_NET_INPUT0_DIMS;
  if (soma_bundle_input_dims(net.get(), 0)[0] != dims[0]) {
    std::fprintf(stderr, "deep_main_cpp: the loaded bundle's shapes differ from its header's\n");
    return 1;
  }
  std::printf("%s %s -> %s %s\n", soma_bundle_input_name(net.get(), 0),
              soma_bundle_input_name(net.get(), 1), soma_bundle_output_name(net.get(), 0),
              soma_bundle_output_name(net.get(), 1));
  if (soma_deep_net_run(net.get(), batch, x.data(), z.data(), probs.data(), features.data()) !=
      SOMA_BUNDLE_OK) {
    std::fprintf(stderr, "deep_main_cpp: %s\n", soma_bundle_last_error());
    return 1;
  }
  std::vector<std::thread> threads;
  std::vector<int> same(4, 0);
  for (size_t t = 0; t < same.size(); ++t)
    threads.emplace_back([&, t] {
      std::vector<float> p(probs.size()), f(features.size());
      for (int rep = 0; rep < 20; ++rep)
        if (soma_deep_net_run(net.get(), batch, x.data(), z.data(), p.data(), f.data()) !=
                SOMA_BUNDLE_OK ||
            std::memcmp(p.data(), probs.data(), p.size() * sizeof(float)) != 0 ||
            std::memcmp(f.data(), features.data(), f.size() * sizeof(float)) != 0)
          return;
      same[t] = 1;
    });
  for (std::thread &t : threads)
    t.join();
  for (int ok : same)
    if (!ok) {
      std::fprintf(stderr, "deep_main_cpp: a concurrent run gave other outputs\n");
      return 1;
    }
  // The caller's arena: the run's parallel layers go to the program's arena.
  soma_bundle_options inArena{};
  inArena.caller_arena = 1;
  soma_bundle *second = nullptr;
  if (soma_deep_net_load(&inArena, &second) != SOMA_BUNDLE_OK) {
    std::fprintf(stderr, "deep_main_cpp: %s\n", soma_bundle_last_error());
    return 1;
  }
  std::vector<float> p(probs.size()), f(features.size());
  int status = -1;
  tbb::task_arena arena(2);
  arena.execute(
      [&] { status = soma_deep_net_run(second, batch, x.data(), z.data(), p.data(), f.data()); });
  soma_bundle_free(second);
  if (status != SOMA_BUNDLE_OK ||
      std::memcmp(p.data(), probs.data(), p.size() * sizeof(float)) != 0 ||
      std::memcmp(f.data(), features.data(), f.size() * sizeof(float)) != 0) {
    std::fprintf(stderr, "deep_main_cpp: the run in the caller's arena gave other outputs\n");
    return 1;
  }
  writeFloats(std::string(argv[5]) + ".probs", probs);
  writeFloats(std::string(argv[5]) + ".features", features);
  return 0;
}
