// The vec engine: the kernel families whose steps call soma's xsimd kernels
// (Kernels.h), run by the same Executor as the JIT's code, and the
// interpreter's kernels as the family of last resort. Lives in
// soma_runtime, which links no LLVM: an application can run a model on
// this engine without the JIT.
#pragma once

#include "soma/ir/Graph.h"
#include "soma/runtime/Program.h"
#include "soma/runtime/ProgramBuilder.h"
#include "soma/support/Expected.h"

#include <vector>

namespace soma::runtime {

/// The vec engine's families, in order: sparse (weighted sums with a sparse
/// schedule), dense (linear, dense, dense_add),
/// elementwise and row ops, concat, conv (vecConvFamily), pooling and
/// reshape (vecPoolFamily).
const std::vector<const KernelFamily *> &vecFamilies();

/// conv with constant filters and bias: kernels::conv (VecConvFamily.cpp).
const KernelFamily &vecConvFamily();
/// max_pool, avg_pool, global_avg_pool and reshape over row tiles, in place
/// (VecPoolFamily.cpp).
const KernelFamily &vecPoolFamily();

/// The interpreter's kernels as a family: runs every op (but input and
/// const) by ir::evaluateOp, whole rows on one thread, allocating its
/// operands' tensors on every call. Last in every target, so an op no
/// other family runs still runs.
const KernelFamily &interpFamily();

/// The vec engine: vecFamilies(), then interpFamily().
Target vecTarget();

/// Builds the vec engine's program for `graph`, which must be checked
/// (types inferred): ProgramBuilder(graph).build(vecTarget()). Changes
/// `graph` (ProgramBuilder::build). An error names an op no family runs.
Expected<Program> buildVecProgram(ir::Graph &graph);

} // namespace soma::runtime
