// Shape rules for every op kind, in one place: the frontend uses them while
// building a graph, the infer-shapes pass and the verifier re-run them.
#pragma once

#include "soma/ir/Graph.h"
#include "soma/support/Diagnostics.h"

namespace soma::ir {

/// Computes the result type of `op` from its operands' types. On a mismatch
/// emits an error at op.loc and returns an unknown type.
TensorType inferResultType(const Op &op, DiagnosticEngine &diags);

} // namespace soma::ir
