// libFuzzer harness: the JIT through the public API. The input is network
// text (or IR text), compiled with Model::compileString for Engine::Jit at
// an optimisation level, a sparsity mode and a vector width chosen from the
// input's hash; the model runs a random batch, and its outputs must lie
// within the forward error bound of the reference evaluation of the same
// optimised graph (FuzzDiff.h).
#include "FuzzDiff.h"
#include "FuzzSupport.h"

#include "Internal.h"
#include "soma/soma.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace soma;
  std::string source(fuzz::asText(data, size));
  const uint64_t seed = fuzz::hashBytes(data, size);
  static const char *const kFeatures[] = {"", "-avx512f", "-avx,-avx2,-fma"};
  CompileOptions options;
  options.engine = Engine::Jit;
  options.threads = 1;
  options.maxWeights = fuzz::kFuzzLimits.weights;
  options.maxActivations = fuzz::kFuzzLimits.activations;
  options.optLevel = static_cast<int>(seed % 4);
  options.sparsity = static_cast<Sparsity>((seed >> 8) % 3);
  options.features = kFeatures[(seed >> 16) % 3];

  // The reference: the same optimised graph, evaluated in double.
  SourceManager sm;
  uint32_t file = sm.addBuffer("fuzz.nn", source);
  api::FrontResult front = api::compileToGraph(sm, file, options, nullptr);
  if (!front.graph || !fuzz::smallEnough(*front.graph))
    return 0;

  Result<Model> model = Model::compileString(source, options, "fuzz.nn");
  // The JIT refuses, by design, schedules written in IR that its kernels
  // cannot run (the error says "its schedule says ..."); any other failure
  // of a graph the pipeline accepted is a finding.
  if (!model && model.error().find("its schedule says") != std::string::npos)
    return 0;
  fuzz::check(model.ok(), "a network that passes the graph pipeline does not JIT-compile",
              model.error() + "\n--- network:\n" + source);
  const ir::Graph &graph = *front.graph;
  const int64_t batch = static_cast<int64_t>((seed >> 24) % 5);
  std::vector<runtime::NamedTensor> inputs = fuzz::randomInputs(graph, batch, seed);
  std::vector<std::vector<float>> got = fuzz::runModel(*model, inputs, batch, source);
  fuzz::checkOutputs(graph, inputs, batch, got, "jit", source);
  return 0;
}
