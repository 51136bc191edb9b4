// Parser for the IR's textual form (see docs/ir.md).
#pragma once

#include "soma/ir/Graph.h"
#include "soma/support/Diagnostics.h"

#include <memory>
#include <optional>

namespace soma::ir {

/// Parses the IR text in buffer `file`. Types are kept as written; the
/// verifier and the infer-shapes pass check them. Returns null after
/// emitting diagnostics.
std::unique_ptr<Graph> parseGraph(uint32_t file, const SourceManager &sm, DiagnosticEngine &diags);

/// Parses buffer `file` as one value of the attribute `info`, written as
/// after `name =` in IR text (formatAttrValue's form). Returns nullopt after
/// emitting diagnostics.
std::optional<AttrValue> parseAttrValue(const AttrInfo &info, uint32_t file,
                                        const SourceManager &sm, DiagnosticEngine &diags);

/// True when the buffer looks like IR text (starts with `graph`) rather than
/// the network language.
bool looksLikeIR(std::string_view text);

} // namespace soma::ir
