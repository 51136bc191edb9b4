// Parser for IR text. IR is mostly written by soma itself, so the parser
// stops at the first error instead of recovering.
#include "soma/ir/Parser.h"
#include "soma/ir/MachineRecord.h"
#include "soma/support/Lexer.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <unordered_map>

namespace soma::ir {

bool looksLikeIR(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    char c = text[pos];
    if (c == '#' || (c == '/' && pos + 1 < text.size() && text[pos + 1] == '/')) {
      pos = text.find('\n', pos);
      if (pos == std::string_view::npos)
        return false;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++pos;
    } else {
      break;
    }
  }
  return text.substr(pos, 5) == "graph" &&
         (pos + 5 >= text.size() || !std::isalnum(static_cast<unsigned char>(text[pos + 5])));
}

namespace {

class IRParser : TokenCursor {
public:
  IRParser(uint32_t file, const SourceManager &sm, DiagnosticEngine &diags)
      : TokenCursor(file, sm, diags) {}

  std::unique_ptr<Graph> parse();
  std::optional<AttrValue> parseLoneAttrValue(const AttrInfo &info);

private:
  bool parseNumber(double &value, const char *context);
  bool parseInteger(int64_t &value, const char *context);
  bool parseSignedInteger(int64_t &value, const std::string &context);
  bool parseType(TensorType &type);
  bool parseActivation(Activation &act);
  bool parseAttrValue(const AttrInfo &info, AttrValue &value);
  bool parseAttributes(Op &op, std::vector<bool> &written);
  bool parseHints(Op &op);
  bool parseSparsity(Op &op);
  bool parseSchedule(Op &op);
  bool parseOp(Graph &graph);
  bool parseOutput(Graph &graph);
  bool parseMachine(Graph &graph);

