// linear, dense and dense_add: a register-blocked kernel over weight panels.
//
// Weights arrive packed in panels of P = V * W output neurons (see
// runtime::packPanels). For each panel and each block of R samples the
// kernel keeps R x V vector accumulators in registers and, for every input
// k, loads the panel's V weight vectors once and multiplies them by the R
// broadcast inputs (fused multiply-add). The epilogue adds the bias and
// applies the activation (after adding dense_add's residual, read once per
// output vector) while the tile is still in registers, then stores
// each output once (masked in a partial last panel). When R is above 4,
// at least R / 2 samples left over after the last full block run as one
// half block (H = R / 2 rows), so a small batch keeps most of the block's
// accumulators. Samples left over after that (all of batch 1) run one at a
// time over
// `lonePanels` panels side by side, so they too have several independent
// accumulators; each weight is still read once. With a K tile (k_tile),
// the full row blocks sum the inputs tile by tile, each tile over all of
// the call's row blocks, leaving partial sums in the output for the next
// tile to resume: every output is still one chain over the inputs in
// order, so the bits are those of the untiled kernel. The blocking comes
// from the op's Schedule (the schedule pass's cost model).
//
// A dense op whose activation is softmax cannot finish in registers (the
// softmax needs the whole row): its kernel writes the biased sums, then
// runs the softmax over each row of its result.
//
// lowerDense runs a DenseEmitter: fullBlocks (the row blocks, by K tiles),
// then loneSamples (lonePanels, after listing the nonzero inputs under
// skip_zero_inputs), each tile through microkernel (startSums, sumInputs,
// finishTile).
#include "Lowering.h"
#include "VectorMath.h"

#include <llvm/IR/IntrinsicsX86.h>

#include <functional>

namespace soma::codegen {

using namespace llvm;

WeightedSum::WeightedSum(const KernelEnv &env, const ir::Op &op, const SlotMap &slots)
    : inputs(op.operands[0]->type.sampleElements()), units(op.operands[1]->type.dims[0]),
      act(op.kind != ir::OpKind::Linear ? op.fn : ir::makeActivation(ir::ActKind::Identity)),
      softmax(ir::isRowwise(act.kind)), x(env.slotPtr(slots.at(op.operands[0]))),
      w(env.slotPtr(slots.at(op.operands[1]))),
      bias(op.kind != ir::OpKind::Linear ? env.slotPtr(slots.at(op.operands[2])) : nullptr),
      residual(op.kind == ir::OpKind::DenseAdd ? env.slotPtr(slots.at(op.operands[3])) : nullptr),
      y(env.slotPtr(slots.at(&op))) {}

void WeightedSum::finish(const KernelEnv &env, Value *value, Value *biasVec, Value *row, Value *col,
                         Value *mask) const {
  IRBuilder<> &b = env.b;
  if (biasVec)
    value = b.CreateFAdd(value, biasVec);
  Value *yIdx = b.CreateAdd(b.CreateMul(row, env.i64(units)), col);
  if (residual)
    value = b.CreateFAdd(value, env.loadVec(env.at(residual, yIdx), mask));
  if (act.kind != ir::ActKind::Identity && !softmax)
    value = emitActivation(b, act, value);
  env.storeVec(value, env.at(y, yIdx), mask);
}

namespace {

/// Which inputs a microkernel call sums: all of them (Whole), or one K
/// tile: the first (from zero), a middle or the last one (from the partial
/// sums left in Y); only Whole and Last finish with the epilogue.
enum class KPart { Whole, First, Middle, Last };

/// One microkernel call's tile: `rows` samples from n, by `panels`
/// consecutive panels from p; `masked` for a partial last panel (then
/// panels == 1).
struct Tile {
  Value *n;
  int64_t rows;
  Value *p;
  int64_t panels;
  bool masked;
};

/// The register-blocked kernel of one op: the op's shape, blocking and slot
/// pointers as members, one method per level of the loop nest.
class DenseEmitter {
public:
  DenseEmitter(const KernelEnv &env, const ir::Op &op, const SlotMap &slots,
               const ir::Schedule &schedule);
  /// The kernel: full row blocks, then lone samples, then (`rowSoftmax`)
  /// the softmax of a softmax dense.
  void emit(bool rowSoftmax);

private:
  // The tile's sums over the inputs [kBegin, kEnd) of `part`, finished
  // (Whole, Last) or stored as partial sums.
  void microkernel(const Tile &t, Value *kBegin, Value *kEnd, KPart part, Value *inputs = nullptr);
  Value *colOf(const Tile &t, int64_t g, int64_t v);
  Value *yIndex(const Tile &t, int64_t r, Value *col);
  std::vector<Value *> startSums(const Tile &t, KPart part);
  std::vector<Value *> sumInputs(const Tile &t, const std::vector<Value *> &base, Value *kBegin,
                                 Value *kEnd, Value *inputs, const std::vector<Value *> &init);
  void finishTile(const Tile &t, KPart part, const std::vector<Value *> &acc);
  void byFullness(Value *p, const std::function<void(bool)> &body);
  void fullBlocks();
  void rowBlocks(Value *p, bool masked, Value *kBegin, Value *kEnd, KPart part);
  void loneSamples();
  void loneSample(Value *n);
  Value *listNonzeroInputs(Value *n);
  void lonePanels(Value *n, Value *kEnd, Value *inputs);

