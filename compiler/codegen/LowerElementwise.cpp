// Elementwise ops: one loop over rows, vectors along the last axis, a
// masked vector for the tail. An unbatched operand (a per-feature vector or
// a constant of the per-sample shape) is read at row r % rowsPerSample.
#include "Lowering.h"
#include "VectorMath.h"

#include "soma/ir/Binary.h"

#include <cmath>

namespace soma::codegen {

using namespace llvm;

int64_t rowsPerSample(const ir::TensorType &type) {
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < type.dims.size(); ++i)
    rows *= type.dims[i];
  return rows;
}

namespace {

/// Reads operand `operand` of an op whose result has `cols` columns and
/// `rps` rows per sample, at result row `row`, columns col..col+W-1.
struct OperandReader {
  const KernelEnv &env;
  Value *base;
  bool batched;
  int64_t operandRows; // rows of an unbatched operand
  int64_t cols;

  Value *load(Value *row, Value *col, Value *mask) const {
    IRBuilder<> &b = env.b;
    Value *r = row;
    if (!batched)
      r = operandRows == 1 ? env.i64(0) : b.CreateSRem(row, env.i64(operandRows));
    Value *idx = b.CreateAdd(b.CreateMul(r, env.i64(cols)), col);
    return env.loadVec(env.at(base, idx), mask);
  }
};

/// A vector value being built, with the arithmetic that Ops.def's binary
/// expressions are written in (soma/ir/Binary.h): each operator emits its
/// instruction. Operators no row uses yet are kept for the rows to come
/// ([[maybe_unused]]: clang reports unused hidden friends).
struct IRVector {
  IRBuilder<> &b;
  Value *value;

  friend IRVector operator+(const IRVector &x, const IRVector &y) {
    return {x.b, x.b.CreateFAdd(x.value, y.value)};
  }
  [[maybe_unused]] friend IRVector operator-(const IRVector &x, const IRVector &y) {
    return {x.b, x.b.CreateFSub(x.value, y.value)};
  }
  friend IRVector operator*(const IRVector &x, const IRVector &y) {
    return {x.b, x.b.CreateFMul(x.value, y.value)};
  }
  [[maybe_unused]] friend IRVector operator/(const IRVector &x, const IRVector &y) {
    return {x.b, x.b.CreateFDiv(x.value, y.value)};
  }
};

/// For a per-channel parameter along `axis`, not the last: how many rows
/// (of the last axis) each channel spans, and the channel count.
std::pair<int64_t, int64_t> preluRows(const ir::TensorType &type, int64_t axis) {
  const size_t a = ir::featureAxis(axis, type.dims.size());
  int64_t rows = 1;
  for (size_t d = a + 1; d + 1 < type.dims.size(); ++d)
    rows *= type.dims[d];
  return {rows, type.dims[a]};
}

} // namespace

void lowerElementwise(const KernelEnv &env, const ir::Op &op, const SlotMap &slots) {
  IRBuilder<> &b = env.b;
  const int64_t cols = op.type.lastDim();
  std::vector<OperandReader> in;
  for (const ir::Op *operand : op.operands)
    in.push_back({env, env.slotPtr(slots.at(operand)), operand->type.batched,
                  rowsPerSample(operand->type), operand->type.lastDim()});
  Value *Y = env.slotPtr(slots.at(&op));

  emitLoop(
      b, env.rowBegin, env.rowEnd, 1,
      [&](Value *row) {
        emitVectorColumns(env, env.colBegin, env.colEnd, [&](Value *col, Value *mask) {
          auto arg = [&](size_t i) { return in[i].load(row, col, mask); };
          Value *y = nullptr;
          switch (op.kind) {
          case ir::OpKind::BiasAdd:
            y = b.CreateFAdd(arg(0), arg(1));
            break;
#define SOMA_BINARY_OP(Enum, Name, Expr, Identity, Commutes, Doc) case ir::OpKind::Enum:
#include "soma/ir/Ops.def"
            y = ir::withBinary(op.kind, [&](auto f) {
              return f(IRVector{b, arg(0)}, IRVector{b, arg(1)}).value;
            });
            if (op.fn.kind != ir::ActKind::Identity)
              y = emitActivation(b, op.fn, y);
            break;
          case ir::OpKind::Activation:
            y = emitActivation(b, op.fn, arg(0));
            break;
          case ir::OpKind::ScaleShift:
            y = b.CreateIntrinsic(Intrinsic::fmuladd, {env.vecTy()}, {arg(0), arg(1), arg(2)});
            break;
          case ir::OpKind::Prelu: {
            // x where x > 0 or NaN, else x * slope[c]: slope per column along
            // the last axis, else one channel per row (its axis is before the
            // last, so a row lies in one channel).
            Value *x = arg(0), *slope = nullptr;
            if (ir::paramsAlongLastAxis(op)) {
              slope = arg(1);
            } else {
              const auto [rowsPerChannel, channels] = preluRows(op.type, op.axis);
              Value *c =
                  b.CreateSRem(b.CreateSDiv(b.CreateSRem(row, env.i64(rowsPerSample(op.type))),
                                            env.i64(rowsPerChannel)),
                               env.i64(channels));
              slope = env.splat(b.CreateLoad(env.f32(), env.at(in[1].base, c)));
            }
            Value *positive = b.CreateFCmpUGT(x, env.splat(0.0f));
            y = b.CreateSelect(positive, x, b.CreateFMul(x, slope));
            break;
          }
          case ir::OpKind::BatchNorm: {
            // (x - mean) / sqrt(var + eps) * scale + shift
            Value *var = b.CreateFAdd(arg(2), env.splat(op.epsilon));
            Value *sd = b.CreateUnaryIntrinsic(Intrinsic::sqrt, var);
            Value *norm = b.CreateFDiv(b.CreateFSub(arg(0), arg(1)), sd);
            y = b.CreateIntrinsic(Intrinsic::fmuladd, {env.vecTy()}, {norm, arg(3), arg(4)});
            break;
          }
          case ir::OpKind::Input:
          case ir::OpKind::Const:
          case ir::OpKind::Linear:
          case ir::OpKind::Dense:
          case ir::OpKind::DenseAdd:
          case ir::OpKind::LayerNorm:
          case ir::OpKind::Concat:
          case ir::OpKind::Conv:
          case ir::OpKind::ConvAdd:
          case ir::OpKind::MaxPool:
          case ir::OpKind::AvgPool:
          case ir::OpKind::GlobalAvgPool:
          case ir::OpKind::Reshape:
            llvm_unreachable("not an elementwise op");
          }
          Value *idx = b.CreateAdd(b.CreateMul(row, env.i64(cols)), col);
          env.storeVec(y, env.at(Y, idx), mask);
        });
      },
      "row");
}

