// The reference interpreter: plain scalar loops with double accumulation,
// written to be obviously right. It is the oracle every engine, kernel and
// pass is tested against, so it favours clarity over speed.
#pragma once

#include "soma/ir/Evaluate.h"
#include "soma/ir/Graph.h"
#include "soma/support/Expected.h"
#include "soma/support/Tensor.h"

#include <string>
#include <vector>

namespace soma::runtime {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

/// The activation in double precision and its row-wise form: the IR's
/// reference semantics (soma/ir/Evaluate.h), named here for the engines'
/// tests that compare against them.
using ir::referenceActivation;
using ir::referenceActivationRows;

class Interpreter {
public:
  /// The graph must be verified; it is borrowed and must outlive this.
  explicit Interpreter(const ir::Graph &graph) : graph(graph) {}

  /// Runs one batch. Every graph input must be given once, shaped
  /// [N, dims...] with the same N for all; outputs come back in the graph's
  /// output order, shaped [N, dims...].
  Expected<std::vector<NamedTensor>> run(const std::vector<NamedTensor> &inputs) const;

private:
  const ir::Graph &graph;
};

} // namespace soma::runtime
