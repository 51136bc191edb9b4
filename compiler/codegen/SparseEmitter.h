// The sparse kernel's emitter: one object per kernel, holding the op's
// operands, the packed weights' sections and the call's sample-block
// bounds, with one method per phase. LowerSparse.cpp emits the sample
// blocks (transposes, strips, epilogues) and the entry point,
// LowerSparseLone.cpp the lone samples; the algorithm is described at the
// top of LowerSparse.cpp. Internal to codegen (includes LLVM).
#pragma once

#include "Lowering.h"

#include <functional>
#include <vector>

namespace soma::codegen {

class SparseEmitter {
public:
  SparseEmitter(const KernelEnv &env, const ir::Op &op, const SlotMap &slots, int scratchSlot,
                int panelsSlot, const ir::Schedule &schedule, SparseChain chain);
  /// The kernel: the call's sample blocks, its lone samples, then the
  /// softmax of a softmax layer over all its rows.
  void emit();

private:
  // The one or two sample blocks a strip pass runs together.
  struct Blocks {
    std::vector<llvm::Value *> n0s;  // each block's first sample
    std::vector<llvm::Value *> xt;   // its transposed inputs, xT[k * V + lane]
    std::vector<llvm::Value *> sums; // its partial sums, one vector per neuron
    llvm::Value *u0, *u1;            // the call's neurons (whole groups)
    size_t size() const { return n0s.size(); }
  };
  // A group's chunked entries: per chunk its entry count (bytes), then
  // the entries' values (from float valuesAt) and positions (bytes).
  struct ChunkedGroup {
    llvm::Value *counts, *valuesAt, *positions;
  };

  // Operands and packed layout (LowerSparse.cpp).
  llvm::Value *headerField(llvm::Value *g, int64_t f);
  llvm::Value *blockBase(llvm::Value *n0);
  llvm::Value *isFull(llvm::Value *n0);
  llvm::Value *groupMask(llvm::Value *col);
  void finish(llvm::Value *value, llvm::Value *row, llvm::Value *col, llvm::Value *colMask,
              llvm::Value *rowMask);

  // Sample blocks (LowerSparse.cpp).
  void sampleBlocks();
  void transposeBlocks(llvm::Value *rest, llvm::Value *hasPartial);
  void transposeBlock(llvm::Value *n0, llvm::Value *valid);
  void transposeChunk(llvm::Value *xt, llvm::Value *n0, llvm::Value *valid, llvm::Value *k0,
                      int64_t cols);
  void runBlocks(llvm::Value *hasPartial, llvm::BasicBlock *afterBlocks);
  void stripPass(const std::vector<llvm::Value *> &n0s);
  void strips(const Blocks &blocks);
  void strip(const Blocks &blocks, llvm::Value *s, bool first);
  llvm::Value *inputAt(llvm::Value *q);
  llvm::Value *start(llvm::Value *at);
  std::vector<llvm::Value *> multiplyAdd(const Blocks &blocks, llvm::Value *q,
                                         const std::vector<llvm::Value *> &sum);
  std::vector<llvm::Value *> loadSums(const Blocks &blocks, llvm::Value *u, int64_t n, bool first);
  void storeSums(const Blocks &blocks, llvm::Value *u, int64_t j,
                 const std::vector<llvm::Value *> &acc);
  void forNeurons(const Blocks &blocks, llvm::Value *s, int64_t step,
                  const std::function<void(llvm::Value *u, llvm::Value *at)> &body);
  void stripPairs(const Blocks &blocks, llvm::Value *s, bool first);
  void neuronPair(const Blocks &blocks, llvm::Value *u, llvm::Value *at, bool first);
  void stripQuads(const Blocks &blocks, llvm::Value *s, bool first);
  void neuronQuad(const Blocks &blocks, llvm::Value *u, llvm::Value *at, bool first);
  void bakedStrips(const Blocks &blocks);
  int64_t bakedNeurons(const Blocks &blocks, int64_t k0, int64_t k1, int64_t u0, int64_t q0);
  void epilogue(const Blocks &blocks);
  void sampleMajorEpilogue(const Blocks &blocks, const std::vector<size_t> &ps);
  void featureMajorEpilogue(const Blocks &blocks, size_t p);

  // Lone samples (LowerSparseLone.cpp).
  void loneSamples();
  void lonePacked();
  void loneScalar(llvm::Value *n);
  std::vector<llvm::Value *> scalarEntry(llvm::Value *entry, llvm::Value *xRow,
                                         const std::vector<llvm::Value *> &sum);
  void loneChunked(llvm::Value *n);
  void chunkedGroups(llvm::Value *n, llvm::Value *xRow, const std::vector<llvm::Value *> &gs);
  std::vector<llvm::Value *> chunk(llvm::Value *xRow, const std::vector<ChunkedGroup> &groups,
                                   llvm::Value *c, const std::vector<llvm::Value *> &state,
                                   int64_t width);

  const KernelEnv &env;
  llvm::IRBuilder<> &b;
  const ir::Op &op;
  const ir::Op &weights; // the weights' op (a constant)
  const SlotMap &slots;
  const int panelsSlot;
  const ir::Schedule &schedule;
  const SparseChain chain;
  const ir::LonePath lone;
  const WeightedSum ws;
  const int64_t K, U, V;      // inputs, units, lanes
  const int64_t unitsRounded; // units rounded up to V
  const bool partialGroups;   // whether the last group of V neurons is partial
  const int64_t entryFloats;  // floats per entry of the scalar lone format
  llvm::Type *i32, *idxTy;    // idxTy: the packed input indices (16 or 32 bits)

  llvm::Value *X, *Wp, *B, *Y; // x, the packed weights, the bias (or null), y
  llvm::Value *XT;             // the scratch
  llvm::Value *g0, *g1;        // the call's groups of V neurons
  // The strip section (runtime::packSparse; its offsets are in every
  // group's header): the strip count, the start table, values, indices.
  llvm::Value *stripCount, *starts, *values, *indices;
  // The end of the call's sample blocks and of its full ones (set before
  // any block runs).
  llvm::Value *blocksEnd = nullptr, *rowsFull = nullptr;
};

} // namespace soma::codegen
