// dce: removes every op that no graph output depends on. Inputs are kept
// even when unused, because they are the network's calling interface.
#include "soma/passes/Passes.h"

namespace soma::passes {

bool eliminateDeadOps(ir::Graph &graph, PassContext &ctx) {
  size_t removed = graph.removeDeadOps();
  if (removed)
    ctx.count("dce.ops-removed", static_cast<int64_t>(removed));
  return true;
}

} // namespace soma::passes
