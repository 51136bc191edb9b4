// The sparse kernel's lone samples (the rows after its sample blocks:
// batch 1, the rest of a batch), as the schedule's `lone` says: the dense
// kernel over a second, panel-packed copy of the weights, or a sparse
// matrix-vector product per sample over the group entries of
// runtime::packSparse, chunked (AVX-512 permutes) or scalar. The formats
// and the algorithm are described at the top of LowerSparse.cpp.
#include "SparseEmitter.h"
#include "soma/runtime/Packing.h"

#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>

namespace soma::codegen {

using namespace llvm;

void SparseEmitter::loneSamples() {
  if (lone == ir::LonePath::Packed) {
    lonePacked();
    return;
  }
  emitLoop(
      b, blocksEnd, env.rowEnd, 1,
      [&](Value *n) {
        if (lone == ir::LonePath::Chunked)
          loneChunked(n);
        else
          loneScalar(n);
      },
      "n1");
}

// The dense kernel for the lone rows, over panels of one vector (the
// groups' width, so column tiles on group boundaries suit it too); the
// softmax, if any, runs after it over all the call's rows.
void SparseEmitter::lonePacked() {
  KernelEnv loneEnv = env;
  loneEnv.rowBegin = blocksEnd;
  SlotMap loneSlots = slots;
  loneSlots[&weights] = panelsSlot;
  ir::Schedule dense;
  dense.vectorWidth = V;
  dense.panelVectors = 1;
  dense.rowBlock = 4;
  dense.lonePanels = ir::Schedule::kLonePackedPanels;
  lowerDense(loneEnv, op, loneSlots, dense, /*rowSoftmax=*/false);
}

// The sparse matrix-vector product for sample n: x's row sits in L1, so
// per nonzero one index load, one x load and one scalar FMA; the group's V
// neurons are V independent chains (a gather of V lanes costs more than
// V scalar loads on current x86).
void SparseEmitter::loneScalar(Value *n) {
  Value *xRow = env.at(X, b.CreateMul(n, env.i64(K)));
  emitLoop(
      b, g0, g1, 1,
      [&](Value *g) {
        // Group g's entries: their float offset and count.
        auto [off, cnt] = std::make_pair(headerField(g, 0), headerField(g, 1));
        std::vector<Value *> init(V, ConstantFP::get(env.f32(), 0.0));
        std::vector<Value *> acc = emitLoop(
            b, env.i64(0), cnt, 1, init,
            [&](Value *e, const std::vector<Value *> &sum) {
              // Entry e of the group.
              Value *entry = env.at(Wp, b.CreateAdd(off, b.CreateMul(e, env.i64(entryFloats))));
              return scalarEntry(entry, xRow, sum);
            },
            "e1");
        Value *value = Constant::getNullValue(env.vecTy());
        for (int64_t j = 0; j < V; ++j)
          value = b.CreateInsertElement(value, acc[j], static_cast<uint64_t>(j));
        Value *col = b.CreateMul(g, env.i64(V));
        finish(value, n, col, groupMask(col), nullptr);
      },
      "g1");
}

// One entry's multiply-adds into the group's V chains: neuron j's value
// times x at neuron j's input index.
std::vector<Value *> SparseEmitter::scalarEntry(Value *entry, Value *xRow,
                                                const std::vector<Value *> &sum) {
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
    Value *k = nullptr;
    if (quads.empty()) { // 32-bit indices: one load each
      Value *at = b.CreateGEP(idxTy, env.at(entry, env.i64(V)), env.i64(j));
      k = b.CreateZExt(b.CreateAlignedLoad(idxTy, at, Align(2)), b.getInt64Ty());
    } else {
      k = b.CreateAnd(b.CreateLShr(quads[j / 4], env.i64(16 * (j % 4))), env.i64(0xffff));
    }
    Value *xv = b.CreateAlignedLoad(env.f32(), b.CreateGEP(env.f32(), xRow, k), Align(4));
    next[j] = b.CreateIntrinsic(Intrinsic::fmuladd, {env.f32()}, {wv, xv, sum[j]});
  }
  return next;
}

// The sparse matrix-vector product over the chunked entries (AVX-512):
// per chunk of kSparseChunk inputs, x's two vectors stay in registers and
// each entry is one load of V positions (bytes), one two-source permute
// that picks the V inputs from the chunk, and one vector FMA whose lanes
// are the group's neurons; per entry V multiply-adds where the scalar
// path above spends V loads of x and V FMAs. Groups run two side by side
// (independent FMA chains that overlap), an odd last one alone.
void SparseEmitter::loneChunked(Value *n) {
  assert(V == 16 && "the parser checks lone = \"chunked\"");
  Value *xRow = env.at(X, b.CreateMul(n, env.i64(K)));
  Value *pairsEnd =
      b.CreateAdd(g0, b.CreateMul(b.CreateSDiv(b.CreateSub(g1, g0), env.i64(2)), env.i64(2)));
  emitLoop(
      b, g0, pairsEnd, 2,
      [&](Value *g) {
        chunkedGroups(n, xRow, {g, b.CreateAdd(g, env.i64(1))});
      },
      "gc2");
  emitLoop(
      b, pairsEnd, g1, 1, [&](Value *g) { chunkedGroups(n, xRow, {g}); }, "gc");
}