  std::unordered_map<std::string, Op *> values;
};

bool IRParser::parseNumber(double &value, const char *context) {
  bool negative = false;
  if (tok.is(TokKind::Minus)) {
    negative = true;
    consume();
  }
  if (tok.isIdent("inf")) {
    value = INFINITY;
  } else if (tok.isIdent("nan")) {
    value = NAN;
  } else if (tok.is(TokKind::Number)) {
    const char *first = tok.text.data(), *last = first + tok.text.size();
    auto [ptr, ec] = std::from_chars(first, last, value);
    if (ec == std::errc::result_out_of_range) {
      // Denormal underflow rounds to zero, overflow is an error.
      return fail("number " + tok.text + " is out of range");
    }
    if (ec != std::errc() || ptr != last)
      return fail("malformed number '" + tok.text + "'");
  } else {
    return fail(std::string("expected a number ") + context + ", got " + describeToken(tok));
  }
  if (negative)
    value = -value;
  consume();
  return true;
}

bool IRParser::parseInteger(int64_t &value, const char *context) {
  if (!tok.is(TokKind::Number) || !tok.isIntegerLiteral)
    return fail(std::string("expected an integer ") + context + ", got " + describeToken(tok));
  auto [ptr, ec] = std::from_chars(tok.text.data(), tok.text.data() + tok.text.size(), value);
  if (ec != std::errc() || value > kMaxTensorElements)
    return fail("dimension " + tok.text + " exceeds the limit of " +
                std::to_string(kMaxTensorElements));
  (void)ptr;
  consume();
  return true;
}

// An attribute's integer: any int64_t, with its sign.
bool IRParser::parseSignedInteger(int64_t &value, const std::string &context) {
  bool negative = false;
  if (tok.is(TokKind::Minus)) {
    negative = true;
    consume();
  }
  if (!tok.is(TokKind::Number) || !tok.isIntegerLiteral)
    return fail("expected an integer " + context + ", got " + describeToken(tok));
  // The magnitude as unsigned, so that the most negative value reads too.
  uint64_t magnitude = 0;
  auto [ptr, ec] = std::from_chars(tok.text.data(), tok.text.data() + tok.text.size(), magnitude);
  const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  if (ec != std::errc() || ptr != tok.text.data() + tok.text.size() || magnitude > limit)
    return fail("integer " + std::string(negative ? "-" : "") + tok.text + " is out of range");
  value = negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
  consume();
  return true;
}

bool IRParser::parseType(TensorType &type) {
  SourceLoc loc = tok.loc;
  if (!tok.isIdent("f32"))
    return fail("expected a type such as f32[N, 4], got " + describeToken(tok));
  consume();
  if (!expect(TokKind::LBracket, "after 'f32'"))
    return false;
  type = TensorType::make(false, {});
  bool first = true;
  while (!tok.is(TokKind::RBracket)) {
    if (!first && !expect(TokKind::Comma, "between dimensions"))
      return false;
    if (first && tok.isIdent("N")) {
      type.batched = true;
      consume();
    } else {
      int64_t d;
      if (!parseInteger(d, "as a dimension"))
        return false;
      if (type.dims.size() == kMaxRank)
        return fail("rank exceeds the limit of " + std::to_string(kMaxRank));
      type.dims.push_back(d);
    }
    first = false;
  }
  consume();
  int64_t count;
  if (!checkedElementCount(type.dims, count)) {
    diags.error(loc, "type " + type.str() + " exceeds the limit of " +
                         std::to_string(kMaxTensorElements) + " elements");
    return false;
  }
  return true;
}

bool IRParser::parseActivation(Activation &act) {
  if (!tok.is(TokKind::Ident))
    return fail("expected an activation name, got " + describeToken(tok));
  auto kind = actFromName(tok.text);
  if (!kind)
    return fail("unknown activation '" + tok.text + "'");
  act = makeActivation(*kind);
  consume();
  if (!tok.is(TokKind::LParen))
    return true;
  consume();
  if (*kind == ActKind::Gelu) {
    // gelu(approximate = tanh), as Activation::str prints it
    if (!tok.isIdent("approximate"))
      return fail("expected 'approximate', got " + describeToken(tok));
    consume();
    if (!expect(TokKind::Equal, "after 'approximate'"))
      return false;
    if (!tok.isIdent("tanh") && !tok.isIdent("none"))
      return fail("expected none or tanh, got " + describeToken(tok));
    act = makeActivation(tok.isIdent("tanh") ? ActKind::GeluTanh : ActKind::Gelu);
    consume();
    return expect(TokKind::RParen, "after the option");
  }
  const int numParams = actNumParams(*kind);
  if (numParams == 0)
    return fail(std::string("activation '") + actName(*kind) + "' takes no parameter");
  for (int i = 0; i < numParams; ++i) {
    const char *param = actParamName(*kind, i);
    if (i > 0 && !expect(TokKind::Comma, "between the parameters"))
      return false;
    if (!tok.isIdent(param))
      return fail(std::string("expected '") + param + "', got " + describeToken(tok));
    consume();
    double value;
    if (!expect(TokKind::Equal, "after the parameter name") ||
        !parseNumber(value, "as the parameter value"))
      return false;
    act.paramAt(i) = static_cast<float>(value);
  }
  return expect(TokKind::RParen, "after the parameter");
}

/// "a, b or c"
std::string choiceList(const std::vector<const char *> &choices) {
  std::string text;
  for (size_t k = 0; k < choices.size(); ++k)
    text += (k == 0 ? "" : k + 1 == choices.size() ? " or " : ", ") + std::string(choices[k]);
  return text;
}

// The value after `name =`, as formatAttrValue writes it for the attribute's
// kind. Ranges are the verifier's (checkAttrValue), not the parser's.
bool IRParser::parseAttrValue(const AttrInfo &info, AttrValue &value) {
  const std::string context = std::string("for ") + info.name;
  switch (info.kind) {
  case AttrKind::Activation: {
    Activation act;
    if (!parseActivation(act))
      return false;
    value = act;
    return true;
  }
  case AttrKind::Float: {
    double number = 0;
    if (!parseNumber(number, context.c_str()))
      return false;
    value = static_cast<float>(number);
    return true;
  }
  case AttrKind::Int: {
    int64_t number = 0;
    if (!parseSignedInteger(number, context))
      return false;
    value = number;
    return true;
  }
  case AttrKind::IntList: {
    if (!expect(TokKind::LBracket, context))
      return false;
    std::vector<int64_t> list;
    while (!tok.is(TokKind::RBracket)) {
      int64_t number = 0;
      if ((!list.empty() &&
           !expect(TokKind::Comma, std::string("between the integers of ") + info.name)) ||
          !parseSignedInteger(number, std::string("in ") + info.name))
        return false;
      list.push_back(number);
    }
    consume();
    value = std::move(list);
    return true;
  }
  case AttrKind::Enum: {
    if (!tok.is(TokKind::String))
      return fail(std::string("expected a ") + info.what + " string, got " + describeToken(tok));
    auto it = std::find(info.spellings.begin(), info.spellings.end(), tok.text);
    if (it == info.spellings.end())
      return fail(std::string("unknown ") + info.what + " '" + tok.text + "'; use " +
                  choiceList(info.spellings));
    value = static_cast<int64_t>(it - info.spellings.begin());
    consume();
    return true;
  }
  }
  return false;
}

std::optional<AttrValue> IRParser::parseLoneAttrValue(const AttrInfo &info) {
  AttrValue value;
  if (!parseAttrValue(info, value))
    return std::nullopt;
  if (!tok.is(TokKind::Eof)) {
    fail("expected end of text after the value, got " + describeToken(tok));
    return std::nullopt;
  }
  return value;
}

// {hints = {sparsity = "M", prune = P}}, each field optional (at least
// one) but in this order; the first '{' is already consumed.
bool IRParser::parseHints(Op &op) {
  if (!isWeightedSum(op.kind))
    return fail("op '" + std::string(opName(op.kind)) + "' has no attribute 'hints'");
  consume(); // 'hints'
  if (!expect(TokKind::Equal, "after 'hints'") || !expect(TokKind::LBrace, "after 'hints ='"))
    return false;
  LayerHints hints;
  bool any = false;
  if (tok.isIdent("sparsity")) {
    consume();
    if (!expect(TokKind::Equal, "after the field name"))
      return false;
    if (!tok.is(TokKind::String))
      return fail("expected a sparsity mode string, got " + describeToken(tok));
    if (!sparsityModeFromName(tok.text, hints.sparsity))
      return fail("unknown sparsity mode '" + tok.text + "'; use auto, dense or sparse");
    consume();
    any = true;
  }
  if (any && tok.is(TokKind::Comma))
    consume();
  if (tok.isIdent("prune")) {
    consume();
    double prune;
    if (!expect(TokKind::Equal, "after the field name"))
      return false;
    SourceLoc at = tok.loc;
    if (!parseNumber(prune, "for prune"))
      return false;
    if (!(prune >= 0 && prune < 1)) {
      diags.error(at, "prune must be a fraction in [0, 1)");
      return false;
    }
    hints.prune = prune;
    any = true;
  }
  if (!any)
    return fail("expected 'sparsity' or 'prune', got " + describeToken(tok));
  if (!expect(TokKind::RBrace, "after the hints") ||
      !expect(TokKind::RBrace, "after the hints attribute"))
    return false;
  op.hints = hints;
  return true;
}

// {sparsity = {density = D, zero_rows = R, zero_cols = C, block = "B"}},
// the fields in this order, as the printer writes them; the first '{' is
// already consumed.
bool IRParser::parseSparsity(Op &op) {
  if (!isWeightedSum(op.kind) && !isConv(op.kind))
    return fail("op '" + std::string(opName(op.kind)) + "' has no attribute 'sparsity'");
  if (!tok.isIdent("sparsity"))
    return fail("expected 'sparsity', got " + describeToken(tok));
  consume();
  if (!expect(TokKind::Equal, "after 'sparsity'") || !expect(TokKind::LBrace, "after 'sparsity ='"))
    return false;
  SparsityInfo info;
  auto field = [&](const char *fieldName) {
    if (!tok.isIdent(fieldName))
      return fail(std::string("expected '") + fieldName + "', got " + describeToken(tok));
    consume();
    return expect(TokKind::Equal, "after the field name");
  };
  if (!field("density"))
    return false;
  const SourceLoc densityAt = tok.loc;
  if (!parseNumber(info.density, "for density"))
    return false;
  // The cost model and the tile rules scale work by it (1e300 overflowed
  // a float-to-integer conversion).
  if (!(info.density >= 0 && info.density <= 1)) {
    diags.error(densityAt, "density must be a fraction in [0, 1]");
    return false;
  }
  if (!expect(TokKind::Comma, "after the density") || !field("zero_rows") ||
      !parseInteger(info.zeroRows, "for zero_rows") || !expect(TokKind::Comma, "after zero_rows") ||
      !field("zero_cols") || !parseInteger(info.zeroCols, "for zero_cols") ||
      !expect(TokKind::Comma, "after zero_cols") || !field("block"))
    return false;
  if (!tok.is(TokKind::String))
    return fail("expected a block pattern string, got " + describeToken(tok));
  info.block = tok.text;
  if (info.block != "none" && info.block != "1x4" && info.block != "4x1" && info.block != "2:4")
    return fail("unknown block pattern '" + info.block + "'; use none, 1x4, 4x1 or 2:4");
  consume();
  if (!expect(TokKind::RBrace, "after the sparsity fields") ||
      !expect(TokKind::RBrace, "after the sparsity attribute"))
    return false;
  op.sparsity = info;
  return true;
}

// {schedule = {field = value, ...}}: the fields of Schedule.def, the
// required ones in order, then the optional ones of the schedule's kernel in
// table order (any may be left out); the first '{' is already consumed.
// Each value is checked where it stands, and the rules between fields
// (ir::checkSchedule) are reported at the field they blame.
bool IRParser::parseSchedule(Op &op) {
  if (!isWeightedSum(op.kind))
    return fail("op '" + std::string(opName(op.kind)) + "' has no attribute 'schedule'");
  consume(); // 'schedule'
  if (!expect(TokKind::Equal, "after 'schedule'") || !expect(TokKind::LBrace, "after 'schedule ='"))
    return false;
  Schedule s;
  const std::vector<ScheduleFieldInfo> &infos = scheduleFieldInfos();
  std::vector<SourceLoc> placeOf(infos.size());
  // `= value` of `info` at `tok`, into `s`.
  auto parseValue = [&](const ScheduleFieldInfo &info) {
    if (!expect(TokKind::Equal, "after the field name"))
      return false;
    const SourceLoc at = placeOf[static_cast<size_t>(info.field)] = tok.loc;
    int64_t value = 0;
    switch (info.kind) {
    case FieldKind::Int:
      if (!parseInteger(value, "for a schedule field"))
        return false;
      if (value < info.min || value > info.max) {
        diags.error(at, std::string("schedule field '") + info.name + "' must be in " + info.range);
        return false;
      }
      break;
    case FieldKind::Enum: {
      if (!tok.is(TokKind::String))
        return fail(std::string("expected a ") + info.what + " string, got " + describeToken(tok));
      auto it = std::find(info.spellings.begin(), info.spellings.end(), tok.text);
      if (it == info.spellings.end()) {
        diags.error(at, std::string("unknown ") + info.what + " '" + tok.text + "'; use " +
                            choiceList(info.spellings));
        return false;
      }
      value = it - info.spellings.begin();
      consume();
      break;
    }
    case FieldKind::Bool:
      if (!tok.isIdent("true") && !tok.isIdent("false"))
        return fail("expected true or false, got " + describeToken(tok));
      value = tok.isIdent("true");
      consume();
      break;
    }
    setFieldValue(s, info.field, value);
    return true;
  };
  size_t next = 0; // the first field that may still come
  for (; next < infos.size() && infos[next].presence == FieldPresence::Required; ++next) {
    if (next > 0 && !expect(TokKind::Comma, "between schedule fields"))
      return false;
    if (!tok.isIdent(infos[next].name))
      return fail(std::string("expected '") + infos[next].name + "', got " + describeToken(tok));
    consume();
    if (!parseValue(infos[next]))
      return false;
  }
  while (tok.is(TokKind::Comma)) {
    consume();
    size_t k = next;
    while (k < infos.size() && !(tok.isIdent(infos[k].name) && infos[k].appliesTo(s.kernel)))
      ++k;
    if (k == infos.size()) {
      for (const ScheduleFieldInfo &info : infos)
        if (tok.isIdent(info.name) && !info.appliesTo(s.kernel))
          return fail(std::string("schedule field '") + info.name + "' is only for kernel \"" +
                      spelling(*info.onlyFor) + "\"");
      std::string allowed;
      for (size_t j = next; j < infos.size(); ++j)
        if (infos[j].appliesTo(s.kernel))
          allowed += (allowed.empty() ? "'" : ", '") + std::string(infos[j].name) + "'";
      return fail("expected " + allowed + (allowed.empty() ? "'}'" : " or '}'") + ", got " +
                  describeToken(tok));
    }
    consume();
    if (!parseValue(infos[k]))
      return false;
    next = k + 1;
  }
  if (auto problem = checkSchedule(s)) {
    const SourceLoc at = placeOf[static_cast<size_t>(problem->field)];
    diags.error(at.isValid() ? at : tok.loc, problem->message);
    return false;
  }
  if (!expect(TokKind::RBrace, "after the schedule fields") ||
      !expect(TokKind::RBrace, "after the schedule attribute"))
    return false;
  op.schedule = s;
  return true;
}

// {name = value, ...}: the op's attributes (Ops.def), each at most once and
// in the op's order, any of them left out; the '{' is already consumed.
// `written` marks the ones read, in opAttributes order.
bool IRParser::parseAttributes(Op &op, std::vector<bool> &written) {
  const std::vector<OpAttr> &attrs = opAttributes(op.kind);
  size_t next = 0; // the first attribute that may still come
  for (;;) {
    if (!tok.is(TokKind::Ident))
      return fail("expected an attribute name, got " + describeToken(tok));
    size_t k = next;
    while (k < attrs.size() && tok.text != attrInfo(attrs[k].id).name)
      ++k;
    if (k == attrs.size()) {
      std::string order;
      for (const OpAttr &attr : attrs)
        order += (order.empty() ? "" : ", ") + std::string(attrInfo(attr.id).name);
      for (size_t j = 0; j < next; ++j)
        if (tok.text == attrInfo(attrs[j].id).name)
          return fail("attribute '" + tok.text + "' is repeated or out of order; " +
                      opName(op.kind) + " takes " + order + ", in this order");
      return fail("op '" + std::string(opName(op.kind)) + "' has no attribute '" + tok.text + "'");
    }
    consume();
    AttrValue value;
    if (!expect(TokKind::Equal, "after the attribute name") ||
        !parseAttrValue(attrInfo(attrs[k].id), value))
      return false;
    setAttr(op, attrs[k].id, value);
    written[k] = true;
    next = k + 1;
    // A comma only where another attribute may follow.
    if (next == attrs.size() || !tok.is(TokKind::Comma))
      break;
    consume();
  }
  return expect(TokKind::RBrace, "after the attributes");
}

bool IRParser::parseOp(Graph &graph) {
  std::string name = tok.text;
  SourceLoc loc = tok.loc;
  consume();
  if (!expect(TokKind::Equal, "after the value name"))
    return false;
  if (!tok.is(TokKind::Ident))
    return fail("expected an op name, got " + describeToken(tok));
  OpKind kind;
  if (!opFromName(tok.text, kind))
    return fail("unknown op '" + tok.text + "'");
  consume();

  std::vector<Op *> operands;
  std::shared_ptr<Tensor> data;
  bool elided = false;
  if (kind == OpKind::Const) {
    if (tok.isIdent("elided")) {
      elided = true;
      consume();
    } else {
      if (!expect(TokKind::LBracket, "before constant data"))
        return false;
      data = std::make_shared<Tensor>();
      while (!tok.is(TokKind::RBracket)) {
        if (!data->values.empty() && !expect(TokKind::Comma, "between constant values"))
          return false;
        double v;
        if (!parseNumber(v, "in constant data"))
          return false;
        if (std::isfinite(v) && !std::isfinite(static_cast<float>(v)))
          return fail("constant value does not fit in f32");
        if (static_cast<int64_t>(data->values.size()) >= kMaxTensorElements)
          return fail("constant exceeds the limit of " + std::to_string(kMaxTensorElements) +
                      " elements");
        data->values.push_back(static_cast<float>(v));
      }
      consume();
    }
  } else if (tok.is(TokKind::LParen)) {
    consume();
    while (!tok.is(TokKind::RParen)) {
      if (!operands.empty() && !expect(TokKind::Comma, "between operands"))
        return false;
      if (!tok.is(TokKind::Percent))
        return fail("expected an operand such as %x, got " + describeToken(tok));
      auto it = values.find(tok.text);
      if (it == values.end())
        return fail("use of undefined value '%" + tok.text + "'");
      operands.push_back(it->second);
      consume();
    }
    consume();
  }

  Op *op = graph.append(kind, name, std::move(operands), loc);
  // Brace groups, each optional, in this order: the attributes ({fn = ...},
  // {epsilon = ...}), {hints = {...}}, {sparsity = {...}}, {schedule =
  // {...}}.
  enum { AttrNext, HintsNext, SparsityNext, ScheduleNext, Done } next = AttrNext;
  std::vector<bool> written(opAttributes(kind).size());
  while (tok.is(TokKind::LBrace) && next != Done) {
    consume();
    if (tok.isIdent("hints") && next <= HintsNext) {
      if (!parseHints(*op))
        return false;
      next = SparsityNext;
      continue;
    }
    if (tok.isIdent("sparsity") && next <= SparsityNext) {
      if (!parseSparsity(*op))
        return false;
      next = ScheduleNext;
      continue;
    }
    if (tok.isIdent("schedule")) {
      if (!parseSchedule(*op))
        return false;
      next = Done;
      continue;
    }
    if (next != AttrNext)
      return fail("expected 'schedule', got " + describeToken(tok));
    if (!parseAttributes(*op, written))
      return false;
    next = HintsNext;
  }
  for (size_t k = 0; k < written.size(); ++k)
    if (!written[k] && opAttributes(kind)[k].presence == AttrPresence::Required)
      return fail("op '" + std::string(opName(kind)) + "' needs an attribute {" +
                  attrInfo(opAttributes(kind)[k].id).name + " = ...}");

  if (!expect(TokKind::Colon, "before the type") || !parseType(op->type))
    return false;
  if (data) {
    int64_t count;
    checkedElementCount(op->type.dims, count);
    if (count != data->numElements()) {
      diags.error(loc, "constant '%" + name + "' has " + std::to_string(data->numElements()) +
                           " values but type " + op->type.str() + " holds " +
                           std::to_string(count));
      return false;
    }
    data->dims = op->type.dims;
    op->data = std::move(data);
  } else if (elided) {
    diags.error(loc, "constant '%" + name +
                         "' was printed with its data elided and cannot be read back; "
                         "print it without --elide-above");
    return false;
  }
  if (tok.isIdent("loc")) {
    consume();
    int64_t l, c;
    if (!expect(TokKind::LParen, "after 'loc'") || !parseInteger(l, "as a line") ||
        !expect(TokKind::Colon, "in a location") || !parseInteger(c, "as a column") ||
        !expect(TokKind::RParen, "after a location"))
      return false;
  }
  if (auto [it, inserted] = values.emplace(name, op); !inserted) {
    diags.error(loc, "value '%" + name + "' is defined twice");
    diags.note(it->second->loc, "previous definition is here");
    return false;
  }
  return true;
}

bool IRParser::parseOutput(Graph &graph) {
  SourceLoc loc = tok.loc;
  consume();
  if (!tok.is(TokKind::Percent))
    return fail("expected a value such as %y after 'output', got " + describeToken(tok));
  auto it = values.find(tok.text);
  if (it == values.end())
    return fail("use of undefined value '%" + tok.text + "'");
  std::string name = tok.text;
  consume();
  if (tok.isIdent("as")) {
    consume();
    if (!tok.is(TokKind::String))
      return fail("expected an output name string after 'as', got " + describeToken(tok));
    name = tok.text;
    consume();
  }
  graph.outputs.push_back({name, it->second, loc});
  return true;
}

// machine = {name = "N", vector_width = 16, ...}: the fields of
// soma/ir/MachineRecord.h, all of them, in that order.
bool IRParser::parseMachine(Graph &graph) {
  consume(); // 'machine'
  if (!expect(TokKind::Equal, "after 'machine'") || !expect(TokKind::LBrace, "after 'machine ='"))
    return false;
  MachineInfo m;
  if (!tok.isIdent("name"))
    return fail("expected 'name', got " + describeToken(tok));
  consume();
  if (!expect(TokKind::Equal, "after 'name'"))
    return false;
  if (!tok.is(TokKind::String))
    return fail("expected the machine's name as a string, got " + describeToken(tok));
  m.name = tok.text;
  consume();
  for (const MachineField &f : machineFields()) {
    if (!expect(TokKind::Comma, "between the machine's fields"))
      return false;
    if (!tok.isIdent(f.name))
      return fail(std::string("expected '") + f.name + "', got " + describeToken(tok));
    consume();
    if (!expect(TokKind::Equal, "after the field name"))
      return false;
    const SourceLoc at = tok.loc;
    int64_t value = 0;
    if (!parseSignedInteger(value, std::string("for ") + f.name))
      return false;
    if (value < f.min || value > f.max) {
      diags.error(at, std::string(f.name) + " must be in " + std::to_string(f.min) + ".." +
                          std::to_string(f.max));
      return false;
    }
    if (f.member == &MachineInfo::vectorWidth && value != 4 && value != 8 && value != 16) {
      diags.error(at, "vector_width must be 4, 8 or 16");
      return false;
    }
    m.*f.member = value;
  }
  if (!expect(TokKind::RBrace, "after the machine's fields"))
    return false;
  graph.machine = m;
  return true;
}

std::unique_ptr<Graph> IRParser::parse() {
  auto graph = std::make_unique<Graph>();
  graph->loc = tok.loc;
  if (!tok.isIdent("graph")) {
    fail("expected 'graph', got " + describeToken(tok));
    return nullptr;
  }
  consume();
  if (!tok.is(TokKind::At)) {
    fail("expected a graph name such as @net, got " + describeToken(tok));
    return nullptr;
  }
  graph->name = tok.text;
  consume();
  if (!expect(TokKind::LBrace, "after the graph name"))
    return nullptr;
  if (tok.isIdent("machine") && !parseMachine(*graph))
    return nullptr;
  while (!tok.is(TokKind::RBrace)) {
    bool ok;
    if (tok.is(TokKind::Percent))
      ok = parseOp(*graph);
    else if (tok.isIdent("output"))
      ok = parseOutput(*graph);
    else
      ok = fail("expected an op such as '%x = ...' or 'output', got " + describeToken(tok));
    if (!ok)
      return nullptr;
  }
  consume();
  if (!tok.is(TokKind::Eof)) {
    fail("expected end of file after the graph, got " + describeToken(tok));
    return nullptr;
  }
  return graph;
}

} // namespace

std::unique_ptr<Graph> parseGraph(uint32_t file, const SourceManager &sm, DiagnosticEngine &diags) {
  IRParser parser(file, sm, diags);
  const unsigned errorsBefore = diags.errorCount();
  std::unique_ptr<Graph> graph = parser.parse();
  // The lexer reports some errors (an unknown escape in a string) and goes
  // on: any error means no graph.
  if (diags.errorCount() != errorsBefore)
    return nullptr;
  return graph;
}

std::optional<AttrValue> parseAttrValue(const AttrInfo &info, uint32_t file,
                                        const SourceManager &sm, DiagnosticEngine &diags) {
  IRParser parser(file, sm, diags);
  const unsigned errorsBefore = diags.errorCount();
  std::optional<AttrValue> value = parser.parseLoneAttrValue(info);
  if (diags.errorCount() != errorsBefore)
    return std::nullopt;
  return value;
}

} // namespace soma::ir
