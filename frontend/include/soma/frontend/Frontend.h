// The frontend's entry points: .nn text in, a checked graph IR out.
#pragma once

#include "soma/frontend/AST.h"
#include "soma/ir/Graph.h"
#include "soma/support/Diagnostics.h"
#include "soma/support/Expected.h"
#include "soma/support/Limits.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace soma::frontend {

/// A tensor in an application's memory, for `tensor("NAME")` in the
/// language: row-major f32 `data` of shape `dims`, read (copied) while the
/// graph is built.
struct TensorView {
  const float *data = nullptr;
  std::vector<int64_t> dims;
};
using TensorViews = std::map<std::string, TensorView>;

/// Parses a .nn buffer into a syntax tree, recovering at statement starts
/// so several errors can be reported. Empty when nothing usable was parsed.
std::optional<Network> parseNetwork(uint32_t file, const SourceManager &sm,
                                    DiagnosticEngine &diags);

/// Checks a syntax tree (names, order, shapes, weights) and builds the graph
/// IR. Weight files are resolved relative to `baseDir`, `tensor("NAME")`
/// in `tensors` (none when null). Returns null after emitting errors. A
/// tensor that would take the model's weights past `limits.weights` is an
/// error before it is filled or read.
std::unique_ptr<ir::Graph> buildGraph(const Network &network, const std::string &baseDir,
                                      DiagnosticEngine &diags, const ModelLimits &limits = {},
                                      const TensorViews *tensors = nullptr);

/// The directory of a source file's path, against which the file's weight
/// paths resolve: "." for a bare file name.
std::string sourceDir(const std::string &path);

/// Reads `path` into `sm`: the buffer id, or an error for a missing file.
/// An ONNX model (a path ending in ".onnx") is imported: the buffer holds
/// the network in the language and `sm` its weights (OnnxImport.h).
Expected<uint32_t> loadSourceFile(const std::string &path, SourceManager &sm);

/// Parses and checks a buffer holding either the network language or IR
/// text (detected by its first word), giving a verified graph or null.
/// The graph must also keep within `limits` (checkModelLimits).
std::unique_ptr<ir::Graph> loadGraph(uint32_t file, SourceManager &sm, DiagnosticEngine &diags,
                                     const ModelLimits &limits = {},
                                     const TensorViews *tensors = nullptr);
/// Errors, at the graph, when its constants hold more than `limits.weights`
/// elements or its values more than `limits.activations` per sample; false
/// then.
bool checkModelLimits(const ir::Graph &graph, const ModelLimits &limits, DiagnosticEngine &diags);

} // namespace soma::frontend