// Groups `gs` of sample n side by side, sharing each chunk's two vectors
// of x.
void SparseEmitter::chunkedGroups(Value *n, Value *xRow, const std::vector<Value *> &gs) {
  const int64_t C = runtime::kSparseChunk, fullChunks = K / C;
  const int64_t countFloats = runtime::sparseChunkCountFloats(K);
  Type *i8 = b.getInt8Ty();
  const size_t G = gs.size();
  std::vector<ChunkedGroup> groups(G);
  for (size_t i = 0; i < G; ++i) {
    Value *off = headerField(gs[i], 2), *entries = headerField(gs[i], 3);
    groups[i].counts = b.CreateGEP(i8, Wp, b.CreateMul(off, env.i64(4)));
    groups[i].valuesAt = b.CreateAdd(off, env.i64(countFloats));
    groups[i].positions = b.CreateGEP(
        i8, Wp,
        b.CreateMul(b.CreateAdd(groups[i].valuesAt, b.CreateMul(entries, env.i64(V))), env.i64(4)));
  }
  std::vector<Value *> init(G, Constant::getNullValue(env.vecTy()));
  init.resize(2 * G, env.i64(0));
  std::vector<Value *> state = emitLoop(
      b, env.i64(0), env.i64(fullChunks), 1, init,
      [&](Value *c, const std::vector<Value *> &carried) {
        return chunk(xRow, groups, c, carried, C);
      },
      "c");
  if (K % C)
    state = chunk(xRow, groups, env.i64(fullChunks), state, K % C);
  for (size_t i = 0; i < G; ++i) {
    Value *col = b.CreateMul(gs[i], env.i64(V));
    finish(state[i], n, col, groupMask(col), nullptr);
  }
}

// Chunk c (`width` inputs from c * kSparseChunk) for every group of
// `groups`; `state` holds each group's accumulator, then its next entry.
std::vector<Value *> SparseEmitter::chunk(Value *xRow, const std::vector<ChunkedGroup> &groups,
                                          Value *c, const std::vector<Value *> &state,
                                          int64_t width) {
  const int64_t C = runtime::kSparseChunk;
  Type *i8 = b.getInt8Ty();
  auto *positionsTy = FixedVectorType::get(i8, static_cast<unsigned>(V));
  auto *lanesTy = FixedVectorType::get(i32, static_cast<unsigned>(V));
  const size_t G = groups.size();
  Value *base = b.CreateMul(c, env.i64(C));
  Value *lo = env.loadVec(env.at(xRow, base),
                          width < V ? env.tailMask(env.i64(0), env.i64(width)) : nullptr);
  Value *hi = width <= V
                  ? Constant::getNullValue(env.vecTy())
                  : env.loadVec(env.at(xRow, b.CreateAdd(base, env.i64(V))),
                                width < C ? env.tailMask(env.i64(V), env.i64(width)) : nullptr);
  std::vector<Value *> next(2 * G);
  for (size_t i = 0; i < G; ++i) {
    const ChunkedGroup &group = groups[i];
    Value *e0 = state[G + i];
    Value *cnt = b.CreateZExt(b.CreateLoad(i8, b.CreateGEP(i8, group.counts, c)), b.getInt64Ty());
    next[G + i] = b.CreateAdd(e0, cnt);
    // Per entry: its V positions in the chunk, one permute picking the
    // inputs from lo and hi, one FMA.
    next[i] = emitLoop(
        b, e0, next[G + i], 1, {state[i]},
        [&](Value *e, const std::vector<Value *> &sum) {
          Value *at = b.CreateMul(e, env.i64(V));
          Value *pos =
              b.CreateAlignedLoad(positionsTy, b.CreateGEP(i8, group.positions, at), Align(1));
          Value *wv = b.CreateAlignedLoad(env.vecTy(), env.at(Wp, b.CreateAdd(group.valuesAt, at)),
                                          Align(64));
          Value *picked = b.CreateIntrinsic(Intrinsic::x86_avx512_vpermi2var_ps_512, {},
                                            {lo, b.CreateZExt(pos, lanesTy), hi});
          return std::vector<Value *>{
              b.CreateIntrinsic(Intrinsic::fmuladd, {env.vecTy()}, {wv, picked, sum[0]})};
        },
        "ce")[0];
  }
  return next;
}

} // namespace soma::codegen