namespace {

/// A concat of few operands: one copy loop per operand, its shape constant.
void lowerConcatUnrolled(const KernelEnv &env, const ir::Op &op, const SlotMap &slots) {
  IRBuilder<> &b = env.b;
  const int64_t cols = op.type.lastDim();
  Value *Y = env.slotPtr(slots.at(&op));
  int64_t offset = 0;
  for (const ir::Op *operand : op.operands) {
    OperandReader in{env, env.slotPtr(slots.at(operand)), operand->type.batched,
                     rowsPerSample(operand->type), operand->type.lastDim()};
    const int64_t part = operand->type.lastDim();
    emitLoop(
        b, env.rowBegin, env.rowEnd, 1,
        [&](Value *row) {
          emitVectorColumns(env, env.i64(0), env.i64(part), [&](Value *col, Value *mask) {
            Value *v = in.load(row, col, mask);
            Value *idx =
                b.CreateAdd(b.CreateMul(row, env.i64(cols)), b.CreateAdd(col, env.i64(offset)));
            env.storeVec(v, env.at(Y, idx), mask);
          });
        },
        "row");
    offset += part;
  }
}

/// A concat of many operands: one copy loop, run once per operand over a
/// constant table of the operands' slots, widths, offsets and rows (0 for a
/// batched operand), so the kernel's size does not grow with the operand
/// count (a loop per operand made LLVM's loop passes recurse until the stack
/// overflowed at 2000 operands, and took 99 s at 1000).
void lowerConcatTable(const KernelEnv &env, const ir::Op &op, const SlotMap &slots) {
  IRBuilder<> &b = env.b;
  const int64_t cols = op.type.lastDim();
  constexpr int64_t kFields = 4; // slot, width, offset, rows of an unbatched operand
  std::vector<uint64_t> table;
  int64_t offset = 0;
  for (const ir::Op *operand : op.operands) {
    const int64_t part = operand->type.lastDim();
    table.push_back(static_cast<uint64_t>(env.slotIndex(slots.at(operand))));
    table.push_back(static_cast<uint64_t>(part));
    table.push_back(static_cast<uint64_t>(offset));
    table.push_back(operand->type.batched ? 0
                                          : static_cast<uint64_t>(rowsPerSample(operand->type)));
    offset += part;
  }
  Module &module = *b.GetInsertBlock()->getModule();
  Constant *init = ConstantDataArray::get(b.getContext(), table);
  auto *global = new GlobalVariable(module, init->getType(), /*isConstant=*/true,
                                    GlobalValue::PrivateLinkage, init, "concat.operands");
  Value *Y = env.slotPtr(slots.at(&op));
  const int64_t n = static_cast<int64_t>(op.operands.size());
  emitLoop(
      b, env.i64(0), env.i64(n), 1,
      [&](Value *k) {
        auto field = [&](int64_t f, const char *name) {
          Value *at = b.CreateAdd(b.CreateMul(k, env.i64(kFields)), env.i64(f));
          return b.CreateAlignedLoad(
              b.getInt64Ty(), b.CreateInBoundsGEP(b.getInt64Ty(), global, at), Align(8), name);
        };
        Value *slot = field(0, "slot"), *part = field(1, "part"), *off = field(2, "offset");
        Value *rows = field(3, "rows");
        Value *src = b.CreateAlignedLoad(
            b.getPtrTy(), b.CreateInBoundsGEP(b.getPtrTy(), env.slots, slot), Align(8), "src");
        Value *batched = b.CreateICmpEQ(rows, env.i64(0));
        Value *divisor = b.CreateSelect(batched, env.i64(1), rows);
        emitLoop(
            b, env.rowBegin, env.rowEnd, 1,
            [&](Value *row) {
              Value *r = b.CreateSelect(batched, row, b.CreateSRem(row, divisor));
              Value *from = b.CreateMul(r, part);
              Value *to = b.CreateAdd(b.CreateMul(row, env.i64(cols)), off);
              emitVectorColumns(env, env.i64(0), part, [&](Value *col, Value *mask) {
                Value *v = env.loadVec(env.at(src, b.CreateAdd(from, col)), mask);
                env.storeVec(v, env.at(Y, b.CreateAdd(to, col)), mask);
              });
            },
            "row");
      },
      "operand");
}

} // namespace

void lowerConcat(const KernelEnv &env, const ir::Op &op, const SlotMap &slots) {
  // Up to this many operands the copy loops are unrolled, with their shapes
  // constant (the common case: a few branches joined).
  constexpr size_t kUnrolledOperands = 16;
  if (op.operands.size() <= kUnrolledOperands)
    lowerConcatUnrolled(env, op, slots);
  else
    lowerConcatTable(env, op, slots);
}

} // namespace soma::codegen
