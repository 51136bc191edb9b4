// linear, dense and dense_add with kernel = "sparse": a weighted sum over
// the nonzero weights only.
//
// Weights arrive packed by runtime::packSparse. For the sample blocks:
// strips of S inputs (runtime::sparseStripInputs: 256 for V = 16, wider
// for layers with few nonzeros per row), and per
// strip and output neuron the neuron's nonzeros in the strip (value, input
// index) in input order, with a start table; no padding. For lone samples,
// as the schedule's `lone` says: entries over groups of V neurons (the
// vector width), entry e holding the e-th nonzero (value, input index) of
// each of the group's V neurons in input order (a neuron with fewer
// nonzeros than the group's longest padded with value 0 at input 0); or,
// with lone = "chunked" (V = 16 only), chunked entries: per chunk of 32
// inputs, entry e holds the e-th nonzero in the chunk of each neuron
// (value, and its position in the chunk as a byte), padded likewise.
// Indices are 16-bit when the layer has at most 65536 inputs
// (runtime::sparseIndexBytes). A header gives the offsets and counts.
//
// Two paths, chosen per sample block inside one call:
//   1. Blocks of V samples (and a last partial block of at least V / 2):
//      the block's inputs are transposed in registers into a feature-major
//      scratch (xT[k] = the block's V samples of input k, one vector). Then
//      pairs of blocks (an odd last one alone) run strip by strip: per
//      neuron one accumulator per block, samples in the lanes,
//      acc += broadcast(w) * xT[k] over the neuron's nonzeros in the strip,
//      two neurons side by side over their common run length, then the
//      longer one's rest. The strip's inputs of both blocks (S * 2V floats,
//      32 KiB) stay in L1 while every neuron reads them; between strips each
//      accumulator waits in the block's partial sums (one vector per
//      neuron, in the scratch). After the last strip the partial sums of
//      each group of V neurons are transposed in registers to sample-major,
//      the bias (contiguous over the group's neurons) and the residual
//      added, the activation applied, and V rows of V outputs stored
//      (masked for a partial group or block).
//      With baked = true (small layers) the strips are straight-line code
//      generated from the weights: per nonzero its value loaded from a
//      constant place and one FMA per block on xT at a constant offset.
//      In a chain of sparse kernels (SparseChain, from jit::LoweringPlan)
//      the full blocks between them stay feature-major: a kernel with
//      chain.out stores each full block's sums per neuron (the bias
//      broadcast, the activation applied, one vector of the V samples per
//      neuron, [neuron][sample] in the block's own V rows of y), and one
//      with chain.in reads its full blocks' xT from x where they are,
//      transposing only a partial block. Partial blocks and lone samples
//      stay sample-major, and a call's full blocks are the same for every
//      kernel of the chain (row tiles are multiples of V).
//   2. Lone samples (batch 1, the rest of a batch): a matrix-vector product,
//      as the schedule's `lone` says (the cost model's choice:
//      docs/passes.md):
//      a. chunked: one accumulator per group, lanes = neurons, two groups
//         side by side; per chunk x's 32 inputs in two registers, and per
//         entry acc += w_e * permute(x chunk, positions_e): one vpermi2ps
//         and one vector FMA per 16 nonzeros;
//      b. scalar: over the entries, V scalar chains per group,
//         one per neuron, acc_j += w_j,e * x[k_j,e] (x's row is in L1;
//         scalar loads beat a V-lane gather, ~20 cycles on Zen 4), the sums
//         inserted into one vector;
//      c. packed: lowerDense over the weights packed in panels of V
//         neurons in another slot (for layers dense enough that batch 1
//         loses with a and b while the blocks still gain).
//      Then the bias, residual and activation as in 1.
// Each output element is reduced over its nonzeros in input order by one
// fused multiply-add chain in one call (the scalar lone path's padding
// adds an exact 0), whatever the tiles: results are bit-identical for any
// thread count, and equal to the dense kernel's but for the 0 * x terms it
// skips (which only matter when x is infinite or NaN) and the sign of a
// zero sum (lone = "packed": lone rows are the dense kernel's, 0 * x terms
// included).
//
// The scratch is the op's extra Temp slot (LoweringPlan::scratchOf),
// runtime::sparseScratchPerSample floats per sample: the block at sample
// n uses [n * T, (n + V) * T), T = inputs + units rounded up to V (its
// transposed inputs, then its partial sums), which stays in the slot even
// for the last partial block because it holds at least V / 2 samples. Row
// tiles are multiples of V and a call that makes a block computes whole
// rows, so no two calls share a block's scratch. Only a run of fewer than
// V / 2 rows, which makes no block and touches no scratch, is cut into
// column tiles
// (runtime::Step::smallRows, from sparseRules in compiler/jit/JitEngine.cpp):
// each call takes all the run's rows and the groups g0..g1 of its column
// range, which starts on a multiple of V and ends on one or at the layer's
// width (the partial last group's mask uses colEnd; lone = "packed" uses
// panels of V neurons for the same reason). With softmax a call
// normalises whole rows, so such a layer is never cut.
//
// The code: lowerSparse runs a SparseEmitter (SparseEmitter.h), whose
// methods follow the phases above. This file holds the operands and the
// sample blocks (sampleBlocks: transposeBlocks, then runBlocks' strip
// passes, each strips, then epilogue; the baked and 4x1 paths are
// bakedStrips and stripQuads); LowerSparseLone.cpp holds path 2
// (loneSamples: lonePacked, loneChunked, loneScalar).
#include "SparseEmitter.h"
#include "VectorMath.h"
#include "soma/runtime/Packing.h"

