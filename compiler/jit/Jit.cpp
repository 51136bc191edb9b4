// The JIT on ORC LLJIT. One LLJIT per target (cpu + features), created on
// first use; each compiled model gets its own JITDylib and resource
// tracker, so destroying the model frees its code.
#include "soma/jit/Jit.h"

#include "JitInternal.h"

#include "../codegen/Codegen.h"
#include "soma/runtime/CpuFeatures.h"

#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/DiagnosticInfo.h>
#include <llvm/IR/DiagnosticPrinter.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include <algorithm>
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
    // Every target LLVM has (registration only): --mtriple names another
    // machine's, and an unsupported one is refused in soma's words.
    InitializeAllTargetInfos();
    InitializeAllTargets();
    InitializeAllTargetMCs();
    InitializeAllAsmPrinters();
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

Expected<std::unique_ptr<TargetMachine>> makeTargetMachine(const TargetInfo &target, int optLevel,
                                                           bool pic) {
  orc::JITTargetMachineBuilder jtmb = machineBuilder(target, optLevel);
  if (pic) // a bundle's object goes into a shared library too
    jtmb.setRelocationModel(Reloc::PIC_);
  auto tm = jtmb.createTargetMachine();
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

/// Collects LLVM's error diagnostics (an instruction the target cannot
/// select, say) instead of printing them and calling exit(1), which would
/// end a caller's process, from a background thread even.
class DiagnosticCollector final : public DiagnosticHandler {
public:
  explicit DiagnosticCollector(std::shared_ptr<std::string> errors) : errors(std::move(errors)) {}
  bool handleDiagnostics(const DiagnosticInfo &info) override {
    if (info.getSeverity() != DS_Error)
      return true; // warnings and remarks: not soma's business
    std::string text;
    raw_string_ostream os(text);
    DiagnosticPrinterRawOStream printer(os);
    info.print(printer);
    std::lock_guard<std::mutex> lock(mutex);
    if (errors->empty())
      *errors = os.str();
    return true;
  }

private:
  std::shared_ptr<std::string> errors;
  std::mutex mutex;
};

/// The most ops compiled in one LLVM module (compileGraph).
constexpr size_t kOpsPerModule = 256;

} // namespace

Expected<bool> BuiltModule::checkLLVM() const {
  if (!llvmError->empty())
    return soma::Error{"LLVM cannot generate code for this target: " + *llvmError};
  return true;
}

