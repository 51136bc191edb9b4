// A small loop-nest builder for LLVM IR: counted loops with an induction
// variable, loop-carried values, and the pieces every kernel shares.
// Internal to codegen (includes LLVM).
#pragma once

#include <llvm/IR/IRBuilder.h>

#include <functional>
#include <vector>

namespace soma::codegen {

/// Emits `for (i = begin; i < end; i += step) body(i, carried...)` at the
/// builder's insertion point and leaves the builder after the loop. The body
/// returns the next values of the carried variables; the loop returns their
/// final values. `begin`/`end` are i64.
std::vector<llvm::Value *>
emitLoop(llvm::IRBuilder<> &b, llvm::Value *begin, llvm::Value *end, int64_t step,
         const std::vector<llvm::Value *> &initial,
         const std::function<std::vector<llvm::Value *>(
             llvm::Value *i, const std::vector<llvm::Value *> &carried)> &body,
         const char *name = "i");

/// The same without carried values.
void emitLoop(llvm::IRBuilder<> &b, llvm::Value *begin, llvm::Value *end, int64_t step,
              const std::function<void(llvm::Value *i)> &body, const char *name = "i");

/// Shared view of one kernel function being built.
struct KernelEnv {
  llvm::IRBuilder<> &b;
  llvm::Value *slots;
  llvm::Value *rowBegin, *rowEnd, *colBegin, *colEnd;
  int width; // f32 lanes per vector
  /// The kernel's view of the slot table (runtime::Step::view), or null:
  /// `slots` is then the program's slot table itself.
  const std::vector<int> *view = nullptr;

  llvm::Type *f32() const { return b.getFloatTy(); }
  llvm::FixedVectorType *vecTy() const;
  llvm::Value *i64(int64_t v) const { return b.getInt64(v); }
  /// The pointer held in slot `slot`.
  llvm::Value *slotPtr(int slot) const;
  /// Where `slot` is in `slots`: its place in the view, or itself.
  int slotIndex(int slot) const;
  /// &base[index] for an f32 array.
  llvm::Value *at(llvm::Value *base, llvm::Value *index) const;
  /// Lane mask for columns col .. col+width-1 that are < limit.
  llvm::Value *tailMask(llvm::Value *col, llvm::Value *limit) const;
  /// A vector load (masked when `mask` is non-null; masked-off lanes are
  /// `passthru`, or 0 when it is null).
  llvm::Value *loadVec(llvm::Value *ptr, llvm::Value *mask, llvm::Value *passthru = nullptr) const;
  void storeVec(llvm::Value *value, llvm::Value *ptr, llvm::Value *mask) const;
  llvm::Value *splat(llvm::Value *scalar) const { return b.CreateVectorSplat(width, scalar); }
  llvm::Value *splat(float v) const { return splat(llvm::ConstantFP::get(f32(), v)); }
  /// Horizontal reductions of a vector to a scalar.
  llvm::Value *reduceAdd(llvm::Value *v) const;
  llvm::Value *reduceMax(llvm::Value *v) const;
  llvm::Value *reduceOr(llvm::Value *v) const;
};

/// Emits `for (col = begin; col < end; col += width)`: a main loop of full
/// vectors, then one masked iteration for the tail. `body(col, mask)` gets
/// a null mask in the main loop.
void emitVectorColumns(const KernelEnv &env, llvm::Value *begin, llvm::Value *end,
                       const std::function<void(llvm::Value *col, llvm::Value *mask)> &body);

/// The same with loop-carried values (for reductions along a row): returns
/// their values after the tail.
std::vector<llvm::Value *> emitVectorColumns(
    const KernelEnv &env, llvm::Value *begin, llvm::Value *end,
    const std::vector<llvm::Value *> &initial,
    const std::function<std::vector<llvm::Value *>(
        llvm::Value *col, llvm::Value *mask, const std::vector<llvm::Value *> &carried)> &body);

} // namespace soma::codegen
