// The vec engine: an optimised graph turned into a Program whose steps call
// the xsimd kernels (Kernels.h), run by the same Executor as the JIT's
// code. Lives in soma_runtime, which links no LLVM: an application can run
// a model on this engine without the JIT.
#pragma once

#include "soma/ir/Graph.h"
#include "soma/runtime/Program.h"
#include "soma/support/Expected.h"

namespace soma::runtime {

/// Values that depend on no input are computed once by the reference
/// interpreter and become constants (both engines run only batched ops).
void foldUnbatched(ir::Graph &graph);

/// Builds the vec engine's program for `graph`, which must be checked
/// (types inferred). Folds unbatched values first (so it changes `graph`);
/// dense weights are packed once at the kernels' panel width for this CPU.
/// Every step is a ContextKernelFn whose context holds the slot numbers it
/// reads and writes and the op's sizes and parameters; tiles come from
/// planTiles. An error names an op the engine cannot run.
Expected<Program> buildVecProgram(ir::Graph &graph);

} // namespace soma::runtime
