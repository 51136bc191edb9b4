// The JIT on ORC LLJIT. One LLJIT per target (cpu + features), created on
// first use; each compiled model gets its own JITDylib and resource
// tracker, so destroying the model frees its code.
#include "soma/jit/Jit.h"

#include "../codegen/Codegen.h"

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>

namespace soma::jit {

using namespace llvm;

CompiledCode::~CompiledCode() = default;

namespace {

void initializeLLVM() {
  static std::once_flag once;
  std::call_once(once, [] {
    InitializeNativeTarget();
    InitializeNativeTargetAsmPrinter();
    InitializeNativeTargetAsmParser();
  });
}

orc::JITTargetMachineBuilder machineBuilder(const TargetInfo &target, int optLevel) {
  orc::JITTargetMachineBuilder jtmb{Triple(target.triple)};
  jtmb.setCPU(target.cpu);
  jtmb.getFeatures() = SubtargetFeatures(target.features);
  jtmb.setCodeGenOptLevel(optLevel >= 3   ? CodeGenOptLevel::Aggressive
                          : optLevel == 0 ? CodeGenOptLevel::None
                                          : CodeGenOptLevel::Default);
  return jtmb;
}

Expected<std::unique_ptr<TargetMachine>> makeTargetMachine(const TargetInfo &target, int optLevel) {
  auto tm = machineBuilder(target, optLevel).createTargetMachine();
  if (!tm)
    return soma::Error{"cannot create a target machine for " + target.triple + " (" + target.cpu +
                       "): " + toString(tm.takeError())};
  return std::move(*tm);
}

/// The IR pipeline for a level. soma's kernels arrive already vectorised,
/// blocked and with their loops laid out, so -O1/-O2 run a short function
/// pipeline that cleans up what the lowering leaves (redundant address
/// arithmetic, loop-invariant loads, dead blocks) and skips the
/// vectorisers, the inliner and the unrollers, which find nothing to do and
/// cost most of LLVM's compile time here. -O3 runs LLVM's full O3 pipeline.
void optimize(Module &module, TargetMachine &tm, int optLevel) {
  LoopAnalysisManager lam;
  FunctionAnalysisManager fam;
  CGSCCAnalysisManager cgam;
  ModuleAnalysisManager mam;
  PassBuilder pb(&tm);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  ModulePassManager mpm;
  if (optLevel == 0) {
    mpm = pb.buildO0DefaultPipeline(OptimizationLevel::O0);
  } else if (optLevel >= 3) {
    mpm = pb.buildPerModuleDefaultPipeline(OptimizationLevel::O3);
  } else {
    llvm::Error err = pb.parsePassPipeline(
        mpm, "function(instcombine<no-verify-fixpoint>,simplifycfg,early-cse<memssa>,"
             "loop-mssa(licm),instcombine<no-verify-fixpoint>,simplifycfg)");
    if (err)
      report_fatal_error(std::move(err)); // a typo in the string above
  }
  mpm.run(module, mam);
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct BuiltModule {
  std::unique_ptr<LLVMContext> ctx;
  std::unique_ptr<Module> module;
  std::unique_ptr<TargetMachine> tm;
};

Expected<BuiltModule> buildOptimized(const ir::Graph &graph, const LoweringPlan &plan,
                                     const TargetInfo &target, int optLevel, CompileTimes *times) {
  initializeLLVM();
  auto tm = makeTargetMachine(target, optLevel);
  if (!tm)
    return soma::Error{tm.error()};
  BuiltModule built;
  built.ctx = std::make_unique<LLVMContext>();
  auto t0 = std::chrono::steady_clock::now();
  built.module = codegen::buildModule(*built.ctx, graph, plan, target);
  built.module->setDataLayout((*tm)->createDataLayout());
  if (times)
    times->lowerSeconds += secondsSince(t0);
  t0 = std::chrono::steady_clock::now();
  optimize(*built.module, **tm, optLevel);
  if (times)
    times->optimizeSeconds += secondsSince(t0);
  built.tm = std::move(*tm);
  return built;
}

/// The LLJIT for one target, shared by every model compiled for it.
struct SharedJit {
  std::unique_ptr<orc::LLJIT> jit;
  std::mutex mutex; // guards JITDylib creation and removal
};

Expected<SharedJit *> jitFor(const TargetInfo &target, int optLevel) {
  // Never destroyed: a model may be destroyed during static destruction
  // (one held in a static), after these would have been, and its code is
  // removed from its JIT then.
  static std::mutex &mutex = *new std::mutex;
  static auto &jits = *new std::map<std::string, std::unique_ptr<SharedJit>>;
  std::string key = target.cpu + "|" + target.features + "|" + std::to_string(optLevel);
  std::lock_guard<std::mutex> lock(mutex);
  auto it = jits.find(key);
  if (it != jits.end())
    return it->second.get();
  // Concurrent compilation: models may be compiled from several threads at
  // once; without it LLJIT shares one TargetMachine between them.
  auto jit = orc::LLJITBuilder()
                 .setJITTargetMachineBuilder(machineBuilder(target, optLevel))
                 .setSupportConcurrentCompilation(true)
                 .create();
  if (!jit)
    return soma::Error{"cannot create the JIT: " + toString(jit.takeError())};
  auto shared = std::make_unique<SharedJit>();
  shared->jit = std::move(*jit);
  return jits.emplace(key, std::move(shared)).first->second.get();
}

class OrcCode : public CompiledCode {
public:
  OrcCode(SharedJit *shared, orc::JITDylib *dylib) : shared(shared), dylib(dylib) {}
  ~OrcCode() override {
    std::lock_guard<std::mutex> lock(shared->mutex);
    // Removing the dylib removes its resource tracker's code and data.
    if (llvm::Error err = shared->jit->getExecutionSession().removeJITDylib(*dylib))
      consumeError(std::move(err));
  }

private:
  SharedJit *shared;
  orc::JITDylib *dylib;
};

} // namespace

bool lowers(const LoweringPlan &plan, const ir::Graph &graph, size_t i) {
  const ir::OpKind kind = graph.ops[i]->kind;
  if (kind == ir::OpKind::Input || kind == ir::OpKind::Const)
    return false;
  return plan.lowered.empty() || plan.lowered[i];
}

std::string kernelName(const ir::Graph &graph, size_t opIndex) {
  return "soma." + graph.name + "." + graph.ops[opIndex]->name;
}

Expected<TargetInfo> resolveTarget(const TargetOptions &options) {
  initializeLLVM();
  TargetInfo info;
  info.triple = sys::getProcessTriple();
  std::string err;
  const Target *target = TargetRegistry::lookupTarget(info.triple, err);
  if (!target)
    return soma::Error{"no LLVM target for " + info.triple + ": " + err};
  // The user's CPU and features are checked against a generic subtarget
  // before any subtarget is built from them: LLVM only warns on stderr about
  // a name it does not know, and ignores it.
  std::unique_ptr<MCSubtargetInfo> generic(target->createMCSubtargetInfo(info.triple, "", ""));
  if (!generic)
    return soma::Error{"no subtarget information for " + info.triple};
  info.cpu = options.cpu.empty() ? sys::getHostCPUName().str() : options.cpu;
  if (!generic->isCPUStringValid(info.cpu))
    return soma::Error{"unknown CPU '" + info.cpu + "' for " + info.triple};
  std::vector<std::string> features;
  if (options.cpu.empty())
    for (auto &f : sys::getHostCPUFeatures())
      features.push_back((f.second ? "+" : "-") + f.first().str());
  // Only the user's features need checking; the host's are LLVM's own.
  std::set<std::string> known;
  for (const SubtargetFeatureKV &kv : generic->getAllProcessorFeatures())
    known.insert(kv.Key);
  SmallVector<StringRef, 16> parts;
  StringRef(options.features).split(parts, ',', -1, false);
  for (StringRef one : parts) {
    one = one.trim();
    if (one.empty())
      continue; // "-avx512f, " or ",,"
    if (one.size() < 2 || (one[0] != '+' && one[0] != '-'))
      return soma::Error{"CPU feature '" + one.str() + "' must start with '+' or '-'"};
    if (!known.count(one.drop_front().str()))
      return soma::Error{"unknown CPU feature '" + one.drop_front().str() + "'"};
    features.push_back(one.str()); // trimmed: LLVM would ignore " -avx"
  }
  for (const std::string &f : features)
    info.features += (info.features.empty() ? "" : ",") + f;

  std::unique_ptr<MCSubtargetInfo> sti(
      target->createMCSubtargetInfo(info.triple, info.cpu, info.features));
  if (!sti)
    return soma::Error{"no subtarget information for " + info.triple + " (" + info.cpu + ")"};
  info.vectorWidth = sti->checkFeatures("+avx512f") ? 16 : sti->checkFeatures("+avx") ? 8 : 4;
  return info;
}

Expected<JitResult> compileGraph(const ir::Graph &graph, const LoweringPlan &plan,
                                 const TargetInfo &target, int optLevel, CompileTimes *times) {
  auto built = buildOptimized(graph, plan, target, optLevel, times);
  if (!built)
    return soma::Error{built.error()};
  auto shared = jitFor(target, optLevel);
  if (!shared)
    return soma::Error{shared.error()};
  SharedJit &sj = **shared;

  auto t0 = std::chrono::steady_clock::now();
  static std::atomic<uint64_t> counter{0};
  orc::JITDylib *dylib;
  {
    std::lock_guard<std::mutex> lock(sj.mutex);
    auto jd = sj.jit->createJITDylib("soma.model." + std::to_string(counter++));
    if (!jd)
      return soma::Error{"cannot create a JITDylib: " + toString(jd.takeError())};
    dylib = &*jd;
  }
  JitResult result;
  result.code = std::make_unique<OrcCode>(&sj, dylib);
  if (llvm::Error err = sj.jit->addIRModule(
          *dylib, orc::ThreadSafeModule(std::move(built->module), std::move(built->ctx))))
    return soma::Error{"cannot add the module to the JIT: " + toString(std::move(err))};
  result.kernels.assign(graph.ops.size(), nullptr);
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    if (!lowers(plan, graph, i))
      continue;
    auto addr = sj.jit->lookup(*dylib, kernelName(graph, i));
    if (!addr)
      return soma::Error{"cannot find kernel '" + kernelName(graph, i) +
                         "': " + toString(addr.takeError())};
    result.kernels[i] = addr->toPtr<runtime::KernelFn>();
  }
  if (times)
    times->codegenSeconds += secondsSince(t0);
  return result;
}

Expected<std::string> emitGraph(const ir::Graph &graph, const LoweringPlan &plan,
                                const TargetInfo &target, int optLevel, EmitKind kind) {
  auto built = buildOptimized(graph, plan, target, optLevel, nullptr);
  if (!built)
    return soma::Error{built.error()};
  std::string out;
  if (kind == EmitKind::LLVMIR) {
    raw_string_ostream os(out);
    built->module->print(os, nullptr);
    return out;
  }
  SmallVector<char, 0> buffer;
  raw_svector_ostream os(buffer);
  legacy::PassManager pm;
  if (built->tm->addPassesToEmitFile(pm, os, nullptr,
                                     kind == EmitKind::Assembly ? CodeGenFileType::AssemblyFile
                                                                : CodeGenFileType::ObjectFile))
    return soma::Error{"the target cannot emit this file type"};
  pm.run(*built->module);
  return std::string(buffer.begin(), buffer.end());
}

} // namespace soma::jit
