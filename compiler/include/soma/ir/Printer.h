// The IR's textual form. `parseGraph` reads back what `printGraph` writes
// (with constants printed in full), giving the same graph.
#pragma once

#include "soma/ir/Graph.h"

#include <iosfwd>
#include <string>

namespace soma::ir {

struct PrintOptions {
  /// Constants with more elements than this print as `elided`, which the
  /// parser refuses; 0 prints every constant in full.
  int64_t elideConstantsAbove = 0;
  /// Print source locations as `loc("file":line:col)` after each op.
  bool printLocations = false;
};

void printGraph(const Graph &graph, std::ostream &os, const PrintOptions &options = {});
std::string printGraphToString(const Graph &graph, const PrintOptions &options = {});
/// Shortest text that reads back to the same float ("0.78", "1e-05", "inf").
std::string formatFloat(float value);
/// An attribute's value as the text form writes it after `name =`: relu,
/// leaky_relu(alpha = 0.01), 1e-05, 3, [2, 2], "spelling".
std::string formatAttrValue(const AttrInfo &info, const AttrValue &value);

} // namespace soma::ir
