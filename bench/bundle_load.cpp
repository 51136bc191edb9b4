// Time to the first answer from a bundle against the JIT, for the
// 784-512-512-10 MLP (docs/performance.md "Bundles"): `soma compile
// --emit=bundle` makes the MLP's bundle once, then each repetition, in this
// process, dlopen()s its shared library, loads it (soma_mnist_load) and
// runs one batch-1 sample, then frees and closes it; beside it, each
// repetition compiles the same network with the JIT (soma::Model,
// Engine::Jit) and runs the same sample. The two answers must be the same
// bits. Prints a Markdown table (median and min of the repetitions).
//
//   soma_bundle_load SOMA_BINARY WORK_DIR [--reps=N]
#include "soma/bundle.h"
#include "soma/soma.h"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using Clock = std::chrono::steady_clock;

namespace {

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string mlpText() {
  const int widths[] = {784, 512, 512, 10};
  std::ostringstream s;
  s << "network mnist {\n  input x: f32[784]\n";
  std::string prev = "x";
  for (int i = 1; i < 4; ++i) {
    const std::string layer = "l" + std::to_string(i);
    s << "  dense " << layer << "(" << prev << ") { units = " << widths[i]
      << "; weights = he(seed = " << i << "); activation = " << (i == 3 ? "softmax" : "relu")
      << " }\n";
    prev = layer;
  }
  s << "  output " << prev << "\n}\n";
  return s.str();
}

struct Times {
  double open = 0, load = 0, run = 0, total = 0;
};

using LoadFn = int (*)(const soma_bundle_options *, soma_bundle **);
using RunFn = int (*)(soma_bundle *, int64_t, const float *, float *);
using FreeFn = void (*)(soma_bundle *);

/// One repetition of the bundle: dlopen, load, first run; the answer in y.
Times bundleOnce(const std::string &library, const std::vector<float> &x, std::vector<float> &y) {
  Times t;
  auto t0 = Clock::now();
  void *lib = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    std::fprintf(stderr, "soma_bundle_load: %s\n", dlerror());
    std::exit(1);
  }
  auto load = reinterpret_cast<LoadFn>(dlsym(lib, "soma_mnist_load"));
  auto run = reinterpret_cast<RunFn>(dlsym(lib, "soma_mnist_run"));
  auto free = reinterpret_cast<FreeFn>(dlsym(lib, "soma_bundle_free"));
  t.open = msSince(t0);
  auto t1 = Clock::now();
  soma_bundle_options options{};
  options.threads = 1;
  soma_bundle *net = nullptr;
  if (!load || !run || !free || load(&options, &net) != SOMA_BUNDLE_OK) {
    std::fprintf(stderr, "soma_bundle_load: cannot load the bundle\n");
    std::exit(1);
  }
  t.load = msSince(t1);
  auto t2 = Clock::now();
  if (run(net, 1, x.data(), y.data()) != SOMA_BUNDLE_OK) {
    std::fprintf(stderr, "soma_bundle_load: the run failed\n");
    std::exit(1);
  }
  t.run = msSince(t2);
  t.total = msSince(t0);
  free(net);
  dlclose(lib);
  return t;
}

/// One repetition of the JIT: compile, first run.
Times jitOnce(const std::string &text, const std::vector<float> &x, std::vector<float> &y) {
  Times t;
  auto t0 = Clock::now();
  soma::CompileOptions options;
  options.engine = soma::Engine::Jit;
  options.threads = 1;
  auto model = soma::Model::compileString(text, options, "mnist.nn");
  if (!model) {
    std::fprintf(stderr, "%s", model.error().c_str());
    std::exit(1);
  }
  t.load = msSince(t0);
  auto t1 = Clock::now();
  soma::Status s = model->run({{"x", x.data(), {1, 784}}}, {{"l3", y.data(), {1, 10}}});
  if (!s) {
    std::fprintf(stderr, "%s", s.message().c_str());
    std::exit(1);
  }
  t.run = msSince(t1);
  t.total = msSince(t0);
  return t;
}

double median(std::vector<Times> &v, double Times::*f) {
  std::sort(v.begin(), v.end(), [f](const Times &a, const Times &b) { return a.*f < b.*f; });
  return v[v.size() / 2].*f;
}
double minimum(const std::vector<Times> &v, double Times::*f) {
  double m = v[0].*f;
  for (const Times &t : v)
    m = std::min(m, t.*f);
  return m;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: soma_bundle_load SOMA_BINARY WORK_DIR [--reps=N]\n");
    return 2;
  }
  const std::string soma = argv[1], work = argv[2];
  int reps = 20;
  for (int i = 3; i < argc; ++i)
    if (std::strncmp(argv[i], "--reps=", 7) == 0)
      reps = std::max(1, std::atoi(argv[i] + 7));
  const std::string text = mlpText();
  std::ofstream(work + "/mnist.nn") << text;
  const std::string command =
      soma + " compile " + work + "/mnist.nn --emit=bundle -o " + work + "/mnist-bundle";
  if (std::system(command.c_str()) != 0) {
    std::fprintf(stderr, "soma_bundle_load: '%s' failed\n", command.c_str());
    return 1;
  }
  std::vector<float> x(784), yBundle(10), yJit(10);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>((i * 7) % 13) / 13.0f;

  std::vector<Times> bundle, jit;
  const std::string library = work + "/mnist-bundle/libmnist.so";
  for (int r = 0; r < reps; ++r) { // interleaved, so both see the same load
    bundle.push_back(bundleOnce(library, x, yBundle));
    jit.push_back(jitOnce(text, x, yJit));
  }
  if (std::memcmp(yBundle.data(), yJit.data(), yJit.size() * sizeof(float)) != 0) {
    std::fprintf(stderr, "soma_bundle_load: the bundle's answer differs from the JIT's\n");
    return 1;
  }
  std::printf("| MLP 784-512-512-10, batch 1, 1 thread | open (dlopen) | load or compile | first "
              "run | total, median (min) |\n|---|---|---|---|---|\n");
  auto row = [](const char *what, std::vector<Times> &v) {
    std::printf("| %s | %.3f ms | %.3f ms | %.3f ms | %.3f ms (%.3f) |\n", what,
                median(v, &Times::open), median(v, &Times::load), median(v, &Times::run),
                median(v, &Times::total), minimum(v, &Times::total));
  };
  row("bundle (libmnist.so)", bundle);
  row("JIT (soma::Model, Engine::Jit)", jit);
  std::printf("(%d repetitions each, interleaved in one process; the answers are the same bits)\n",
              reps);
  return 0;
}
