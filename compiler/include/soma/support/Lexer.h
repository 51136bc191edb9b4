// The tokenizer shared by the network language and the IR's textual form:
// identifiers, numbers, strings, %values, @names, punctuation, and comments
// (`#` or `//` to the end of the line).
#pragma once

#include "soma/support/Diagnostics.h"

#include <string>
#include <string_view>

namespace soma {

enum class TokKind {
  Eof,
  Error, // already diagnosed
  Ident,
  Number,  // integer or floating-point literal, without sign
  String,  // "..." with escapes decoded into Token::text
  Percent, // %name (IR value); text holds the name
  At,      // @name (IR graph); text holds the name
  LBrace,
  RBrace,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Semi,
  Colon,
  Equal,
  Minus,
  Plus,
};

struct Token {
  TokKind kind = TokKind::Eof;
  std::string text; // identifier, decoded string, number spelling
  SourceLoc loc;
  bool isIntegerLiteral = false;
  /// First token on its line: statement starts, used for error recovery.
  bool startsLine = false;

  bool is(TokKind k) const { return kind == k; }
  bool isIdent(std::string_view s) const { return kind == TokKind::Ident && text == s; }
};

/// Spelling of a token kind for messages: "'{'", "identifier".
const char *tokKindName(TokKind kind);
/// How a token reads in "expected X, got Y".
std::string describeToken(const Token &tok);

class Lexer {
public:
  Lexer(uint32_t file, const SourceManager &sm, DiagnosticEngine &diags);

  Token next();

private:
  Token make(TokKind kind, SourceLoc loc, std::string text = {});
  SourceLoc here() const { return {file, line, col}; }
  char peek(size_t ahead = 0) const { return pos + ahead < text.size() ? text[pos + ahead] : '\0'; }
  void advance();
  void skipSpaceAndComments();
  Token lexToken();
  Token lexNumber();
  Token lexString();
  Token lexName(TokKind kind);

  uint32_t file;
  std::string_view text;
  DiagnosticEngine &diags;
  size_t pos = 0;
  uint32_t line = 1, col = 1;
  uint32_t lastTokenLine = 0;
};

/// What both parsers (the network language and IR text) share: the current
/// token, and errors that are reported unless the lexer already reported
/// the token itself.
class TokenCursor {
protected:
  TokenCursor(uint32_t file, const SourceManager &sm, DiagnosticEngine &diags)
      : lexer(file, sm, diags), diags(diags), tok(lexer.next()) {}

  void consume() { tok = lexer.next(); }
  /// Reports `msg` at the current token; always false.
  bool fail(const std::string &msg);
  /// Consumes a token of `kind`, or reports "expected K CONTEXT, got T".
  bool expect(TokKind kind, const std::string &context);

  Lexer lexer;
  DiagnosticEngine &diags;
  Token tok;
};

} // namespace soma
