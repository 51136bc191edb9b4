// Graph construction and the few whole-graph edits passes share.
#include "soma/ir/Graph.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace soma::ir {

namespace {
struct OpInfo {
  const char *name;
  int numOperands;
  std::vector<OpAttr> attrs;
  const char *doc;
};
// The attribute column's entries, Required(fn) and the like.
// clang-format off
#define Required(Member) OpAttr{AttrId::Member, AttrPresence::Required}
#define Shown(Member) OpAttr{AttrId::Member, AttrPresence::Shown}
#define Optional(Member) OpAttr{AttrId::Member, AttrPresence::Optional}
// clang-format on
const OpInfo opTable[] = {
#define SOMA_OP(Enum, Name, NumOperands, Attrs, Doc)                                               \
  {Name, NumOperands, {SOMA_ATTR_LIST Attrs}, Doc},
#include "soma/ir/Ops.def"
};
#undef Required
#undef Shown
#undef Optional
} // namespace

const char *opName(OpKind kind) { return opTable[static_cast<int>(kind)].name; }
int opNumOperands(OpKind kind) { return opTable[static_cast<int>(kind)].numOperands; }
const char *opDoc(OpKind kind) { return opTable[static_cast<int>(kind)].doc; }
const std::vector<OpAttr> &opAttributes(OpKind kind) {
  return opTable[static_cast<int>(kind)].attrs;
}

namespace {
struct BinaryInfo {
  bool binary = false;
  float identity = 0;
  bool commutes = false;
};
const BinaryInfo binaryTable[] = {
#define SOMA_OP(Enum, Name, NumOperands, Attrs, Doc) {},
#define SOMA_BINARY_OP(Enum, Name, Expr, Identity, Commutes, Doc) {true, Identity, Commutes},
#include "soma/ir/Ops.def"
};
} // namespace

bool isBinary(OpKind kind) { return binaryTable[static_cast<int>(kind)].binary; }
float binaryIdentity(OpKind kind) {
  assert(isBinary(kind));
  return binaryTable[static_cast<int>(kind)].identity;
}
bool binaryCommutes(OpKind kind) { return binaryTable[static_cast<int>(kind)].commutes; }

bool sameAttributes(OpKind kind, const OpAttributes &a, const OpAttributes &b) {
  for (const OpAttr &attr : opAttributes(kind))
    if (!sameAttrValue(getAttr(a, attr.id), getAttr(b, attr.id)))
      return false;
  return true;
}

bool opFromName(std::string_view name, OpKind &kind) {
  for (size_t i = 0; i < std::size(opTable); ++i)
    if (name == opTable[i].name) {
      kind = static_cast<OpKind>(i);
      return true;
    }
  return false;
}

const char *sparsityModeName(SparsityMode mode) {
  switch (mode) {
  case SparsityMode::Auto:
    return "auto";
  case SparsityMode::Dense:
    return "dense";
  case SparsityMode::Sparse:
    return "sparse";
  }
  return "auto";
}

bool sparsityModeFromName(std::string_view name, SparsityMode &mode) {
  for (SparsityMode m : {SparsityMode::Auto, SparsityMode::Dense, SparsityMode::Sparse})
    if (name == sparsityModeName(m)) {
      mode = m;
      return true;
    }
  return false;
}

