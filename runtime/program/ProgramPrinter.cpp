// The lowered program as text (`soma compile --emit=program`), so that the
// builder's decisions are checked with FileCheck like every other stage:
// which family runs each op and why the ones before it did not, how its
// weights are packed, the layouts of its values where one is blocked, its
// tiles, and where every value lives.
#include "soma/runtime/Executor.h"
#include "soma/runtime/ProgramBuilder.h"

#include <sstream>

namespace soma::runtime {

namespace {

const char *slotKindName(SlotKind kind) {
  switch (kind) {
  case SlotKind::Input:
    return "input";
  case SlotKind::Constant:
    return "constant";
  case SlotKind::Temp:
    return "temp";
  case SlotKind::Output:
    return "output";
  }
  return "?";
}

/// "64" or "all" for a tile size of 0.
std::string tileText(int64_t tile, const char *whole) {
  return tile > 0 ? std::to_string(tile) : whole;
}

void printSlotList(std::ostream &os, const std::vector<int> &slots) {
  for (size_t k = 0; k < slots.size(); ++k)
    os << (k ? ", " : "") << '$' << slots[k];
}

void printOpLine(std::ostream &os, const ir::Op &op) {
  os << "  %" << op.name << " = " << ir::opName(op.kind) << "(";
  for (size_t k = 0; k < op.operands.size(); ++k)
    os << (k ? ", %" : "%") << op.operands[k]->name;
  os << ") : " << op.type.str() << "\n";
}

const char *layoutName(kernels::ChannelLayout layout) {
  return layout == kernels::ChannelLayout::Blocked ? "blocked" : "planar";
}

/// The layouts of the op's values (operands that are no constant, then its
/// result), where one of them is blocked; no line: all planar.
void printLayouts(std::ostream &os, const ProgramBuilder &b, const ir::Op &op, size_t opIndex) {
  bool any = b.layoutOf(opIndex) == kernels::ChannelLayout::Blocked;
  for (const ir::Op *operand : op.operands)
    any |= b.layoutOf(operand) == kernels::ChannelLayout::Blocked;
  if (!any)
    return;
  os << "    layouts: ";
  const char *sep = "";
  for (const ir::Op *operand : op.operands)
    if (operand->kind != ir::OpKind::Const) {
      os << sep << "%" << operand->name << " " << layoutName(b.layoutOf(operand));
      sep = ", ";
    }
  os << " -> " << layoutName(b.layoutOf(opIndex)) << " (blocks of " << b.channelBlock()
     << " channels)\n";
}

void printStep(std::ostream &os, const ProgramBuilder &b, const Step &step, size_t opIndex) {
  const ir::Op &op = *b.graph().ops[opIndex];
  const OpChoice &choice = b.choices()[opIndex];
  printOpLine(os, op);
  os << "    family " << choice.family->name();
  if (!choice.note.empty())
    os << ": " << choice.note;
  os << "\n";
  for (const auto &[family, why] : choice.declined)
    os << "    declined by " << family->name() << ": " << why << "\n";
  if (std::string packing = choice.family->describe(op); !packing.empty())
    os << "    packing: " << packing << "\n";
  printLayouts(os, b, op, opIndex);
  os << "    tiles: rows " << tileText(step.rowTile, "all") << ", cols "
     << tileText(step.colTile, "whole rows") << ", row work " << step.rowWork;
  if (step.smallRows > 0)
    os << "; runs of fewer than " << step.smallRows << " rows: cols " << step.smallColTile
       << ", row work " << step.smallRowWork;
  os << "\n    reads ";
  printSlotList(os, step.reads);
  os << " -> $" << step.result;
  if (!step.scratch.empty()) {
    os << ", scratch ";
    printSlotList(os, step.scratch);
  }
  if (!step.sharedKernelOf.empty())
    os << "; the kernel of %" << step.sharedKernelOf;
  os << "\n";
}

} // namespace

std::string printProgram(const ProgramBuilder &b, const Program &program) {
  std::ostringstream os;
  const ir::Graph &graph = b.graph();
  os << "program @" << graph.name << " {\n";
  // The steps are made in op order, one per op with a family; an op whose
  // value has no elements has none.
  size_t s = 0;
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    const ir::Op &op = *graph.ops[i];
    if (b.choices()[i].family && s < program.steps.size()) {
      printStep(os, b, program.steps[s++], i);
    } else if (op.kind != ir::OpKind::Input && op.kind != ir::OpKind::Const &&
               op.type.sampleElements() == 0) {
      printOpLine(os, op);
      os << "    no step: its value has no elements\n";
    }
  }
  // Every slot: what it holds and, for temporaries, its buffer.
  const MemoryPlan plan = planMemory(program);
  std::vector<std::string> names(program.slots.size());
  for (size_t i = 0; i < graph.ops.size(); ++i)
    names[static_cast<size_t>(b.slotOf(i))] = graph.ops[i]->name;
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    if (int scratch = b.choices()[i].scratch; scratch >= 0)
      names[static_cast<size_t>(scratch)] = graph.ops[i]->name + " (scratch)";
    if (int aux = b.choices()[i].aux; aux >= 0)
      names[static_cast<size_t>(aux)] = graph.ops[i]->name + " (second packing)";
  }
  os << "  slots:\n";
  for (size_t k = 0; k < program.slots.size(); ++k) {
    const Slot &slot = program.slots[k];
    os << "    $" << k << " " << slotKindName(slot.kind) << " '" << names[k] << "'";
    if (slot.kind == SlotKind::Constant)
      os << ": " << (slot.data ? slot.data->size() : 0) << " floats";
    else
      os << ": " << slot.sampleElements << " floats per sample";
    if (plan.bufferOf[k] >= 0)
      os << ", buffer " << plan.bufferOf[k];
    os << "\n";
  }
  // The buffers as a run lays them out for one sample, each rounded up to
  // 64 bytes (for a batch of N, N times each size, in the same order).
  os << "  memory per sample:";
  int64_t offset = 0;
  for (size_t buf = 0; buf < plan.bufferSampleElements.size(); ++buf) {
    const int64_t bytes = (plan.bufferSampleElements[buf] * 4 + 63) / 64 * 64;
    os << (buf ? ", " : " ") << "buffer " << buf << " at " << offset << " (" << bytes << " bytes)";
    offset += bytes;
  }
  os << (plan.bufferSampleElements.empty() ? " none" : "") << "; peak " << offset
     << " bytes (unshared " << (plan.unsharedSampleElements * 4) << ")\n";
  for (const OutputCopy &copy : program.copies)
    os << "  copy $" << copy.fromSlot << " -> output " << copy.toOutput << "\n";
  os << "}\n";
  return os.str();
}

} // namespace soma::runtime
