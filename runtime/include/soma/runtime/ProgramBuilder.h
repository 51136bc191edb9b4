// The one program builder: turns an optimised graph into the Program the
// executor runs, for every engine. It gives each value a slot, packs each
// constant for the kernel that reads it, adds the kernels' scratch, makes
// the output copies and one step per op; which kernel computes each op is
// decided per op by an ordered list of kernel families, the first family
// that runs the op winning (as oneDNN's implementation lists). A family
// declares, next to its code, which ops and schedules it runs, how it packs
// their constants, its tile rules and how it makes a step. An engine is
// such a list (`--engine` orders it): the JIT's families first, then the
// vec engine's, then the interpreter's kernels, which run every op.
#pragma once

#include "soma/ir/Graph.h"
#include "soma/runtime/Kernels.h"
#include "soma/runtime/Program.h"
#include "soma/support/Expected.h"

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace soma::runtime {

/// Which engine a family belongs to.
enum class Tier { Jit, Vec, Interp };
/// "jit", "vec", "interp"
const char *tierName(Tier tier);

/// A family's answer for one op.
struct Fit {
  enum class Kind {
    Runs,     // the family computes the op; `why` may note how
    Declines, // not this family's op: the next family is asked; `why` says why not
    Refuses,  // the op asks what its data does not allow: compiling fails with `why`
  };
  Kind kind = Kind::Runs;
  std::string why;
  static Fit runs(std::string note = {}) { return {Kind::Runs, std::move(note)}; }
  static Fit declines(std::string why) { return {Kind::Declines, std::move(why)}; }
  static Fit refuses(std::string error) { return {Kind::Refuses, std::move(error)}; }
};

class ProgramBuilder;

/// A family of kernels: the ops it runs and how it makes their steps. The
/// builder asks, in order: fit (for every op, until one family runs it),
/// pack (each constant operand of an op the family runs), addSlots (after
/// every value has its slot), then, after the target's prepare, makeStep.
class KernelFamily {
public:
  virtual ~KernelFamily() = default;
  /// "jit.dense", "vec.elementwise", "interp"
  virtual const char *name() const = 0;
  virtual Tier tier() const = 0;
  /// Whether the family computes `op` (its kind, attributes, operands and
  /// schedule) as it is.
  virtual Fit fit(const ir::Op &op) const = 0;
  /// Constant operand `k` of `op` as the family's kernel reads it (packed
  /// weights, a padded bias); null: the constant as it is. The builder gives
  /// a weighted sum's weights and bias constants of their own first, so
  /// what is packed here is read by this op alone.
  virtual std::shared_ptr<const AlignedVector<float>> pack(const ir::Op &op, size_t k) const;
  /// Slots of the op's own beyond its operands and result: scratch, a
  /// second packing of its weights (ProgramBuilder::addSlot, setScratch,
  /// setAux).
  virtual void addSlots(ProgramBuilder &builder, size_t op) const;
  /// Fills `step`'s kernel, context and tiles (the builder has set its
  /// name, shape, result, reads and scratch).
  virtual Expected<bool> makeStep(const ProgramBuilder &builder, size_t op, Step &step) const = 0;
  /// For `soma compile --emit=program`: the format its weights are packed
  /// in and its geometry ("panels of 32, 8 rows x 2 vectors"); empty: none.
  virtual std::string describe(const ir::Op &op) const;
  /// Whether the step this family makes for `op` reads operand `k` in
  /// kernels::ChannelLayout::Blocked when the builder stores it so
  /// (ProgramBuilder::layoutOf), and whether it writes its result so. Both
  /// false by default: a family that says true must honour either layout.
  virtual bool readsBlocked(const ir::Op &op, size_t k) const;
  virtual bool writesBlocked(const ir::Op &op) const;
};

/// An engine's families, in order of preference, and what it does to the
/// graph first and to the whole program before its steps are made.
struct Target {
  std::string name;
  std::vector<const KernelFamily *> families;
  /// Before the choice (after unbatched values are folded): rewrites the
  /// graph for this target (the JIT re-plans schedules for its vector
  /// width). May be empty.
  std::function<Expected<bool>(ir::Graph &)> prepareGraph;
  /// After every op has its family and slots, before any step is made (the
  /// JIT compiles all its families' kernels into one module here). May be
  /// empty.
  std::function<Expected<bool>(ProgramBuilder &)> prepareSteps;
  /// Whether values between kernels that read and write them blocked are
  /// stored kernels::ChannelLayout::Blocked (ProgramBuilder::layoutOf);
  /// false: every value planar (the same bits, slower; for comparisons).
  bool blockedLayouts = true;
};

/// What the builder decided for one op, kept for --emit=program.
struct OpChoice {
  const KernelFamily *family = nullptr;
  /// The note of the family that runs the op.
  std::string note;
  /// Each family asked before it, and why it declined.
  std::vector<std::pair<const KernelFamily *, std::string>> declined;
  /// Slots of the op's own (KernelFamily::addSlots): scratch, and one more
  /// (a second packing); -1 for none.
  int scratch = -1;
  int aux = -1;
};

class ProgramBuilder {
public:
  /// `graph` must be checked (types inferred); build() changes it: values
  /// that depend on no input are folded to constants, and weighted sums get
  /// weights and bias constants of their own.
  explicit ProgramBuilder(ir::Graph &graph) : graph_(graph) {}

  /// Builds the program of `target`: plan(), the target's prepareSteps,
  /// then one step per op. An error names the op no family runs or the op
  /// a family refuses.
  Expected<Program> build(const Target &target);
  /// The first half of build(): the graph made ready, each op's family
  /// chosen, every slot assigned and its constant packed (what `soma
  /// compile --emit=llvm` needs, without compiling).
  Expected<bool> plan(const Target &target);

  const ir::Graph &graph() const { return graph_; }
  size_t indexOf(const ir::Op *op) const;
  /// The slot of op i's value, of an operand's value.
  int slotOf(size_t op) const { return slots_[op]; }
  int slotOf(const ir::Op *op) const { return slots_[indexOf(op)]; }
  const std::vector<int> &slots() const { return slots_; }
  const std::vector<OpChoice> &choices() const { return choices_; }
  /// How op i's value is stored (chosen once per program, after the
  /// families): Blocked when it is a per-sample [C, H, W] or [C, L] value
  /// with C a multiple of channelBlock(), its producer's family writes it
  /// blocked, every reader's family reads it blocked (a conv_add reads its
  /// residual blocked only when it writes blocked), and it is no output;
  /// else Planar. Steps convert at the ends of such chains.
  kernels::ChannelLayout layoutOf(size_t op) const { return layouts_[op]; }
  kernels::ChannelLayout layoutOf(const ir::Op *op) const { return layouts_[indexOf(op)]; }
  /// The channels of a block of a Blocked value: the active instruction
  /// set's vector width when the program was planned.
  int64_t channelBlock() const { return channelBlock_; }

  /// For KernelFamily::addSlots: a new slot, and the op's own slots.
  int addSlot(Slot slot);
  void setScratch(size_t op, int slot) { choices_[op].scratch = slot; }
  void setAux(size_t op, int slot) { choices_[op].aux = slot; }

private:
  Expected<bool> choose(const Target &target);
  void chooseLayouts(const Target &target);
  void assignSlots();

  ir::Graph &graph_;
  Program program_;
  std::vector<int> slots_;
  std::vector<OpChoice> choices_;
  std::vector<kernels::ChannelLayout> layouts_;
  int64_t channelBlock_ = 1;
  std::unordered_map<const ir::Op *, size_t> index_;
};

/// Values that depend on no input are computed once by the reference
/// interpreter and become constants (the engines run only batched ops).
void foldUnbatched(ir::Graph &graph);

/// Gives each weighted sum and convolution weights and bias constants of its
/// own, so they can be packed for the kernel that reads them.
void privatizeWeightedSumConstants(ir::Graph &graph);

/// The text of `program`, built by `builder`, for `soma compile
/// --emit=program`: per step, the op, the family chosen and why the ones
/// before it declined, the packing and geometry, the tiles and slots; then
/// every slot, and the memory plan's buffers with their offsets and the
/// peak bytes per sample.
std::string printProgram(const ProgramBuilder &builder, const Program &program);

} // namespace soma::runtime