int64_t TensorType::sampleElements() const {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

std::string TensorType::str() const {
  if (!known)
    return "?";
  std::string s = "f32[";
  bool first = true;
  if (batched) {
    s += "N";
    first = false;
  }
  for (int64_t d : dims) {
    if (!first)
      s += ", ";
    s += std::to_string(d);
    first = false;
  }
  return s + "]";
}

Op *Graph::append(OpKind kind, std::string opName, std::vector<Op *> operands, SourceLoc opLoc) {
  ops.push_back(std::make_unique<Op>(kind, std::move(opName), std::move(operands), opLoc));
  return ops.back().get();
}

Op *Graph::insertBefore(const Op *before, OpKind kind, std::string opName,
                        std::vector<Op *> operands, SourceLoc opLoc) {
  auto it = std::find_if(ops.begin(), ops.end(), [&](auto &op) { return op.get() == before; });
  auto inserted =
      ops.insert(it, std::make_unique<Op>(kind, std::move(opName), std::move(operands), opLoc));
  return inserted->get();
}

Op *Graph::findOp(std::string_view opName) const {
  for (auto &op : ops)
    if (op->name == opName)
      return op.get();
  return nullptr;
}

std::vector<Op *> Graph::inputs() const {
  std::vector<Op *> result;
  for (auto &op : ops)
    if (op->kind == OpKind::Input)
      result.push_back(op.get());
  return result;
}

std::string Graph::uniqueName(const std::string &base) const {
  if (!findOp(base))
    return base;
  for (unsigned i = 1;; ++i) {
    std::string candidate = base + "." + std::to_string(i);
    if (!findOp(candidate))
      return candidate;
  }
}

void Graph::replaceAllUses(Op *from, Op *to) {
  for (auto &op : ops)
    for (Op *&operand : op->operands)
      if (operand == from)
        operand = to;
  for (GraphOutput &out : outputs)
    if (out.value == from)
      out.value = to;
}

size_t Graph::removeDeadOps() {
  OpSet live(ops.size());
  for (const GraphOutput &out : outputs)
    live.insert(out.value);
  // Ops are in topological order, so one backward sweep finds every op an
  // output depends on.
  for (auto it = ops.rbegin(); it != ops.rend(); ++it) {
    Op *op = it->get();
    if (op->kind == OpKind::Input)
      live.insert(op);
    if (!live.contains(op))
      continue;
    for (Op *operand : op->operands)
      live.insert(operand);
  }
  size_t before = ops.size();
  std::erase_if(ops, [&](auto &op) { return !live.contains(op.get()); });
  return before - ops.size();
}

std::unique_ptr<Graph> Graph::clone() const {
  auto copy = std::make_unique<Graph>();
  copy->name = name;
  copy->loc = loc;
  copy->machine = machine;
  OpMap<Op *> map(ops.size());
  for (auto &op : ops) {
    std::vector<Op *> operands;
    for (Op *operand : op->operands) {
      operands.push_back(map.get(operand));
      assert(operands.back() && "an operand is not defined before its use");
    }
    Op *newOp = copy->append(op->kind, op->name, std::move(operands), op->loc);
    newOp->type = op->type;
    newOp->attributes() = op->attributes();
    newOp->data = op->data;
    newOp->hints = op->hints;
    newOp->sparsity = op->sparsity;
    newOp->schedule = op->schedule;
    map[op.get()] = newOp;
  }
  for (const GraphOutput &out : outputs) {
    copy->outputs.push_back({out.name, map.get(out.value), out.loc});
    assert(copy->outputs.back().value && "an output is not in the graph");
  }
  return copy;
}

std::vector<size_t> countUses(const Graph &graph) {
  OpMap<size_t> index(graph.ops.size());
  for (size_t i = 0; i < graph.ops.size(); ++i)
    index[graph.ops[i].get()] = i;
  std::vector<size_t> uses(graph.ops.size(), 0);
  for (auto &op : graph.ops)
    for (Op *operand : op->operands)
      if (const size_t *i = index.find(operand))
        ++uses[*i];
  for (const GraphOutput &out : graph.outputs)
    if (const size_t *i = index.find(out.value))
      ++uses[*i];
  return uses;
}

UseCounts::UseCounts(const Graph &graph) : entries(graph.ops.size()) {
  for (auto &op : graph.ops)
    for (Op *operand : op->operands)
      add(operand, op.get());
  for (const GraphOutput &out : graph.outputs)
    add(out.value, nullptr);
}

size_t UseCounts::of(const Op *op) const { return entries.get(op).count; }

Op *UseCounts::soleUser(const Op *op) const {
  Entry e = entries.get(op);
  return e.count == 1 ? reinterpret_cast<Op *>(e.userSum) : nullptr;
}

void UseCounts::setOperands(Op *user, std::vector<Op *> operands) {
  for (Op *operand : user->operands)
    remove(operand, user);
  user->operands = std::move(operands);
  for (Op *operand : user->operands)
    add(operand, user);
}

void UseCounts::add(const Op *value, const Op *user) {
  Entry &e = entries[value];
  ++e.count;
  e.userSum += reinterpret_cast<uintptr_t>(user);
}

void UseCounts::remove(const Op *value, const Op *user) {
  Entry &e = entries[value];
  --e.count;
  e.userSum -= reinterpret_cast<uintptr_t>(user);
}

Op *UseRewriter::resolve(Op *op) const { return replacement.get(op, op); }

void UseRewriter::replace(const Op *from, Op *to) { replacement[from] = resolve(to); }

void UseRewriter::rewriteOperands(Op &op) const {
  if (replacement.empty())
    return;
  for (Op *&operand : op.operands)
    operand = resolve(operand);
}

void UseRewriter::rewriteOutputs(Graph &graph) const {
  for (GraphOutput &out : graph.outputs)
    out.value = resolve(out.value);
}

OpInserter::OpInserter(Graph &graph) : graph(graph) {}

std::string OpInserter::uniqueName(const std::string &base) {
  if (names.empty()) {
    names.reserve(graph.ops.size());
    for (auto &op : graph.ops)
      names.insert(op->name);
  }
  if (names.insert(base).second)
    return base;
  unsigned &i = nextSuffix.try_emplace(base, 1).first->second;
  for (;; ++i) {
    std::string candidate = base + "." + std::to_string(i);
    if (names.insert(candidate).second) {
      ++i;
      return candidate;
    }
  }
}

Op *OpInserter::insertBefore(const Op *before, OpKind kind, const std::string &base,
                             std::vector<Op *> operands, SourceLoc loc) {
  auto &list = pending[before];
  list.push_back(std::make_unique<Op>(kind, uniqueName(base), std::move(operands), loc));
  ++numPending;
  return list.back().get();
}

Op *OpInserter::insertConstBefore(const Op *before, const std::string &base,
                                  std::shared_ptr<const Tensor> data, SourceLoc loc) {
  Op *c = insertBefore(before, OpKind::Const, base, {}, loc);
  c->type = TensorType::make(false, data->dims);
  c->data = std::move(data);
  return c;
}

void OpInserter::commit() {
  if (numPending == 0)
    return;
  std::vector<std::unique_ptr<Op>> ops;
  ops.reserve(graph.ops.size() + numPending);
  for (auto &op : graph.ops) {
    if (auto *list = pending.find(op.get()); list) {
      for (auto &inserted : *list)
        ops.push_back(std::move(inserted));
      list->clear();
    }
    ops.push_back(std::move(op));
  }
  assert(ops.size() == graph.ops.size() + numPending &&
         "an insertion's anchor is not in the graph");
  graph.ops = std::move(ops);
  pending = {};
  numPending = 0;
}

} // namespace soma::ir
