// Recursive-descent parser for the network language (grammar in
// docs/language.md). On an error it skips to the next statement, so one run
// reports every independent mistake.
#include "MessageText.h"
#include "soma/frontend/Frontend.h"
#include "soma/frontend/Layers.h"
#include "soma/support/Lexer.h"

#include <charconv>
#include <cmath>

namespace soma::frontend {

namespace {

/// Deeper nesting of arrays or calls than this is refused, so a hostile
/// input cannot exhaust the stack.
constexpr unsigned kMaxNesting = 32;

/// `input`, `output` or a layer kind of Layers.def. Not reserved words: they
/// start a statement only where a statement may start.
bool isStatementKeyword(const Token &tok) {
  return tok.is(TokKind::Ident) &&
         (tok.text == "input" || tok.text == "output" || findLayerKind(tok.text));
}

class NetworkParser : TokenCursor {
public:
  NetworkParser(uint32_t file, const SourceManager &sm, DiagnosticEngine &diags)
      : TokenCursor(file, sm, diags) {}

  std::optional<Network> parse();

private:
  bool expectName(std::string &name, SourceLoc &loc, const std::string &what) {
    if (!tok.is(TokKind::Ident))
      return fail("expected " + what + ", got " + describeToken(tok));
    name = tok.text;
    loc = tok.loc;
    consume();
    return true;
  }
  void recover(unsigned depth);
  bool parseStatement(Network &net);
  bool parseInput(Stmt &stmt);
  bool parseOutput(Stmt &stmt);
  bool parseLayer(Stmt &stmt, unsigned &depth);
  bool parseExpr(Expr &expr, unsigned nesting);
  bool parseNumberLiteral(Expr &expr, bool negative, SourceLoc loc);
};

/// A statement keyword that cannot be an attribute name (a layer kind that is
/// also an attribute, like 'activation', can) at the start of a line: the
/// statement before it lacks its closing '}'.
bool startsStatementInBody(const Token &tok) {
  return tok.startsLine && isStatementKeyword(tok) && !layerAttrFromName(tok.text);
}

/// Skips tokens until the next statement keyword that starts a line at
/// statement level (or, in a body left open, one that cannot be an attribute
/// name), or the '}' closing the network. `depth` is how many braces of the
/// broken statement are still open.
void NetworkParser::recover(unsigned depth) {
  for (;;) {
    if (tok.is(TokKind::Eof))
      return;
    if (tok.is(TokKind::LBrace)) {
      ++depth;
    } else if (tok.is(TokKind::RBrace)) {
      if (depth == 0)
        return;
      --depth;
    } else if ((depth == 0 && tok.startsLine && isStatementKeyword(tok)) ||
               startsStatementInBody(tok)) {
      return;
    }
    consume();
  }
}

bool NetworkParser::parseNumberLiteral(Expr &expr, bool negative, SourceLoc loc) {
  expr.kind = Expr::Kind::Number;
  expr.loc = loc;
  if (tok.isIdent("inf") || tok.isIdent("nan")) {
    expr.number = tok.text == "inf" ? INFINITY : NAN;
  } else if (tok.is(TokKind::Number)) {
    const char *first = tok.text.data(), *last = first + tok.text.size();
    auto [ptr, ec] = std::from_chars(first, last, expr.number);
    if (ec == std::errc::result_out_of_range) {
      // from_chars reports underflow too; a tiny literal rounds to zero.
      bool tiny =
          tok.text.find("e-") != std::string::npos || tok.text.find("E-") != std::string::npos;
      if (!tiny)
        return fail("number " + tok.text + " is too large");
      expr.number = 0;
    } else if (ec != std::errc() || ptr != last) {
      return fail("malformed number '" + tok.text + "'");
    }
    expr.isInteger = tok.isIntegerLiteral;
    expr.text = tok.text; // integers (seeds) are read exactly from the spelling
  } else {
    return fail("expected a number after '-', got " + describeToken(tok));
  }
  if (negative)
    expr.number = -expr.number;
  consume();
  return true;
}

bool NetworkParser::parseExpr(Expr &expr, unsigned nesting) {
  if (nesting > kMaxNesting)
    return fail("expression nests deeper than " + std::to_string(kMaxNesting) + " levels");
  expr.loc = tok.loc;
  switch (tok.kind) {
  case TokKind::Minus:
  case TokKind::Plus: {
    bool negative = tok.is(TokKind::Minus);
    SourceLoc loc = tok.loc;
    consume();
    return parseNumberLiteral(expr, negative, loc);
  }
  case TokKind::Number:
    return parseNumberLiteral(expr, false, tok.loc);
  case TokKind::String:
    expr.kind = Expr::Kind::String;
    expr.text = tok.text;
    consume();
    return true;
  case TokKind::LBracket: {
    expr.kind = Expr::Kind::Array;
    consume();
    while (!tok.is(TokKind::RBracket)) {
      if (!expr.elems.empty() && !expect(TokKind::Comma, "between array elements"))
        return false;
      if (tok.is(TokKind::RBracket)) // trailing comma
        break;
      expr.elems.emplace_back();
      if (!parseExpr(expr.elems.back(), nesting + 1))
        return false;
    }
    consume();
    return true;
  }
  case TokKind::Ident: {
    if (tok.text == "inf" || tok.text == "nan")
      return parseNumberLiteral(expr, false, tok.loc);
    expr.text = tok.text;
    consume();
    if (!tok.is(TokKind::LParen)) {
      expr.kind = Expr::Kind::Ident;
      return true;
    }
    expr.kind = Expr::Kind::Call;
    consume();
    while (!tok.is(TokKind::RParen)) {
      if (!expr.elems.empty() && !expect(TokKind::Comma, "between arguments"))
        return false;
      std::string argName;
      SourceLoc argLoc = tok.loc;
      // `name = value` or a positional value.
      if (tok.is(TokKind::Ident)) {
        Token first = tok;
        consume();
        if (tok.is(TokKind::Equal)) {
          argName = first.text;
          consume();
          expr.elems.emplace_back();
          if (!parseExpr(expr.elems.back(), nesting + 1))
            return false;
        } else {
          // A positional identifier (or a nested call) starting with `first`.
          Expr inner;
          inner.loc = first.loc;
          inner.text = first.text;
          if (first.text == "inf" || first.text == "nan") {
            inner.kind = Expr::Kind::Number;
            inner.number = first.text == "inf" ? INFINITY : NAN;
          } else if (tok.is(TokKind::LParen)) {
            diags.error(first.loc, "a call cannot be the argument of '" + expr.text + "'");
            return false;
          } else {
            inner.kind = Expr::Kind::Ident;
          }
          expr.elems.push_back(std::move(inner));
        }
      } else {
        expr.elems.emplace_back();
        if (!parseExpr(expr.elems.back(), nesting + 1))
          return false;
      }
      expr.argNames.push_back(argName);
      expr.argLocs.push_back(argLoc);
    }
    consume();
    return true;
  }
  default:
    return fail("expected a value (number, array, name or call), got " + describeToken(tok));
  }
}

bool NetworkParser::parseInput(Stmt &stmt) {
  stmt.kind = Stmt::Kind::Input;
  if (!expectName(stmt.name, stmt.nameLoc, "an input name") ||
      !expect(TokKind::Colon, "after the input name") ||
      !expectName(stmt.dtype, stmt.dtypeLoc, "a type such as f32[4]") ||
      !expect(TokKind::LBracket, "after the element type"))
    return false;
  while (!tok.is(TokKind::RBracket)) {
    if (!stmt.dims.empty() && !expect(TokKind::Comma, "between dimensions"))
      return false;
    if (!tok.is(TokKind::Number) || !tok.isIntegerLiteral)
      // f32[N, 4], f32[batch, 4]: a batch dimension written out.
      return fail("expected a dimension (a positive integer), got " + describeToken(tok) +
                  (tok.is(TokKind::Ident) && stmt.dims.empty()
                       ? "; the batch dimension is implicit: an input is declared by the shape "
                         "of one sample (f32[4], not f32[N, 4])"
                       : ""));
    int64_t d = 0;
    auto [ptr, ec] = std::from_chars(tok.text.data(), tok.text.data() + tok.text.size(), d);
    (void)ptr;
    if (ec != std::errc() || d > kMaxTensorElements)
      return fail("dimension " + tok.text + " exceeds the limit of " +
                  std::to_string(kMaxTensorElements));
    if (stmt.dims.size() == kMaxRank)
      return fail("input has more than " + std::to_string(kMaxRank) + " dimensions");
    stmt.dims.push_back(d);
    stmt.dimLocs.push_back(tok.loc);
    consume();
  }
  if (stmt.dims.empty())
    return fail("input '" + stmt.name + "' needs at least one dimension, as in f32[4]");
  consume();
  return true;
}

bool NetworkParser::parseOutput(Stmt &stmt) {
  stmt.kind = Stmt::Kind::Output;
  if (!expectName(stmt.name, stmt.nameLoc, "the name of the value to output"))
    return false;
  stmt.value = {stmt.name, stmt.nameLoc};
  if (tok.is(TokKind::Equal)) {
    consume();
    if (!expectName(stmt.value.name, stmt.value.loc, "the name of the value to output"))
      return false;
  }
  return true;
}

bool NetworkParser::parseLayer(Stmt &stmt, unsigned &depth) {
  stmt.kind = Stmt::Kind::Layer;
  if (!expectName(stmt.name, stmt.nameLoc, "a name for the " + stmt.keyword) ||
      !expect(TokKind::LParen, "before the operands of '" + stmt.name + "'"))
    return false;
  while (!tok.is(TokKind::RParen)) {
    if (!stmt.operands.empty() && !expect(TokKind::Comma, "between operands"))
      return false;
    Operand operand;
    if (!expectName(operand.name, operand.loc, "an operand name"))
      return false;
    stmt.operands.push_back(operand);
  }
  consume();
  if (!tok.is(TokKind::LBrace))
    return true;
  SourceLoc braceLoc = tok.loc;
  consume();
  depth = 1;
  while (!tok.is(TokKind::RBrace)) {
    if (tok.is(TokKind::Semi)) {
      consume();
      continue;
    }
    if (startsStatementInBody(tok)) {
      fail("expected '}' to close the attributes of '" + stmt.name + "', got " +
           describeToken(tok));
      diags.note(braceLoc, "'{' opened here");
      depth = 0;
      return false;
    }
    Attr attr;
    if (!expectName(attr.name, attr.loc, "an attribute name or '}'") ||
        !expect(TokKind::Equal, "after attribute '" + attr.name + "'") || !parseExpr(attr.value, 0))
      return false;
    stmt.attrs.push_back(std::move(attr));
    if (!tok.is(TokKind::Semi) && !tok.is(TokKind::RBrace) && !tok.startsLine)
      return fail("expected ';' or '}' after attribute '" + stmt.attrs.back().name + "', got " +
                  describeToken(tok));
  }
  consume();
  depth = 0;
  return true;
}

bool NetworkParser::parseStatement(Network &net) {
  Stmt stmt;
  stmt.loc = tok.loc;
  stmt.keyword = tok.text;
  unsigned depth = 0;
  bool ok;
  if (!tok.is(TokKind::Ident)) {
    ok = fail("expected a statement (input, output or a layer), got " + describeToken(tok));
    if (!tok.is(TokKind::RBrace) && !tok.is(TokKind::Eof))
      consume();
  } else if (tok.text == "input") {
    consume();
    ok = parseInput(stmt);
  } else if (tok.text == "output") {
    consume();
    ok = parseOutput(stmt);
  } else if (isStatementKeyword(tok)) {
    consume();
    ok = parseLayer(stmt, depth);
  } else {
    std::vector<std::string> keywords = {"input", "output"};
    for (const LayerInfo &layer : layerKinds())
      keywords.push_back(layer.keyword);
    ok = fail("unknown statement '" + tok.text + "'; expected " + joinList(keywords, " or "));
    consume();
  }
  if (ok)
    net.stmts.push_back(std::move(stmt));
  else
    recover(depth);
  return ok;
}

std::optional<Network> NetworkParser::parse() {
  Network net;
  net.loc = tok.loc;
  if (!tok.isIdent("network")) {
    fail("expected 'network', got " + describeToken(tok));
    return std::nullopt;
  }
  consume();
  SourceLoc nameLoc;
  if (!expectName(net.name, nameLoc, "a network name") ||
      !expect(TokKind::LBrace, "after the network name"))
    return std::nullopt;
  while (!tok.is(TokKind::RBrace) && !tok.is(TokKind::Eof)) {
    if (tok.is(TokKind::Semi)) {
      consume();
      continue;
    }
    parseStatement(net);
  }
  if (tok.is(TokKind::Eof)) {
    diags.error(tok.loc, "expected '}' to close network '" + net.name + "', got end of file");
    diags.note(net.loc, "network opened here");
    return net;
  }
  consume();
  if (tok.isIdent("network"))
    fail("only one network per file is allowed");
  else if (!tok.is(TokKind::Eof))
    fail("expected end of file after the network, got " + describeToken(tok));
  return net;
}

} // namespace

std::optional<Network> parseNetwork(uint32_t file, const SourceManager &sm,
                                    DiagnosticEngine &diags) {
  NetworkParser parser(file, sm, diags);
  return parser.parse();
}

} // namespace soma::frontend
