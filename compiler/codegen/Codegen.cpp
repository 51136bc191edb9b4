// Module construction: one function per op with the runtime's KernelFn
// signature, dispatched to the op kind's lowering routine.
#include "Codegen.h"
#include "Lowering.h"

#include <algorithm>
#include <cassert>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

namespace soma::codegen {

using namespace llvm;

namespace {

/// Adds op i's kernel to `module` as function `name`, reading its slots
/// through its view when the plan gives it one.
void emitKernel(Module &module, const ir::Graph &graph, const jit::LoweringPlan &plan,
                const jit::TargetInfo &target, const SlotMap &slots, size_t i,
                const std::string &name) {
  LLVMContext &ctx = module.getContext();
  const ir::Op &op = *graph.ops[i];
  Type *i64 = Type::getInt64Ty(ctx);
  FunctionType *kernelTy = FunctionType::get(Type::getVoidTy(ctx),
                                             {PointerType::get(ctx, 0), i64, i64, i64, i64}, false);
  Function *fn = Function::Create(kernelTy, Function::ExternalLinkage, name, &module);
  fn->addFnAttr(Attribute::NoUnwind);
  fn->addFnAttr("target-cpu", target.cpu);
  fn->addFnAttr("target-features", target.features);
  const char *argNames[] = {"slots", "row.begin", "row.end", "col.begin", "col.end"};
  for (unsigned a = 0; a < 5; ++a)
    fn->getArg(a)->setName(argNames[a]);
  fn->getArg(0)->addAttr(Attribute::NoAlias);
  IRBuilder<> b(BasicBlock::Create(ctx, "entry", fn));
  const bool viewed = i < plan.views.size() && !plan.views[i].empty();
  KernelEnv env{b,
                fn->getArg(0),
                fn->getArg(1),
                fn->getArg(2),
                fn->getArg(3),
                fn->getArg(4),
                target.vectorWidth,
                viewed ? &plan.views[i] : nullptr};
  switch (op.kind) {
  case ir::OpKind::Linear:
  case ir::OpKind::Dense:
  case ir::OpKind::DenseAdd:
    assert(op.schedule && "weighted sums are scheduled before lowering");
    if (op.schedule->isSparse()) {
      assert(i < plan.scratchOf.size() && plan.scratchOf[i] >= 0 &&
             "sparse kernels get a scratch slot");
      const int panels = i < plan.panelsOf.size() ? plan.panelsOf[i] : -1;
      assert((panels >= 0) == (op.schedule->lone == ir::LonePath::Packed) &&
             "lone = packed gets its panels");
      auto flag = [i](const std::vector<bool> &v) { return i < v.size() && v[i]; };
      lowerSparse(env, op, slots, plan.scratchOf[i], panels, *op.schedule,
                  {flag(plan.featureMajorIn), flag(plan.featureMajorOut)});
    } else {
      lowerDense(env, op, slots, *op.schedule);
    }
    break;
  case ir::OpKind::Activation:
    if (ir::isRowwise(op.fn.kind))
      lowerSoftmax(env, op, slots);
    else
      lowerElementwise(env, op, slots);
    break;
  case ir::OpKind::BiasAdd:
  case ir::OpKind::ScaleShift:
  case ir::OpKind::BatchNorm:
  case ir::OpKind::Prelu:
#define SOMA_BINARY_OP(Enum, Name, Expr, Identity, Commutes, Doc) case ir::OpKind::Enum:
#include "soma/ir/Ops.def"
    lowerElementwise(env, op, slots);
    break;
  case ir::OpKind::LayerNorm:
    lowerLayerNorm(env, op, slots);
    break;
  case ir::OpKind::Concat:
    lowerConcat(env, op, slots);
    break;
  case ir::OpKind::Conv:
  case ir::OpKind::ConvAdd:
    lowerConv(env, op, slots);
    break;
  case ir::OpKind::MaxPool:
  case ir::OpKind::AvgPool:
  case ir::OpKind::GlobalAvgPool:
  case ir::OpKind::Reshape:
    llvm_unreachable("no JIT family runs pooling or reshape");
  case ir::OpKind::Input:
  case ir::OpKind::Const:
    break;
  }
  b.CreateRetVoid();
}

#ifndef NDEBUG
/// Op i's kernel alone in a module of its own, as text.
std::string kernelText(const ir::Graph &graph, const jit::LoweringPlan &plan,
                       const jit::TargetInfo &target, const SlotMap &slots, size_t i) {
  LLVMContext ctx;
  Module module("kernel", ctx);
  emitKernel(module, graph, plan, target, slots, i, "kernel");
  std::string text;
  raw_string_ostream os(text);
  module.print(os, nullptr);
  return text;
}
#endif

} // namespace

SlotMap slotMap(const ir::Graph &graph, const jit::LoweringPlan &plan) {
  SlotMap slots;
  for (size_t i = 0; i < graph.ops.size(); ++i)
    if (plan.slotOf[i] >= 0)
      slots[graph.ops[i].get()] = plan.slotOf[i];
  return slots;
}

std::unique_ptr<Module> buildModule(LLVMContext &ctx, const ir::Graph &graph,
                                    const jit::LoweringPlan &plan, const SlotMap &slots,
                                    const jit::TargetInfo &target, size_t begin, size_t end) {
  auto module = std::make_unique<Module>("soma." + graph.name, ctx);
  module->setTargetTriple(target.triple);
  end = std::min(end, graph.ops.size());
  for (size_t i = begin; i < end; ++i) {
    if (!jit::lowers(plan, graph, i))
      continue;
    const size_t owner = jit::kernelOwner(plan, i);
    if (owner == i) {
      emitKernel(*module, graph, plan, target, slots, i, jit::kernelName(graph, i));
      continue;
    }
#ifndef NDEBUG
    // A shared kernel must be the code op i would get of its own
    // (jit::shareKernels): checked kernel by kernel with assertions on.
    if (kernelText(graph, plan, target, slots, i) != kernelText(graph, plan, target, slots, owner))
      report_fatal_error(Twine("soma: ops '") + graph.ops[i]->name + "' and '" +
                         graph.ops[owner]->name + "' share a kernel but lower differently");
#endif
  }
#ifndef NDEBUG
  std::string err;
  raw_string_ostream os(err);
  if (verifyModule(*module, &os))
    report_fatal_error(Twine("soma generated invalid LLVM IR: ") + err);
#endif
  return module;
}

} // namespace soma::codegen
