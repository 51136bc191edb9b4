// Kernel sharing (Jit.h, shareKernels): ops whose kernels would be the same
// code get one kernel. A kernel compiled for a view reads its slots as
// entries of the step's view (runtime::Step::view), not as slot numbers of
// the program, so what is left to tell two kernels apart is what lowering
// reads of the op: its kind, types, attributes, schedule and the lowering
// plan's flags for it, and which of its slots coincide. Equal keys of
// those make equal kernels; builds with assertions check it kernel by
// kernel (codegen::buildModule).
#include "soma/ir/Attributes.h"
#include "soma/ir/Printer.h"
#include "soma/ir/Schedule.h"
#include "soma/jit/Jit.h"
#include "soma/runtime/Program.h"

#include <algorithm>
#include <bit>
#include <string>
#include <unordered_map>
#include <variant>

namespace soma::jit {

namespace {

/// Appends `type` (batched or not, every dim) to `key`.
void addType(std::string &key, const ir::TensorType &type) {
  key += type.str();
  key += type.known ? ";" : "?;";
}

/// Appends every attribute of `op` to `key`, floats bit for bit.
void addAttributes(std::string &key, const ir::Op &op) {
  constexpr ir::AttrId ids[] = {
#define SOMA_ATTR(Member, Name, Type, Kind, Default, Range, Dot, Doc) ir::AttrId::Member,
#include "soma/ir/Ops.def"
  };
  for (ir::AttrId id : ids) {
    const ir::AttrValue value = ir::getAttr(op.attributes(), id);
    key += ir::formatAttrValue(ir::attrInfo(id), value);
    if (const float *f = std::get_if<float>(&value))
      key += "#" + std::to_string(std::bit_cast<uint32_t>(*f));
    if (const ir::Activation *act = std::get_if<ir::Activation>(&value))
      key += "#" + std::to_string(std::bit_cast<uint32_t>(act->param)) + "," +
             std::to_string(std::bit_cast<uint32_t>(act->param2));
    key += ";";
  }
}

/// The slots op i's kernel reads and writes, in a fixed order (operands,
/// result, scratch, panels), each once, or empty when it has more than a
/// view holds or a slot is unassigned.
std::vector<int> viewOf(const ir::Graph &graph, const LoweringPlan &plan, size_t i,
                        const std::unordered_map<const ir::Op *, size_t> &index) {
  const ir::Op &op = *graph.ops[i];
  std::vector<int> slots;
  for (const ir::Op *operand : op.operands)
    slots.push_back(plan.slotOf[index.at(operand)]);
  slots.push_back(plan.slotOf[i]);
  if (i < plan.scratchOf.size() && plan.scratchOf[i] >= 0)
    slots.push_back(plan.scratchOf[i]);
  if (i < plan.panelsOf.size() && plan.panelsOf[i] >= 0)
    slots.push_back(plan.panelsOf[i]);
  std::vector<int> view;
  for (int s : slots) {
    if (s < 0)
      return {};
    if (std::find(view.begin(), view.end(), s) == view.end())
      view.push_back(s);
  }
  if (view.size() > runtime::kMaxKernelView)
    return {};
  return view;
}

/// Everything op i's kernel depends on when it is compiled for `view`.
std::string kernelKey(const ir::Graph &graph, const LoweringPlan &plan, size_t i,
                      const std::vector<int> &view,
                      const std::unordered_map<const ir::Op *, size_t> &index) {
  const ir::Op &op = *graph.ops[i];
  std::string key = std::to_string(static_cast<int>(op.kind)) + ";";
  addType(key, op.type);
  addAttributes(key, op);
  if (op.schedule)
    key += ir::scheduleFields(*op.schedule);
  key += "|";
  // Which view entry each operand is, and what it is: lowering looks at
  // an operand's type and whether it is a constant.
  auto entry = [&view](int slot) {
    return std::to_string(std::find(view.begin(), view.end(), slot) - view.begin());
  };
  for (const ir::Op *operand : op.operands) {
    key += entry(plan.slotOf[index.at(operand)]) + ":" +
           std::to_string(static_cast<int>(operand->kind)) + ":";
    addType(key, operand->type);
  }
  key += "|" + entry(plan.slotOf[i]);
  auto flag = [i](const std::vector<bool> &v) { return i < v.size() && v[i]; };
  auto slotFlag = [i](const std::vector<int> &v) { return i < v.size() && v[i] >= 0; };
  key += flag(plan.featureMajorIn) ? "|in" : "|";
  key += flag(plan.featureMajorOut) ? "|out" : "|";
  key += slotFlag(plan.scratchOf) ? "|scratch" : "|";
  key += slotFlag(plan.panelsOf) ? "|panels" : "|";
  return key;
}

/// Whether op i's kernel may be compiled for a view and shared: not a
/// sparse kernel, whose code may be made from its weights' values (the
/// baked strips), and so equal only for equal weights.
bool shareable(const ir::Op &op) { return !(op.schedule && op.schedule->isSparse()); }

} // namespace

void shareKernels(const ir::Graph &graph, LoweringPlan &plan) {
  const size_t n = graph.ops.size();
  plan.views.assign(n, {});
  plan.kernelOf.assign(n, -1);
  std::unordered_map<const ir::Op *, size_t> index;
  for (size_t i = 0; i < n; ++i)
    index[graph.ops[i].get()] = i;
  std::unordered_map<std::string, size_t> owners;
  for (size_t i = 0; i < n; ++i) {
    if (!lowers(plan, graph, i))
      continue;
    plan.kernelOf[i] = static_cast<int>(i);
    if (!shareable(*graph.ops[i]))
      continue;
    plan.views[i] = viewOf(graph, plan, i, index);
    if (plan.views[i].empty())
      continue;
    auto [it, inserted] = owners.emplace(kernelKey(graph, plan, i, plan.views[i], index), i);
    if (!inserted)
      plan.kernelOf[i] = static_cast<int>(it->second);
  }
}

size_t kernelOwner(const LoweringPlan &plan, size_t i) {
  return i < plan.kernelOf.size() && plan.kernelOf[i] >= 0 ? static_cast<size_t>(plan.kernelOf[i])
                                                           : i;
}

} // namespace soma::jit
