// The program builder (ProgramBuilder.h): the graph made ready (unbatched
// values folded, weighted sums' constants private), each op's family
// chosen, each value's channel layout chosen (planar, or blocked between
// kernels that take it), slots assigned and constants packed for their readers, the
// families' own slots, the output copies, then one step per op.
#include "soma/runtime/ProgramBuilder.h"

#include "soma/runtime/Interpreter.h"

#include <algorithm>
#include <cassert>

namespace soma::runtime {

const char *tierName(Tier tier) {
  switch (tier) {
  case Tier::Jit:
    return "jit";
  case Tier::Vec:
    return "vec";
  case Tier::Interp:
    return "interp";
  }
  return "?";
}

std::shared_ptr<const AlignedVector<float>> KernelFamily::pack(const ir::Op &, size_t) const {
  return nullptr;
}
void KernelFamily::addSlots(ProgramBuilder &, size_t) const {}
std::string KernelFamily::describe(const ir::Op &) const { return {}; }
bool KernelFamily::readsBlocked(const ir::Op &, size_t) const { return false; }
bool KernelFamily::writesBlocked(const ir::Op &) const { return false; }

void foldUnbatched(ir::Graph &graph) {
  for (auto &opPtr : graph.ops) {
    ir::Op &op = *opPtr;
    if (op.type.batched || op.kind == ir::OpKind::Const || op.kind == ir::OpKind::Input)
      continue;
    ir::Graph single;
    single.name = graph.name;
    std::vector<ir::Op *> operands;
    for (ir::Op *operand : op.operands) {
      ir::Op *c = single.append(ir::OpKind::Const, operand->name, {});
      c->type = operand->type;
      c->data = operand->data;
      operands.push_back(c);
    }
    ir::Op *copy = single.append(op.kind, op.name, operands);
    copy->type = op.type;
    copy->attributes() = op.attributes();
    single.outputs.push_back({op.name, copy, {}});
    auto result = Interpreter(single).run({});
    op.kind = ir::OpKind::Const;
    op.operands.clear();
    op.data = std::make_shared<Tensor>(std::move((*result)[0].tensor));
  }
}

namespace {

/// The ops whose weights and bias (operands 1 and 2) their family packs:
/// the weighted sums and the convolution.
bool packsItsConstants(ir::OpKind kind) { return ir::isWeightedSum(kind) || ir::isConv(kind); }

} // namespace

void privatizeWeightedSumConstants(ir::Graph &graph) {
  std::unordered_map<const ir::Op *, size_t> uses;
  for (auto &op : graph.ops)
    for (ir::Op *operand : op->operands)
      ++uses[operand];
  ir::OpInserter inserter(graph); // linear in the graph, however many copies
  for (auto &owned : graph.ops) {
    ir::Op *op = owned.get();
    if (!packsItsConstants(op->kind))
      continue;
    for (size_t k = 1; k < std::min<size_t>(op->operands.size(), 3); ++k) { // weights, bias
      ir::Op *c = op->operands[k];
      if (uses[c] <= 1)
        continue;
      --uses[c];
      ir::Op *copy = inserter.insertBefore(op, ir::OpKind::Const, c->name, {}, c->loc);
      copy->type = c->type;
      copy->data = c->data;
      op->operands[k] = copy;
    }
  }
}

size_t ProgramBuilder::indexOf(const ir::Op *op) const { return index_.at(op); }

int ProgramBuilder::addSlot(Slot slot) {
  program_.slots.push_back(std::move(slot));
  return static_cast<int>(program_.slots.size()) - 1;
}

Expected<bool> ProgramBuilder::choose(const Target &target) {
  for (size_t i = 0; i < graph_.ops.size(); ++i) {
    const ir::Op &op = *graph_.ops[i];
    if (op.kind == ir::OpKind::Input || op.kind == ir::OpKind::Const)
      continue;
    OpChoice &choice = choices_[i];
    // A value of no elements (a zero-width [N, ..., 0]) is never written,
    // and no kernel reads it: it gets no family and no step.
    if (op.type.sampleElements() == 0)
      continue;
    for (const KernelFamily *family : target.families) {
      Fit fit = family->fit(op);
      if (fit.kind == Fit::Kind::Refuses)
        return Error{fit.why};
      if (fit.kind == Fit::Kind::Declines) {
        choice.declined.emplace_back(family, std::move(fit.why));
        continue;
      }
      choice.family = family;
      choice.note = std::move(fit.why);
      break;
    }
    if (!choice.family)
      return Error{std::string(target.name) + " engine: no kernel for op '" + ir::opName(op.kind) +
                   "' ('" + op.name + "')"};
  }
  return true;
}

void ProgramBuilder::chooseLayouts(const Target &target) {
  using kernels::ChannelLayout;
  const size_t n = graph_.ops.size();
  layouts_.assign(n, ChannelLayout::Planar);
  channelBlock_ = kernels::vectorWidth(kernels::activeIsa());
  if (!target.blockedLayouts)
    return;
  // 1. The values whose shape and producer allow it (an input or a
  //    constant has no producing step).
  std::vector<char> blocked(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const ir::Op &op = *graph_.ops[i];
    const size_t rank = op.type.dims.size();
    blocked[i] = choices_[i].family && op.type.batched && (rank == 2 || rank == 3) &&
                 op.type.dims[0] % channelBlock_ == 0 && choices_[i].family->writesBlocked(op);
  }
  // 2. Not an output, and every reader reads it blocked.
  for (const ir::GraphOutput &out : graph_.outputs)
    blocked[indexOf(out.value)] = 0;
  for (size_t i = 0; i < n; ++i) {
    const ir::Op &op = *graph_.ops[i];
    if (!choices_[i].family)
      continue; // no step: reads nothing
    for (size_t k = 0; k < op.operands.size(); ++k)
      if (!choices_[i].family->readsBlocked(op, k))
        blocked[indexOf(op.operands[k])] = 0;
  }
  // 3. A conv_add reads its residual, a prelu its operand, in its result's
  //    layout (kernels::ConvArgs::out, kernels::PreluShape): where the two
  //    differ, both stay planar, which may undo another pair, until nothing
  //    changes.
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < n; ++i) {
      const ir::Op &op = *graph_.ops[i];
      const bool prelu = op.kind == ir::OpKind::Prelu;
      if ((op.kind != ir::OpKind::ConvAdd && !prelu) || !choices_[i].family)
        continue;
      const size_t r = indexOf(op.operands[prelu ? 0 : 3]);
      if (blocked[r] != blocked[i]) {
        blocked[r] = blocked[i] = 0;
        changed = true;
      }
    }
  }
  for (size_t i = 0; i < n; ++i)
    if (blocked[i])
      layouts_[i] = ChannelLayout::Blocked;
}

