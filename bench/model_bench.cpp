// soma's side of `bench/run models` (bench/models.py): compiles one ONNX
// model through the public API (Model::compileFile, Engine::Auto, the given
// thread count), waits for the JIT, then for each batch runs it once on the
// first BATCH samples of the input file, writes that output for the driver
// to check against its reference, and times further runs of the same call.
//
//   soma_model_bench MODEL.onnx THREADS INPUT.f32 OUT_PREFIX MIN_SECONDS BATCH...
//
// INPUT.f32 holds raw float32 samples of the model's one input (as many as
// the largest BATCH). For each BATCH the output goes to
// OUT_PREFIX-b<BATCH>.f32, and one JSON line to stdout: the engine the
// timed runs were on, compile and JIT-ready times (seconds since
// compileFile was called) and the wall time of every timed run (at least
// 3, and at least MIN_SECONDS in all). The driver discards the times of a
// batch whose output does not match its reference.
#include "soma/soma.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

using namespace soma;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool readFloats(const std::string &path, std::vector<float> &out) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in)
    return false;
  std::streamsize bytes = in.tellg();
  if (bytes % static_cast<std::streamsize>(sizeof(float)) != 0)
    return false;
  out.resize(static_cast<size_t>(bytes) / sizeof(float));
  in.seekg(0);
  return static_cast<bool>(
      in.read(reinterpret_cast<char *>(out.data()), bytes)); // NOLINT: raw f32 file
}

int64_t product(const std::vector<int64_t> &dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

int fail(const std::string &message) {
  std::cerr << "soma_model_bench: " << message << "\n";
  return 1;
}

struct Args {
  std::string model, input, outPrefix;
  int threads = 1;
  double minSeconds = 1;
  std::vector<int64_t> batches;
};

/// Runs and times one batch; returns false (with a message) on failure.
bool benchBatch(const Model &model, const Args &args, const std::vector<float> &x, int64_t batch,
                std::string &json) {
  const TensorInfo &in = model.inputs()[0], &outInfo = model.outputs()[0];
  std::vector<int64_t> inShape = {batch}, outShape = {batch};
  inShape.insert(inShape.end(), in.shape.begin(), in.shape.end());
  outShape.insert(outShape.end(), outInfo.shape.begin(), outInfo.shape.end());
  if (static_cast<int64_t>(x.size()) < product(inShape)) {
    std::cerr << "soma_model_bench: " << args.input << " holds fewer than " << batch
              << " samples\n";
    return false;
  }
  std::vector<float> y(static_cast<size_t>(product(outShape)));
  std::vector<InputBuffer> ins = {{in.name, x.data(), inShape}};
  std::vector<OutputBuffer> outs = {{outInfo.name, y.data(), outShape}};
  if (Status s = model.run(ins, outs); !s) {
    std::cerr << s.message();
    return false;
  }
  const std::string outPath = args.outPrefix + "-b" + std::to_string(batch) + ".f32";
  std::ofstream(outPath, std::ios::binary)
      .write(reinterpret_cast<const char *>(y.data()), // NOLINT: raw f32 file
             static_cast<std::streamsize>(y.size() * sizeof(float)));
  std::vector<double> times;
  Clock::time_point start = Clock::now();
  while (times.size() < 3 || since(start) < args.minSeconds) {
    Clock::time_point t0 = Clock::now();
    if (Status s = model.run(ins, outs); !s) {
      std::cerr << s.message();
      return false;
    }
    times.push_back(since(t0));
  }
  json = "\"batch\": " + std::to_string(batch) + ", \"output\": \"" + outPath + "\", \"times\": [";
  char number[32];
  for (size_t i = 0; i < times.size(); ++i) {
    std::snprintf(number, sizeof number, "%.9g", times[i]); // to the nanosecond
    json += (i ? ", " : "") + std::string(number);
  }
  json += "]";
  return true;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 7)
    return fail("usage: soma_model_bench MODEL.onnx THREADS INPUT.f32 OUT_PREFIX MIN_SECONDS "
                "BATCH...");
  Args args;
  args.model = argv[1];
  args.threads = std::atoi(argv[2]);
  args.input = argv[3];
  args.outPrefix = argv[4];
  args.minSeconds = std::atof(argv[5]);
  for (int i = 6; i < argc; ++i)
    args.batches.push_back(std::atoll(argv[i]));
  std::vector<float> x;
  if (!readFloats(args.input, x))
    return fail("cannot read raw float32 samples from " + args.input);
  CompileOptions options;
  options.engine = Engine::Auto;
  options.threads = args.threads;
  Clock::time_point start = Clock::now();
  Result<Model> model = Model::compileFile(args.model, options);
  if (!model)
    return fail("compiling " + args.model + " failed:\n" + model.error());
  const double compile = since(start);
  if (Status s = model->waitForJit(); !s)
    std::cerr << "soma_model_bench: the JIT compile failed; timing the vec engine\n" << s.message();
  const double jitReady = since(start);
  if (model->inputs().size() != 1 || model->outputs().empty())
    return fail(args.model + ": the benchmark takes models with one input");
  for (int64_t batch : args.batches) {
    std::string json;
    if (!benchBatch(*model, args, x, batch, json))
      return 1;
    std::printf("{\"impl\": \"soma\", \"engine\": \"%s\", \"threads\": %d, \"compile_s\": %.6f, "
                "\"ready_s\": %.6f, %s}\n",
                name(model->activeEngine()), args.threads, compile, jitReady, json.c_str());
    std::fflush(stdout);
  }
  return 0;
}
