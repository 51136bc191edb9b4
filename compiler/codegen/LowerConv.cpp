// conv: a direct convolution, one kernel call per range of the result's
// rows (sample, output channel, output row) and columns (output positions
// along W, or L in 1-D). Output positions run in the vector lanes; for each
// input channel of the group (a loop) and each tap (unrolled: kernel sizes
// are constants), the inputs the tap meets are one masked load for a stride
// of 1 (a gather for longer strides), masked to the lanes whose input
// position is inside x (and to none when the tap's input row is padding),
// and one fused multiply-add with the tap's weight broadcast. Then the bias,
// the residual (conv_add: one load of r at the result's position) and the
// activation in registers, and one store. Each output is one chain
// in (channel, kh, kw) order whatever the tile, so results do not depend
// on the tiling. The weights are read unpacked, [O, C / groups, kH, kW].
#include "Lowering.h"
#include "VectorMath.h"

#include "soma/ir/Spatial.h"

namespace soma::codegen {

using namespace llvm;

void lowerConv(const KernelEnv &env, const ir::Op &op, const SlotMap &slots) {
  IRBuilder<> &b = env.b;
  const ir::WindowGeometry g = ir::windowGeometry(op);
  const int64_t cg = g.inChannelsPerGroup(), og = g.outChannelsPerGroup();
  const int64_t taps = g.kH * g.kW;
  Value *X = env.slotPtr(slots.at(op.operands[0]));
  Value *Wt = env.slotPtr(slots.at(op.operands[1]));
  Value *B = env.slotPtr(slots.at(op.operands[2]));
  Value *Y = env.slotPtr(slots.at(&op));
  Value *R = op.kind == ir::OpKind::ConvAdd ? env.slotPtr(slots.at(op.operands[3])) : nullptr;
  auto vsplat = [&](Value *v) { return b.CreateVectorSplat(env.width, v); };
  std::vector<Constant *> laneIds;
  for (int i = 0; i < env.width; ++i)
    laneIds.push_back(b.getInt64(i));
  Value *lanes = ConstantVector::get(laneIds);

  emitLoop(
      b, env.rowBegin, env.rowEnd, 1,
      [&](Value *row) {
        Value *oh = b.CreateSRem(row, env.i64(g.outH));
        Value *plane = b.CreateSDiv(row, env.i64(g.outH)); // n * O + o
        Value *o = b.CreateSRem(plane, env.i64(g.outChannels));
        Value *n = b.CreateSDiv(plane, env.i64(g.outChannels));
        Value *firstChannel = b.CreateAdd(b.CreateMul(n, env.i64(g.inChannels)),
                                          b.CreateMul(b.CreateSDiv(o, env.i64(og)), env.i64(cg)));
        Value *wFilter = b.CreateMul(o, env.i64(cg * taps));
        Value *bias = vsplat(b.CreateAlignedLoad(env.f32(), env.at(B, o), Align(4)));
        Value *ih0 = b.CreateSub(b.CreateMul(oh, env.i64(g.strideH)), env.i64(g.padTop));
        emitVectorColumns(env, env.colBegin, env.colEnd, [&](Value *col, Value *mask) {
          Value *ow = b.CreateAdd(vsplat(col), lanes);
          Value *iwBase =
              b.CreateSub(b.CreateMul(ow, vsplat(env.i64(g.strideW))), vsplat(env.i64(g.padLeft)));
          Value *zero = Constant::getNullValue(env.vecTy());
          std::vector<Value *> acc = emitLoop(
              b, env.i64(0), env.i64(cg), 1, {zero},
              [&](Value *ci, const std::vector<Value *> &carried) {
                Value *sum = carried[0];
                Value *xPlane = b.CreateMul(b.CreateAdd(firstChannel, ci), env.i64(g.inPlane()));
                Value *wTaps = b.CreateAdd(wFilter, b.CreateMul(ci, env.i64(taps)));
                for (int64_t kh = 0; kh < g.kH; ++kh) {
                  Value *ih = b.CreateAdd(ih0, env.i64(kh * g.dilH));
                  Value *rowInside = b.CreateAnd(b.CreateICmpSGE(ih, env.i64(0)),
                                                 b.CreateICmpSLT(ih, env.i64(g.inH)));
                  // A row of padding: every lane off, its address kept in x.
                  Value *ihSafe = b.CreateSelect(rowInside, ih, env.i64(0));
                  Value *xRow = b.CreateAdd(xPlane, b.CreateMul(ihSafe, env.i64(g.inW)));
                  for (int64_t kw = 0; kw < g.kW; ++kw) {
                    Value *iw = b.CreateAdd(iwBase, vsplat(env.i64(kw * g.dilW)));
                    Value *on = b.CreateAnd(b.CreateICmpSGE(iw, vsplat(env.i64(0))),
                                            b.CreateICmpSLT(iw, vsplat(env.i64(g.inW))));
                    on = b.CreateAnd(on, vsplat(rowInside));
                    if (mask)
                      on = b.CreateAnd(on, mask);
                    Value *xs;
                    if (g.strideW == 1) {
                      Value *first =
                          b.CreateAdd(xRow, b.CreateSub(col, env.i64(g.padLeft - kw * g.dilW)));
                      xs = b.CreateMaskedLoad(env.vecTy(), b.CreateGEP(env.f32(), X, first),
                                              Align(4), on, zero);
                    } else {
                      Value *ptrs = b.CreateGEP(env.f32(), X, b.CreateAdd(vsplat(xRow), iw));
                      xs = b.CreateMaskedGather(env.vecTy(), ptrs, Align(4), on, zero);
                    }
                    Value *w = b.CreateAlignedLoad(
                        env.f32(), env.at(Wt, b.CreateAdd(wTaps, env.i64(kh * g.kW + kw))),
                        Align(4));
                    sum =
                        b.CreateIntrinsic(Intrinsic::fmuladd, {env.vecTy()}, {xs, vsplat(w), sum});
                  }
                }
                return std::vector<Value *>{sum};
              },
              "ci");
          Value *y = b.CreateFAdd(acc[0], bias);
          Value *at = b.CreateAdd(b.CreateMul(row, env.i64(g.outW)), col);
          if (R)
            y = b.CreateFAdd(y, env.loadVec(env.at(R, at), mask));
          if (op.fn.kind != ir::ActKind::Identity)
            y = emitActivation(b, op.fn, y);
          env.storeVec(y, env.at(Y, at), mask);
        });
      },
      "row");
}

} // namespace soma::codegen
