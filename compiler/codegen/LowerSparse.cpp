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
// (runtime::Step::smallRows, from jitTileRules in runtime/api/Model.cpp):
// each call takes all the run's rows and the groups g0..g1 of its column
// range, which starts on a multiple of V and ends on one or at the layer's
// width (the partial last group's mask uses colEnd; lone = "packed" uses
// panels of V neurons for the same reason). With softmax a call
// normalises whole rows, so such a layer is never cut.
#include "Lowering.h"
#include "VectorMath.h"
#include "soma/runtime/Packing.h"

#include <llvm/IR/InlineAsm.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>

#include <algorithm>
#include <functional>

namespace soma::codegen {

using namespace llvm;

void emitSoftmaxRows(const KernelEnv &env, Value *in, Value *out, int64_t cols, Value *rowBegin,
                     Value *rowEnd);

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

/// Mask `a` and `b`, either of which may be null (all lanes).
Value *andMask(IRBuilder<> &b, Value *x, Value *y) {
  if (!x)
    return y;
  if (!y)
    return x;
  return b.CreateAnd(x, y);
}

} // namespace

void lowerSparse(const KernelEnv &env, const ir::Op &op, const SlotMap &slots, int scratchSlot,
                 int panelsSlot, const ir::Schedule &schedule, SparseChain chain) {
  IRBuilder<> &b = env.b;
  const ir::Op &w = *op.operands[1];
  const WeightedSum ws(env, op, slots);
  const int64_t K = ws.inputs, U = ws.units;
  const int64_t V = schedule.vectorWidth;
  assert(V == env.width && "the sparse schedule's vector width is the target's");
  assert(!(chain.out && (ws.residual || ws.softmax)) && "a chained kernel's epilogue has no row-wise terms");
  const bool partialGroups = U % V != 0;
  Type *i32 = b.getInt32Ty();

  Value *X = ws.x, *Wp = ws.w, *B = ws.bias, *Y = ws.y;
  Value *XT = env.slotPtr(scratchSlot);
  const int64_t entryFloats = runtime::sparseEntryFloats(V, K);
  Type *idxTy = runtime::sparseIndexBytes(K) == 2 ? b.getInt16Ty() : i32;
  // Entry e of the group whose entries start at float `off`.
  auto entryAt = [&](Value *off, Value *e) {
    return env.at(Wp, b.CreateAdd(off, b.CreateMul(e, env.i64(entryFloats))));
  };
  // Neuron j's input index in `entry`, as i64.
  auto indexOf = [&](Value *entry, int64_t j) {
    Value *at = b.CreateGEP(idxTy, env.at(entry, env.i64(V)), env.i64(j));
    return b.CreateZExt(b.CreateAlignedLoad(idxTy, at, Align(2)), b.getInt64Ty());
  };

  // Field f of group g's header (runtime::packSparse), as i64.
  auto headerField = [&](Value *g, int64_t f) {
    Value *at = b.CreateAdd(b.CreateMul(g, env.i64(runtime::kSparseHeaderFields)), env.i64(f));
    Value *v = b.CreateAlignedLoad(i32, b.CreateGEP(i32, Wp, at), Align(4), "group.field");
    return b.CreateZExt(v, b.getInt64Ty());
  };
  // Group g's entries: their float offset and count.
  auto groupHeader = [&](Value *g) { return std::make_pair(headerField(g, 0), headerField(g, 1)); };

  // The epilogue of the V neurons from `col` of sample `row`, under the
  // lanes both masks allow (the bias under the column mask).
  auto finish = [&](Value *value, Value *row, Value *col, Value *colMask, Value *rowMask) {
    Value *bias = B ? env.loadVec(env.at(B, col), colMask) : nullptr;
    ws.finish(env, value, bias, row, col, andMask(b, colMask, rowMask));
  };

  Value *g0 = b.CreateSDiv(env.colBegin, env.i64(V));
  Value *g1 = b.CreateSDiv(b.CreateAdd(env.colEnd, env.i64(V - 1)), env.i64(V));

  // The scratch of the block of V samples from n0 (runtime::
  // sparseScratchPerSample): its transposed inputs, then its partial sums.
  const int64_t unitsRounded = (U + V - 1) / V * V;
  auto blockBase = [&](Value *n0) { return env.at(XT, b.CreateMul(n0, env.i64(K + unitsRounded))); };
  // The strip section (runtime::packSparse; its offsets are in every
  // group's header).
  // The strip width is the packing's choice (runtime::sparseStripInputs).
  Value *strips = headerField(env.i64(0), 7);
  Value *starts = b.CreateGEP(i32, Wp, headerField(env.i64(0), 4), "strip.starts");
  Value *values = env.at(Wp, headerField(env.i64(0), 5));
  Value *indices = b.CreateGEP(b.getInt8Ty(), Wp, b.CreateMul(headerField(env.i64(0), 6), env.i64(4)), "strip.indices");
  // The end of the call's sample blocks and of its full ones (set below,
  // before any block runs).
  Value *blocksEnd = nullptr, *rowsFull = nullptr;
  // Whether the block from n0 is full: in a chain, x's (chain.in) or y's
  // (chain.out) feature-major block.
  auto isFull = [&](Value *n0) { return b.CreateICmpSLE(b.CreateAdd(n0, env.i64(V)), rowsFull); };

  // The block of V samples from n0, `valid` of them real (a Value, or null
  // for a full block), transposed into its scratch.
  auto transposeBlock = [&](Value *n0, Value *valid) {
    Value *xt = blockBase(n0);
    // 1. Transpose x[n0 .. n0 + V, 0 .. K) into xt[k * V + lane], V x V at
    //    a time; missing samples read as 0.
    auto transposeChunk = [&](Value *k0, int64_t cols) {
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
    };
    const int64_t kFull = K / V * V;
    if (kFull > 0)
      emitLoop(b, env.i64(0), env.i64(kFull), V, [&](Value *k0) { transposeChunk(k0, V); }, "kt");
    if (K % V)
      transposeChunk(env.i64(kFull), K % V);
  };

  // 2. The strips for blocks `n0s` (one or two, each V samples; a partial
  //    block's missing samples are zeros in its scratch): per strip of
  //    stripInputs inputs and per neuron u, one accumulator per block
  //    (lanes = samples), acc += broadcast(w) * xT[k] over u's nonzeros in
  //    the strip; each accumulator starts at 0 in the first strip and is
  //    kept in the block's partial sums between strips. The strip's inputs
  //    of both blocks (32 KiB) stay in L1 while every neuron reads them.
  auto stripPass = [&](const std::vector<Value *> &n0s) {
    const size_t P = n0s.size();
    std::vector<Value *> xt(P), sums(P);
    for (size_t p = 0; p < P; ++p) {
      Value *scratch = blockBase(n0s[p]);
      sums[p] = env.at(scratch, env.i64(V * K));
      xt[p] = chain.in ? b.CreateSelect(isFull(n0s[p]), env.at(X, b.CreateMul(n0s[p], env.i64(K))), scratch, "xt")
                       : scratch;
    }
    Value *u0 = b.CreateMul(g0, env.i64(V)), *u1 = b.CreateMul(g1, env.i64(V));
    // The multiply-adds of nonzero q into one accumulator per block.
    auto inputAt = [&](Value *q) {
      Value *k = b.CreateZExt(b.CreateAlignedLoad(idxTy, b.CreateGEP(idxTy, indices, q), Align(2)),
                              b.getInt64Ty());
      return b.CreateMul(k, env.i64(V));
    };
    auto multiplyAdd = [&](Value *q, const std::vector<Value *> &sum) {
      Value *wv = env.splat(b.CreateAlignedLoad(env.f32(), env.at(values, q), Align(4)));
      Value *kOff = inputAt(q);
      std::vector<Value *> next(P);
      for (size_t p = 0; p < P; ++p) {
        Value *xv = b.CreateAlignedLoad(env.vecTy(), env.at(xt[p], kOff), Align(4));
        next[p] = b.CreateIntrinsic(Intrinsic::fmuladd, {env.vecTy()}, {wv, xv, sum[p]});
      }
      return next;
    };
    auto start = [&](Value *at) {
      return b.CreateZExt(b.CreateAlignedLoad(i32, b.CreateGEP(i32, starts, at), Align(4)), b.getInt64Ty());
    };
    // Neurons u .. u + n - 1's accumulators (n * P), from zero in the first
    // strip, else from the partial sums.
    auto loadSums = [&](Value *u, int64_t n, bool first) {
      std::vector<Value *> init(n * P);
      for (int64_t j = 0; j < n; ++j)
        for (size_t p = 0; p < P; ++p)
          init[j * P + p] =
              first ? static_cast<Value *>(Constant::getNullValue(env.vecTy()))
                    : b.CreateAlignedLoad(env.vecTy(),
                                          env.at(sums[p], b.CreateMul(b.CreateAdd(u, env.i64(j)), env.i64(V))),
                                          Align(4));
      return init;
    };
    auto storeSums = [&](Value *u, int64_t j, const std::vector<Value *> &acc) {
      for (size_t p = 0; p < P; ++p)
        b.CreateAlignedStore(acc[p], env.at(sums[p], b.CreateMul(b.CreateAdd(u, env.i64(j)), env.i64(V))),
                             Align(4));
    };
    // Strip s over neurons u0 .. u1 in steps of `step`: body(u, at), `at`
    // being (s, u)'s entry in the start table.
    auto forNeurons = [&](Value *s, int64_t step, const std::function<void(Value *, Value *)> &body) {
      Value *row = b.CreateMul(s, env.i64(unitsRounded));
      emitLoop(b, u0, u1, step, [&](Value *u) { body(u, b.CreateAdd(row, u)); }, "u");
    };
    // Strip s for neurons u and u + 1 side by side (their chains overlap
    // even when runs are long): both over their common length, then the
    // longer one's rest alone.
    auto stripPairs = [&](Value *s, bool first) {
      forNeurons(
          s, 2,
          [&](Value *u, Value *at) {
            Value *begin[2] = {start(at), start(b.CreateAdd(at, env.i64(1)))};
            Value *end[2] = {begin[1], start(b.CreateAdd(at, env.i64(2)))};
            Value *len[2] = {b.CreateSub(end[0], begin[0]), b.CreateSub(end[1], begin[1])};
            Value *common = b.CreateSelect(b.CreateICmpULT(len[0], len[1]), len[0], len[1]);
            std::vector<Value *> acc = emitLoop(
                b, env.i64(0), common, 1, loadSums(u, 2, first),
                [&](Value *i, const std::vector<Value *> &sum) {
                  std::vector<Value *> next;
                  for (int h = 0; h < 2; ++h) {
                    std::vector<Value *> part = multiplyAdd(
                        b.CreateAdd(begin[h], i), std::vector<Value *>(sum.begin() + h * P, sum.begin() + (h + 1) * P));
                    next.insert(next.end(), part.begin(), part.end());
                  }
                  return next;
                },
                "q2");
            for (int h = 0; h < 2; ++h)
              storeSums(u, h,
                        emitLoop(b, b.CreateAdd(begin[h], common), end[h], 1,
                                 std::vector<Value *>(acc.begin() + h * P, acc.begin() + (h + 1) * P), multiplyAdd,
                                 "q"));
          });
    };
    // block = "4x1": neurons u .. u + 3 (u a multiple of 4) have their
    // nonzeros at the same inputs, so their runs have one length and
    // neuron u's indices serve all four: each load of xT feeds 4 FMAs.
    auto stripQuads = [&](Value *s, bool first) {
      forNeurons(
          s, 4,
          [&](Value *u, Value *at) {
            Value *begin[4];
            for (int64_t j = 0; j < 4; ++j)
              begin[j] = start(b.CreateAdd(at, env.i64(j)));
            Value *len = b.CreateSub(begin[1], begin[0]);
            std::vector<Value *> acc = emitLoop(
                b, env.i64(0), len, 1, loadSums(u, 4, first),
                [&](Value *i, const std::vector<Value *> &sum) {
                  Value *kOff = inputAt(b.CreateAdd(begin[0], i));
                  std::vector<Value *> xv(P);
                  for (size_t p = 0; p < P; ++p)
                    xv[p] = b.CreateAlignedLoad(env.vecTy(), env.at(xt[p], kOff), Align(4));
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
              storeSums(u, j, std::vector<Value *>(acc.begin() + j * P, acc.begin() + (j + 1) * P));
          });
    };
    auto strip = [&](Value *s, bool first) {
      if (schedule.block == ir::BlockPattern::FourByOne)
        stripQuads(s, first);
      else
        stripPairs(s, first);
    };
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
    auto bakedStrips = [&]() {
      const AlignedVector<float> &weights = w.data->values;
      const int64_t total = countNonzeros(*w.data);
      const int64_t stripInputs = runtime::sparseStripInputs(V, K, U, total);
      const int64_t side = 4; // neurons whose chains interleave
      int64_t q0 = 0;
      for (int64_t k0 = 0; k0 < K; k0 += stripInputs) {
        const int64_t k1 = std::min(K, k0 + stripInputs);
        const bool first = k0 == 0;
        for (int64_t u0 = 0; u0 < unitsRounded; u0 += side) {
          // Neuron u's nonzeros in the strip (inputs), and their places
          // among the values (q0 on, in neuron order).
          std::vector<std::vector<int64_t>> inputs(side);
          std::vector<int64_t> place(side);
          for (int64_t j = 0; j < side && u0 + j < unitsRounded; ++j) {
            place[j] = q0;
            for (int64_t k = k0; u0 + j < U && k < k1; ++k)
              if (weights[static_cast<size_t>((u0 + j) * K + k)] != 0.0f)
                inputs[j].push_back(k);
            q0 += static_cast<int64_t>(inputs[j].size());
          }
          std::vector<std::vector<Value *>> acc(side);
          for (int64_t j = 0; j < side && u0 + j < unitsRounded; ++j)
            if (first || !inputs[j].empty())
              acc[j] = loadSums(env.i64(u0 + j), 1, first);
          for (size_t e = 0;; ++e) {
            bool any = false;
            for (int64_t j = 0; j < side; ++j) {
              if (e >= inputs[j].size())
                continue;
              any = true;
              Value *wv = env.splat(b.CreateAlignedLoad(
                  env.f32(), env.at(values, env.i64(place[j] + static_cast<int64_t>(e))), Align(4)));
              for (size_t p = 0; p < P; ++p) {
                Value *xv = b.CreateAlignedLoad(env.vecTy(), env.at(xt[p], env.i64(inputs[j][e] * V)), Align(4));
                acc[j][p] = b.CreateIntrinsic(Intrinsic::fmuladd, {env.vecTy()}, {wv, xv, acc[j][p]});
              }
            }
            if (!any)
              break;
          }
          for (int64_t j = 0; j < side; ++j)
            if (!acc[j].empty())
              storeSums(env.i64(u0 + j), 0, acc[j]);
          // A compiler barrier between groups of neurons: without it LLVM
          // shares each input's loads across all the neurons and spills
          // them.
          b.CreateCall(InlineAsm::get(FunctionType::get(b.getVoidTy(), false), "", "~{memory}", true));
        }
      }
      assert(q0 == total && "the strips' order is packSparse's");
    };
    if (schedule.baked) {
      bakedStrips();
    } else {
      strip(env.i64(0), true);
      emitLoop(b, env.i64(1), strips, 1, [&](Value *s) { strip(s, false); }, "s");
    }
    // 3. Per block, the epilogue. Sample-major: per group, the V neurons'
    //    sums transposed (row s holds sample n0 + s for the group's V
    //    neurons), then as the other paths. Feature-major (a full block in
    //    a chain): per neuron, its vector of the block's V samples plus the
    //    bias, through the activation, stored as the next kernel reads it.
    // Blocks `ps`, per group (both blocks of a pair in one pass over the
    // groups when neither is feature-major).
    auto sampleMajor = [&](const std::vector<size_t> &ps) {
      emitLoop(
          b, g0, g1, 1,
          [&](Value *g) {
            Value *col = b.CreateMul(g, env.i64(V));
            Value *colMask = partialGroups ? env.tailMask(col, env.colEnd) : nullptr;
            for (size_t p : ps) {
              std::vector<Value *> square(V);
              for (int64_t j = 0; j < V; ++j)
                square[j] = b.CreateAlignedLoad(
                    env.vecTy(), env.at(sums[p], b.CreateMul(b.CreateAdd(col, env.i64(j)), env.i64(V))),
                    Align(4));
              std::vector<Value *> rows = transposeSquare(b, square);
              for (int64_t r = 0; r < V; ++r) {
                Value *row = b.CreateAdd(n0s[p], env.i64(r));
                Value *rowMask = b.CreateVectorSplat(V, b.CreateICmpSLT(row, blocksEnd));
                finish(rows[r], row, col, colMask, rowMask);
              }
            }
          },
          "gs");
    };
    auto featureMajor = [&](size_t p) {
      Value *yBlock = env.at(Y, b.CreateMul(n0s[p], env.i64(U)));
      emitLoop(
          b, env.colBegin, env.colEnd, 1,
          [&](Value *u) {
            Value *at = b.CreateMul(u, env.i64(V));
            Value *value = b.CreateAlignedLoad(env.vecTy(), env.at(sums[p], at), Align(4));
            if (B)
              value = b.CreateFAdd(value, env.splat(b.CreateAlignedLoad(env.f32(), env.at(B, u), Align(4))));
            if (ws.act.kind != ir::ActKind::Identity)
              value = emitActivation(b, ws.act, value);
            b.CreateAlignedStore(value, env.at(yBlock, at), Align(4));
          },
          "uf");
    };
    if (!chain.out) {
      std::vector<size_t> all(P);
      for (size_t p = 0; p < P; ++p)
        all[p] = p;
      sampleMajor(all);
      return;
    }
    Function *fn = b.GetInsertBlock()->getParent();
    for (size_t p = 0; p < P; ++p) {
      BasicBlock *full = BasicBlock::Create(b.getContext(), "epilogue.feature", fn);
      BasicBlock *partial = BasicBlock::Create(b.getContext(), "epilogue.sample", fn);
      BasicBlock *done = BasicBlock::Create(b.getContext(), "epilogue.done", fn);
      b.CreateCondBr(isFull(n0s[p]), full, partial);
      b.SetInsertPoint(full);
      featureMajor(p);
      b.CreateBr(done);
      b.SetInsertPoint(partial);
      sampleMajor({p});
      b.CreateBr(done);
      b.SetInsertPoint(done);
    }
  };

  // The sparse matrix-vector product for sample n: x's row sits in L1, so
  // per nonzero one index load, one x load and one scalar FMA; the group's V
  // neurons are V independent chains (a gather of V lanes costs more than
  // V scalar loads on current x86).
  auto loneSample = [&](Value *n) {
    Value *xRow = env.at(X, b.CreateMul(n, env.i64(K)));
    emitLoop(
        b, g0, g1, 1,
        [&](Value *g) {
          auto [off, cnt] = groupHeader(g);
          std::vector<Value *> init(V, ConstantFP::get(env.f32(), 0.0));
          std::vector<Value *> acc = emitLoop(
              b, env.i64(0), cnt, 1, init,
              [&](Value *e, const std::vector<Value *> &sum) {
                Value *entry = entryAt(off, e);
                // 16-bit indices: four per 64-bit load, split by shifts.
                std::vector<Value *> quads;
                if (idxTy == b.getInt16Ty())
                  for (int64_t q = 0; q < V / 4; ++q)
                    quads.push_back(b.CreateAlignedLoad(
                        b.getInt64Ty(), b.CreateGEP(b.getInt64Ty(), env.at(entry, env.i64(V)), env.i64(q)),
                        Align(8)));
                std::vector<Value *> next(V);
                for (int64_t j = 0; j < V; ++j) {
                  Value *wv = b.CreateAlignedLoad(env.f32(), env.at(entry, env.i64(j)), Align(4));
                  Value *k = quads.empty() ? indexOf(entry, j)
                                           : b.CreateAnd(b.CreateLShr(quads[j / 4], env.i64(16 * (j % 4))),
                                                         env.i64(0xffff));
                  Value *xv = b.CreateAlignedLoad(env.f32(), b.CreateGEP(env.f32(), xRow, k), Align(4));
                  next[j] = b.CreateIntrinsic(Intrinsic::fmuladd, {env.f32()}, {wv, xv, sum[j]});
                }
                return next;
              },
              "e1");
          Value *value = Constant::getNullValue(env.vecTy());
          for (int64_t j = 0; j < V; ++j)
            value = b.CreateInsertElement(value, acc[j], static_cast<uint64_t>(j));
          Value *col = b.CreateMul(g, env.i64(V));
          finish(value, n, col, partialGroups ? env.tailMask(col, env.colEnd) : nullptr, nullptr);
        },
        "g1");
  };

  // The sparse matrix-vector product over the chunked entries (AVX-512):
  // per chunk of kSparseChunk inputs, x's two vectors stay in registers and
  // each entry is one load of V positions (bytes), one two-source permute
  // that picks the V inputs from the chunk, and one vector FMA whose lanes
  // are the group's neurons; per entry V multiply-adds where the scalar
  // path above spends V loads of x and V FMAs.
  auto loneSampleChunked = [&](Value *n) {
    assert(V == 16 && "the parser checks lone = \"chunked\"");
    const int64_t C = runtime::kSparseChunk, fullChunks = K / C;
    const int64_t countFloats = runtime::sparseChunkCountFloats(K);
    Type *i8 = b.getInt8Ty();
    auto *positionsTy = FixedVectorType::get(i8, static_cast<unsigned>(V));
    auto *lanesTy = FixedVectorType::get(i32, static_cast<unsigned>(V));
    Value *xRow = env.at(X, b.CreateMul(n, env.i64(K)));
    // Groups `gs` side by side (two: independent FMA chains that overlap),
    // sharing each chunk's two vectors of x.
    auto groups = [&](const std::vector<Value *> &gs) {
      const size_t G = gs.size();
      std::vector<Value *> counts(G), valuesAt(G), positions(G);
      for (size_t i = 0; i < G; ++i) {
        Value *off = headerField(gs[i], 2), *entries = headerField(gs[i], 3);
        counts[i] = b.CreateGEP(i8, Wp, b.CreateMul(off, env.i64(4)));
        valuesAt[i] = b.CreateAdd(off, env.i64(countFloats));
        positions[i] = b.CreateGEP(
            i8, Wp, b.CreateMul(b.CreateAdd(valuesAt[i], b.CreateMul(entries, env.i64(V))), env.i64(4)));
      }
      // Chunk c (`width` inputs from c * C) for every group; state holds
      // each group's accumulator, then its next entry.
      auto chunk = [&](Value *c, const std::vector<Value *> &state, int64_t width) {
        Value *base = b.CreateMul(c, env.i64(C));
        Value *lo = env.loadVec(env.at(xRow, base),
                                width < V ? env.tailMask(env.i64(0), env.i64(width)) : nullptr);
        Value *hi = width <= V ? Constant::getNullValue(env.vecTy())
                               : env.loadVec(env.at(xRow, b.CreateAdd(base, env.i64(V))),
                                             width < C ? env.tailMask(env.i64(V), env.i64(width)) : nullptr);
        std::vector<Value *> next(2 * G);
        for (size_t i = 0; i < G; ++i) {
          Value *e0 = state[G + i];
          Value *cnt = b.CreateZExt(b.CreateLoad(i8, b.CreateGEP(i8, counts[i], c)), b.getInt64Ty());
          next[G + i] = b.CreateAdd(e0, cnt);
          next[i] = emitLoop(
              b, e0, next[G + i], 1, {state[i]},
              [&](Value *e, const std::vector<Value *> &sum) {
                Value *at = b.CreateMul(e, env.i64(V));
                Value *pos = b.CreateAlignedLoad(positionsTy, b.CreateGEP(i8, positions[i], at), Align(1));
                Value *wv = b.CreateAlignedLoad(env.vecTy(), env.at(Wp, b.CreateAdd(valuesAt[i], at)),
                                                Align(64));
                Value *picked = b.CreateIntrinsic(Intrinsic::x86_avx512_vpermi2var_ps_512, {},
                                                  {lo, b.CreateZExt(pos, lanesTy), hi});
                return std::vector<Value *>{
                    b.CreateIntrinsic(Intrinsic::fmuladd, {env.vecTy()}, {wv, picked, sum[0]})};
              },
              "ce")[0];
        }
        return next;
      };
      std::vector<Value *> init(G, Constant::getNullValue(env.vecTy()));
      init.resize(2 * G, env.i64(0));
      std::vector<Value *> state = emitLoop(
          b, env.i64(0), env.i64(fullChunks), 1, init,
          [&](Value *c, const std::vector<Value *> &carried) { return chunk(c, carried, C); }, "c");
      if (K % C)
        state = chunk(env.i64(fullChunks), state, K % C);
      for (size_t i = 0; i < G; ++i) {
        Value *col = b.CreateMul(gs[i], env.i64(V));
        finish(state[i], n, col, partialGroups ? env.tailMask(col, env.colEnd) : nullptr, nullptr);
      }
    };
    Value *pairsEnd = b.CreateAdd(g0, b.CreateMul(b.CreateSDiv(b.CreateSub(g1, g0), env.i64(2)), env.i64(2)));
    emitLoop(b, g0, pairsEnd, 2, [&](Value *g) { groups({g, b.CreateAdd(g, env.i64(1))}); }, "gc2");
    emitLoop(b, pairsEnd, g1, 1, [&](Value *g) { groups({g}); }, "gc");
  };

  // Full blocks of V samples, then a partial block of at least V / 2 (or
  // lone samples). All the call's blocks are transposed first; then the
  // blocks run the strips in pairs, the last odd one alone.
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
  if (!chain.in) // (in a chain the full blocks of x are feature-major already)
    emitLoop(b, env.rowBegin, rowsFull, V, [&](Value *n0) { transposeBlock(n0, nullptr); }, "n");
  BasicBlock *partial = BasicBlock::Create(b.getContext(), "block.partial", fn);
  BasicBlock *transposed = BasicBlock::Create(b.getContext(), "block.done", fn);
  b.CreateCondBr(hasPartial, partial, transposed);
  b.SetInsertPoint(partial);
  transposeBlock(rowsFull, rest);
  b.CreateBr(transposed);
  b.SetInsertPoint(transposed);
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
  BasicBlock *odd = BasicBlock::Create(b.getContext(), "block.odd", fn);
  b.CreateCondBr(b.CreateICmpNE(b.CreateSRem(blockCount, env.i64(2)), env.i64(0)), odd, afterBlocks);
  b.SetInsertPoint(odd);
  stripPass({b.CreateAdd(env.rowBegin, b.CreateMul(b.CreateSub(blockCount, env.i64(1)), env.i64(V)))});
  b.CreateBr(afterBlocks);
  b.SetInsertPoint(afterBlocks);
  if (schedule.lone == ir::LonePath::Packed) {
    // The dense kernel for the lone rows, over panels of one vector (the
    // groups' width, so column tiles on group boundaries suit it too); the
    // softmax, if any, runs below over all the call's rows.
    KernelEnv loneEnv = env;
    loneEnv.rowBegin = blocksEnd;
    SlotMap loneSlots = slots;
    loneSlots[&w] = panelsSlot;
    ir::Schedule dense;
    dense.vectorWidth = V;
    dense.panelVectors = 1;
    dense.rowBlock = 4;
    dense.lonePanels = ir::Schedule::kLonePackedPanels;
    lowerDense(loneEnv, op, loneSlots, dense, /*rowSoftmax=*/false);
  } else {
    emitLoop(
        b, blocksEnd, env.rowEnd, 1,
        [&](Value *n) {
          if (schedule.lone == ir::LonePath::Chunked)
            loneSampleChunked(n);
          else
            loneSample(n);
        },
        "n1");
  }
  if (ws.softmax)
    emitSoftmaxRows(env, Y, Y, U, env.rowBegin, env.rowEnd);
}

} // namespace soma::codegen
