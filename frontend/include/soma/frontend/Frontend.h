// The frontend's entry points: .nn text in, a checked graph IR out.
#pragma once

#include "soma/frontend/AST.h"
#include "soma/ir/Graph.h"
#include "soma/support/Diagnostics.h"
#include "soma/support/Expected.h"

#include <memory>
#include <optional>

namespace soma::frontend {

/// Parses a .nn buffer into a syntax tree, recovering at statement starts
/// so several errors can be reported. Empty when nothing usable was parsed.
std::optional<Network> parseNetwork(uint32_t file, const SourceManager &sm,
                                    DiagnosticEngine &diags);

/// Checks a syntax tree (names, order, shapes, weights) and builds the graph
/// IR. Weight files are resolved relative to `baseDir`. Returns null after
/// emitting errors.
std::unique_ptr<ir::Graph> buildGraph(const Network &network, const std::string &baseDir,
                                      DiagnosticEngine &diags);

/// Reads `path` into `sm`: the buffer id, or an error for a missing file.
Expected<uint32_t> loadSourceFile(const std::string &path, SourceManager &sm);

/// Parses and checks a buffer holding either the network language or IR
/// text (detected by its first word), giving a verified graph or null.
std::unique_ptr<ir::Graph> loadGraph(uint32_t file, SourceManager &sm, DiagnosticEngine &diags);

} // namespace soma::frontend
