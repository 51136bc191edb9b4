// Counted loops in LLVM IR and the vector helpers every kernel uses.
#include "LoopBuilder.h"

#include <algorithm>

#include <llvm/IR/Intrinsics.h>
#include <llvm/Support/ErrorHandling.h>

namespace soma::codegen {

using namespace llvm;

std::vector<Value *>
emitLoop(IRBuilder<> &b, Value *begin, Value *end, int64_t step,
         const std::vector<Value *> &initial,
         const std::function<std::vector<Value *>(Value *, const std::vector<Value *> &)> &body,
         const char *name) {
  Function *fn = b.GetInsertBlock()->getParent();
  LLVMContext &ctx = b.getContext();
  BasicBlock *pre = b.GetInsertBlock();
  BasicBlock *header = BasicBlock::Create(ctx, std::string(name) + ".header", fn);
  BasicBlock *bodyBB = BasicBlock::Create(ctx, std::string(name) + ".body", fn);
  BasicBlock *exit = BasicBlock::Create(ctx, std::string(name) + ".exit", fn);
  b.CreateBr(header);

  b.SetInsertPoint(header);
  PHINode *iv = b.CreatePHI(b.getInt64Ty(), 2, name);
  iv->addIncoming(begin, pre);
  std::vector<PHINode *> phis;
  std::vector<Value *> carried;
  for (Value *init : initial) {
    PHINode *phi = b.CreatePHI(init->getType(), 2);
    phi->addIncoming(init, pre);
    phis.push_back(phi);
    carried.push_back(phi);
  }
  b.CreateCondBr(b.CreateICmpSLT(iv, end), bodyBB, exit);

  b.SetInsertPoint(bodyBB);
  std::vector<Value *> next = body(iv, carried);
  Value *ivNext = b.CreateAdd(iv, b.getInt64(step), std::string(name) + ".next", true, true);
  BasicBlock *latch = b.GetInsertBlock();
  b.CreateBr(header);
  iv->addIncoming(ivNext, latch);
  for (size_t i = 0; i < phis.size(); ++i)
    phis[i]->addIncoming(next[i], latch);

  b.SetInsertPoint(exit);
  return carried;
}

void emitLoop(IRBuilder<> &b, Value *begin, Value *end, int64_t step,
              const std::function<void(Value *)> &body, const char *name) {
  emitLoop(
      b, begin, end, step, {},
      [&](Value *i, const std::vector<Value *> &) {
        body(i);
        return std::vector<Value *>{};
      },
      name);
}

FixedVectorType *KernelEnv::vecTy() const { return FixedVectorType::get(f32(), width); }

Value *KernelEnv::slotPtr(int slot) const {
  const int index = slotIndex(slot);
  Value *addr = b.CreateConstInBoundsGEP1_64(b.getPtrTy(), slots, static_cast<uint64_t>(index));
  return b.CreateAlignedLoad(b.getPtrTy(), addr, Align(8), "slot" + std::to_string(index));
}

int KernelEnv::slotIndex(int slot) const {
  if (!view)
    return slot;
  auto it = std::find(view->begin(), view->end(), slot);
  if (it == view->end())
    report_fatal_error("soma: a kernel reads slot " + Twine(slot) + ", which is not in its view");
  return static_cast<int>(it - view->begin());
}

Value *KernelEnv::at(Value *base, Value *index) const {
  return b.CreateInBoundsGEP(f32(), base, index);
}

Value *KernelEnv::tailMask(Value *col, Value *limit) const {
  std::vector<Constant *> lanes;
  for (int i = 0; i < width; ++i)
    lanes.push_back(b.getInt64(i));
  Value *idx = b.CreateAdd(b.CreateVectorSplat(width, col), ConstantVector::get(lanes));
  return b.CreateICmpSLT(idx, b.CreateVectorSplat(width, limit), "mask");
}

Value *KernelEnv::loadVec(Value *ptr, Value *mask, Value *passthru) const {
  if (!mask)
    return b.CreateAlignedLoad(vecTy(), ptr, Align(4));
  return b.CreateMaskedLoad(vecTy(), ptr, Align(4), mask,
                            passthru ? passthru : Constant::getNullValue(vecTy()));
}

void KernelEnv::storeVec(Value *value, Value *ptr, Value *mask) const {
  if (!mask)
    b.CreateAlignedStore(value, ptr, Align(4));
  else
    b.CreateMaskedStore(value, ptr, Align(4), mask);
}

Value *KernelEnv::reduceAdd(Value *v) const {
  // An ordered reduction: the same order on every target and run.
  return b.CreateFAddReduce(ConstantFP::get(f32(), -0.0), v);
}

Value *KernelEnv::reduceMax(Value *v) const { return b.CreateFPMaxReduce(v); }

Value *KernelEnv::reduceOr(Value *v) const { return b.CreateOrReduce(v); }

void emitVectorColumns(const KernelEnv &env, Value *begin, Value *end,
                       const std::function<void(Value *, Value *)> &body) {
  emitVectorColumns(env, begin, end, {},
                    [&](Value *col, Value *mask, const std::vector<Value *> &) {
                      body(col, mask);
                      return std::vector<Value *>{};
                    });
}

std::vector<Value *> emitVectorColumns(
    const KernelEnv &env, Value *begin, Value *end, const std::vector<Value *> &initial,
    const std::function<std::vector<Value *>(Value *, Value *, const std::vector<Value *> &)>
        &body) {
  IRBuilder<> &b = env.b;
  // Full vectors first: begin + k*width + width <= end.
  Value *span = b.CreateSub(end, begin);
  Value *fullEnd =
      b.CreateAdd(begin, b.CreateMul(b.CreateSDiv(span, env.i64(env.width)), env.i64(env.width)));
  std::vector<Value *> afterMain = emitLoop(
      b, begin, fullEnd, env.width, initial,
      [&](Value *col, const std::vector<Value *> &carried) { return body(col, nullptr, carried); },
      "col");
  // Then at most one masked vector for the tail.
  Function *fn = b.GetInsertBlock()->getParent();
  BasicBlock *before = b.GetInsertBlock();
  BasicBlock *tail = BasicBlock::Create(b.getContext(), "tail", fn);
  BasicBlock *done = BasicBlock::Create(b.getContext(), "tail.done", fn);
  b.CreateCondBr(b.CreateICmpSLT(fullEnd, end), tail, done);
  b.SetInsertPoint(tail);
  std::vector<Value *> afterTail = body(fullEnd, env.tailMask(fullEnd, end), afterMain);
  BasicBlock *tailEnd = b.GetInsertBlock();
  b.CreateBr(done);
  b.SetInsertPoint(done);
  std::vector<Value *> result;
  for (size_t i = 0; i < afterMain.size(); ++i) {
    PHINode *phi = b.CreatePHI(afterMain[i]->getType(), 2);
    phi->addIncoming(afterMain[i], before);
    phi->addIncoming(afterTail[i], tailEnd);
    result.push_back(phi);
  }
  return result;
}

} // namespace soma::codegen
