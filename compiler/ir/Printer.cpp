// The IR printer. One op per line:
//   %name = kind(%operand, ...) {attributes} : type
#include "soma/ir/Printer.h"

#include "soma/ir/MachineRecord.h"

#include <charconv>
#include <ostream>
#include <sstream>

namespace soma::ir {

std::string formatFloat(float value) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  (void)ec;
  return std::string(buf, end);
}

std::string formatAttrValue(const AttrInfo &info, const AttrValue &value) {
  switch (info.kind) {
  case AttrKind::Activation:
    return std::get<Activation>(value).str();
  case AttrKind::Float:
    return formatFloat(std::get<float>(value));
  case AttrKind::Int:
    return std::to_string(std::get<int64_t>(value));
  case AttrKind::IntList: {
    std::string text = "[";
    for (int64_t v : std::get<std::vector<int64_t>>(value))
      text += (text.size() > 1 ? ", " : "") + std::to_string(v);
    return text + "]";
  }
  case AttrKind::Enum: {
    const auto index = static_cast<size_t>(std::get<int64_t>(value));
    return std::string("\"") + (index < info.spellings.size() ? info.spellings[index] : "?") + '"';
  }
  }
  return "";
}

namespace {

/// `text` as a string literal the lexer reads back to `text`: quotes,
/// backslashes, newlines and tabs escaped.
std::string quoted(const std::string &text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
    case '"':
    case '\\':
      out += '\\';
      out += c;
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      out += c;
    }
  }
  return out + '"';
}

// {a = 1, b = [2, 3]}: the op's attributes (Ops.def) in its order, but an
// optional one at its default; nothing when none is printed.
void printAttributes(const Op &op, std::ostream &os) {
  const char *separator = " {";
  for (const OpAttr &attr : opAttributes(op.kind)) {
    const AttrInfo &info = attrInfo(attr.id);
    const AttrValue value = getAttr(op, attr.id);
    if (attr.presence == AttrPresence::Optional && sameAttrValue(value, info.defaultValue))
      continue;
    os << separator << info.name << " = " << formatAttrValue(info, value);
    separator = ", ";
  }
  if (*separator == ',')
    os << '}';
}

void printConstData(const Op &op, std::ostream &os, const PrintOptions &options) {
  if (!op.data) {
    os << " elided";
    return;
  }
  const AlignedVector<float> &values = op.data->values;
  if (options.elideConstantsAbove > 0 &&
      static_cast<int64_t>(values.size()) > options.elideConstantsAbove) {
    os << " elided";
    return;
  }
  os << " [";
  for (size_t i = 0; i < values.size(); ++i)
    os << (i ? ", " : "") << formatFloat(values[i]);
  os << ']';
}

void printHints(const LayerHints &hints, std::ostream &os) {
  os << " {hints = {";
  if (hints.sparsity != SparsityMode::Auto)
    os << "sparsity = \"" << sparsityModeName(hints.sparsity) << '"';
  if (hints.prune) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, *hints.prune);
    (void)ec;
    os << (hints.sparsity != SparsityMode::Auto ? ", " : "")
       << "prune = " << std::string_view(buf, end - buf);
  }
  os << "}}";
}

void printSparsity(const SparsityInfo &info, std::ostream &os) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, info.density);
  (void)ec;
  os << " {sparsity = {density = " << std::string_view(buf, end - buf)
     << ", zero_rows = " << info.zeroRows << ", zero_cols = " << info.zeroCols << ", block = \""
     << info.block << "\"}}";
}

void printSchedule(const Schedule &s, std::ostream &os) {
  os << " {schedule = {" << scheduleFields(s) << "}}";
}

void printLoc(SourceLoc loc, std::ostream &os) {
  if (loc.isValid())
    os << " loc(" << loc.line << ':' << loc.col << ')';
}

} // namespace

void printGraph(const Graph &graph, std::ostream &os, const PrintOptions &options) {
  os << "graph @" << graph.name << " {\n";
  if (graph.machine) {
    os << "  machine = {name = " << quoted(graph.machine->name);
    for (const MachineField &f : machineFields())
      os << ", " << f.name << " = " << (*graph.machine).*f.member;
    os << "}\n";
  }
  for (auto &opPtr : graph.ops) {
    const Op &op = *opPtr;
    os << "  %" << op.name << " = " << opName(op.kind);
    if (op.kind == OpKind::Const) {
      printConstData(op, os, options);
    } else if (!op.operands.empty()) {
      os << '(';
      for (size_t i = 0; i < op.operands.size(); ++i)
        os << (i ? ", " : "") << '%' << op.operands[i]->name;
      os << ')';
    }
    printAttributes(op, os);
    if (op.hints.any())
      printHints(op.hints, os);
    if (op.sparsity)
      printSparsity(*op.sparsity, os);
    if (op.schedule)
      printSchedule(*op.schedule, os);
    os << " : " << op.type.str();
    if (options.printLocations)
      printLoc(op.loc, os);
    os << '\n';
  }
  for (const GraphOutput &out : graph.outputs) {
    os << "  output %" << out.value->name;
    if (out.name != out.value->name)
      os << " as " << quoted(out.name);
    os << '\n';
  }
  os << "}\n";
}

std::string printGraphToString(const Graph &graph, const PrintOptions &options) {
  std::ostringstream os;
  printGraph(graph, os, options);
  return os.str();
}

} // namespace soma::ir
