// Builds the LLVM module for a graph: one kernel function per op.
// Internal to codegen/jit (includes LLVM).
#pragma once

#include "soma/jit/Jit.h"

#include <llvm/IR/Module.h>

#include <memory>

namespace soma::codegen {

std::unique_ptr<llvm::Module> buildModule(llvm::LLVMContext &ctx, const ir::Graph &graph,
                                          const jit::LoweringPlan &plan,
                                          const jit::TargetInfo &target);

} // namespace soma::codegen
