// The graph IR: a network as a list of ops in topological order. Each op
// produces one value, named and typed; operands point at earlier ops. What an
// op computes is its kind plus attributes (Ops.def).
#pragma once

#include "soma/ir/Attributes.h"
#include "soma/ir/OpKind.h"
#include "soma/ir/OpMap.h"
#include "soma/ir/Schedule.h"
#include "soma/support/Machine.h"
#include "soma/support/SourceManager.h"
#include "soma/support/Tensor.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace soma::ir {

/// How an op's text has an attribute (Ops.def): Required (always written),
/// Shown (may be left out for its default; always printed) or Optional (may
/// be left out; printed only when not its default).
enum class AttrPresence { Required, Shown, Optional };
/// An attribute an op kind takes.
struct OpAttr {
  AttrId id;
  AttrPresence presence;
};
/// The attributes ops of `kind` take, in the order the text form writes them.
const std::vector<OpAttr> &opAttributes(OpKind kind);
/// The attributes of `kind` equal in `a` and `b` (sameAttrValue), the ones
/// it does not take ignored.
bool sameAttributes(OpKind kind, const OpAttributes &a, const OpAttributes &b);
/// linear, dense and dense_add: a weighted sum of operand 0 with the
/// weights in operand 1 (and, but for linear, the bias in operand 2).
inline bool isWeightedSum(OpKind kind) {
  return kind == OpKind::Linear || kind == OpKind::Dense || kind == OpKind::DenseAdd;
}

/// conv and conv_add: a convolution of operand 0 with the filters in
/// operand 1 and the bias in operand 2 (conv_add: plus the residual in
/// operand 3).
inline bool isConv(OpKind kind) { return kind == OpKind::Conv || kind == OpKind::ConvAdd; }

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

/// An op. Its attributes are the typed fields of its OpAttributes base
/// (op.fn, op.epsilon: Ops.def), of which its kind says which it has.
class Op : public OpAttributes {
public:
  Op(OpKind kind, std::string name, std::vector<Op *> operands, SourceLoc loc)
      : kind(kind), name(std::move(name)), operands(std::move(operands)), loc(loc) {}

  OpKind kind;
  std::string name;
  std::vector<Op *> operands;
  TensorType type;
  SourceLoc loc;

  /// Every attribute at once: to copy them to another op, or reset them.
  OpAttributes &attributes() { return *this; }
  const OpAttributes &attributes() const { return *this; }
  /// Const: the data, row-major, shape == type.dims. Shared so that copies
  /// of a graph (and passes) need not duplicate large weights.
  std::shared_ptr<const Tensor> data;
  /// Linear, dense, dense_add: the layer's hints from the source.
  LayerHints hints;
  /// Set by sparsity-analysis on linear, dense, dense_add, conv and conv_add ops.
  std::optional<SparsityInfo> sparsity;
  /// Set by the schedule pass on linear, dense and dense_add ops.
  std::optional<Schedule> schedule;
};

/// scale_shift and batch_norm: the per-sample axis of a value of `rank`
/// per-sample dims that their parameters run along, from the op's `axis`
/// (negative counts from the end; the shape rule checks the range); 0 for
/// a value with no per-sample dims.
inline size_t featureAxis(int64_t axis, size_t rank) {
  if (rank == 0)
    return 0;
  return static_cast<size_t>(axis < 0 ? axis + static_cast<int64_t>(rank) : axis);
}
/// Whether the parameters of scale_shift or batch_norm `op` run along the
/// last axis of its value, as the elementwise kernels read them.
inline bool paramsAlongLastAxis(const Op &op) {
  const size_t rank = op.type.dims.size();
  return rank <= 1 || featureAxis(op.axis, rank) + 1 == rank;
}

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
  /// The machine the schedules were planned for (soma/ir/MachineRecord.h),
  /// or none before the schedule pass.
  std::optional<MachineInfo> machine;

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

/// How many operand slots and outputs use each op, and its only user when
/// it has exactly one and is not an output: what the fusing and folding
/// passes ask before they absorb an op into its user. setOperands keeps the
/// counts right through a rewrite; a pass that assigns operands directly
/// reads the graph as it was.
class UseCounts {
public:
  explicit UseCounts(const Graph &graph);
  size_t of(const Op *op) const;
  /// Null when `op` has no user, several, or is an output.
  Op *soleUser(const Op *op) const;
  /// `user->operands = operands`, with the counts following.
  void setOperands(Op *user, std::vector<Op *> operands);

private:
  /// Besides the count, the sum of the users' addresses (an output adds
  /// 0): when the count is 1, the sum is the one user, or null.
  struct Entry {
    size_t count = 0;
    uintptr_t userSum = 0; // wraps: only its value at count 1 is read
  };
  void add(const Op *value, const Op *user);
  void remove(const Op *value, const Op *user);
  OpMap<Entry> entries;
};

/// Graph::replaceAllUses for a pass that replaces many ops while it walks
/// graph.ops in order (one call per op would be quadratic). Every use of
/// an op comes after it, so pointing each op's operands at their
/// replacements when the walk reaches it, and the outputs at the end,
/// leaves the graph as replacing every use at once would.
class UseRewriter {
public:
  /// Uses of `from` become uses of `to` (or of what `to` was replaced by).
  void replace(const Op *from, Op *to);
  /// Call on every op, in graph order, before looking at its operands.
  void rewriteOperands(Op &op) const;
  /// Call once, after the walk.
  void rewriteOutputs(Graph &graph) const;

private:
  Op *resolve(Op *op) const;
  OpMap<Op *> replacement;
};

/// Graph::insertBefore and uniqueName for a pass that inserts many ops:
/// each of those scans the whole graph, so calling them per layer is
/// quadratic. Here an insertion is O(1) and commit() splices every pending
/// op into graph.ops in one pass, each just before its anchor, after the
/// ones inserted there earlier: the order insertBefore would have given.
/// Names are unique against the graph and everything inserted so far,
/// chosen as uniqueName would. Until commit(), the new ops are not in
/// graph.ops; the destructor commits.
class OpInserter {
public:
  explicit OpInserter(Graph &graph);
  ~OpInserter() { commit(); }
  OpInserter(const OpInserter &) = delete;
  OpInserter &operator=(const OpInserter &) = delete;

  /// A new op named uniqueName(base), to go just before `before`.
  Op *insertBefore(const Op *before, OpKind kind, const std::string &base,
                   std::vector<Op *> operands, SourceLoc loc = {});
  /// A new constant holding `data` (typed [dims], no batch), just before
  /// `before`.
  Op *insertConstBefore(const Op *before, const std::string &base,
                        std::shared_ptr<const Tensor> data, SourceLoc loc = {});
  /// `base`, or `base.1`, `base.2`, ...: the first no op has; taken.
  std::string uniqueName(const std::string &base);
  void commit();

private:
  Graph &graph;
  /// Every op's name, collected at the first insertion.
  std::unordered_set<std::string> names;
  /// Per base name, the suffix to try next (names are never freed).
  std::unordered_map<std::string, unsigned> nextSuffix;
  /// The ops to insert before each anchor, in order.
  OpMap<std::vector<std::unique_ptr<Op>>> pending;
  size_t numPending = 0;
};

} // namespace soma::ir
