// linear, dense and dense_add: a register-blocked kernel over weight panels.
//
// Weights arrive packed in panels of P = V * W output neurons (see
// runtime::packPanels). For each panel and each block of R samples the
// kernel keeps R x V vector accumulators in registers and, for every input
// k, loads the panel's V weight vectors once and multiplies them by the R
// broadcast inputs (fused multiply-add). The epilogue adds the bias and
// applies the activation (after adding dense_add's residual, read once per
// output vector) while the tile is still in registers, then stores
// each output once (masked in a partial last panel). Samples left over
// after the last full block of R run one at a time.
//
// A dense op whose activation is softmax cannot finish in registers (the
// softmax needs the whole row): its kernel writes the biased sums, then
// runs the softmax over each row of its result.
#include "Lowering.h"
#include "VectorMath.h"

namespace soma::codegen {

using namespace llvm;

void emitSoftmaxRows(const KernelEnv &env, Value *in, Value *out, int64_t cols, Value *rowBegin,
                     Value *rowEnd);

void lowerDense(const KernelEnv &env, const ir::Op &op, const SlotMap &slots,
                const jit::DenseSchedule &schedule) {
  IRBuilder<> &b = env.b;
  const ir::Op &x = *op.operands[0], &w = *op.operands[1];
  const bool hasBias = op.kind != ir::OpKind::Linear;
  const ir::Activation act = hasBias ? op.fn : ir::makeActivation(ir::ActKind::Identity);
  const bool softmax = act.kind == ir::ActKind::Softmax;
  const int64_t K = x.type.sampleElements(), U = w.type.dims[0];
  const int64_t W = schedule.vectorWidth, V = schedule.vectors, R = schedule.rowBlock;
  const int64_t P = W * V;
  const Align vecAlign(std::min<int64_t>(64, W * 4));

  Value *X = env.slotPtr(slots.at(&x));
  Value *Wp = env.slotPtr(slots.at(&w));
  Value *B = hasBias ? env.slotPtr(slots.at(op.operands[2])) : nullptr;
  Value *Res = op.kind == ir::OpKind::DenseAdd ? env.slotPtr(slots.at(op.operands[3])) : nullptr;
  Value *Y = env.slotPtr(slots.at(&op));
  Value *colEnd = env.colEnd;

  // One block of `rows` samples starting at n, panel p; `masked` for a
  // partial last panel.
  auto microkernel = [&](Value *n, int64_t rows, Value *colBase, Value *panel, bool masked) {
    std::vector<Value *> init(rows * V, Constant::getNullValue(env.vecTy()));
    std::vector<Value *> acc = emitLoop(
        b, env.i64(0), env.i64(K), 1, init,
        [&](Value *k, const std::vector<Value *> &sum) {
          std::vector<Value *> wv;
          Value *kOff = b.CreateMul(k, env.i64(P));
          for (int64_t v = 0; v < V; ++v)
            wv.push_back(b.CreateAlignedLoad(
                env.vecTy(), env.at(panel, b.CreateAdd(kOff, env.i64(v * W))), vecAlign));
          std::vector<Value *> next(sum.size());
          for (int64_t r = 0; r < rows; ++r) {
            Value *xIdx = b.CreateAdd(b.CreateMul(b.CreateAdd(n, env.i64(r)), env.i64(K)), k);
            Value *xb = env.splat(b.CreateAlignedLoad(env.f32(), env.at(X, xIdx), Align(4)));
            for (int64_t v = 0; v < V; ++v)
              next[r * V + v] = b.CreateIntrinsic(Intrinsic::fmuladd, {env.vecTy()},
                                                  {xb, wv[v], sum[r * V + v]});
          }
          return next;
        },
        "k");
    for (int64_t v = 0; v < V; ++v) {
      Value *col = b.CreateAdd(colBase, env.i64(v * W));
      Value *bias = B ? b.CreateAlignedLoad(env.vecTy(), env.at(B, col), vecAlign) : nullptr;
      Value *mask = masked ? env.tailMask(col, colEnd) : nullptr;
      for (int64_t r = 0; r < rows; ++r) {
        Value *value = acc[r * V + v];
        if (bias)
          value = b.CreateFAdd(value, bias);
        Value *yIdx = b.CreateAdd(b.CreateMul(b.CreateAdd(n, env.i64(r)), env.i64(U)), col);
        if (Res)
          value = b.CreateFAdd(value, env.loadVec(env.at(Res, yIdx), mask));
        if (act.kind != ir::ActKind::Identity && !softmax)
          value = emitActivation(b, act, value);
        env.storeVec(value, env.at(Y, yIdx), mask);
      }
    }
  };

  // Panels covering [colBegin, colEnd); tiles start on panel boundaries.
  Value *p0 = b.CreateSDiv(env.colBegin, env.i64(P));
  Value *p1 = b.CreateSDiv(b.CreateAdd(colEnd, env.i64(P - 1)), env.i64(P));
  Value *span = b.CreateSub(env.rowEnd, env.rowBegin);
  Value *rowsFull = b.CreateAdd(env.rowBegin, b.CreateMul(b.CreateSDiv(span, env.i64(R)), env.i64(R)));
  emitLoop(
      b, p0, p1, 1,
      [&](Value *p) {
        Value *colBase = b.CreateMul(p, env.i64(P));
        Value *panel = env.at(Wp, b.CreateMul(p, env.i64(K * P)));
        auto panelRows = [&](bool masked) {
          emitLoop(b, env.rowBegin, rowsFull, R,
                   [&](Value *n) { microkernel(n, R, colBase, panel, masked); }, "n");
          emitLoop(b, rowsFull, env.rowEnd, 1,
                   [&](Value *n) { microkernel(n, 1, colBase, panel, masked); }, "n1");
        };
        // Full panels store whole vectors; only a partial last panel masks.
        // Tiles start on panel boundaries and end at one or at `units`, so
        // when `units` is a multiple of the panel every panel is full.
        if (U % P == 0) {
          panelRows(false);
          return;
        }
        // With fewer units than one panel, the only panel is partial.
        if (U < P) {
          panelRows(true);
          return;
        }
        Function *fn = b.GetInsertBlock()->getParent();
        BasicBlock *full = BasicBlock::Create(b.getContext(), "panel.full", fn);
        BasicBlock *part = BasicBlock::Create(b.getContext(), "panel.partial", fn);
        BasicBlock *next = BasicBlock::Create(b.getContext(), "panel.done", fn);
        b.CreateCondBr(b.CreateICmpSLE(b.CreateAdd(colBase, env.i64(P)), colEnd), full, part);
        b.SetInsertPoint(full);
        panelRows(false);
        b.CreateBr(next);
        b.SetInsertPoint(part);
        panelRows(true);
        b.CreateBr(next);
        b.SetInsertPoint(next);
      },
      "p");
  if (softmax)
    emitSoftmaxRows(env, Y, Y, U, env.rowBegin, env.rowEnd);
}

} // namespace soma::codegen
