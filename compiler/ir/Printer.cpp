// The IR printer. One op per line:
//   %name = kind(%operand, ...) {attributes} : type
#include "soma/ir/Printer.h"

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

namespace {

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
    os << (hints.sparsity != SparsityMode::Auto ? ", " : "") << "prune = "
       << std::string_view(buf, end - buf);
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
    switch (opAttrs(op.kind)) {
    case OpAttrs::None:
      break;
    case OpAttrs::Fn:
      os << " {fn = " << op.fn.str() << '}';
      break;
    case OpAttrs::OptFn:
      if (op.fn.kind != ActKind::Identity)
        os << " {fn = " << op.fn.str() << '}';
      break;
    case OpAttrs::Epsilon:
      os << " {epsilon = " << formatFloat(op.epsilon) << '}';
      break;
    }
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
      os << " as \"" << out.name << '"';
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
