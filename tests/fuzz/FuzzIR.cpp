// libFuzzer harness: the graph IR text (ir::parseGraph, ir::verifyGraph).
// Oracles: no crash, hang or sanitizer report; a rejected input has an
// error; a graph that parses and verifies prints as IR that parses back,
// verifies and prints identically (FuzzSupport.h).
#include "FuzzSupport.h"

#include "soma/ir/Parser.h"
#include "soma/ir/Verifier.h"
#include "soma/support/Diagnostics.h"
#include "soma/support/SourceManager.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace soma;
  SourceManager sm;
  uint32_t file = sm.addBuffer("fuzz.sir", std::string(fuzz::asText(data, size)));
  DiagnosticEngine diags(sm);
  std::unique_ptr<ir::Graph> graph = ir::parseGraph(file, sm, diags);
  if (!graph) {
    fuzz::check(diags.hasErrors(), "parseGraph failed without an error");
    (void)diags.renderToString();
    return 0;
  }
  fuzz::check(!diags.hasErrors(), "parseGraph gave a graph and errors", diags.renderToString());
  bool verified = ir::verifyGraph(*graph, diags);
  (void)diags.renderToString();
  if (!verified) {
    fuzz::check(diags.hasErrors(), "verifyGraph failed without an error");
    return 0;
  }
  if (fuzz::smallEnough(*graph))
    fuzz::checkRoundTrip(*graph);
  return 0;
}
