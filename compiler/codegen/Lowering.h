// Lowering of graph ops to kernels: one routine per op kind, all sharing
// the loop-nest builder. Internal to codegen (includes LLVM).
#pragma once

#include "Codegen.h"
#include "LoopBuilder.h"

#include "soma/ir/Graph.h"
#include "soma/jit/Jit.h"

#include <unordered_map>

namespace soma::codegen {

/// Rows of the last axis per sample (product of all dims but the last).
int64_t rowsPerSample(const ir::TensorType &type);

/// What the linear, dense and dense_add kernels share: the op's shape,
/// activation (identity for linear) and slot pointers (bias and residual
/// null when the op has none).
struct WeightedSum {
  int64_t inputs, units;
  ir::Activation act;
  bool softmax; // act is softmax or log_softmax (ir::isRowwise)
  llvm::Value *x, *w, *bias, *residual, *y;
  WeightedSum(const KernelEnv &env, const ir::Op &op, const SlotMap &slots);
  /// The epilogue of one output vector: `value` (the sums of the neurons
  /// from `col` for row `row`) plus `bias` (the loaded bias vector, or
  /// null), plus the residual, through the activation (not softmax, which
  /// runs over whole rows afterwards), stored to y under `mask`.
  void finish(const KernelEnv &env, llvm::Value *value, llvm::Value *bias, llvm::Value *row,
              llvm::Value *col, llvm::Value *mask) const;
};

/// linear, dense and dense_add: the register-blocked panel kernel, bias,
/// residual and activation applied in registers before the single store.
/// `rowSoftmax`: whether a softmax dense also runs its softmax over the
/// rows (false when the caller does, for more rows than these).
void lowerDense(const KernelEnv &env, const ir::Op &op, const SlotMap &slots,
                const ir::Schedule &schedule, bool rowSoftmax = true);
/// Where a sparse kernel's full sample blocks of x and y are feature-major
/// (jit::LoweringPlan::featureMajorIn and featureMajorOut).
struct SparseChain {
  bool in = false, out = false;
};
/// linear, dense and dense_add with a "sparse" schedule: weighted sums over
/// the nonzero weights (runtime::packSparse), vectorised across samples in
/// blocks, a sparse matrix-vector product for lone samples (or, with
/// lone = "packed", lowerDense over the weights in `panelsSlot`);
/// `scratchSlot` holds the transposed sample blocks.
void lowerSparse(const KernelEnv &env, const ir::Op &op, const SlotMap &slots, int scratchSlot,
                 int panelsSlot, const ir::Schedule &schedule, SparseChain chain);
/// out[r, :] = softmax(in[r, :]), or log_softmax as `kind` says, for rows
/// [rowBegin, rowEnd) of `cols` columns; `in` may equal `out`.
void emitSoftmaxRows(const KernelEnv &env, llvm::Value *in, llvm::Value *out, int64_t cols,
                     llvm::Value *rowBegin, llvm::Value *rowEnd, ir::ActKind kind);
/// bias_add, activation (not softmax), add, scale_shift, batch_norm.
void lowerElementwise(const KernelEnv &env, const ir::Op &op, const SlotMap &slots);
/// activation with softmax or log_softmax: per row, max, exp, sum, scale
/// (or subtract the log).
void lowerSoftmax(const KernelEnv &env, const ir::Op &op, const SlotMap &slots);
void lowerLayerNorm(const KernelEnv &env, const ir::Op &op, const SlotMap &slots);
void lowerConcat(const KernelEnv &env, const ir::Op &op, const SlotMap &slots);
/// conv with constant filters and bias (LowerConv.cpp): a direct
/// convolution over rows (sample, channel, output row) and columns (output
/// positions).
void lowerConv(const KernelEnv &env, const ir::Op &op, const SlotMap &slots);

} // namespace soma::codegen
