// Graphviz rendering. Constants are folded into the label of the op that
// uses them, so the picture shows layers, not weight tensors.
#include "soma/ir/Dot.h"
#include "soma/ir/Printer.h"

#include <ostream>

namespace soma::ir {

namespace {
std::string escape(const std::string &s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out;
}

// " · relu": the attributes Ops.def puts in the label, each when not its
// default. An activation names itself; any other reads "name = value".
std::string attributesLabel(const Op &op) {
  std::string label;
  for (const OpAttr &attr : opAttributes(op.kind)) {
    const AttrInfo &info = attrInfo(attr.id);
    const AttrValue value = getAttr(op, attr.id);
    if (info.dot == AttrDot::NotInLabel || sameAttrValue(value, info.defaultValue))
      continue;
    label += " · ";
    if (info.kind != AttrKind::Activation)
      label += std::string(info.name) + " = ";
    label += formatAttrValue(info, value);
  }
  return label;
}
} // namespace

void printDot(const Graph &graph, std::ostream &os) {
  os << "digraph \"" << escape(graph.name) << "\" {\n"
     << "  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fillcolor=white, "
        "fontname=\"Helvetica\"];\n";
  for (auto &opPtr : graph.ops) {
    const Op &op = *opPtr;
    if (op.kind == OpKind::Const)
      continue;
    std::string label = op.name + "\\n" + opName(op.kind);
    label += escape(attributesLabel(op));
    for (const Op *operand : op.operands)
      if (operand->kind == OpKind::Const)
        label += "\\n" + escape(operand->name) + ": " + operand->type.str();
    label += "\\n→ " + op.type.str();
    const char *fill = op.kind == OpKind::Input ? "lightblue" : "white";
    os << "  \"" << escape(op.name) << "\" [label=\"" << label << "\", fillcolor=" << fill
       << "];\n";
  }
  for (auto &opPtr : graph.ops)
    for (const Op *operand : opPtr->operands)
      if (operand->kind != OpKind::Const)
        os << "  \"" << escape(operand->name) << "\" -> \"" << escape(opPtr->name) << "\" [label=\""
           << operand->type.str() << "\"];\n";
  for (const GraphOutput &out : graph.outputs) {
    os << "  \"output:" << escape(out.name) << "\" [label=\"output " << escape(out.name)
       << "\", shape=ellipse, fillcolor=palegreen];\n";
    os << "  \"" << escape(out.value->name) << "\" -> \"output:" << escape(out.name) << "\";\n";
  }
  os << "}\n";
}

} // namespace soma::ir
