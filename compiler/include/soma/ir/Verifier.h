// The verifier: structural invariants every pass must keep.
#pragma once

#include "soma/ir/Graph.h"
#include "soma/support/Diagnostics.h"

namespace soma::ir {

/// Checks names, operand order (each operand defined earlier), operand
/// counts, attributes, types (re-inferred and compared), constant data and
/// outputs. Emits an error per broken invariant; true when there is none.
bool verifyGraph(const Graph &graph, DiagnosticEngine &diags);

} // namespace soma::ir