Expected<BuiltModule> buildOptimized(const ir::Graph &graph, const LoweringPlan &plan,
                                     const codegen::SlotMap &slots, const TargetInfo &target,
                                     int optLevel, CompileTimes *times, size_t begin, size_t end,
                                     bool pic) {
  initializeLLVM();
  auto tm = makeTargetMachine(target, optLevel, pic);
  if (!tm)
    return soma::Error{tm.error()};
  BuiltModule built;
  built.ctx = std::make_unique<LLVMContext>();
  built.ctx->setDiagnosticHandler(std::make_unique<DiagnosticCollector>(built.llvmError));
  auto t0 = std::chrono::steady_clock::now();
  built.module = codegen::buildModule(*built.ctx, graph, plan, slots, target, begin, end);
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

namespace {

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
  // Concurrent compilation: models may be compiled and linked from several
  // threads at once. (Each compile generates its object with a
  // TargetMachine of its own, compileGraph; the JIT only links it.)
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
  // No lowering exists for these: they run on the vec or interp families.
  if (kind == ir::OpKind::MaxPool || kind == ir::OpKind::AvgPool ||
      kind == ir::OpKind::GlobalAvgPool || kind == ir::OpKind::Reshape)
    return false;
  return plan.lowered.empty() || plan.lowered[i];
}

std::string kernelName(const ir::Graph &graph, size_t opIndex) {
  return "soma." + graph.name + "." + graph.ops[opIndex]->name;
}

namespace {

/// The user's feature string as a list of "+name"/"-name", each a feature
/// LLVM knows and none a mode (the triple's: soma generates 64-bit code).
Expected<std::vector<std::string>> userFeatures(const std::string &text,
                                                const MCSubtargetInfo &generic) {
  std::set<std::string> known;
  for (const SubtargetFeatureKV &kv : generic.getAllProcessorFeatures())
    known.insert(kv.Key);
  std::vector<std::string> features;
  SmallVector<StringRef, 16> parts;
  StringRef(text).split(parts, ',', -1, false);
  for (StringRef one : parts) {
    one = one.trim();
    if (one.empty())
      continue; // "-avx512f, " or ",,"
    if (one.size() < 2 || (one[0] != '+' && one[0] != '-'))
      return soma::Error{"CPU feature '" + one.str() + "' must start with '+' or '-'"};
    StringRef name = one.drop_front();
    if (!known.count(name.str()))
      return soma::Error{"unknown CPU feature '" + name.str() + "'"};
    if (name.ends_with("bit-mode"))
      return soma::Error{"CPU feature '" + name.str() +
                         "' cannot be changed: soma generates 64-bit code"};
    features.push_back(one.str()); // trimmed: LLVM would ignore " -avx"
  }
  return features;
}

/// Why LLVM cannot generate soma's code for `sti` (it would stop the
/// process with a fatal error, or fail on the first float); empty when it
/// can: x86-64 with SSE2, or aarch64 with NEON, floats in hardware.
std::string unsupported(const MCSubtargetInfo &sti, TargetArch arch, const std::string &what) {
  if (arch == TargetArch::AArch64) {
    if (!sti.checkFeatures("+neon") || !sti.checkFeatures("+fp-armv8"))
      return what + " has no NEON, which soma's code needs (every aarch64 CPU has it)";
    return {};
  }
  if (!sti.checkFeatures("+64bit"))
    return what + " is not x86-64: soma generates 64-bit code";
  if (!sti.checkFeatures("+sse2"))
    return what + " has no SSE2, which soma's code needs (every x86-64 CPU has it)";
  if (sti.checkFeatures("+soft-float"))
    return "CPU feature 'soft-float' is not supported: soma's kernels compute in hardware floats";
  return {};
}

/// The triple of `options` (this machine's when empty), normalized, and
/// its architecture; an error for one LLVM or soma cannot generate code for.
Expected<std::pair<Triple, TargetArch>> targetTriple(const std::string &text) {
  const Triple host(sys::getProcessTriple());
  if (text.empty())
    return std::pair{host,
                     host.getArch() == Triple::aarch64 ? TargetArch::AArch64 : TargetArch::X86_64};
  const Triple triple(Triple::normalize(text));
  std::string err;
  if (triple.getArch() == Triple::UnknownArch || !TargetRegistry::lookupTarget(triple.str(), err))
    return soma::Error{"unknown target triple '" + text +
                       "' (soma generates code for x86_64-linux-gnu and aarch64-linux-gnu)"};
  if (triple.getArch() != Triple::x86_64 && triple.getArch() != Triple::aarch64)
    return soma::Error{"soma cannot generate code for '" + text + "': its kernels are for " +
                       "x86_64-linux-gnu and aarch64-linux-gnu"};
  if (!triple.isOSLinux() || triple.getEnvironment() == Triple::GNUILP32 ||
      triple.getEnvironment() == Triple::GNUX32)
    return soma::Error{
        "soma cannot generate code for '" + text + "': it targets 64-bit Linux " +
        "(x86_64-linux-gnu, aarch64-linux-gnu), whose ELF objects its runtime loads"};
  return std::pair{triple,
                   triple.getArch() == Triple::aarch64 ? TargetArch::AArch64 : TargetArch::X86_64};
}

/// The features of `sti` that runtime/CpuFeatures.h can look for in a CPU
/// of `arch`, in its order: what code for `sti` needs of the CPU, which a
/// bundle records and the JIT checks this machine for. Only names LLVM
/// knows for the target are asked (it warns on stderr about others).
std::vector<std::string> cpuRequirements(const MCSubtargetInfo &sti, TargetArch arch) {
  std::set<std::string> known;
  for (const SubtargetFeatureKV &kv : sti.getAllProcessorFeatures())
    known.insert(kv.Key);
  std::vector<std::string> required;
  for (std::string_view name :
       runtime::checkableFeatures(arch == TargetArch::AArch64 ? "aarch64" : "x86_64"))
    if (known.count(std::string(name)) && sti.checkFeatures("+" + std::string(name)))
      required.emplace_back(name);
  return required;
}

std::string hostMismatch(const std::string &what, const std::vector<std::string> &missing) {
  std::string names, removal;
  for (const std::string &m : missing) {
    names += (names.empty() ? "" : ", ") + m;
    removal += (removal.empty() ? "-" : ",-") + m;
  }
  return "this machine cannot run code for " + what + ": it lacks " + names +
         " (remove them with the features '" + removal +
         "', or emit code for another machine with --emit=asm or obj)";
}

} // namespace

Expected<TargetInfo> resolveTarget(const TargetOptions &options) {
  initializeLLVM();
  auto triple = targetTriple(options.triple);
  if (!triple)
    return soma::Error{triple.error()};
  TargetInfo info;
  info.triple = triple->first.str();
  info.arch = triple->second;
  info.native = triple->first.getArch() == Triple(sys::getProcessTriple()).getArch();
  if (options.runsHere && !info.native)
    return soma::Error{"code for '" + options.triple + "' cannot run on this machine (" +
                       sys::getProcessTriple() + "): compile it with --emit=bundle, obj or asm"};
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
  // Another machine's code is for its generic CPU unless one is named:
  // nothing of this machine (its CPU or features) goes into it.
  info.cpuNamed = !options.cpu.empty();
  info.cpu = !options.cpu.empty() ? options.cpu
             : info.native        ? sys::getHostCPUName().str()
                                  : "generic";
  if (!generic->isCPUStringValid(info.cpu))
    return soma::Error{"unknown CPU '" + info.cpu + "' for " + info.triple};
  std::vector<std::string> features;
  if (options.cpu.empty() && info.native)
    for (auto &f : sys::getHostCPUFeatures())
      features.push_back((f.second ? "+" : "-") + f.first().str());
  // Only the user's features need checking; the host's are LLVM's own.
  auto user = userFeatures(options.features, *generic);
  if (!user)
    return soma::Error{user.error()};
  features.insert(features.end(), user->begin(), user->end());
  for (const std::string &f : features)
    info.features += (info.features.empty() ? "" : ",") + f;

  std::unique_ptr<MCSubtargetInfo> sti(
      target->createMCSubtargetInfo(info.triple, info.cpu, info.features));
  if (!sti)
    return soma::Error{"no subtarget information for " + info.triple + " (" + info.cpu + ")"};
  const std::string what = "CPU '" + info.cpu + "'" +
                           (options.features.empty() ? "" : " with '" + options.features + "'");
  // LLVM stops the process (report_fatal_error) on a target it cannot
  // generate code for: such a target is refused here, before it sees it.
  if (std::string why = unsupported(*sti, info.arch, what); !why.empty())
    return soma::Error{why};
  for (const std::string &f : cpuRequirements(*sti, info.arch))
    info.requiredFeatures += (info.requiredFeatures.empty() ? "" : ",") + f;
  // Code the JIT runs must use only instructions this machine has, or the
  // first run dies of SIGILL; emitted code may be for another machine (a
  // bundle checks the CPU that loads it: runtime/bundle/BundleLoader.cpp).
  if (options.runsHere)
    if (std::vector<std::string> missing = runtime::missingHostFeatures(info.requiredFeatures);
        !missing.empty()) {
      std::sort(missing.begin(), missing.end());
      return soma::Error{hostMismatch(what, missing)};
    }
  // AVX-512 without its 512-bit registers (-evex512) has 8-float vectors.
  // aarch64: NEON's 128 bits, with SVE too (soma generates fixed-width
  // vectors; LLVM may pick SVE instructions for them, at 128 bits).
  if (info.arch == TargetArch::AArch64)
    info.vectorWidth = 4;
  else
    info.vectorWidth = sti->checkFeatures("+avx512f,+evex512") ? 16
                       : sti->checkFeatures("+avx")            ? 8
                                                               : 4;
  return info;
}

MachineInfo planningMachine(const TargetInfo &target) {
  std::optional<MachineInfo> named =
      target.cpuNamed ? modelledMachine(target.cpu) : std::optional<MachineInfo>();
  MachineInfo machine = named ? *named : target.native ? hostMachine() : *genericMachine("neon");
  if (machine.vectorWidth != target.vectorWidth) { // --mattr took vectors away (or added them)
    machine.vectorWidth = target.vectorWidth;
    machine.vectorRegisters =
        target.vectorWidth == 16 || target.arch == TargetArch::AArch64 ? 32 : 16;
  }
  return machine;
}

Expected<TargetNames> targetNames(const std::string &tripleText) {
  initializeLLVM();
  auto triple = targetTriple(tripleText);
  if (!triple)
    return soma::Error{triple.error()};
  TargetNames names;
  names.triple = triple->first.str();
  const bool native = triple->first.getArch() == Triple(sys::getProcessTriple()).getArch();
  names.hostCpu = native ? sys::getHostCPUName().str() : "generic";
  std::string err;
  const Target *target = TargetRegistry::lookupTarget(names.triple, err);
  if (!target)
    return soma::Error{"no LLVM target for " + names.triple + ": " + err};
  std::unique_ptr<MCSubtargetInfo> generic(target->createMCSubtargetInfo(names.triple, "", ""));
  if (!generic)
    return soma::Error{"no subtarget information for " + names.triple};
  for (const SubtargetSubTypeKV &cpu : generic->getAllProcessorDescriptions())
    names.cpus.push_back(cpu.Key);
  for (const SubtargetFeatureKV &f : generic->getAllProcessorFeatures())
    names.features.push_back({f.Key, f.Desc});
  return names;
}

Expected<JitResult> compileGraph(const ir::Graph &graph, const LoweringPlan &plan,
                                 const TargetInfo &target, int optLevel, CompileTimes *times) {
  auto shared = jitFor(target, optLevel);
  if (!shared)
    return soma::Error{shared.error()};
  SharedJit &sj = **shared;
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
  result.code = std::make_unique<OrcCode>(&sj, dylib); // removes the dylib on an error below

  // In pieces of kOpsPerModule ops, each its own LLVM context and module,
  // freed once its object code is in the JIT: LLVM's memory is bounded by
  // a piece, not the network (a chain of 8,000 small layers took 1.1 GB
  // in one module).
  const size_t n = graph.ops.size();
  const codegen::SlotMap slots = codegen::slotMap(graph, plan);
  for (size_t begin = 0; begin < n; begin += kOpsPerModule) {
    bool ownsKernels = false; // a piece of ops that all share earlier kernels compiles nothing
    for (size_t i = begin; i < std::min(n, begin + kOpsPerModule) && !ownsKernels; ++i)
      ownsKernels = lowers(plan, graph, i) && kernelOwner(plan, i) == i;
    if (!ownsKernels)
      continue;
    auto built = buildOptimized(graph, plan, slots, target, optLevel, times, begin,
                                begin + kOpsPerModule, /*pic=*/false);
    if (!built)
      return soma::Error{built.error()};
    auto t0 = std::chrono::steady_clock::now();
    // Code generation here, in the module's context, not in the JIT's
    // compile layer (which compiles in a context of its own): an error LLVM
    // reports reaches the DiagnosticCollector, and nothing of that code runs.
    if (auto ok = built->checkLLVM(); !ok) // in the optimisation passes
      return soma::Error{ok.error()};
    auto object = orc::SimpleCompiler(*built->tm)(*built->module);
    if (!object)
      return soma::Error{"code generation failed: " + toString(object.takeError())};
    if (auto ok = built->checkLLVM(); !ok) // in code generation
      return soma::Error{ok.error()};
    if (llvm::Error err = sj.jit->addObjectFile(*dylib, std::move(*object)))
      return soma::Error{"cannot add the code to the JIT: " + toString(std::move(err))};
    if (times)
      times->codegenSeconds += secondsSince(t0);
  }
  auto t0 = std::chrono::steady_clock::now();
  result.kernels.assign(graph.ops.size(), nullptr);
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    if (!lowers(plan, graph, i))
      continue;
    const size_t owner = kernelOwner(plan, i);
    if (owner != i) { // a shared kernel: its owner came first
      result.kernels[i] = result.kernels[owner];
      continue;
    }
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
  auto built = buildOptimized(graph, plan, codegen::slotMap(graph, plan), target, optLevel, nullptr,
                              0, SIZE_MAX, /*pic=*/false);
  if (!built)
    return soma::Error{built.error()};
  std::string out;
  if (kind == EmitKind::LLVMIR) {
    if (auto ok = built->checkLLVM(); !ok)
      return soma::Error{ok.error()};
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
  if (auto ok = built->checkLLVM(); !ok)
    return soma::Error{ok.error()};
  return std::string(buffer.begin(), buffer.end());
}

} // namespace soma::jit
