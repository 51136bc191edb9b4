// The numerical contract, checked: runs the network on the reference
// interpreter before the pipeline and after every pass, and names the first
// pass whose outputs drift beyond its tolerance class (PassInfo::tolerance,
// Passes.def's column for a registered pass). soma-opt --check-numerics
// plugs it into the pipeline as PipelineOptions::observer.
#pragma once

#include "soma/passes/Passes.h"
#include "soma/runtime/Interpreter.h"

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace soma::cli {

/// `batch` samples for every input of `graph`, uniform in [-1, 1), from a
/// generator seeded with `seed` (the same numbers on every platform).
std::vector<runtime::NamedTensor> randomInputs(const ir::Graph &graph, uint64_t seed,
                                               int64_t batch = 4);

class NumericsChecker : public passes::PassObserver {
public:
  /// `log`, when given, gets one line per pass with its largest drift.
  NumericsChecker(std::vector<runtime::NamedTensor> inputs, DiagnosticEngine &diags,
                  std::ostream *log = nullptr)
      : inputs(std::move(inputs)), diags(diags), log(log) {}

  /// Records the outputs of `graph` before any pass runs.
  bool start(const ir::Graph &graph);
  /// After `pass` turned the graph into `graph`: compares its outputs with
  /// the previous ones; false (with an error naming the pass) on drift.
  bool afterPass(const passes::PassInfo &pass, const ir::Graph &graph) override;

private:
  bool evaluate(const ir::Graph &graph, const std::string &after,
                std::vector<runtime::NamedTensor> &outputs);

  std::vector<runtime::NamedTensor> inputs;
  DiagnosticEngine &diags;
  std::ostream *log;
  std::vector<runtime::NamedTensor> previous;
};

} // namespace soma::cli
