// Ops that need a whole row of the last axis: softmax, log_softmax and
// layer norm. Each
// row takes a few vector passes: reduce, transform, store.
#include "Lowering.h"
#include "VectorMath.h"

#include <cmath>

namespace soma::codegen {

using namespace llvm;

namespace {

/// Passes 2 and 3 of log_softmax on one row: d = x - max stored, then
/// out = d - log1p((count - 1) + rest), where the count maxima (d = 0) add
/// exactly 1 each and the rest sums exp(d) of the others (the vec engine's
/// RowsImpl::logSoftmax, docs/codegen-math.md).
void emitLogSoftmaxRow(const KernelEnv &env, Value *in, Value *out, int64_t cols, Value *rowOff,
                       Value *max, Value *anyNan) {
  IRBuilder<> &b = env.b;
  Value *negInf = env.splat(-INFINITY);
  Value *zero = Constant::getNullValue(env.vecTy());
  auto ptr = [&](Value *base, Value *col) { return env.at(base, b.CreateAdd(rowOff, col)); };
  std::vector<Value *> sums = emitVectorColumns(
      env, env.i64(0), env.i64(cols), {zero, zero},
      [&](Value *col, Value *mask, const std::vector<Value *> &c) {
        Value *d = b.CreateFSub(env.loadVec(ptr(in, col), mask, negInf), max);
        env.storeVec(d, ptr(out, col), mask);
        Value *isMax = b.CreateFCmpOEQ(d, zero);
        Value *count = b.CreateFAdd(c[0], b.CreateSelect(isMax, env.splat(1.0f), zero));
        Value *rest = b.CreateFAdd(c[1], b.CreateSelect(isMax, zero, emitExp(b, d)));
        return std::vector<Value *>{count, rest};
      });
  Value *u = b.CreateFAdd(b.CreateFSub(env.reduceAdd(sums[0]), ConstantFP::get(env.f32(), 1.0)),
                          env.reduceAdd(sums[1]));
  Value *logSum = b.CreateSelect(anyNan, ConstantFP::getNaN(env.f32()), emitLog1p(b, u));
  Value *logVec = env.splat(logSum);
  emitVectorColumns(env, env.i64(0), env.i64(cols), [&](Value *col, Value *mask) {
    Value *d = env.loadVec(ptr(out, col), mask);
    env.storeVec(b.CreateFSub(d, logVec), ptr(out, col), mask);
  });
}

} // namespace

/// out[r, :] = softmax(in[r, :]) (or log_softmax) for rows [rowBegin,
/// rowEnd); in may equal out. A NaN anywhere in a row makes the whole row
/// NaN (as in the reference); the maximum is subtracted before exp, so large
/// inputs do not overflow.
void emitSoftmaxRows(const KernelEnv &env, Value *in, Value *out, int64_t cols, Value *rowBegin,
                     Value *rowEnd, ir::ActKind kind) {
  IRBuilder<> &b = env.b;
  Value *negInf = env.splat(-INFINITY);
  emitLoop(
      b, rowBegin, rowEnd, 1,
      [&](Value *row) {
        Value *rowOff = b.CreateMul(row, env.i64(cols));
        auto ptr = [&](Value *base, Value *col) { return env.at(base, b.CreateAdd(rowOff, col)); };
        // 1. the row's maximum, and whether it holds a NaN
        Value *noNan = Constant::getNullValue(FixedVectorType::get(b.getInt1Ty(), env.width));
        std::vector<Value *> r1 = emitVectorColumns(
            env, env.i64(0), env.i64(cols), {negInf, noNan},
            [&](Value *col, Value *mask, const std::vector<Value *> &c) {
              Value *x = env.loadVec(ptr(in, col), mask, negInf);
              Value *isNan = b.CreateFCmpUNO(x, x);
              Value *bigger = b.CreateFCmpOGT(x, c[0]);
              return std::vector<Value *>{b.CreateSelect(bigger, x, c[0]), b.CreateOr(c[1], isNan)};
            });
        Value *max = env.splat(env.reduceMax(r1[0]));
        Value *anyNan = env.reduceOr(r1[1]);
        if (kind == ir::ActKind::LogSoftmax) {
          emitLogSoftmaxRow(env, in, out, cols, rowOff, max, anyNan);
          return;
        }
        // 2. e = exp(x - max), stored, and summed
        std::vector<Value *> r2 =
            emitVectorColumns(env, env.i64(0), env.i64(cols), {Constant::getNullValue(env.vecTy())},
                              [&](Value *col, Value *mask, const std::vector<Value *> &c) {
                                Value *x = env.loadVec(ptr(in, col), mask, negInf);
                                Value *e = emitExp(b, b.CreateFSub(x, max));
                                if (mask)
                                  e = b.CreateSelect(mask, e, Constant::getNullValue(env.vecTy()));
                                env.storeVec(e, ptr(out, col), mask);
                                return std::vector<Value *>{b.CreateFAdd(c[0], e)};
                              });
        Value *sum = env.reduceAdd(r2[0]);
        Value *scale = b.CreateFDiv(ConstantFP::get(env.f32(), 1.0), sum);
        scale = b.CreateSelect(anyNan, ConstantFP::getNaN(env.f32()), scale);
        Value *scaleVec = env.splat(scale);
        // 3. out = e / sum
        emitVectorColumns(env, env.i64(0), env.i64(cols), [&](Value *col, Value *mask) {
          Value *e = env.loadVec(ptr(out, col), mask);
          env.storeVec(b.CreateFMul(e, scaleVec), ptr(out, col), mask);
        });
      },
      "row");
}

void lowerSoftmax(const KernelEnv &env, const ir::Op &op, const SlotMap &slots) {
  Value *X = env.slotPtr(slots.at(op.operands[0]));
  Value *Y = env.slotPtr(slots.at(&op));
  emitSoftmaxRows(env, X, Y, op.type.lastDim(), env.rowBegin, env.rowEnd, op.fn.kind);
}

void lowerLayerNorm(const KernelEnv &env, const ir::Op &op, const SlotMap &slots) {
  IRBuilder<> &b = env.b;
  const int64_t cols = op.type.lastDim();
  Value *X = env.slotPtr(slots.at(op.operands[0]));
  Value *S = env.slotPtr(slots.at(op.operands[1]));
  Value *T = env.slotPtr(slots.at(op.operands[2]));
  Value *Y = env.slotPtr(slots.at(&op));
  Value *zero = Constant::getNullValue(env.vecTy());
  Value *invCols = ConstantFP::get(env.f32(), 1.0 / static_cast<double>(cols));
  emitLoop(
      b, env.rowBegin, env.rowEnd, 1,
      [&](Value *row) {
        Value *rowOff = b.CreateMul(row, env.i64(cols));
        auto xAt = [&](Value *col) { return env.at(X, b.CreateAdd(rowOff, col)); };
        // mean, then the population variance around it (two passes: no
        // cancellation from sum(x^2) - mean^2)
        std::vector<Value *> s1 = emitVectorColumns(
            env, env.i64(0), env.i64(cols), {zero},
            [&](Value *col, Value *mask, const std::vector<Value *> &c) {
              return std::vector<Value *>{b.CreateFAdd(c[0], env.loadVec(xAt(col), mask))};
            });
        Value *mean = env.splat(b.CreateFMul(env.reduceAdd(s1[0]), invCols));
        std::vector<Value *> s2 =
            emitVectorColumns(env, env.i64(0), env.i64(cols), {zero},
                              [&](Value *col, Value *mask, const std::vector<Value *> &c) {
                                Value *d = b.CreateFSub(env.loadVec(xAt(col), mask), mean);
                                if (mask)
                                  d = b.CreateSelect(mask, d, zero);
                                return std::vector<Value *>{b.CreateIntrinsic(
                                    Intrinsic::fmuladd, {env.vecTy()}, {d, d, c[0]})};
                              });
        Value *var = b.CreateFMul(env.reduceAdd(s2[0]), invCols);
        Value *sd = b.CreateUnaryIntrinsic(
            Intrinsic::sqrt, b.CreateFAdd(var, ConstantFP::get(env.f32(), op.epsilon)));
        Value *inv = env.splat(b.CreateFDiv(ConstantFP::get(env.f32(), 1.0), sd));
        emitVectorColumns(env, env.i64(0), env.i64(cols), [&](Value *col, Value *mask) {
          Value *norm = b.CreateFMul(b.CreateFSub(env.loadVec(xAt(col), mask), mean), inv);
          Value *y = b.CreateIntrinsic(
              Intrinsic::fmuladd, {env.vecTy()},
              {norm, env.loadVec(env.at(S, col), mask), env.loadVec(env.at(T, col), mask)});
          env.storeVec(y, env.at(Y, b.CreateAdd(rowOff, col)), mask);
        });
      },
      "row");
}

} // namespace soma::codegen
