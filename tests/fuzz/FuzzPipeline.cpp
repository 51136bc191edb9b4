// libFuzzer harness: the whole pipeline at -O2 without LLVM. The input is
// network text (or IR text); the -O2 graph round-trips through the IR
// printer and parser, is compiled for the interpreter and the vec engine
// through the API's own compile path, and both run a random batch. The
// differential mode (FuzzDiff.h): the interpreter engine's outputs are the
// reference evaluation's, bit for bit, and the vec engine's lie within the
// forward error bound of them.
#include "FuzzDiff.h"
#include "FuzzSupport.h"

#include "Internal.h"
#include "soma/soma.h"

#include <cmath>
#include <cstring>

namespace {

using namespace soma;

bool sameBits(const std::vector<float> &a, const AlignedVector<float> &b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::isnan(a[i]) && std::isnan(b[i])) && std::memcmp(&a[i], &b[i], sizeof(float)) != 0)
      return false;
  return true;
}

Model compileOrDie(const ir::Graph &graph, Engine engine, const std::string &source) {
  CompileOptions options;
  options.engine = engine;
  options.threads = 1;
  Result<Model> model = api::makeModel(graph.clone(), options, "", nullptr);
  fuzz::check(model.ok(), "a verified -O2 graph does not compile", model.error() + source);
  return std::move(*model);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string source(fuzz::asText(data, size));
  SourceManager sm;
  uint32_t file = sm.addBuffer("fuzz.nn", source);
  CompileOptions options;
  options.optLevel = 2;
  options.maxWeights = fuzz::kFuzzLimits.weights;
  options.maxActivations = fuzz::kFuzzLimits.activations;
  api::FrontResult front = api::compileToGraph(sm, file, options, nullptr);
  if (!front.graph) {
    fuzz::check(front.diagnostics.find("error") != std::string::npos,
                "compilation failed without an error", front.diagnostics);
    return 0;
  }
  const ir::Graph &graph = *front.graph;
  if (!fuzz::smallEnough(graph))
    return 0;
  fuzz::checkRoundTrip(graph);

  const uint64_t seed = fuzz::hashBytes(data, size);
  const int64_t batch = static_cast<int64_t>(seed % 5); // 0 to 4 samples
  std::vector<runtime::NamedTensor> inputs = fuzz::randomInputs(graph, batch, seed);
  Model interp = compileOrDie(graph, Engine::Interp, source);
  Model vec = compileOrDie(graph, Engine::Vec, source);
  for (size_t o = 0; o < graph.outputs.size(); ++o)
    fuzz::check(vec.outputs()[o].name == graph.outputs[o].name, "outputs out of order");

  std::vector<std::vector<float>> want = fuzz::runModel(interp, inputs, batch, source);
  std::vector<std::vector<float>> got = fuzz::runModel(vec, inputs, batch, source);
  std::vector<fuzz::Bounded> reference = fuzz::evaluateWithBounds(graph, inputs, batch);
  for (size_t o = 0; o < graph.outputs.size(); ++o) {
    const ir::Op *value = graph.outputs[o].value;
    for (size_t k = 0; k < graph.ops.size(); ++k)
      if (graph.ops[k].get() == value && value->type.batched)
        fuzz::check(sameBits(want[o], reference[k].value.values),
                    "the interpreter engine differs from ir::evaluateOp", source);
  }
  fuzz::checkOutputs(graph, inputs, batch, got, "vec", source);
  return 0;
}
