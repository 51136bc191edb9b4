// soma bench: compile time, time to the first answer, then runs on seeded
// random inputs for a while, reported as latency percentiles and
// throughput, as text or as one JSON object.
#include "Bench.h"

#include "NumericsCheck.h"

#include "Internal.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <unistd.h>

namespace soma::cli {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// The p-th percentile (0 < p <= 100) of sorted `v` by nearest rank.
double percentile(const std::vector<double> &v, double p) {
  size_t rank = static_cast<size_t>(std::ceil(p / 100 * static_cast<double>(v.size())));
  return v[std::min(v.size(), std::max<size_t>(rank, 1)) - 1];
}

struct Results {
  std::string engine; // the engine the timed runs were on
  double compile = 0, firstAnswer = 0, jitReady = -1, timed = 0;
  std::vector<double> latencies; // seconds, sorted
  // --profile: per step of the program that served the timed runs, its
  // value and kernel family, and its wall time summed over them.
  std::vector<std::pair<std::string, std::string>> steps;
  std::vector<double> stepSeconds;
};

std::string jsonString(const std::string &text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20)
      out += c;
  }
  return out + "\"";
}

/// --profile: each step's time per run and share of the steps' total, in
/// program order.
void printProfile(const Results &r) {
  double total = 0;
  for (double t : r.stepSeconds)
    total += t;
  const auto runs = static_cast<double>(r.latencies.size());
  std::printf("profile: per run, over the %zu timed runs (steps total %.3f ms)\n",
              r.latencies.size(), total / runs * 1e3);
  std::printf("  %12s %6s  %-16s %s\n", "us", "share", "family", "step");
  for (size_t i = 0; i < r.steps.size() && i < r.stepSeconds.size(); ++i)
    std::printf("  %12.2f %5.1f%%  %-16s %s\n", r.stepSeconds[i] / runs * 1e6,
                total > 0 ? 100 * r.stepSeconds[i] / total : 0.0, r.steps[i].second.c_str(),
                r.steps[i].first.c_str());
}

std::string profileJson(const Results &r) {
  std::string out = ", \"profile\": [";
  const auto runs = static_cast<double>(r.latencies.size());
  for (size_t i = 0; i < r.steps.size() && i < r.stepSeconds.size(); ++i)
    out += (i ? ", " : "") + std::string("{\"step\": ") + jsonString(r.steps[i].first) +
           ", \"family\": " + jsonString(r.steps[i].second) +
           ", \"ms_per_run\": " + std::to_string(r.stepSeconds[i] / runs * 1e3) + "}";
  return out + "]";
}

void printText(const Options &opts, const Results &r) {
  char line[200];
  auto ms = [](double s) { return s * 1e3; };
  std::printf("soma bench: %s, batch %lld, threads %d, engine %s%s\n", opts.file.c_str(),
              static_cast<long long>(opts.batch), opts.compile.threads,
              soma::name(opts.compile.engine),
              opts.compile.engine == Engine::Auto ? (" (timed on " + r.engine + ")").c_str() : "");
  std::snprintf(line, sizeof line, "compile       %10.3f ms\nfirst answer  %10.3f ms\n",
                ms(r.compile), ms(r.firstAnswer));
  std::cout << line;
  if (r.jitReady >= 0) {
    std::snprintf(line, sizeof line, "jit ready     %10.3f ms\n", ms(r.jitReady));
    std::cout << line;
  }
  std::snprintf(line, sizeof line,
                "runs          %10zu in %.3f s\nlatency p50   %10.3f ms\nlatency p90   %10.3f "
                "ms\nlatency p99   %10.3f ms\nthroughput    %10.1f samples/s\n",
                r.latencies.size(), r.timed, ms(percentile(r.latencies, 50)),
                ms(percentile(r.latencies, 90)), ms(percentile(r.latencies, 99)),
                static_cast<double>(opts.batch) * static_cast<double>(r.latencies.size()) /
                    r.timed);
  std::cout << line;
  if (!r.steps.empty())
    printProfile(r);
}

