// The JIT as an engine for the program builder: its kernel families (the
// sparse and packed weighted sums, elementwise ops, row ops), the graph
// preparation they need (schedules for the target's vectors) and the one
// LLVM module all their kernels are compiled in. No LLVM types here.
#pragma once

#include "soma/ir/Graph.h"
#include "soma/jit/Jit.h"
#include "soma/runtime/ProgramBuilder.h"
#include "soma/support/Expected.h"

#include <memory>
#include <string>
#include <vector>

namespace soma::jit {

struct JitOptions {
  TargetOptions target;
  /// 0..3: LLVM's pipeline (Jit.h compileGraph).
  int optLevel = 2;
  /// For weighted sums that reach the JIT without a schedule for its vector
  /// width (-O0, -O1, --mcpu): the user's choice of kernel, as the schedule
  /// pass takes it.
  ir::SparsityMode sparsity = ir::SparsityMode::Auto;
};

class JitEngine {
public:
  /// Resolves the target (an error for a CPU or feature LLVM does not know).
  static Expected<std::unique_ptr<JitEngine>> create(const JitOptions &options);
  ~JitEngine();
  JitEngine(const JitEngine &) = delete;
  JitEngine &operator=(const JitEngine &) = delete;

  /// The JIT's families, then the vec engine's, then the interpreter's
  /// kernels: an op the JIT does not run runs on the next that does. The
  /// target refers to this engine, which must outlive its use.
  runtime::Target target();

  /// After ProgramBuilder::build(target()): the generated code, which the
  /// program's kernels live in (keep it as long as the program), and where
  /// compile time went.
  std::unique_ptr<CompiledCode> takeCode() { return std::move(code); }
  const CompileTimes &times() const { return compileTimes; }

  /// After ProgramBuilder::plan(target()): the module of the JIT's kernels
  /// as LLVM IR, assembly or an object file, without compiling it.
  Expected<std::string> emit(const runtime::ProgramBuilder &builder, EmitKind kind) const;

  /// After ProgramBuilder::build(target()): the bundle's object file of
  /// the same kernels (Jit.h emitBundleObject).
  Expected<std::string> emitBundle(const runtime::ProgramBuilder &builder,
                                   const BundleSpec &spec) const;
  /// After build: op i's kernel, null for ops the JIT does not run. (For
  /// another machine's triple nothing is compiled: a kernel that must
  /// never be called stands in, so the program can only be serialized.)
  const std::vector<runtime::KernelFn> &compiledKernels() const { return kernels; }
  /// After build: the op whose kernel op i runs (i itself, or the earlier
  /// op whose kernel it shares).
  size_t kernelOwnerOf(size_t op) const { return kernelOwner(plan, op); }

  const TargetInfo &targetInfo() const { return info; }

private:
  class Families;
  explicit JitEngine(const JitOptions &options, TargetInfo info);
  Expected<bool> prepareGraph(ir::Graph &graph) const;
  LoweringPlan lowering(const runtime::ProgramBuilder &builder) const;
  Expected<bool> compile(runtime::ProgramBuilder &builder);

  JitOptions options;
  TargetInfo info;
  std::unique_ptr<Families> families;
  std::unique_ptr<CompiledCode> code;
  /// Per op of the built graph: its kernel (null for ops the JIT does not run).
  std::vector<runtime::KernelFn> kernels;
  /// What the kernels were compiled for: their views and shared kernels.
  LoweringPlan plan;
  CompileTimes compileTimes;
};

} // namespace soma::jit
