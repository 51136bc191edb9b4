#include "FuzzSupport.h"

#include "soma/ir/Parser.h"
#include "soma/ir/Printer.h"
#include "soma/ir/Verifier.h"
#include "soma/support/Diagnostics.h"
#include "soma/support/SourceManager.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace soma::fuzz {

void fail(const std::string &what, const std::string &detail) {
  std::fprintf(stderr, "soma fuzz oracle: %s\n%s\n", what.c_str(), detail.c_str());
  std::fflush(stderr);
  std::abort();
}

int64_t constantElements(const ir::Graph &graph) {
  int64_t n = 0;
  for (const auto &op : graph.ops)
    if (op->data)
      n += static_cast<int64_t>(op->data->values.size());
  return n;
}

bool smallEnough(const ir::Graph &graph) {
  if (constantElements(graph) > (int64_t(1) << 16))
    return false;
  return std::all_of(graph.ops.begin(), graph.ops.end(), [](const auto &op) {
    return !op->type.known || op->type.sampleElements() <= (int64_t(1) << 14);
  });
}

void checkRoundTrip(const ir::Graph &graph) {
  std::string first = ir::printGraphToString(graph);
  SourceManager sm;
  uint32_t file = sm.addBuffer("roundtrip.sir", first);
  DiagnosticEngine diags(sm);
  std::unique_ptr<ir::Graph> again = ir::parseGraph(file, sm, diags);
  check(again && !diags.hasErrors(), "printed IR does not parse back",
        diags.renderToString() + "--- printed IR:\n" + first);
  check(ir::verifyGraph(*again, diags), "printed IR does not verify",
        diags.renderToString() + "--- printed IR:\n" + first);
  std::string second = ir::printGraphToString(*again);
  check(second == first, "printed IR prints differently after a round trip",
        "--- first:\n" + first + "--- second:\n" + second);
}

uint64_t hashBytes(const uint8_t *data, size_t size) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i)
    h = (h ^ data[i]) * 1099511628211ull;
  return h;
}

} // namespace soma::fuzz
