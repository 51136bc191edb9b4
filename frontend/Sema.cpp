// Sema: gives a parsed network its meaning and builds the graph IR.
//  1. every name is defined once; every operand and output names a definition;
//  2. layers are ordered so each comes after what it reads (a cycle is an
//     error naming its members);
//  3. each layer's attributes are checked against Layers.def and evaluated
//     (Attributes.cpp), its tensors built (literals, .npy/safetensors files,
//     seeded initialisers: TensorAttributes.cpp) with their shapes checked
//     against the layer;
//  4. each layer becomes IR ops (a dense layer: linear -> bias_add ->
//     activation: LayerBuilder.cpp), typed by the same shape rules the
//     verifier uses;
//  5. unused inputs and layers that reach no output are warned about.
// This file holds the steps over the whole network: 1, 2, inputs, outputs
// and 5.
#include "Sema.h"
#include "MessageText.h"
#include "soma/frontend/Frontend.h"
#include "soma/ir/Verifier.h"

#include <algorithm>

namespace soma::frontend {

bool Sema::collectDefinitions(const Network &net) {
  bool ok = true;
  for (const Stmt &stmt : net.stmts) {
    if (stmt.kind == Stmt::Kind::Output)
      continue;
    auto [it, inserted] = defs.emplace(stmt.name, &stmt);
    if (!inserted) {
      diags.error(stmt.nameLoc, "redefinition of '" + stmt.name + "'");
      diags.note(it->second->nameLoc, "previous definition of '" + stmt.name + "' is here");
      ok = false;
      continue;
    }
    defNames.push_back(stmt.name);
  }
  for (const Stmt &stmt : net.stmts)
    for (const Operand &operand : stmt.operands)
      if (!defs.count(operand.name)) {
        // Past the error limit the message is only counted: no typo hunt.
        std::string hint = diags.atErrorLimit() ? "" : suggest(operand.name, defNames);
        diags.error(operand.loc, "unknown name '" + operand.name + "'" + hint);
        broken.insert(stmt.name);
        ok = false;
      }
  return ok;
}

/// Depth-first post-order over the layers (iterative, so a network with a
/// very long chain cannot overflow the stack). Source order breaks ties.
std::vector<const Stmt *> Sema::orderLayers(const Network &net) {
  enum class Mark { None, Active, Done };
  std::unordered_map<const Stmt *, Mark> mark;
  std::vector<const Stmt *> order;
  for (const Stmt &root : net.stmts) {
    if (root.kind != Stmt::Kind::Layer || mark[&root] != Mark::None)
      continue;
    if (defs.at(root.name) != &root)
      continue; // a redefinition, already diagnosed
    std::vector<std::pair<const Stmt *, size_t>> stack = {{&root, 0}};
    mark[&root] = Mark::Active;
    while (!stack.empty()) {
      auto &[stmt, next] = stack.back();
      if (next == stmt->operands.size()) {
        mark[stmt] = Mark::Done;
        order.push_back(stmt);
        stack.pop_back();
        continue;
      }
      auto it = defs.find(stmt->operands[next++].name);
      if (it == defs.end() || it->second->kind != Stmt::Kind::Layer)
        continue;
      const Stmt *dep = it->second;
      if (mark[dep] == Mark::Done)
        continue;
      if (mark[dep] == Mark::None) {
        mark[dep] = Mark::Active;
        stack.push_back({dep, 0});
        continue;
      }
      reportCycle(stack, *dep);
    }
  }
  return order;
}

/// `dep` is on the stack: the stack from `dep` to the top is a cycle. Its
/// members are reported once and marked broken.
void Sema::reportCycle(const std::vector<std::pair<const Stmt *, size_t>> &stack, const Stmt &dep) {
  auto start =
      std::find_if(stack.begin(), stack.end(), [&](auto &entry) { return entry.first == &dep; });
  std::string path;
  for (auto i = start; i != stack.end(); ++i)
    path += "'" + i->first->name + "' -> ";
  path += "'" + dep.name + "'";
  diags.error(dep.nameLoc, "cycle in network: " + path);
  for (auto i = start + 1; i != stack.end(); ++i)
    diags.note(i->first->nameLoc, "'" + i->first->name + "' is part of the cycle");
  for (auto i = start; i != stack.end(); ++i)
    broken.insert(i->first->name);
}

void Sema::buildInput(const Stmt &stmt) {
  bool ok = true;
  if (stmt.dtype != "f32") {
    diags.error(stmt.dtypeLoc, "input '" + stmt.name + "' has element type '" + stmt.dtype +
                                   "'; soma networks take f32 inputs");
    ok = false;
  }
  for (size_t i = 0; i < stmt.dims.size(); ++i)
    if (stmt.dims[i] < 1) {
      diags.error(stmt.dimLocs[i], "dimension " + std::to_string(i) + " of input '" + stmt.name +
                                       "' must be at least 1");
      ok = false;
    }
  int64_t count;
  if (ok && !checkedElementCount(stmt.dims, count)) {
    diags.error(stmt.nameLoc, "input '" + stmt.name + "' of shape " + formatDims(stmt.dims) +
                                  " exceeds the limit of " + std::to_string(kMaxTensorElements) +
                                  " elements per sample");
    ok = false;
  }
  if (!ok) {
    broken.insert(stmt.name);
    return;
  }
  ir::Op *op = graph->append(ir::OpKind::Input, stmt.name, {}, stmt.nameLoc);
  op->type = ir::TensorType::make(true, stmt.dims);
  values[stmt.name] = op;
}

void Sema::buildOutputs(const Network &net) {
  std::map<std::string, const Stmt *> seen;
  for (const Stmt &stmt : net.stmts) {
    if (stmt.kind != Stmt::Kind::Output)
      continue;
    auto def = defs.find(stmt.value.name);
    if (def == defs.end()) {
      std::string hint = diags.atErrorLimit() ? "" : suggest(stmt.value.name, defNames);
      diags.error(stmt.value.loc, "output '" + stmt.value.name + "' is never defined" + hint);
      continue;
    }
    if (stmt.name != stmt.value.name && defs.count(stmt.name)) {
      diags.error(stmt.nameLoc,
                  "output name '" + stmt.name + "' is already the name of another value");
      diags.note(defs[stmt.name]->nameLoc, "'" + stmt.name + "' is defined here");
      continue;
    }
    if (auto [it, inserted] = seen.emplace(stmt.name, &stmt); !inserted) {
      diags.error(stmt.nameLoc, "output '" + stmt.name + "' is declared twice");
      diags.note(it->second->nameLoc, "first declared here");
      continue;
    }
    auto value = values.find(stmt.value.name);
    if (value == values.end())
      continue; // its definition failed and was diagnosed
    graph->outputs.push_back({stmt.name, value->second, stmt.nameLoc});
  }
}

void Sema::warnUnused(const Network &net) {
  // Walk back from the outputs through source-level operands.
  std::set<std::string> reached;
  std::vector<std::string> work;
  for (const Stmt &stmt : net.stmts)
    if (stmt.kind == Stmt::Kind::Output)
      work.push_back(stmt.value.name);
  while (!work.empty()) {
    std::string name = work.back();
    work.pop_back();
    if (!reached.insert(name).second)
      continue;
    if (auto it = defs.find(name); it != defs.end())
      for (const Operand &operand : it->second->operands)
        work.push_back(operand.name);
  }
  bool anyOutput = std::any_of(net.stmts.begin(), net.stmts.end(),
                               [](const Stmt &s) { return s.kind == Stmt::Kind::Output; });
  if (!anyOutput)
    return;
  for (const Stmt &stmt : net.stmts) {
    if (stmt.kind == Stmt::Kind::Output || reached.count(stmt.name) || defs.at(stmt.name) != &stmt)
      continue;
    if (stmt.kind == Stmt::Kind::Input)
      diags.warning(stmt.nameLoc, "input '" + stmt.name + "' is never used");
    else
      diags.warning(stmt.nameLoc, "'" + stmt.name + "' does not contribute to any output");
  }
}

std::unique_ptr<ir::Graph> Sema::run(const Network &net) {
  graph->name = net.name;
  graph->loc = net.loc;
  if (net.stmts.empty()) {
    diags.error(net.loc, "network '" + net.name + "' is empty");
    return nullptr;
  }
  collectDefinitions(net);
  std::vector<const Stmt *> layers = orderLayers(net);
  bool anyInput = false, anyOutput = false;
  for (const Stmt &stmt : net.stmts) {
    if (stmt.kind == Stmt::Kind::Input && defs.at(stmt.name) == &stmt) {
      anyInput = true;
      buildInput(stmt);
    }
    anyOutput |= stmt.kind == Stmt::Kind::Output;
  }
  if (!anyInput)
    diags.error(net.loc, "network '" + net.name +
                             "' has no inputs; declare one with 'input NAME: f32[SIZE]'");
  for (const Stmt *stmt : layers)
    if (!broken.count(stmt->name))
      buildLayer(*stmt);
  if (!anyOutput)
    diags.error(net.loc, "network '" + net.name + "' has no outputs; mark one with 'output NAME'");
  buildOutputs(net);
  // After an error, "unused" warnings mostly echo it (a layer whose operand
  // was misspelt looks unused), so they wait for a clean run.
  if (!diags.hasErrors())
    warnUnused(net);
  if (diags.hasErrors())
    return nullptr;
  if (!ir::verifyGraph(*graph, diags))
    return nullptr;
  return std::move(graph);
}

std::unique_ptr<ir::Graph> buildGraph(const Network &network, const std::string &baseDir,
                                      DiagnosticEngine &diags, const ModelLimits &limits,
                                      const TensorViews *tensors) {
  Sema sema(baseDir, diags, limits, tensors);
  return sema.run(network);
}

} // namespace soma::frontend
