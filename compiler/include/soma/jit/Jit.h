// The LLVM JIT, seen from outside: no LLVM types here, so the public API and
// the tools can include it cheaply. The graph is lowered to one kernel per
// op (compiler/codegen), optimised for the target, and compiled with ORC
// LLJIT; the kernels come back as plain function pointers for the runtime.
#pragma once

#include "soma/ir/Graph.h"
#include "soma/runtime/Program.h"
#include "soma/support/Expected.h"
#include "soma/support/Machine.h"

#include <memory>
#include <string>
#include <vector>

namespace soma::jit {

struct TargetOptions {
  /// CPU name for LLVM ("znver4", "haswell"); empty means the host's.
  std::string cpu;
  /// LLVM feature string ("+avx2,+fma,-avx512f"); applied after the CPU's
  /// (or the host's) own features.
  std::string features;
  /// The code runs in this process (the JIT): every feature of the target
  /// must be one this machine has. False to only emit code, which may be
  /// for another machine.
  bool runsHere = true;
  /// The target triple ("aarch64-linux-gnu"); empty means this machine's.
  /// soma generates code for x86-64 and aarch64 Linux (ELF); code for
  /// another machine is only emitted (runsHere must be false), for its
  /// generic CPU unless `cpu` names one, never with this machine's
  /// features.
  std::string triple;
};

enum class TargetArch { X86_64, AArch64 };

/// The resolved target: what the code is generated for.
struct TargetInfo {
  std::string triple; // normalized: "aarch64-unknown-linux-gnu"
  TargetArch arch = TargetArch::X86_64;
  /// The triple is this machine's architecture (the JIT may run its code).
  bool native = true;
  std::string cpu;
  /// `cpu` was named (--mcpu), not this machine's or the generic one.
  bool cpuNamed = false;
  std::string features; // the full feature string
  /// What the code needs of a CPU: the instruction-set features it may use
  /// that runtime/CpuFeatures.h can look for, comma-separated ("sse2,...,
  /// avx512f,..."; aarch64: "fp-armv8,neon", with "sve" when asked).
  std::string requiredFeatures;
  /// f32 lanes of the vectors the kernels are generated for: 16 (AVX-512),
  /// 8 (AVX), or 4 (SSE; NEON, and with SVE too: soma's vectors are
  /// fixed-width, 128 bits on aarch64).
  int vectorWidth = 4;
};

/// An error for a triple, CPU or feature LLVM does not know, a target soma
/// cannot generate code for (neither x86-64 nor aarch64 Linux, x86-64
/// without SSE2, aarch64 without NEON, soft-float, a mode feature), code
/// for another machine that should run here (options.runsHere), and
/// (options.runsHere) a feature this machine lacks.
Expected<TargetInfo> resolveTarget(const TargetOptions &options);

/// The machine model the schedules of `target` are planned for: for this
/// machine's triple, the modelled CPU named by --mcpu or this machine's
/// own (detected and measured); for another machine, the modelled CPU or
/// that architecture's generic one (support/Machine.h foreignMachine),
/// never this machine's measurements. Its vector width is the target's.
MachineInfo planningMachine(const TargetInfo &target);

/// What LLVM knows for `triple` (empty: this machine's), for --mcpu=help
/// and --mattr=help: the CPU names and the features (name, description),
/// in LLVM's (alphabetical) order, and the default CPU (this machine's, or
/// "generic" for another triple).
struct TargetNames {
  std::string triple, hostCpu;
  std::vector<std::string> cpus;
  std::vector<std::pair<std::string, std::string>> features;
};
Expected<TargetNames> targetNames(const std::string &triple = {});

/// What the lowering needs besides the graph: the slot of every op's value
/// (index in graph.ops; -1 for none). For linear/dense/dense_add ops the
/// weights operand's slot holds panels packed with runtime::packPanels at
/// the op's schedule's panel width, and the bias slot a vector padded to a
/// whole panel. For ops with a "sparse" schedule the weights slot holds
/// runtime::packSparse's groups of the schedule's vector width, and
/// scratchOf[i] is a Temp slot of runtime::sparseScratchPerSample floats
/// per sample that the kernel uses as its own scratch (-1 for other ops; may be empty); when
/// that schedule's lone samples run the packed kernel (lone = "packed"),
/// panelsOf[i] is a Constant slot of the weights packed with
/// runtime::packPanels in panels of one vector (-1 otherwise; may be
/// empty).
///
/// A chain of sparse kernels passes its activations feature-major: when
/// op i's value feeds only the x operand of one other sparse kernel of the
/// same vector width, featureMajorOut[i] is set (op i stores each full
/// block of V samples as V-float vectors of one neuron, [neuron][sample],
/// in the block's own V rows) and so is featureMajorIn of its user (which
/// reads those blocks as they are instead of transposing them); partial
/// blocks and lone samples stay sample-major. Either may be empty.
///
/// `lowered[i]`: whether op i gets a kernel in this module (the ops the
/// JIT's kernel families run); empty: every op but inputs and constants.
///
/// Kernel sharing (shareKernels): when views[i] is not empty, op i's kernel
/// reads its slots through that view (runtime::Step::view: its slot k is
/// the program's slot views[i][k]), and kernelOf[i] names the op whose
/// kernel it runs (i itself, or an earlier op whose kernel is the same
/// code). Both may be empty: every kernel of its own, on the slot table.
struct LoweringPlan {
  std::vector<bool> lowered;
  std::vector<int> slotOf;
  std::vector<int> scratchOf;
  std::vector<int> panelsOf;
  std::vector<bool> featureMajorIn;
  std::vector<bool> featureMajorOut;
  std::vector<std::vector<int>> views;
  std::vector<int> kernelOf;
};

/// Whether `plan` lowers op `i` of `graph`.
bool lowers(const LoweringPlan &plan, const ir::Graph &graph, size_t i);

/// Fills plan.views and plan.kernelOf (the rest of `plan` set): every op
/// with few enough slots gets a view, and an op whose kernel would be the
/// same code as an earlier op's (same kind, types, attributes, schedule,
/// plan flags and pattern of coinciding slots; never a sparse kernel,
/// whose code may hold its weights) runs that op's kernel. A chain of
/// 100,000 equal layers compiles one kernel.
void shareKernels(const ir::Graph &graph, LoweringPlan &plan);

/// The op whose kernel op i runs (kernelOf, or i).
size_t kernelOwner(const LoweringPlan &plan, size_t i);

/// Where compile time went, for --time-passes.
struct CompileTimes {
  double lowerSeconds = 0, optimizeSeconds = 0, codegenSeconds = 0;
};

/// Keeps generated code alive; destroying it frees the code (its ORC
/// resource tracker is removed).
class CompiledCode {
public:
  virtual ~CompiledCode();
};

struct JitResult {
  std::unique_ptr<CompiledCode> code;
  /// Per op (index in graph.ops): its kernel (maybe shared, LoweringPlan),
  /// or null for inputs/consts.
  std::vector<runtime::KernelFn> kernels;
};

/// Lowers, optimises (LLVM O0 for optLevel 0, else O2/O3) and compiles.
Expected<JitResult> compileGraph(const ir::Graph &graph, const LoweringPlan &plan,
                                 const TargetInfo &target, int optLevel,
                                 CompileTimes *times = nullptr);

enum class EmitKind { LLVMIR, Assembly, Object };

/// The optimised module as LLVM IR text, assembly or an ELF object.
Expected<std::string> emitGraph(const ir::Graph &graph, const LoweringPlan &plan,
                                const TargetInfo &target, int optLevel, EmitKind kind);

/// What a bundle's object holds beside its kernels (runtime/BundleFormat.h).
struct BundleSpec {
  /// The prefix of its C symbols: `prefix`_bundle, _load, _run.
  std::string prefix;
  std::string networkName;
  std::string plan;
  /// Embedded weights; empty with `weightsFile`.
  std::string weights;
  uint64_t weightsSize = 0, weightsId = 0;
  /// --weights=external: the file's name; empty: embedded.
  std::string weightsFile;
  /// The op of each kernel table entry, in order.
  std::vector<size_t> kernelOps;
  size_t inputs = 0, outputs = 0;
  /// The descriptor's arch, cpu and features: what the code needs of a CPU.
  std::string arch, cpu, features;
};

/// The bundle's object file: the kernels of `plan` (position-independent,
/// local symbols), the kernel table, plan and weights in read-only data,
/// the descriptor `prefix`_bundle, and the entry points `prefix`_load and
/// `prefix`_run (see the header api/Bundle.cpp writes).
Expected<std::string> emitBundleObject(const ir::Graph &graph, const LoweringPlan &plan,
                                       const TargetInfo &target, int optLevel,
                                       const BundleSpec &spec);

/// The name of op i's kernel in generated code.
std::string kernelName(const ir::Graph &graph, size_t opIndex);

} // namespace soma::jit
