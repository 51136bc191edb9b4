// Tokenizer for .nn files and IR text. Errors (stray characters, bad
// numbers, unterminated strings) are diagnosed here and returned as Error
// tokens so the parser can recover.
#include "soma/support/Lexer.h"

#include <cctype>

namespace soma {

const char *tokKindName(TokKind kind) {
  switch (kind) {
  case TokKind::Eof:
    return "end of file";
  case TokKind::Error:
    return "invalid token";
  case TokKind::Ident:
    return "identifier";
  case TokKind::Number:
    return "number";
  case TokKind::String:
    return "string";
  case TokKind::Percent:
    return "%value";
  case TokKind::At:
    return "@name";
  case TokKind::LBrace:
    return "'{'";
  case TokKind::RBrace:
    return "'}'";
  case TokKind::LParen:
    return "'('";
  case TokKind::RParen:
    return "')'";
  case TokKind::LBracket:
    return "'['";
  case TokKind::RBracket:
    return "']'";
  case TokKind::Comma:
    return "','";
  case TokKind::Semi:
    return "';'";
  case TokKind::Colon:
    return "':'";
  case TokKind::Equal:
    return "'='";
  case TokKind::Minus:
    return "'-'";
  case TokKind::Plus:
    return "'+'";
  }
  return "token";
}

std::string describeToken(const Token &tok) {
  switch (tok.kind) {
  case TokKind::Ident:
    return "'" + tok.text + "'";
  case TokKind::Number:
    return "number " + tok.text;
  case TokKind::String:
    return "string \"" + tok.text + "\"";
  case TokKind::Percent:
    return "'%" + tok.text + "'";
  case TokKind::At:
    return "'@" + tok.text + "'";
  default:
    return tokKindName(tok.kind);
  }
}

Lexer::Lexer(uint32_t file, const SourceManager &sm, DiagnosticEngine &diags)
    : file(file), text(sm.text(file)), diags(diags) {}

void Lexer::advance() {
  if (pos >= text.size())
    return;
  if (text[pos] == '\n') {
    ++line;
    col = 1;
  } else {
    ++col;
  }
  ++pos;
}

void Lexer::skipSpaceAndComments() {
  for (;;) {
    char c = peek();
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      advance();
    } else if (c == '#' || (c == '/' && peek(1) == '/')) {
      while (pos < text.size() && peek() != '\n')
        advance();
    } else {
      return;
    }
  }
}

Token Lexer::make(TokKind kind, SourceLoc loc, std::string tokText) {
  Token t;
  t.kind = kind;
  t.loc = loc;
  t.text = std::move(tokText);
  return t;
}

static bool isIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
static bool isIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
static bool isDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)); }

Token Lexer::lexNumber() {
  SourceLoc loc = here();
  size_t start = pos;
  bool isInt = true;
  while (isDigit(peek()))
    advance();
  if (peek() == '.') {
    isInt = false;
    advance();
    while (isDigit(peek()))
      advance();
  }
  if (peek() == 'e' || peek() == 'E') {
    advance();
    if (peek() == '+' || peek() == '-')
      advance();
    if (!isDigit(peek())) {
      // `1e` or `2e+`: not a number this language can read.
      while (isIdentChar(peek()))
        advance();
      diags.error(loc, "malformed number '" + std::string(text.substr(start, pos - start)) + "'");
      return make(TokKind::Error, loc);
    }
    isInt = false;
    while (isDigit(peek()))
      advance();
  }
  if (isIdentStart(peek()) || peek() == '.') {
    while (isIdentChar(peek()) || peek() == '.')
      advance();
    diags.error(loc, "malformed number '" + std::string(text.substr(start, pos - start)) + "'");
    return make(TokKind::Error, loc);
  }
  Token t = make(TokKind::Number, loc, std::string(text.substr(start, pos - start)));
  t.isIntegerLiteral = isInt;
  return t;
}

