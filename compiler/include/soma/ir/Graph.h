// The graph IR: a network as a list of ops in topological order. Each op
// produces one value, named and typed; operands point at earlier ops. What an
// op computes is its kind plus attributes (Ops.def).
#pragma once

#include "soma/ir/Activation.h"
#include "soma/support/SourceManager.h"
#include "soma/support/Tensor.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace soma::ir {

enum class OpKind {
#define SOMA_OP(Enum, Name, NumOperands, Attrs, Doc) Enum,
#include "soma/ir/Ops.def"
};

enum class OpAttrs { None, Fn, OptFn, Epsilon };

/// Whether ops of this kind carry an activation (Fn or OptFn).
inline bool hasFn(OpAttrs attrs) { return attrs == OpAttrs::Fn || attrs == OpAttrs::OptFn; }

const char *opName(OpKind kind);
bool opFromName(std::string_view name, OpKind &kind);
/// Operand count, or -1 for "one or more".
int opNumOperands(OpKind kind);
OpAttrs opAttrs(OpKind kind);
const char *opDoc(OpKind kind);
/// linear, dense and dense_add: a weighted sum of operand 0 with the
/// weights in operand 1 (and, but for linear, the bias in operand 2).
inline bool isWeightedSum(OpKind kind) {
  return kind == OpKind::Linear || kind == OpKind::Dense || kind == OpKind::DenseAdd;
}

/// An f32 tensor type: per-sample dims plus, when `batched`, a leading
/// symbolic batch dimension N that is only known at run time.
struct TensorType {
  bool batched = false;
  std::vector<int64_t> dims;
  /// False for a value whose type is not inferred yet.
  bool known = false;

  static TensorType make(bool batched, std::vector<int64_t> dims) {
    return TensorType{batched, std::move(dims), true};
  }
  /// Elements per sample (the product of `dims`).
  int64_t sampleElements() const;
  int64_t lastDim() const { return dims.empty() ? 1 : dims.back(); }
  /// "f32[N, 2]", "f32[3]"
  std::string str() const;
  bool operator==(const TensorType &) const = default;
};

/// What sparsity-analysis found in a dense/linear layer's weight matrix
/// ([units, inputs]); printed as {sparsity = {...}} after the op.
struct SparsityInfo {
  /// Nonzero weights / all weights.
  double density = 1.0;
  int64_t zeroRows = 0;
  int64_t zeroCols = 0;
  /// "none", "1x4", "4x1" (nonzeros cover whole aligned blocks of that
  /// shape, some blocks all zero) or "2:4" (at most 2 nonzeros in every
  /// aligned group of 4 along a row).
  std::string block = "none";
  bool operator==(const SparsityInfo &) const = default;
};

/// How a linear/dense/dense_add op is computed, chosen by the schedule
/// pass's cost model (docs/passes.md#schedule) and printed as
/// {schedule = {...}} after the op. Changing it never changes results
/// beyond the op's tolerance: every output element is reduced over all its
/// inputs, in input order, by one kernel call.
struct Schedule {
  /// "packed": the register-blocked kernel over weight panels (the fields
  /// below as documented). "sparse": the kernel over the nonzero weights
  /// only (codegen/LowerSparse.cpp): neuron groups of one vector
  /// (panelVectors = 1), sample blocks of one vector (rowBlock =
  /// vectorWidth), lonePanels = 1, and colTile = the units rounded up to
  /// the vector, so a call computes whole rows (docs/passes.md#schedule;
  /// the executor cuts only runs of fewer than vectorWidth / 2 rows, which
  /// have no sample block, into column tiles).
  std::string kernel = "packed";
  /// f32 lanes per vector, and vectors per panel: a panel is
  /// vectorWidth * panelVectors output neurons, packed contiguously per input.
  int64_t vectorWidth = 16;
  int64_t panelVectors = 2;
  /// Samples per microkernel step (rowBlock * panelVectors accumulators).
  int64_t rowBlock = 4;
  /// Panels computed side by side for samples left over after the last
  /// full row block (batch 1): more independent accumulators, each weight
  /// still read once.
  int64_t lonePanels = 4;
  /// A parallel tile: rowTile samples by colTile output neurons (a
  /// multiple of the panel). Tiles are fixed here, not by the thread count.
  int64_t rowTile = 64;
  int64_t colTile = 32;
  /// "sparse" only: how lone samples (fewer than vectorWidth / 2 rows in a
  /// call: batch 1) are computed (codegen/LowerSparse.cpp). "scalar": per
  /// group of vectorWidth neurons, one scalar chain per neuron over its
  /// nonzeros. "chunked" (vectorWidth 16 only): the inputs in chunks of 32
  /// held in two registers, each entry of 16 nonzeros picked from them by
  /// one permute and summed by one vector FMA. "packed": the dense kernel
  /// over weight panels of one vector (lone_panels 8), for layers dense
  /// enough that batch 1 loses with either sparse path while sample blocks
  /// still gain. Printed as `lone = "..."` in sparse schedules.
  std::string lone = "scalar";
  /// "sparse" only: the weights' block pattern the sample blocks use
  /// (codegen/LowerSparse.cpp). "4x1": every aligned 4 neurons have their
  /// nonzeros at the same inputs, so each load of an input feeds 4
  /// neurons. "none": no pattern used (sparsity-analysis's "1x4" and "2:4"
  /// give the sample blocks nothing to share: docs/passes.md). Set only
  /// from a pattern sparsity-analysis found; the JIT checks the weights
  /// against it before packing. Printed as `block = "4x1"` after `lone`.
  std::string block = "none";
  /// "sparse" only: the sample blocks' multiply-adds are generated from
  /// the weights themselves (codegen/LowerSparse.cpp): straight-line code
  /// in the strips' order, each nonzero's input and place among the packed
  /// values constants (no index loads, no loops, no start table); the same
  /// chains, so the same bits; lone samples keep `lone`. For layers of at most kBakedMaxNonzeros nonzero
  /// weights (the JIT refuses more: code size and compile time grow with
  /// them). Not with block = "4x1". Printed as `baked = true` after
  /// `block`.
  bool baked = false;
  static constexpr int64_t kBakedMaxNonzeros = 2048;
  /// lone = "packed": the panels of one vector its dense kernel runs side
  /// by side (codegen), so column tiles hold whole groups of them (runtime).
  static constexpr int64_t kLonePackedPanels = 8;
  /// "packed" only: lone samples (the rows after the last full row block,
  /// all of batch 1) skip the weight rows of their zero inputs
  /// (activation sparsity, codegen/LowerDense.cpp): their nonzero inputs
  /// are listed first, and when at most 3/8 are nonzero the kernel runs
  /// over the list. Set by the cost model for layers fed by relu with
  /// finite weights; printed as `skip_zero_inputs = true`.
  bool skipZeroInputs = false;
  /// Inputs per K tile of the packed kernel (0: none, all inputs at once).
  /// A call sums the first kTile inputs for all its row blocks, then the
  /// next kTile from the partial sums it left in the output, and so on:
  /// each output is still reduced over all inputs in input order.
  int64_t kTile = 0;
  int64_t panel() const { return vectorWidth * panelVectors; }
  bool operator==(const Schedule &) const = default;
};