  const KernelEnv &env;
  IRBuilder<> &b;
  const ir::Schedule &schedule;
  const WeightedSum ws;
  const int64_t K, U;
  const int64_t W, V, R; // lanes, vectors per panel, samples per block
  const int64_t H;       // samples in the half block after the full ones (0: none)
  const int64_t P;       // neurons per panel
  const Align vecAlign;
  Value *X, *Wp, *B, *Y;
  Value *colEnd;
  // Panels covering [colBegin, colEnd), the end of the full row blocks and
  // of the half block.
  Value *p0 = nullptr, *p1 = nullptr, *rowsFull = nullptr, *rowsHalf = nullptr;
  // skip_zero_inputs: the list of a lone sample's nonzero inputs (on the
  // stack), and the lanes' indices 0 .. W - 1.
  Value *nonzeroInputs = nullptr, *iota = nullptr;
};

DenseEmitter::DenseEmitter(const KernelEnv &env, const ir::Op &op, const SlotMap &slots,
                           const ir::Schedule &schedule)
    : env(env), b(env.b), schedule(schedule), ws(env, op, slots), K(ws.inputs), U(ws.units),
      W(schedule.vectorWidth), V(schedule.panelVectors), R(schedule.rowBlock), H(R > 4 ? R / 2 : 0),
      P(W * V), vecAlign(std::min<int64_t>(64, W * 4)), X(ws.x), Wp(ws.w), B(ws.bias), Y(ws.y),
      colEnd(env.colEnd) {}

void DenseEmitter::emit(bool rowSoftmax) {
  // Panels covering [colBegin, colEnd); tiles start on panel boundaries.
  p0 = b.CreateSDiv(env.colBegin, env.i64(P));
  p1 = b.CreateSDiv(b.CreateAdd(colEnd, env.i64(P - 1)), env.i64(P));
  Value *span = b.CreateSub(env.rowEnd, env.rowBegin);
  rowsFull = b.CreateAdd(env.rowBegin, b.CreateMul(b.CreateSDiv(span, env.i64(R)), env.i64(R)));
  rowsHalf = rowsFull;
  if (H > 0) // what is left is below R: one half block or none
    rowsHalf = b.CreateAdd(
        rowsFull,
        b.CreateMul(b.CreateSDiv(b.CreateSub(env.rowEnd, rowsFull), env.i64(H)), env.i64(H)));
  fullBlocks();
  loneSamples();
  if (ws.softmax && rowSoftmax)
    emitSoftmaxRows(env, Y, Y, U, env.rowBegin, env.rowEnd, ws.act.kind);
}

// Accumulator (g, r, v) sums sample n + r for neurons
// (p + g) * P + v * W .. + W - 1, over the inputs [kBegin, kEnd) of `part`.
// `inputs`: null, or the list of input indices to sum over (activation
// sparsity: the lone sample's nonzero inputs), kBegin .. kEnd then
// indexing the list.
void DenseEmitter::microkernel(const Tile &t, Value *kBegin, Value *kEnd, KPart part,
                               Value *inputs) {
  std::vector<Value *> base(t.panels);
  for (int64_t g = 0; g < t.panels; ++g)
    base[g] = env.at(Wp, b.CreateMul(b.CreateAdd(t.p, env.i64(g)), env.i64(K * P)));
  std::vector<Value *> init = startSums(t, part);
  finishTile(t, part, sumInputs(t, base, kBegin, kEnd, inputs, init));
}

Value *DenseEmitter::colOf(const Tile &t, int64_t g, int64_t v) {
  return b.CreateAdd(b.CreateMul(b.CreateAdd(t.p, env.i64(g)), env.i64(P)), env.i64(v * W));
}

Value *DenseEmitter::yIndex(const Tile &t, int64_t r, Value *col) {
  return b.CreateAdd(b.CreateMul(b.CreateAdd(t.n, env.i64(r)), env.i64(U)), col);
}

// The accumulators' start: zero, or (a later K tile) the partial sums the
// previous one left in Y.
std::vector<Value *> DenseEmitter::startSums(const Tile &t, KPart part) {
  const int64_t perPanel = t.rows * V;
  std::vector<Value *> init(t.panels * perPanel, Constant::getNullValue(env.vecTy()));
  if (part == KPart::Middle || part == KPart::Last)
    for (int64_t g = 0; g < t.panels; ++g)
      for (int64_t v = 0; v < V; ++v) {
        Value *col = colOf(t, g, v);
        Value *mask = t.masked ? env.tailMask(col, colEnd) : nullptr;
        for (int64_t r = 0; r < t.rows; ++r)
          init[g * perPanel + r * V + v] = env.loadVec(env.at(Y, yIndex(t, r, col)), mask);
      }
  return init;
}

// The loop over the inputs: per input the panels' V weight vectors loaded
// once (from the panels' `base`) and multiplied by the rows' broadcast
// inputs.
std::vector<Value *> DenseEmitter::sumInputs(const Tile &t, const std::vector<Value *> &base,
                                             Value *kBegin, Value *kEnd, Value *inputs,
                                             const std::vector<Value *> &init) {
  const int64_t perPanel = t.rows * V;
  return emitLoop(
      b, kBegin, kEnd, 1, init,
      [&](Value *k, const std::vector<Value *> &sum) {
        if (inputs)
          k = b.CreateZExt(
              b.CreateAlignedLoad(b.getInt32Ty(), b.CreateGEP(b.getInt32Ty(), inputs, k), Align(4)),
              b.getInt64Ty());
        Value *kOff = b.CreateMul(k, env.i64(P));
        std::vector<Value *> xb(t.rows);
        for (int64_t r = 0; r < t.rows; ++r) {
          Value *xIdx = b.CreateAdd(b.CreateMul(b.CreateAdd(t.n, env.i64(r)), env.i64(K)), k);
          xb[r] = env.splat(b.CreateAlignedLoad(env.f32(), env.at(X, xIdx), Align(4)));
        }
        std::vector<Value *> next(sum.size());
        for (int64_t g = 0; g < t.panels; ++g)
          for (int64_t v = 0; v < V; ++v) {
            Value *wv = b.CreateAlignedLoad(
                env.vecTy(), env.at(base[g], b.CreateAdd(kOff, env.i64(v * W))), vecAlign);
            for (int64_t r = 0; r < t.rows; ++r) {
              const int64_t i = g * perPanel + r * V + v;
              next[i] = b.CreateIntrinsic(Intrinsic::fmuladd, {env.vecTy()}, {xb[r], wv, sum[i]});
            }
          }
        return next;
      },
      "k");
}

// The epilogue of a Whole or Last part (bias, residual, activation, one
// store per output vector), or the partial sums of a First or Middle one.
void DenseEmitter::finishTile(const Tile &t, KPart part, const std::vector<Value *> &acc) {
  const int64_t perPanel = t.rows * V;
  const bool finish = part == KPart::Whole || part == KPart::Last;
  for (int64_t g = 0; g < t.panels; ++g)
    for (int64_t v = 0; v < V; ++v) {
      Value *col = colOf(t, g, v);
      Value *bias =
          B && finish ? b.CreateAlignedLoad(env.vecTy(), env.at(B, col), vecAlign) : nullptr;
      Value *mask = t.masked ? env.tailMask(col, colEnd) : nullptr;
      for (int64_t r = 0; r < t.rows; ++r) {
        Value *value = acc[g * perPanel + r * V + v];
        if (finish)
          ws.finish(env, value, bias, b.CreateAdd(t.n, env.i64(r)), col, mask);
        else // the partial sums, exactly as they are, for the next K tile
          env.storeVec(value, env.at(Y, yIndex(t, r, col)), mask);
      }
    }
}

// Emits `body(masked)` for panel p: unmasked when the panel is full,
// masked when it is the partial last one. Tiles start on panel
// boundaries and end at one or at `units`, so when `units` is a multiple
// of the panel every panel is full, and with fewer units than one panel
// the only panel is partial.
void DenseEmitter::byFullness(Value *p, const std::function<void(bool)> &body) {
  if (U % P == 0 || U < P) {
    body(U < P);
    return;
  }
  Function *fn = b.GetInsertBlock()->getParent();
  BasicBlock *full = BasicBlock::Create(b.getContext(), "panel.full", fn);
  BasicBlock *part = BasicBlock::Create(b.getContext(), "panel.partial", fn);
  BasicBlock *next = BasicBlock::Create(b.getContext(), "panel.done", fn);
  Value *colBase = b.CreateMul(p, env.i64(P));
  b.CreateCondBr(b.CreateICmpSLE(b.CreateAdd(colBase, env.i64(P)), colEnd), full, part);
  b.SetInsertPoint(full);
  body(false);
  b.CreateBr(next);
  b.SetInsertPoint(part);
  body(true);
  b.CreateBr(next);
  b.SetInsertPoint(next);
}

// Full blocks of R samples, panel by panel; with K tiles, tile by tile
// over all of the call's row blocks, so a panel's weights for one K tile
// are read from L1 by every block after the first.
void DenseEmitter::fullBlocks() {
  const int64_t KT = schedule.kTile > 0 && schedule.kTile < K ? schedule.kTile : K;
  const int64_t lastBegin = KT < K ? (K - 1) / KT * KT : 0; // K tiles only: KT >= 1
  emitLoop(
      b, p0, p1, 1,
      [&](Value *p) {
        byFullness(p, [&](bool masked) {
          if (KT == K) {
            rowBlocks(p, masked, env.i64(0), env.i64(K), KPart::Whole);
            return;
          }
          rowBlocks(p, masked, env.i64(0), env.i64(KT), KPart::First);
          emitLoop(
              b, env.i64(KT), env.i64(lastBegin), KT,
              [&](Value *k0) {
                rowBlocks(p, masked, k0, b.CreateAdd(k0, env.i64(KT)), KPart::Middle);
              },
              "kt");
          rowBlocks(p, masked, env.i64(lastBegin), env.i64(K), KPart::Last);
        });
      },
      "p");
}

void DenseEmitter::rowBlocks(Value *p, bool masked, Value *kBegin, Value *kEnd, KPart part) {
  emitLoop(
      b, env.rowBegin, rowsFull, R,
      [&](Value *n) {
        microkernel({n, R, p, 1, masked}, kBegin, kEnd, part);
      },
      "n");
  if (H > 0)
    emitLoop(
        b, rowsFull, rowsHalf, H,
        [&](Value *n) {
          microkernel({n, H, p, 1, masked}, kBegin, kEnd, part);
        },
        "nh");
}

// Activation sparsity (schedule skip_zero_inputs): a lone sample's
// nonzero inputs are listed first (a compress-store per vector of x), and
// when at most 3/8 of them are nonzero the panels run over the list only,
// skipping the weight rows of zero inputs. A skipped term is w * 0 = +-0
// (the weights are finite: the cost model checks), and the sums start at
// +0, which adding +-0 never changes: the bits are the full loop's.
void DenseEmitter::loneSamples() {
  if (schedule.skipZeroInputs) {
    Function *fn = b.GetInsertBlock()->getParent();
    IRBuilder<> entry(&fn->getEntryBlock(), fn->getEntryBlock().begin());
    assert(W == 16 && "the cost model sets skip_zero_inputs with AVX-512 only");
    AllocaInst *list = entry.CreateAlloca(b.getInt32Ty(), env.i64(K + W), "nonzero.inputs");
    list->setAlignment(Align(64));
    nonzeroInputs = list;
    SmallVector<Constant *, 16> lanes;
    for (int64_t l = 0; l < W; ++l)
      lanes.push_back(b.getInt32(static_cast<uint32_t>(l)));
    iota = ConstantVector::get(lanes);
  }
  emitLoop(
      b, rowsHalf, env.rowEnd, 1, [&](Value *n) { loneSample(n); }, "n1");
}

void DenseEmitter::loneSample(Value *n) {
  if (!nonzeroInputs) {
    lonePanels(n, env.i64(K), nullptr);
    return;
  }
  Value *count = listNonzeroInputs(n);
  Function *fn = b.GetInsertBlock()->getParent();
  BasicBlock *listed = BasicBlock::Create(b.getContext(), "lone.listed", fn);
  BasicBlock *all = BasicBlock::Create(b.getContext(), "lone.all", fn);
  BasicBlock *done = BasicBlock::Create(b.getContext(), "lone.done", fn);
  b.CreateCondBr(b.CreateICmpSLE(b.CreateMul(count, env.i64(8)), env.i64(3 * K)), listed, all);
  b.SetInsertPoint(listed);
  lonePanels(n, count, nonzeroInputs);
  b.CreateBr(done);
  b.SetInsertPoint(all);
  lonePanels(n, env.i64(K), nullptr);
  b.CreateBr(done);
  b.SetInsertPoint(done);
}

// Lists sample n's nonzero inputs in nonzeroInputs; returns their count.
Value *DenseEmitter::listNonzeroInputs(Value *n) {
  auto *lanesTy = FixedVectorType::get(b.getInt32Ty(), static_cast<unsigned>(W));
  Value *xRow = env.at(X, b.CreateMul(n, env.i64(K)));
  return emitVectorColumns(
      env, env.i64(0), env.i64(K), {env.i64(0)},
      [&](Value *col, Value *mask, const std::vector<Value *> &carried) {
        Value *xv = env.loadVec(env.at(xRow, col), mask);
        // NaN is kept (unordered), +-0 dropped.
        Value *nonzero = b.CreateFCmpUNE(xv, Constant::getNullValue(env.vecTy()));
        nonzero = mask ? b.CreateAnd(nonzero, mask) : nonzero;
        Value *index = b.CreateAdd(
            b.CreateVectorSplat(static_cast<unsigned>(W), b.CreateTrunc(col, b.getInt32Ty())),
            iota);
        // Compressed in registers, stored whole: the lanes past the
        // nonzeros are overwritten by the next store or never read
        // (vpcompressd to memory is microcoded on Zen 4).
        Value *packed = b.CreateIntrinsic(Intrinsic::x86_avx512_mask_compress, {lanesTy},
                                          {index, Constant::getNullValue(lanesTy), nonzero});
        b.CreateAlignedStore(packed, b.CreateGEP(b.getInt32Ty(), nonzeroInputs, carried[0]),
                             Align(4));
        Value *found = b.CreateIntrinsic(Intrinsic::vector_reduce_add, {lanesTy},
                                         {b.CreateZExt(nonzero, lanesTy)});
        return std::vector<Value *>{b.CreateAdd(carried[0], b.CreateZExt(found, b.getInt64Ty()))};
      })[0];
}

// Lone sample n over inputs [0, kEnd) (or the first kEnd of the list
// `inputs`): groups of G full panels side by side, then the remaining
// panels one at a time. (Only full panels are grouped: never more than the
// layer has.)
void DenseEmitter::lonePanels(Value *n, Value *kEnd, Value *inputs) {
  const int64_t G = std::max<int64_t>(1, std::min(schedule.lonePanels, U / P));
  Value *pFull = b.CreateSelect(b.CreateICmpSLT(p1, env.i64(U / P)), p1, env.i64(U / P));
  Value *groups = b.CreateSDiv(b.CreateSub(pFull, p0), env.i64(G));
  groups = b.CreateSelect(b.CreateICmpSGT(groups, env.i64(0)), groups, env.i64(0));
  Value *pGrouped = b.CreateAdd(p0, b.CreateMul(groups, env.i64(G)));
  if (G > 1)
    emitLoop(
        b, p0, pGrouped, G,
        [&](Value *p) {
          microkernel({n, 1, p, G, false}, env.i64(0), kEnd, KPart::Whole, inputs);
        },
        "pg");
  else
    pGrouped = p0;
  emitLoop(
      b, pGrouped, p1, 1,
      [&](Value *p) {
        byFullness(p, [&](bool masked) {
          microkernel({n, 1, p, 1, masked}, env.i64(0), kEnd, KPart::Whole, inputs);
        });
      },
      "p1");
}

} // namespace

void lowerDense(const KernelEnv &env, const ir::Op &op, const SlotMap &slots,
                const ir::Schedule &schedule, bool rowSoftmax) {
  DenseEmitter(env, op, slots, schedule).emit(rowSoftmax);
}

} // namespace soma::codegen