void ProgramBuilder::assignSlots() {
  // Which op reads each constant through a kernel of its own (weights and
  // bias of a weighted sum, private by now): its family packs it.
  std::unordered_map<const ir::Op *, std::pair<size_t, size_t>> readerOf; // const -> (op, operand)
  for (size_t i = 0; i < graph_.ops.size(); ++i) {
    const ir::Op &op = *graph_.ops[i];
    if (packsItsConstants(op.kind) && choices_[i].family)
      for (size_t k = 1; k < std::min<size_t>(op.operands.size(), 3); ++k)
        readerOf[op.operands[k]] = {i, k};
  }
  std::unordered_map<const ir::Op *, int> firstOutput;
  for (size_t o = 0; o < graph_.outputs.size(); ++o)
    firstOutput.emplace(graph_.outputs[o].value, static_cast<int>(o));
  const std::vector<ir::Op *> inputs = graph_.inputs();
  for (size_t i = 0; i < graph_.ops.size(); ++i) {
    const ir::Op &op = *graph_.ops[i];
    Slot slot;
    slot.sampleElements = op.type.sampleElements();
    if (op.kind == ir::OpKind::Input) {
      slot.kind = SlotKind::Input;
      slot.index = static_cast<int>(std::find(inputs.begin(), inputs.end(), &op) - inputs.begin());
    } else if (op.kind == ir::OpKind::Const) {
      slot.kind = SlotKind::Constant;
      if (auto reader = readerOf.find(&op); reader != readerOf.end()) {
        auto [user, k] = reader->second;
        slot.data = choices_[user].family->pack(*graph_.ops[user], k);
      }
      if (!slot.data && op.data)
        slot.data = std::shared_ptr<const AlignedVector<float>>(op.data, &op.data->values);
    } else if (auto out = firstOutput.find(&op); out != firstOutput.end()) {
      slot.kind = SlotKind::Output;
      slot.index = out->second;
    } else {
      slot.kind = SlotKind::Temp;
    }
    slots_[i] = addSlot(std::move(slot));
  }
  for (size_t i = 0; i < graph_.ops.size(); ++i)
    if (choices_[i].family)
      choices_[i].family->addSlots(*this, i);
  for (size_t o = 0; o < graph_.outputs.size(); ++o) {
    const ir::Op *value = graph_.outputs[o].value;
    if (value->kind == ir::OpKind::Input || firstOutput.at(value) != static_cast<int>(o))
      program_.copies.push_back({slotOf(value), static_cast<int>(o), value->type.sampleElements()});
  }
}

Expected<bool> ProgramBuilder::plan(const Target &target) {
  foldUnbatched(graph_);
  privatizeWeightedSumConstants(graph_);
  if (target.prepareGraph)
    if (auto ok = target.prepareGraph(graph_); !ok)
      return Error{ok.error()};
  for (const auto &op : graph_.ops)
    if (op->kind == ir::OpKind::Const && !op->data)
      return Error{target.name + " engine: constant '" + op->name + "' has no data"};
  index_.clear();
  for (size_t i = 0; i < graph_.ops.size(); ++i)
    index_[graph_.ops[i].get()] = i;
  choices_.assign(graph_.ops.size(), OpChoice{});
  slots_.assign(graph_.ops.size(), -1);
  program_ = Program{};
  if (auto ok = choose(target); !ok)
    return Error{ok.error()};
  chooseLayouts(target);
  assignSlots();
  return true;
}

Expected<Program> ProgramBuilder::build(const Target &target) {
  if (auto ok = plan(target); !ok)
    return Error{ok.error()};
  if (target.prepareSteps)
    if (auto ok = target.prepareSteps(*this); !ok)
      return Error{ok.error()};
  for (size_t i = 0; i < graph_.ops.size(); ++i) {
    const OpChoice &choice = choices_[i];
    if (!choice.family)
      continue;
    const ir::Op &op = *graph_.ops[i];
    Step step;
    step.name = op.name;
    step.family = choice.family->name();
    step.cols = op.type.lastDim();
    step.rowsPerSample = op.type.sampleElements() / std::max<int64_t>(step.cols, 1);
    step.result = slots_[i];
    for (const ir::Op *operand : op.operands)
      step.reads.push_back(slotOf(operand));
    if (choice.scratch >= 0)
      step.scratch.push_back(choice.scratch);
    if (auto ok = choice.family->makeStep(*this, i, step); !ok)
      return Error{ok.error()};
    program_.steps.push_back(std::move(step));
  }
  return std::move(program_);
}

} // namespace soma::runtime
