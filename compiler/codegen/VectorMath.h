// Activation functions computed in vector registers: straight-line,
// branch-free LLVM IR on float or <W x float>, with no calls other than
// LLVM intrinsics every x86-64 can lower inline. Accuracy contract and
// algorithms: docs/codegen-math.md. Internal to codegen (includes LLVM).
#pragma once

#include "soma/ir/Activation.h"

#include <llvm/IR/IRBuilder.h>

namespace soma::codegen {

/// Emits y = act(x) for x of type float or <W x float> (any W), elementwise.
/// act.kind is never Softmax or LogSoftmax (lowered per row, with emitExp
/// and emitLog1p).
/// Relative error <= 1e-6 against the double-precision reference over all
/// f32 inputs (absolute 1e-6 * 2^-126 where the result is below 2^-126);
/// NaN propagates; infinities give the function's limits. The builder's
/// fast-math flags are ignored: the algorithms rely on exact IEEE rounding.
llvm::Value *emitActivation(llvm::IRBuilder<> &b, const ir::Activation &act, llvm::Value *x);

/// exp(x), for softmax. Same accuracy contract.
llvm::Value *emitExp(llvm::IRBuilder<> &b, llvm::Value *x);

/// log1p(u) for u >= 0 (or NaN, or inf), for log_softmax's log of its row
/// sum. Same accuracy contract.
llvm::Value *emitLog1p(llvm::IRBuilder<> &b, llvm::Value *u);

} // namespace soma::codegen
