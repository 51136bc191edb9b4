// Graphviz output: layers as boxes with their shapes and activations, so a
// network can be looked at rather than read.
#pragma once

#include "soma/ir/Graph.h"

#include <iosfwd>

namespace soma::ir {

void printDot(const Graph &graph, std::ostream &os);

} // namespace soma::ir
