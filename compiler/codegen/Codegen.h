// Builds the LLVM module for a graph: one kernel function per op.
// Internal to codegen/jit (includes LLVM).
#pragma once

#include "soma/jit/Jit.h"

#include <llvm/IR/Module.h>

#include <memory>
#include <unordered_map>

namespace soma::codegen {

/// The slot holding each op's value (LoweringPlan::slotOf by op).
using SlotMap = std::unordered_map<const ir::Op *, int>;
SlotMap slotMap(const ir::Graph &graph, const jit::LoweringPlan &plan);

/// The kernels of ops [begin, end) (of every op by default): the JIT
/// compiles a big graph in pieces, one module each (jit::compileGraph),
/// with one slot map for all of them (`slots`, slotMap(graph, plan)).
std::unique_ptr<llvm::Module> buildModule(llvm::LLVMContext &ctx, const ir::Graph &graph,
                                          const jit::LoweringPlan &plan, const SlotMap &slots,
                                          const jit::TargetInfo &target, size_t begin = 0,
                                          size_t end = SIZE_MAX);

} // namespace soma::codegen
