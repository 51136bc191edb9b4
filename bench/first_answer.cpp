// Time to the first answer: from the start of Model::compile to the end of
// the first run (batch 1), per engine, for the example MLP, a 784-512-512-10
// MLP and 8 layers of 4096x4096. With Engine::Auto the first answer comes
// from the vec engine while the JIT compiles in the background; the time
// until the JIT is ready (waitForJit) is printed beside it. Prints a
// Markdown table (median and min of the repetitions, each a fresh compile
// in this process; the first repetition also pays LLVM's one-time setup).
//
//   soma_first_answer [EXAMPLES_DIR] [--reps=N]
#include "soma/soma.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace soma;
using Clock = std::chrono::steady_clock;

namespace {

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string mlpText(const std::vector<int> &widths, const char *name) {
  std::ostringstream s;
  s << "network " << name << " {\n  input x: f32[" << widths[0] << "]\n";
  std::string prev = "x";
  for (size_t i = 1; i < widths.size(); ++i) {
    const bool last = i + 1 == widths.size();
    std::string layer = "l" + std::to_string(i);
    s << "  dense " << layer << "(" << prev << ") { units = " << widths[i]
      << "; weights = he(seed = " << i << "); activation = " << (last ? "softmax" : "relu")
      << " }\n";
    prev = layer;
  }
  s << "  output " << prev << "\n}\n";
  return s.str();
}

struct Sample {
  double firstAnswer = 0, jitReady = 0;
  Engine answeredBy = Engine::Jit;
};

const char *engineName(Engine e) {
  switch (e) {
  case Engine::Jit:
    return "jit";
  case Engine::Vec:
    return "vec";
  case Engine::Auto:
    return "auto";
  case Engine::Interp:
    return "interp";
  }
  return "?";
}

Sample measure(const std::string &text, Engine engine) {
  CompileOptions options;
  options.engine = engine;
  Sample s;
  auto t0 = Clock::now();
  Result<Model> m = Model::compileString(text, options, "bench.nn");
  if (!m) {
    std::fprintf(stderr, "%s", m.error().c_str());
    std::exit(1);
  }
  std::vector<InputBuffer> in;
  std::vector<OutputBuffer> out;
  std::vector<std::vector<float>> buffers;
  for (const TensorInfo &t : m->inputs()) {
    int64_t n = 1;
    for (int64_t d : t.shape)
      n *= d;
    buffers.emplace_back(static_cast<size_t>(n), 0.5f);
    std::vector<int64_t> dims = {1};
    dims.insert(dims.end(), t.shape.begin(), t.shape.end());
    in.push_back({t.name, buffers.back().data(), dims});
  }
  std::vector<std::vector<float>> outs;
  for (const TensorInfo &t : m->outputs()) {
    int64_t n = 1;
    for (int64_t d : t.shape)
      n *= d;
    outs.emplace_back(static_cast<size_t>(n));
    std::vector<int64_t> dims = {1};
    dims.insert(dims.end(), t.shape.begin(), t.shape.end());
    out.push_back({t.name, outs.back().data(), dims});
  }
  s.answeredBy = m->activeEngine();
  Status st = m->run(in, out);
  s.firstAnswer = msSince(t0);
  if (!st) {
    std::fprintf(stderr, "run failed: %s\n", st.message().c_str());
    std::exit(1);
  }
  Status jit = m->waitForJit();
  s.jitReady = msSince(t0);
  if (!jit) {
    std::fprintf(stderr, "JIT failed: %s", jit.message().c_str());
    std::exit(1);
  }
  return s;
}

} // namespace

int main(int argc, char **argv) {
  std::string examples = "examples";
  int reps = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--reps=", 7) == 0)
      reps = std::max(1, std::atoi(argv[i] + 7));
    else
      examples = argv[i];
  }
  std::ifstream mlpFile(examples + "/mlp.nn");
  if (!mlpFile) {
    std::fprintf(stderr, "cannot read %s/mlp.nn\n", examples.c_str());
    return 1;
  }
  std::stringstream mlp;
  mlp << mlpFile.rdbuf();
  struct Net {
    const char *label;
    std::string text;
    int reps;
  };
  std::vector<Net> nets = {
      {"examples/mlp.nn", mlp.str(), reps},
      {"MLP 784-512-512-10", mlpText({784, 512, 512, 10}, "mnist"), reps},
      {"8 x dense 4096x4096",
       mlpText({4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096}, "big"),
       std::max(1, reps / 2)},
  };
  std::printf(
      "| network | engine | first answer, median (min) | answered by | JIT ready, median |\n"
      "|---|---|---|---|---|\n");
  for (const Net &net : nets)
    for (Engine engine : {Engine::Jit, Engine::Auto, Engine::Vec}) {
      std::vector<Sample> samples;
      for (int r = 0; r < net.reps; ++r)
        samples.push_back(measure(net.text, engine));
      auto median = [&](double Sample::*field) {
        std::vector<double> v;
        for (const Sample &s : samples)
          v.push_back(s.*field);
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
      };
      double minFirst = samples[0].firstAnswer;
      for (const Sample &s : samples)
        minFirst = std::min(minFirst, s.firstAnswer);
      std::string jitReady = engine == Engine::Vec
                                 ? "-"
                                 : std::to_string(median(&Sample::jitReady)).substr(0, 8) + " ms";
      std::printf("| %s | %s | %.2f ms (%.2f) | %s | %s |\n", net.label, engineName(engine),
                  median(&Sample::firstAnswer), minFirst, engineName(samples.back().answeredBy),
                  jitReady.c_str());
      std::fflush(stdout);
    }
  return 0;
}
