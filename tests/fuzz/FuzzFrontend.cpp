// libFuzzer harness: the network language (frontend::parseNetwork and
// buildGraph). Oracles: no crash, hang or sanitizer report; an input the
// frontend rejects has an error; a graph it builds verifies and round-trips
// through the IR printer and parser (FuzzSupport.h).
#include "FuzzSupport.h"

#include "soma/frontend/Frontend.h"
#include "soma/ir/Verifier.h"
#include "soma/support/Diagnostics.h"
#include "soma/support/SourceManager.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace soma;
  SourceManager sm;
  uint32_t file = sm.addBuffer("fuzz.nn", std::string(fuzz::asText(data, size)));
  DiagnosticEngine diags(sm);
  std::optional<frontend::Network> net = frontend::parseNetwork(file, sm, diags);
  if (!net || diags.hasErrors()) {
    fuzz::check(diags.hasErrors() || !net, "parse failed without an error");
    (void)diags.renderToString();
    return 0;
  }
  // Weight files resolve against an empty directory: only absolute paths
  // reach a file.
  // Limits far below the defaults keep every execution small and fast; the
  // limits themselves are what the fuzzer then exercises.
  std::unique_ptr<ir::Graph> graph =
      frontend::buildGraph(*net, "/nonexistent-soma-fuzz", diags, fuzz::kFuzzLimits);
  std::string rendered = diags.renderToString();
  if (!graph) {
    fuzz::check(diags.hasErrors(), "buildGraph failed without an error");
    return 0;
  }
  fuzz::check(!diags.hasErrors(), "buildGraph gave a graph and errors", rendered);
  fuzz::check(ir::verifyGraph(*graph, diags), "the frontend built a graph that does not verify",
              diags.renderToString());
  if (fuzz::smallEnough(*graph))
    fuzz::checkRoundTrip(*graph);
  return 0;
}