void printJson(const Options &opts, const Results &r) {
  char line[600];
  std::snprintf(
      line, sizeof line,
      "{\"file\": %s, \"batch\": %lld, \"threads\": %d, \"engine\": \"%s\", "
      "\"timed_engine\": \"%s\", \"seed\": %llu, \"compile_ms\": %.6f, \"first_answer_ms\": %.6f, "
      "\"jit_ready_ms\": %s, \"runs\": %zu, \"timed_s\": %.6f, \"latency_ms\": {\"p50\": %.6f, "
      "\"p90\": %.6f, \"p99\": %.6f}, \"throughput_samples_per_s\": %.3f",
      jsonString(opts.file).c_str(), static_cast<long long>(opts.batch), opts.compile.threads,
      soma::name(opts.compile.engine), r.engine.c_str(), static_cast<unsigned long long>(opts.seed),
      r.compile * 1e3, r.firstAnswer * 1e3,
      r.jitReady >= 0 ? std::to_string(r.jitReady * 1e3).c_str() : "null", r.latencies.size(),
      r.timed, percentile(r.latencies, 50) * 1e3, percentile(r.latencies, 90) * 1e3,
      percentile(r.latencies, 99) * 1e3,
      static_cast<double>(opts.batch) * static_cast<double>(r.latencies.size()) / r.timed);
  std::cout << line << (r.steps.empty() ? std::string() : profileJson(r)) << "}\n";
}

} // namespace

int benchCommand(std::unique_ptr<ir::Graph> graph, const Options &opts, Clock::time_point start) {
  if (opts.profile && opts.compile.engine == Engine::Interp) {
    std::cerr << "soma: error: --profile times the steps of the vec or JIT engine; the "
                 "interpreter (--engine=interp) runs the graph, not steps\n";
    return 1;
  }
  std::vector<runtime::NamedTensor> inputs = randomInputs(*graph, opts.seed, opts.batch);
  Results r;
  Result<Model> model = api::makeModel(std::move(graph), opts.compile, "", nullptr,
                                       api::ModelUse::Serving, opts.file);
  if (!model) {
    std::cerr << model.error();
    return 1;
  }
  r.compile = since(start);
  std::vector<InputBuffer> in;
  for (const runtime::NamedTensor &t : inputs)
    in.push_back({t.name, t.tensor.values.data(), t.tensor.dims});
  std::vector<Tensor> outTensors;
  std::vector<OutputBuffer> out;
  for (const TensorInfo &info : model->outputs()) {
    std::vector<int64_t> dims = {opts.batch};
    dims.insert(dims.end(), info.shape.begin(), info.shape.end());
    int64_t count;
    if (!checkedElementCount(dims, count)) {
      std::cerr << "soma: error: batch size " << opts.batch << " is too large for output '"
                << info.name << "'\n";
      return 1;
    }
    outTensors.emplace_back(dims);
  }
  for (size_t o = 0; o < outTensors.size(); ++o)
    out.push_back({model->outputs()[o].name, outTensors[o].values.data(), outTensors[o].dims});
  if (Status s = model->run(in, out); !s) {
    std::cerr << s.message();
    return 1;
  }
  r.firstAnswer = since(start);
  if (opts.compile.engine == Engine::Auto) {
    // The timed runs are the steady state: the JIT's, once it is ready.
    if (Status s = model->waitForJit(); !s)
      std::cerr << "soma: warning: the JIT compile failed; the runs are on the vec engine\n"
                << s.message();
    r.jitReady = since(start);
  }
  r.engine = soma::name(model->activeEngine());
  const bool progress = !opts.json && opts.duration >= 2 && isatty(2);
  Clock::time_point t0 = Clock::now();
  int shown = -1;
  while (r.latencies.size() < 10 || since(t0) < opts.duration) {
    Clock::time_point runStart = Clock::now();
    if (Status s =
            opts.profile ? api::runProfiled(*model, in, out, r.stepSeconds) : model->run(in, out);
        !s) {
      std::cerr << s.message();
      return 1;
    }
    r.latencies.push_back(since(runStart));
    if (int percent = static_cast<int>(100 * since(t0) / opts.duration);
        progress && percent != shown && percent <= 100) {
      std::fprintf(stderr, "\rsoma bench: %3d%% (%zu runs)", percent, r.latencies.size());
      shown = percent;
    }
  }
  r.timed = since(t0);
  if (progress)
    std::fprintf(stderr, "\r%40s\r", "");
  std::sort(r.latencies.begin(), r.latencies.end());
  if (opts.profile)
    r.steps = api::describeServing(*model).steps;
  if (opts.json)
    printJson(opts, r);
  else
    printText(opts, r);
  return 0;
}

} // namespace soma::cli