Token Lexer::lexString() {
  SourceLoc loc = here();
  advance(); // opening quote
  std::string value;
  for (;;) {
    char c = peek();
    if (pos >= text.size() || c == '\n') {
      diags.error(loc, "unterminated string");
      return make(TokKind::Error, loc);
    }
    SourceLoc charLoc = here();
    advance();
    if (c == '"')
      break;
    if (c == '\\') {
      char e = peek();
      if (pos >= text.size() || e == '\n')
        continue; // a backslash ending the line: the string is unterminated
      advance();
      switch (e) {
      case '\\':
      case '"':
        value += e;
        break;
      case 'n':
        value += '\n';
        break;
      case 't':
        value += '\t';
        break;
      default:
        diags.error(charLoc, std::string("unknown escape sequence '\\") +
                                 (e ? std::string(1, e) : "") + "'");
        break;
      }
      continue;
    }
    value += c;
  }
  return make(TokKind::String, loc, std::move(value));
}

Token Lexer::lexName(TokKind kind) {
  SourceLoc loc = here();
  advance(); // sigil
  size_t start = pos;
  while (isIdentChar(peek()) || peek() == '.')
    advance();
  if (pos == start) {
    diags.error(loc, std::string("expected a name after '") +
                         (kind == TokKind::Percent ? '%' : '@') + "'");
    return make(TokKind::Error, loc);
  }
  return make(kind, loc, std::string(text.substr(start, pos - start)));
}

Token Lexer::next() {
  skipSpaceAndComments();
  bool startsLine = line != lastTokenLine;
  lastTokenLine = line;
  Token tok = lexToken();
  tok.startsLine = startsLine;
  return tok;
}

Token Lexer::lexToken() {
  SourceLoc loc = here();
  if (pos >= text.size())
    return make(TokKind::Eof, loc);
  char c = peek();
  if (isIdentStart(c)) {
    size_t start = pos;
    while (isIdentChar(peek()))
      advance();
    return make(TokKind::Ident, loc, std::string(text.substr(start, pos - start)));
  }
  if (isDigit(c) || (c == '.' && isDigit(peek(1))))
    return lexNumber();
  if (c == '"')
    return lexString();
  if (c == '%')
    return lexName(TokKind::Percent);
  if (c == '@')
    return lexName(TokKind::At);
  advance();
  switch (c) {
  case '{':
    return make(TokKind::LBrace, loc);
  case '}':
    return make(TokKind::RBrace, loc);
  case '(':
    return make(TokKind::LParen, loc);
  case ')':
    return make(TokKind::RParen, loc);
  case '[':
    return make(TokKind::LBracket, loc);
  case ']':
    return make(TokKind::RBracket, loc);
  case ',':
    return make(TokKind::Comma, loc);
  case ';':
    return make(TokKind::Semi, loc);
  case ':':
    return make(TokKind::Colon, loc);
  case '=':
    return make(TokKind::Equal, loc);
  case '-':
    return make(TokKind::Minus, loc);
  case '+':
    return make(TokKind::Plus, loc);
  default:
    break;
  }
  // Consume the rest of a UTF-8 sequence so one stray character gives one
  // error, and show a well-formed one as written.
  unsigned char uc = static_cast<unsigned char>(c);
  size_t start = pos - 1;
  if (uc >= 0xC0)
    while ((static_cast<unsigned char>(peek()) & 0xC0) == 0x80)
      advance();
  std::string shown = std::isprint(uc) ? std::string(1, c)
                                       : "\\x" + std::string(1, "0123456789abcdef"[uc >> 4]) +
                                             "0123456789abcdef"[uc & 15];
  size_t utf8Length = uc >= 0xF8 ? 0 : uc >= 0xF0 ? 4 : uc >= 0xE0 ? 3 : uc >= 0xC0 ? 2 : 0;
  if (utf8Length && pos - start == utf8Length)
    shown = std::string(text.substr(start, utf8Length));
  diags.error(loc, "unexpected character '" + shown + "'");
  return make(TokKind::Error, loc);
}

bool TokenCursor::fail(const std::string &msg) {
  if (!tok.is(TokKind::Error))
    diags.error(tok.loc, msg);
  return false;
}

bool TokenCursor::expect(TokKind kind, const std::string &context) {
  if (!tok.is(kind))
    return fail(std::string("expected ") + tokKindName(kind) + " " + context + ", got " +
                describeToken(tok));
  consume();
  return true;
}

} // namespace soma