#include <llvm/IR/InlineAsm.h>
#include <llvm/IR/Intrinsics.h>

#include <algorithm>

namespace soma::codegen {

using namespace llvm;

namespace {

/// Transposes a square block of vectors (rows[r] lane c -> result[c] lane
/// r) with log2(V) stages of two-source shuffles: stage b swaps bit b of the
/// row and column index.
std::vector<Value *> transposeSquare(IRBuilder<> &b, std::vector<Value *> m) {
  const int n = static_cast<int>(m.size());
  for (int bit = 1; bit < n; bit <<= 1) {
    SmallVector<int, 16> lo(n), hi(n);
    for (int c = 0; c < n; ++c) {
      lo[c] = (c & bit) ? n + c - bit : c;
      hi[c] = (c & bit) ? n + c : c + bit;
    }
    for (int r = 0; r < n; ++r) {
      if (r & bit)
        continue;
      Value *a = m[r], *c = m[r | bit];
      m[r] = b.CreateShuffleVector(a, c, lo);
      m[r | bit] = b.CreateShuffleVector(a, c, hi);
    }
  }
  return m;
}

/// Mask `x` and `y`, either of which may be null (all lanes).
Value *andMask(IRBuilder<> &b, Value *x, Value *y) {
  if (!x)
    return y;
  if (!y)
    return x;
  return b.CreateAnd(x, y);
}

} // namespace

SparseEmitter::SparseEmitter(const KernelEnv &env, const ir::Op &op, const SlotMap &slots,
                             int scratchSlot, int panelsSlot, const ir::Schedule &schedule,
                             SparseChain chain)
    : env(env), b(env.b), op(op), weights(*op.operands[1]), slots(slots), panelsSlot(panelsSlot),
      schedule(schedule), chain(chain), lone(schedule.lone), ws(env, op, slots), K(ws.inputs),
      U(ws.units), V(schedule.vectorWidth), unitsRounded((U + V - 1) / V * V),
      partialGroups(U % V != 0), entryFloats(runtime::sparseEntryFloats(V, K)), i32(b.getInt32Ty()),
      idxTy(runtime::sparseIndexBytes(K) == 2 ? b.getInt16Ty() : i32), X(ws.x), Wp(ws.w),
      B(ws.bias), Y(ws.y) {
  assert(V == env.width && "the sparse schedule's vector width is the target's");
  assert(!(chain.out && (ws.residual || ws.softmax)) &&
         "a chained kernel's epilogue has no row-wise terms");
  XT = env.slotPtr(scratchSlot);
  g0 = b.CreateSDiv(env.colBegin, env.i64(V));
  g1 = b.CreateSDiv(b.CreateAdd(env.colEnd, env.i64(V - 1)), env.i64(V));
  // The strip width is the packing's choice (runtime::sparseStripInputs).
  stripCount = headerField(env.i64(0), 7);
  starts = b.CreateGEP(i32, Wp, headerField(env.i64(0), 4), "strip.starts");
  values = env.at(Wp, headerField(env.i64(0), 5));
  indices = b.CreateGEP(b.getInt8Ty(), Wp, b.CreateMul(headerField(env.i64(0), 6), env.i64(4)),
                        "strip.indices");
}

void SparseEmitter::emit() {
  sampleBlocks();
  loneSamples();
  if (ws.softmax)
    emitSoftmaxRows(env, Y, Y, U, env.rowBegin, env.rowEnd, ws.act.kind);
}

// Field f of group g's header (runtime::packSparse), as i64.
Value *SparseEmitter::headerField(Value *g, int64_t f) {
  Value *at = b.CreateAdd(b.CreateMul(g, env.i64(runtime::kSparseHeaderFields)), env.i64(f));
  Value *v = b.CreateAlignedLoad(i32, b.CreateGEP(i32, Wp, at), Align(4), "group.field");
  return b.CreateZExt(v, b.getInt64Ty());
}

// The scratch of the block of V samples from n0 (runtime::
// sparseScratchPerSample): its transposed inputs, then its partial sums.
Value *SparseEmitter::blockBase(Value *n0) {
  return env.at(XT, b.CreateMul(n0, env.i64(K + unitsRounded)));
}

// Whether the block from n0 is full: in a chain, x's (chain.in) or y's
// (chain.out) feature-major block.
Value *SparseEmitter::isFull(Value *n0) {
  return b.CreateICmpSLE(b.CreateAdd(n0, env.i64(V)), rowsFull);
}

// The mask of the group of V neurons from `col` (null when every group is
// whole).
Value *SparseEmitter::groupMask(Value *col) {
  return partialGroups ? env.tailMask(col, env.colEnd) : nullptr;
}

// The epilogue of the V neurons from `col` of sample `row`, under the
// lanes both masks allow (the bias under the column mask).
void SparseEmitter::finish(Value *value, Value *row, Value *col, Value *colMask, Value *rowMask) {
  Value *bias = B ? env.loadVec(env.at(B, col), colMask) : nullptr;
  ws.finish(env, value, bias, row, col, andMask(b, colMask, rowMask));
}

// Full blocks of V samples, then a partial block of at least V / 2 (or
// lone samples). All the call's blocks are transposed first; then the
// blocks run the strips in pairs, the last odd one alone.
void SparseEmitter::sampleBlocks() {
  Value *span = b.CreateSub(env.rowEnd, env.rowBegin);
  rowsFull = b.CreateAdd(env.rowBegin, b.CreateMul(b.CreateSDiv(span, env.i64(V)), env.i64(V)));
  Value *rest = b.CreateSub(env.rowEnd, rowsFull);
  Value *hasPartial = b.CreateICmpSGE(rest, env.i64(std::max<int64_t>(1, V / 2)));
  blocksEnd = b.CreateSelect(hasPartial, env.rowEnd, rowsFull);
  Function *fn = b.GetInsertBlock()->getParent();
  BasicBlock *blocks = BasicBlock::Create(b.getContext(), "blocks", fn);
  BasicBlock *afterBlocks = BasicBlock::Create(b.getContext(), "blocks.done", fn);
  b.CreateCondBr(b.CreateICmpSGT(blocksEnd, env.rowBegin), blocks, afterBlocks);
  b.SetInsertPoint(blocks);
  transposeBlocks(rest, hasPartial);
  runBlocks(hasPartial, afterBlocks);
  b.SetInsertPoint(afterBlocks);
}

// The call's full blocks (unless x's are feature-major already, in a
// chain), then its partial block of `rest` samples if it has one.
void SparseEmitter::transposeBlocks(Value *rest, Value *hasPartial) {
  if (!chain.in)
    emitLoop(
        b, env.rowBegin, rowsFull, V, [&](Value *n0) { transposeBlock(n0, nullptr); }, "n");
  Function *fn = b.GetInsertBlock()->getParent();
  BasicBlock *partial = BasicBlock::Create(b.getContext(), "block.partial", fn);
  BasicBlock *transposed = BasicBlock::Create(b.getContext(), "block.done", fn);
  b.CreateCondBr(hasPartial, partial, transposed);
  b.SetInsertPoint(partial);
  transposeBlock(rowsFull, rest);
  b.CreateBr(transposed);
  b.SetInsertPoint(transposed);
}

// The block of V samples from n0, `valid` of them real (a Value, or null
// for a full block), transposed into its scratch.
void SparseEmitter::transposeBlock(Value *n0, Value *valid) {
  Value *xt = blockBase(n0);
  const int64_t kFull = K / V * V;
  if (kFull > 0)
    emitLoop(
        b, env.i64(0), env.i64(kFull), V, [&](Value *k0) { transposeChunk(xt, n0, valid, k0, V); },
        "kt");
  if (K % V)
    transposeChunk(xt, n0, valid, env.i64(kFull), K % V);
}

// Transposes x[n0 .. n0 + V, k0 .. k0 + cols) into xt[k * V + lane], V x V
// at a time; missing samples read as 0.
void SparseEmitter::transposeChunk(Value *xt, Value *n0, Value *valid, Value *k0, int64_t cols) {
  Value *colMask = cols < V ? env.tailMask(k0, b.CreateAdd(k0, env.i64(cols))) : nullptr;
  std::vector<Value *> rows(V);
  for (int64_t r = 0; r < V; ++r) {
    Value *rowMask = valid ? b.CreateVectorSplat(V, b.CreateICmpSLT(env.i64(r), valid)) : nullptr;
    Value *src = env.at(X, b.CreateAdd(b.CreateMul(b.CreateAdd(n0, env.i64(r)), env.i64(K)), k0));
    rows[r] = env.loadVec(src, andMask(b, colMask, rowMask));
  }
  std::vector<Value *> byInput = transposeSquare(b, rows);
  for (int64_t j = 0; j < cols; ++j)
    env.storeVec(byInput[j], env.at(xt, b.CreateMul(b.CreateAdd(k0, env.i64(j)), env.i64(V))),
                 nullptr);
}

// The transposed blocks in pairs, then an odd last one alone; both end in
// a branch to `afterBlocks`.
void SparseEmitter::runBlocks(Value *hasPartial, BasicBlock *afterBlocks) {
  Value *blockCount = b.CreateSDiv(b.CreateSub(blocksEnd, env.rowBegin), env.i64(V));
  blockCount = b.CreateAdd(blockCount, b.CreateZExt(hasPartial, b.getInt64Ty()));
  Value *pairs = b.CreateSDiv(blockCount, env.i64(2));
  emitLoop(
      b, env.i64(0), pairs, 1,
      [&](Value *i) {
        Value *n0 = b.CreateAdd(env.rowBegin, b.CreateMul(i, env.i64(2 * V)));
        stripPass({n0, b.CreateAdd(n0, env.i64(V))});
      },
      "n2");
  Function *fn = b.GetInsertBlock()->getParent();
  BasicBlock *odd = BasicBlock::Create(b.getContext(), "block.odd", fn);
  b.CreateCondBr(b.CreateICmpNE(b.CreateSRem(blockCount, env.i64(2)), env.i64(0)), odd,
                 afterBlocks);
  b.SetInsertPoint(odd);
  stripPass(
      {b.CreateAdd(env.rowBegin, b.CreateMul(b.CreateSub(blockCount, env.i64(1)), env.i64(V)))});
  b.CreateBr(afterBlocks);
}

// The strips for blocks `n0s` (one or two, each V samples; a partial
// block's missing samples are zeros in its scratch), then their epilogue.
void SparseEmitter::stripPass(const std::vector<Value *> &n0s) {
  const size_t P = n0s.size();
  Blocks blocks{n0s, std::vector<Value *>(P), std::vector<Value *>(P), nullptr, nullptr};
  for (size_t p = 0; p < P; ++p) {
    Value *scratch = blockBase(n0s[p]);
    blocks.sums[p] = env.at(scratch, env.i64(V * K));
    blocks.xt[p] = chain.in
                       ? b.CreateSelect(isFull(n0s[p]), env.at(X, b.CreateMul(n0s[p], env.i64(K))),
                                        scratch, "xt")
                       : scratch;
  }
  blocks.u0 = b.CreateMul(g0, env.i64(V));
  blocks.u1 = b.CreateMul(g1, env.i64(V));
  strips(blocks);
  epilogue(blocks);
}

// Per strip of stripInputs inputs and per neuron u, one accumulator per
// block (lanes = samples), acc += broadcast(w) * xT[k] over u's nonzeros in
// the strip; each accumulator starts at 0 in the first strip and is kept
// in the block's partial sums between strips. The strip's inputs of both
// blocks (32 KiB) stay in L1 while every neuron reads them.
void SparseEmitter::strips(const Blocks &blocks) {
  if (schedule.baked) {
    bakedStrips(blocks);
    return;
  }
  strip(blocks, env.i64(0), true);
  emitLoop(
      b, env.i64(1), stripCount, 1, [&](Value *s) { strip(blocks, s, false); }, "s");
}

// Strip s, `first` the one whose sums start from zero.
void SparseEmitter::strip(const Blocks &blocks, Value *s, bool first) {
  if (schedule.block == ir::BlockPattern::FourByOne)
    stripQuads(blocks, s, first);
  else
    stripPairs(blocks, s, first);
}

// Nonzero q's input offset in the transposed block (index * V).
Value *SparseEmitter::inputAt(Value *q) {
  Value *k = b.CreateZExt(b.CreateAlignedLoad(idxTy, b.CreateGEP(idxTy, indices, q), Align(2)),
                          b.getInt64Ty());
  return b.CreateMul(k, env.i64(V));
}

// Entry `at` of the start table, as i64.
Value *SparseEmitter::start(Value *at) {
  return b.CreateZExt(b.CreateAlignedLoad(i32, b.CreateGEP(i32, starts, at), Align(4)),
                      b.getInt64Ty());
}

// The multiply-adds of nonzero q into one accumulator per block.
std::vector<Value *> SparseEmitter::multiplyAdd(const Blocks &blocks, Value *q,
                                                const std::vector<Value *> &sum) {
  const size_t P = blocks.size();
  Value *wv = env.splat(b.CreateAlignedLoad(env.f32(), env.at(values, q), Align(4)));
  Value *kOff = inputAt(q);
  std::vector<Value *> next(P);
  for (size_t p = 0; p < P; ++p) {
    Value *xv = b.CreateAlignedLoad(env.vecTy(), env.at(blocks.xt[p], kOff), Align(4));
    next[p] = b.CreateIntrinsic(Intrinsic::fmuladd, {env.vecTy()}, {wv, xv, sum[p]});
  }
  return next;
}

// Neurons u .. u + n - 1's accumulators (n * P), from zero in the first
// strip, else from the partial sums.
std::vector<Value *> SparseEmitter::loadSums(const Blocks &blocks, Value *u, int64_t n,
                                             bool first) {
  const size_t P = blocks.size();
  std::vector<Value *> init(n * P);
  for (int64_t j = 0; j < n; ++j)
    for (size_t p = 0; p < P; ++p)
      init[j * P + p] =
          first ? static_cast<Value *>(Constant::getNullValue(env.vecTy()))
                : b.CreateAlignedLoad(
                      env.vecTy(),
                      env.at(blocks.sums[p], b.CreateMul(b.CreateAdd(u, env.i64(j)), env.i64(V))),
                      Align(4));
  return init;
}

// Neuron u + j's accumulators (one per block) to the partial sums.
void SparseEmitter::storeSums(const Blocks &blocks, Value *u, int64_t j,
                              const std::vector<Value *> &acc) {
  for (size_t p = 0; p < blocks.size(); ++p)
    b.CreateAlignedStore(
        acc[p], env.at(blocks.sums[p], b.CreateMul(b.CreateAdd(u, env.i64(j)), env.i64(V))),
        Align(4));
}

// Strip s over the call's neurons in steps of `step`: body(u, at), `at`
// being (s, u)'s entry in the start table.
void SparseEmitter::forNeurons(const Blocks &blocks, Value *s, int64_t step,
                               const std::function<void(Value *, Value *)> &body) {
  Value *row = b.CreateMul(s, env.i64(unitsRounded));
  emitLoop(
      b, blocks.u0, blocks.u1, step, [&](Value *u) { body(u, b.CreateAdd(row, u)); }, "u");
}

// Strip s for pairs of neurons (their chains overlap even when runs are
// long).
void SparseEmitter::stripPairs(const Blocks &blocks, Value *s, bool first) {
  forNeurons(blocks, s, 2, [&](Value *u, Value *at) { neuronPair(blocks, u, at, first); });
}

// Neurons u and u + 1 side by side, `at` their entry in the start table:
// both over their common length, then the longer one's rest alone.
void SparseEmitter::neuronPair(const Blocks &blocks, Value *u, Value *at, bool first) {
  const size_t P = blocks.size();
  Value *begin[2] = {start(at), start(b.CreateAdd(at, env.i64(1)))};
  Value *end[2] = {begin[1], start(b.CreateAdd(at, env.i64(2)))};
  Value *len[2] = {b.CreateSub(end[0], begin[0]), b.CreateSub(end[1], begin[1])};
  Value *common = b.CreateSelect(b.CreateICmpULT(len[0], len[1]), len[0], len[1]);
  std::vector<Value *> acc = emitLoop(
      b, env.i64(0), common, 1, loadSums(blocks, u, 2, first),
      [&](Value *i, const std::vector<Value *> &sum) {
        std::vector<Value *> next;
        for (int h = 0; h < 2; ++h) {
          std::vector<Value *> part =
              multiplyAdd(blocks, b.CreateAdd(begin[h], i),
                          std::vector<Value *>(sum.begin() + h * P, sum.begin() + (h + 1) * P));
          next.insert(next.end(), part.begin(), part.end());
        }
        return next;
      },
      "q2");
  for (int h = 0; h < 2; ++h)
    storeSums(
        blocks, u, h,
        emitLoop(
            b, b.CreateAdd(begin[h], common), end[h], 1,
            std::vector<Value *>(acc.begin() + h * P, acc.begin() + (h + 1) * P),
            [&](Value *q, const std::vector<Value *> &sum) { return multiplyAdd(blocks, q, sum); },
            "q"));
}

// block = "4x1": strip s for quads of neurons.
void SparseEmitter::stripQuads(const Blocks &blocks, Value *s, bool first) {
  forNeurons(blocks, s, 4, [&](Value *u, Value *at) { neuronQuad(blocks, u, at, first); });
}

// Neurons u .. u + 3 (u a multiple of 4), `at` their entry in the start
// table: they have their nonzeros at the same inputs, so their runs have
// one length and neuron u's indices serve all four: each load of xT feeds
// 4 FMAs.
void SparseEmitter::neuronQuad(const Blocks &blocks, Value *u, Value *at, bool first) {
  const size_t P = blocks.size();
  Value *begin[4];
  for (int64_t j = 0; j < 4; ++j)
    begin[j] = start(b.CreateAdd(at, env.i64(j)));
  Value *len = b.CreateSub(begin[1], begin[0]);
  std::vector<Value *> acc = emitLoop(
      b, env.i64(0), len, 1, loadSums(blocks, u, 4, first),
      [&](Value *i, const std::vector<Value *> &sum) {
        Value *kOff = inputAt(b.CreateAdd(begin[0], i));
        std::vector<Value *> xv(P);
        for (size_t p = 0; p < P; ++p)
          xv[p] = b.CreateAlignedLoad(env.vecTy(), env.at(blocks.xt[p], kOff), Align(4));
        std::vector<Value *> next(4 * P);
        for (int64_t j = 0; j < 4; ++j) {
          Value *wv = env.splat(
              b.CreateAlignedLoad(env.f32(), env.at(values, b.CreateAdd(begin[j], i)), Align(4)));
          for (size_t p = 0; p < P; ++p)
            next[j * P + p] =
                b.CreateIntrinsic(Intrinsic::fmuladd, {env.vecTy()}, {wv, xv[p], sum[j * P + p]});
        }
        return next;
      },
      "q4");
  for (int64_t j = 0; j < 4; ++j)
    storeSums(blocks, u, j, std::vector<Value *>(acc.begin() + j * P, acc.begin() + (j + 1) * P));
}

// Neurons whose chains the baked strips interleave.
constexpr int64_t kBakedSide = 4;

// baked = true: straight-line code from the weights themselves, in
// the strips' order (strip, neuron, input; runtime::packSparse): per
// strip and neuron one chain per block over the neuron's nonzeros in
// the strip, each input a constant offset into the block's xT and
// each value a load at a constant place among the strips' values: no
// index loads, no loops, no start table. The sums start at zero in the
// first strip (a partial group's padding neurons included) and wait in
// the partial sums between strips, as in the strip loops, so the
// chains and their results are the same. A call with sample blocks
// computes whole rows, so every neuron.
void SparseEmitter::bakedStrips(const Blocks &blocks) {
  const int64_t total = countNonzeros(*weights.data);
  const int64_t stripInputs = runtime::sparseStripInputs(V, K, U, total);
  int64_t q0 = 0;
  for (int64_t k0 = 0; k0 < K; k0 += stripInputs) {
    const int64_t k1 = std::min(K, k0 + stripInputs);
    for (int64_t u0 = 0; u0 < unitsRounded; u0 += kBakedSide) {
      q0 = bakedNeurons(blocks, k0, k1, u0, q0);
      // A compiler barrier between groups of neurons: without it LLVM
      // shares each input's loads across all the neurons and spills
      // them.
      b.CreateCall(InlineAsm::get(FunctionType::get(b.getVoidTy(), false), "", "~{memory}", true));
    }
  }
  assert(q0 == total && "the strips' order is packSparse's");
}

// The strip of inputs [k0, k1) for neurons u0 .. u0 + kBakedSide - 1, their
// chains interleaved, their nonzeros' values from place q0 on (in neuron
// order); returns the place after them.
int64_t SparseEmitter::bakedNeurons(const Blocks &blocks, int64_t k0, int64_t k1, int64_t u0,
                                    int64_t q0) {
  const AlignedVector<float> &w = weights.data->values;
  const size_t P = blocks.size();
  const bool first = k0 == 0;
  const int64_t side = kBakedSide;
  // Neuron u's nonzeros in the strip (inputs), and their places
  // among the values.
  std::vector<std::vector<int64_t>> inputs(side);
  std::vector<int64_t> place(side);
  for (int64_t j = 0; j < side && u0 + j < unitsRounded; ++j) {
    place[j] = q0;
    for (int64_t k = k0; u0 + j < U && k < k1; ++k)
      if (w[static_cast<size_t>((u0 + j) * K + k)] != 0.0f)
        inputs[j].push_back(k);
    q0 += static_cast<int64_t>(inputs[j].size());
  }
  std::vector<std::vector<Value *>> acc(side);
  for (int64_t j = 0; j < side && u0 + j < unitsRounded; ++j)
    if (first || !inputs[j].empty())
      acc[j] = loadSums(blocks, env.i64(u0 + j), 1, first);
  for (size_t e = 0;; ++e) {
    bool any = false;
    for (int64_t j = 0; j < side; ++j) {
      if (e >= inputs[j].size())
        continue;
      any = true;
      Value *wv = env.splat(b.CreateAlignedLoad(
          env.f32(), env.at(values, env.i64(place[j] + static_cast<int64_t>(e))), Align(4)));
      for (size_t p = 0; p < P; ++p) {
        Value *xv = b.CreateAlignedLoad(env.vecTy(),
                                        env.at(blocks.xt[p], env.i64(inputs[j][e] * V)), Align(4));
        acc[j][p] = b.CreateIntrinsic(Intrinsic::fmuladd, {env.vecTy()}, {wv, xv, acc[j][p]});
      }
    }
    if (!any)
      break;
  }
  for (int64_t j = 0; j < side; ++j)
    if (!acc[j].empty())
      storeSums(blocks, env.i64(u0 + j), 0, acc[j]);
  return q0;
}

// Per block, the epilogue: sample-major (both blocks of a pair in one pass
// over the groups), or, for a kernel whose full blocks are feature-major
// (chain.out), feature-major when the block is full.
void SparseEmitter::epilogue(const Blocks &blocks) {
  const size_t P = blocks.size();
  if (!chain.out) {
    std::vector<size_t> all(P);
    for (size_t p = 0; p < P; ++p)
      all[p] = p;
    sampleMajorEpilogue(blocks, all);
    return;
  }
  Function *fn = b.GetInsertBlock()->getParent();
  for (size_t p = 0; p < P; ++p) {
    BasicBlock *full = BasicBlock::Create(b.getContext(), "epilogue.feature", fn);
    BasicBlock *partial = BasicBlock::Create(b.getContext(), "epilogue.sample", fn);
    BasicBlock *done = BasicBlock::Create(b.getContext(), "epilogue.done", fn);
    b.CreateCondBr(isFull(blocks.n0s[p]), full, partial);
    b.SetInsertPoint(full);
    featureMajorEpilogue(blocks, p);
    b.CreateBr(done);
    b.SetInsertPoint(partial);
    sampleMajorEpilogue(blocks, {p});
    b.CreateBr(done);
    b.SetInsertPoint(done);
  }
}

// Blocks `ps`, per group: the V neurons' sums transposed (row s holds
// sample n0 + s for the group's V neurons), then as the other paths.
void SparseEmitter::sampleMajorEpilogue(const Blocks &blocks, const std::vector<size_t> &ps) {
  emitLoop(
      b, g0, g1, 1,
      [&](Value *g) {
        Value *col = b.CreateMul(g, env.i64(V));
        Value *colMask = groupMask(col);
        for (size_t p : ps) {
          std::vector<Value *> square(V);
          for (int64_t j = 0; j < V; ++j)
            square[j] = b.CreateAlignedLoad(
                env.vecTy(),
                env.at(blocks.sums[p], b.CreateMul(b.CreateAdd(col, env.i64(j)), env.i64(V))),
                Align(4));
          std::vector<Value *> rows = transposeSquare(b, square);
          for (int64_t r = 0; r < V; ++r) {
            Value *row = b.CreateAdd(blocks.n0s[p], env.i64(r));
            Value *rowMask = b.CreateVectorSplat(V, b.CreateICmpSLT(row, blocksEnd));
            finish(rows[r], row, col, colMask, rowMask);
          }
        }
      },
      "gs");
}

// A full block in a chain: per neuron, its vector of the block's V samples
// plus the bias, through the activation, stored as the next kernel reads
// it.
void SparseEmitter::featureMajorEpilogue(const Blocks &blocks, size_t p) {
  Value *yBlock = env.at(Y, b.CreateMul(blocks.n0s[p], env.i64(U)));
  emitLoop(
      b, env.colBegin, env.colEnd, 1,
      [&](Value *u) {
        Value *at = b.CreateMul(u, env.i64(V));
        Value *value = b.CreateAlignedLoad(env.vecTy(), env.at(blocks.sums[p], at), Align(4));
        if (B)
          value = b.CreateFAdd(value,
                               env.splat(b.CreateAlignedLoad(env.f32(), env.at(B, u), Align(4))));
        if (ws.act.kind != ir::ActKind::Identity)
          value = emitActivation(b, ws.act, value);
        b.CreateAlignedStore(value, env.at(yBlock, at), Align(4));
      },
      "uf");
}

void lowerSparse(const KernelEnv &env, const ir::Op &op, const SlotMap &slots, int scratchSlot,
                 int panelsSlot, const ir::Schedule &schedule, SparseChain chain) {
  SparseEmitter(env, op, slots, scratchSlot, panelsSlot, schedule, chain).emit();
}

} // namespace soma::codegen
