// Parser for the IR's textual form (see docs/ir.md).
#pragma once

#include "soma/ir/Graph.h"
#include "soma/support/Diagnostics.h"

#include <memory>

namespace soma::ir {

/// Parses the IR text in buffer `file`. Types are kept as written; the
/// verifier and the infer-shapes pass check them. Returns null after
/// emitting diagnostics.
std::unique_ptr<Graph> parseGraph(uint32_t file, const SourceManager &sm, DiagnosticEngine &diags);

/// True when the buffer looks like IR text (starts with `graph`) rather than
/// the network language.
bool looksLikeIR(std::string_view text);

} // namespace soma::ir
