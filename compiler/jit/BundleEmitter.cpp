// A bundle's object file (Jit.h emitBundleObject): the JIT's optimised
// module, position-independent, its kernels made local and listed in a
// table; the plan and the weights as read-only arrays; the descriptor the
// runtime loads (runtime/BundleFormat.h: its layout is the struct below);
// and two small entry points with the network's C names, which hand the
// descriptor to the runtime's C functions.
#include "JitInternal.h"

#include "soma/runtime/BundleFormat.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/Support/raw_ostream.h>

namespace soma::jit {

using namespace llvm;

namespace {

/// A private constant array of `bytes`, aligned to `align`; null when empty.
Constant *byteArray(Module &m, const std::string &bytes, const std::string &name, unsigned align) {
  LLVMContext &ctx = m.getContext();
  if (bytes.empty())
    return ConstantPointerNull::get(PointerType::get(ctx, 0));
  Constant *init = ConstantDataArray::getString(ctx, bytes, /*AddNull=*/false);
  auto *gv = new GlobalVariable(m, init->getType(), true, GlobalValue::PrivateLinkage, init, name);
  gv->setAlignment(Align(align));
  gv->setUnnamedAddr(GlobalValue::UnnamedAddr::Global);
  return gv;
}

/// A private NUL-terminated string.
Constant *cString(Module &m, const std::string &text, const std::string &name) {
  return byteArray(m, text + '\0', name, 1);
}

/// The kernel table: the kernels of spec.kernelOps, renamed and made local.
Expected<Constant *> kernelTable(Module &m, const ir::Graph &graph, const BundleSpec &spec) {
  std::vector<Constant *> entries;
  for (size_t k = 0; k < spec.kernelOps.size(); ++k) {
    Function *fn = m.getFunction(kernelName(graph, spec.kernelOps[k]));
    if (!fn || fn->isDeclaration())
      return soma::Error{"bundle: no kernel was generated for '" +
                         graph.ops[spec.kernelOps[k]]->name + "'"};
    fn->setName(spec.prefix + "_kernel_" + std::to_string(k));
    entries.push_back(fn);
  }
  // Only the table reaches the kernels: no symbol of theirs is exported.
  for (Function &fn : m)
    if (!fn.isDeclaration())
      fn.setLinkage(GlobalValue::InternalLinkage);
  auto *ptrTy = PointerType::get(m.getContext(), 0);
  if (entries.empty())
    return ConstantPointerNull::get(ptrTy);
  auto *type = ArrayType::get(ptrTy, entries.size());
  return new GlobalVariable(m, type, true, GlobalValue::PrivateLinkage,
                            ConstantArray::get(type, entries), spec.prefix + ".kernels");
}

/// `prefix`_bundle: soma_bundle_descriptor's fields in order.
GlobalVariable *descriptor(Module &m, const BundleSpec &spec, Constant *kernels) {
  LLVMContext &ctx = m.getContext();
  Type *i32 = Type::getInt32Ty(ctx), *i64 = Type::getInt64Ty(ctx);
  Type *ptr = PointerType::get(ctx, 0);
  auto *type = StructType::create(
      ctx, {i32, i32, ptr, ptr, i64, ptr, i64, ptr, ptr, i64, i64, ptr, ptr, ptr},
      "soma_bundle_descriptor");
  const bool external = !spec.weightsFile.empty();
  Constant *fields[] = {
      ConstantInt::get(i32, runtime::kBundleMagic),
      ConstantInt::get(i32, runtime::kBundleVersion),
      cString(m, spec.networkName, spec.prefix + ".name"),
      byteArray(m, spec.plan, spec.prefix + ".plan", 8),
      ConstantInt::get(i64, spec.plan.size()),
      external ? ConstantPointerNull::get(PointerType::get(ctx, 0))
               : byteArray(m, spec.weights, spec.prefix + ".weights", 64),
      ConstantInt::get(i64, spec.weightsSize),
      external ? cString(m, spec.weightsFile, spec.prefix + ".weights_file")
               : ConstantPointerNull::get(PointerType::get(ctx, 0)),
      kernels,
      ConstantInt::get(i64, spec.kernelOps.size()),
      ConstantInt::get(i64, spec.weightsId),
      cString(m, spec.arch, spec.prefix + ".arch"),
      cString(m, spec.cpu, spec.prefix + ".cpu"),
      cString(m, spec.features, spec.prefix + ".features"),
  };
  return new GlobalVariable(m, type, true, GlobalValue::ExternalLinkage,
                            ConstantStruct::get(type, fields), spec.prefix + "_bundle");
}

/// `prefix`_load(options, out) and `prefix`_run(loaded, batch, inputs...,
/// outputs...).
void entryPoints(Module &m, const BundleSpec &spec, GlobalVariable *desc) {
  LLVMContext &ctx = m.getContext();
  Type *i32 = Type::getInt32Ty(ctx), *i64 = Type::getInt64Ty(ctx);
  Type *ptr = PointerType::get(ctx, 0);
  FunctionCallee loadFn =
      m.getOrInsertFunction("soma_bundle_load", FunctionType::get(i32, {ptr, ptr, ptr}, false));
  auto *load = Function::Create(FunctionType::get(i32, {ptr, ptr}, false),
                                GlobalValue::ExternalLinkage, spec.prefix + "_load", m);
  IRBuilder<> b(BasicBlock::Create(ctx, "entry", load));
  b.CreateRet(b.CreateCall(loadFn, {desc, load->getArg(0), load->getArg(1)}));

  FunctionCallee runFn = m.getOrInsertFunction(
      "soma_bundle_run_checked", FunctionType::get(i32, {ptr, ptr, i64, ptr, ptr}, false));
  std::vector<Type *> params = {ptr, i64};
  params.insert(params.end(), spec.inputs + spec.outputs, ptr);
  auto *run = Function::Create(FunctionType::get(i32, params, false), GlobalValue::ExternalLinkage,
                               spec.prefix + "_run", m);
  b.SetInsertPoint(BasicBlock::Create(ctx, "entry", run));
  auto array = [&](unsigned first, size_t n) -> Value * {
    if (n == 0)
      return ConstantPointerNull::get(PointerType::get(ctx, 0));
    Value *a = b.CreateAlloca(ArrayType::get(ptr, n));
    for (size_t i = 0; i < n; ++i)
      b.CreateStore(run->getArg(first + static_cast<unsigned>(i)),
                    b.CreateConstInBoundsGEP2_64(ArrayType::get(ptr, n), a, 0, i));
    return a;
  };
  Value *ins = array(2, spec.inputs);
  Value *outs = array(2 + static_cast<unsigned>(spec.inputs), spec.outputs);
  b.CreateRet(b.CreateCall(runFn, {desc, run->getArg(0), run->getArg(1), ins, outs}));
}

} // namespace

Expected<std::string> emitBundleObject(const ir::Graph &graph, const LoweringPlan &plan,
                                       const TargetInfo &target, int optLevel,
                                       const BundleSpec &spec) {
  auto built = buildOptimized(graph, plan, codegen::slotMap(graph, plan), target, optLevel, nullptr,
                              0, SIZE_MAX, /*pic=*/true);
  if (!built)
    return soma::Error{built.error()};
  if (auto ok = built->checkLLVM(); !ok)
    return soma::Error{ok.error()};
  Module &m = *built->module;
  auto kernels = kernelTable(m, graph, spec);
  if (!kernels)
    return soma::Error{kernels.error()};
  entryPoints(m, spec, descriptor(m, spec, *kernels));

  SmallVector<char, 0> buffer;
  raw_svector_ostream os(buffer);
  legacy::PassManager pm;
  if (built->tm->addPassesToEmitFile(pm, os, nullptr, CodeGenFileType::ObjectFile))
    return soma::Error{"the target cannot emit an object file"};
  pm.run(m);
  if (auto ok = built->checkLLVM(); !ok)
    return soma::Error{ok.error()};
  return std::string(buffer.begin(), buffer.end());
}

} // namespace soma::jit
