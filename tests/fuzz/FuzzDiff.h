// The differential oracle of the pipeline and JIT harnesses: an f32 engine's
// outputs against the reference interpreter's, element by element, within
// a forward error bound carried through the graph (docs/testing.md,
// "Robustness").
#pragma once

#include "soma/ir/Graph.h"
#include "soma/runtime/Interpreter.h"

#include <string>
#include <vector>

namespace soma::fuzz {

/// Every value of `graph` (verified, types known) on `inputs`, evaluated as
/// the interpreter does (ir::evaluateOp), with a bound, per element, on how
/// far an f32 engine's result may be from it: each op passes its operands'
/// bounds on through its derivative (a Lipschitz constant for activations)
/// and adds the engine's own rounding (a weighted sum of K products: (K + 2)
/// u times the sum of the magnitudes; transcendental functions: 4e-6 of the
/// result) and the interpreter's (u of the result). The bound is infinite,
/// so the element is not compared, where the values leave the range an f32
/// engine is held to (above 1e30: overflow is not yet in the numerical
/// contract, issue 19 N1/N2), where a step activation's input is within its
/// bound of the threshold, and for ops this oracle does not model.
struct Bounded {
  Tensor value;
  bool batched = false;
  std::vector<double> bound;
};
std::vector<Bounded> evaluateWithBounds(const ir::Graph &graph,
                                        const std::vector<runtime::NamedTensor> &inputs,
                                        int64_t batch);

/// Runs the oracle: `outputs` (an engine's, in graph.outputs order) must lie
/// within twice the bound of the interpreter's values; aborts with both
/// values, the bound and `source` otherwise.
void checkOutputs(const ir::Graph &graph, const std::vector<runtime::NamedTensor> &inputs,
                  int64_t batch, const std::vector<std::vector<float>> &outputs,
                  const std::string &engine, const std::string &source);

} // namespace soma::fuzz

namespace soma {
class Model;
}

namespace soma::fuzz {

/// `batch` samples for every input of `graph`, uniform in [-1, 1), from a
/// generator seeded with `seed`.
std::vector<runtime::NamedTensor> randomInputs(const ir::Graph &graph, int64_t batch,
                                               uint64_t seed);

/// Runs `model` on `inputs` through the public API; the outputs in the
/// model's output order. A run that fails aborts (a verified graph with
/// valid buffers must run).
std::vector<std::vector<float>> runModel(const Model &model,
                                         const std::vector<runtime::NamedTensor> &inputs,
                                         int64_t batch, const std::string &source);

} // namespace soma::fuzz
