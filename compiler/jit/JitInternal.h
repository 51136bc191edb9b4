// What the JIT's files share: building the optimised module of a graph.
// Internal to compiler/jit (includes LLVM).
#pragma once

#include "../codegen/Codegen.h"
#include "soma/jit/Jit.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <string>

namespace soma::jit {

struct BuiltModule {
  std::unique_ptr<llvm::LLVMContext> ctx;
  std::unique_ptr<llvm::Module> module;
  std::unique_ptr<llvm::TargetMachine> tm;
  /// The first error LLVM reported while optimising or generating code.
  std::shared_ptr<std::string> llvmError = std::make_shared<std::string>();

  Expected<bool> checkLLVM() const;
};

/// Lowers ops [begin, end) of `graph` (its slots: codegen::slotMap) and
/// optimises the module; `pic`: position-independent code (for a shared
/// library).
Expected<BuiltModule> buildOptimized(const ir::Graph &graph, const LoweringPlan &plan,
                                     const codegen::SlotMap &slots, const TargetInfo &target,
                                     int optLevel, CompileTimes *times, size_t begin, size_t end,
                                     bool pic);

} // namespace soma::jit