/// The user's choice between dense and sparse code for a weighted sum:
/// `sparsity = auto|dense|sparse` in a layer, --sparsity, CompileOptions.
enum class SparsityMode { Auto, Dense, Sparse };
const char *sparsityModeName(SparsityMode mode);
/// "auto", "dense", "sparse" -> the mode; false for anything else.
bool sparsityModeFromName(std::string_view name, SparsityMode &mode);

/// What the network's author asked of one layer, beyond what it computes
/// (`sparsity = ...`, `prune = ...` in the language). Carried by the
/// weighted sum (linear, dense, dense_add) through the passes that rewrite
/// it, and printed as {hints = {...}} after the op's attributes.
struct LayerHints {
  /// Beats the global option, which beats the cost model (schedule pass).
  SparsityMode sparsity = SparsityMode::Auto;
  /// Fraction of the weights the prune pass zeroes, in [0, 1); beats the
  /// global --prune. Unset: the global value, if any.
  std::optional<double> prune;
  bool any() const { return sparsity != SparsityMode::Auto || prune.has_value(); }
  bool operator==(const LayerHints &) const = default;
};

class Op {
public:
  Op(OpKind kind, std::string name, std::vector<Op *> operands, SourceLoc loc)
      : kind(kind), name(std::move(name)), operands(std::move(operands)), loc(loc) {}

  OpKind kind;
  std::string name;
  std::vector<Op *> operands;
  TensorType type;
  SourceLoc loc;

  /// OpAttrs::Fn
  Activation fn;
  /// OpAttrs::Epsilon
  float epsilon = 1e-5f;
  /// Const: the data, row-major, shape == type.dims. Shared so that copies
  /// of a graph (and passes) need not duplicate large weights.
  std::shared_ptr<const Tensor> data;
  /// Linear, dense, dense_add: the layer's hints from the source.
  LayerHints hints;
  /// Set by sparsity-analysis on dense and linear ops.
  std::optional<SparsityInfo> sparsity;
  /// Set by the schedule pass on linear, dense and dense_add ops.
  std::optional<Schedule> schedule;
};

struct GraphOutput {
  std::string name;
  Op *value;
  SourceLoc loc;
};

class Graph {
public:
  std::string name;
  std::vector<std::unique_ptr<Op>> ops;
  std::vector<GraphOutput> outputs;
  SourceLoc loc;

  /// Appends an op (after all existing ones) and returns it.
  Op *append(OpKind kind, std::string name, std::vector<Op *> operands, SourceLoc loc = {});
  /// Inserts an op just before `before`.
  Op *insertBefore(const Op *before, OpKind kind, std::string name, std::vector<Op *> operands,
                   SourceLoc loc = {});
  Op *findOp(std::string_view name) const;
  std::vector<Op *> inputs() const;
  /// A name not used by any op, derived from `base`.
  std::string uniqueName(const std::string &base) const;
  /// Replaces every use of `from` (operands and outputs) with `to`.
  void replaceAllUses(Op *from, Op *to);
  /// Removes ops that no output depends on, except inputs (they are the
  /// network's interface). Returns how many were removed.
  size_t removeDeadOps();
  /// A deep copy; constant data is shared.
  std::unique_ptr<Graph> clone() const;
};

/// Counts how many operand slots and outputs refer to each op.
std::vector<size_t> countUses(const Graph &graph);

} // namespace soma::ir
