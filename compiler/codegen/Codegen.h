// Builds the LLVM module for a graph: one kernel function per op.
// Internal to codegen/jit (includes LLVM).
#pragma once

#include "soma/jit/Jit.h"

#include <llvm/IR/Module.h>

#include <memory>

namespace soma::codegen {

/// The kernels of ops [begin, end) (of every op by default): the JIT
/// compiles a big graph in pieces, one module each (jit::compileGraph).
std::unique_ptr<llvm::Module> buildModule(llvm::LLVMContext &ctx, const ir::Graph &graph,
                                          const jit::LoweringPlan &plan,
                                          const jit::TargetInfo &target, size_t begin = 0,
                                          size_t end = SIZE_MAX);

} // namespace soma::codegen
