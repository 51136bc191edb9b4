// Tokens of the shared lexer, and its errors.
#include "soma/support/Lexer.h"

#include <gtest/gtest.h>

using namespace soma;

namespace {
std::vector<Token> lexAll(const std::string &text, DiagnosticEngine *out = nullptr) {
  static SourceManager sm;
  uint32_t f = sm.addBuffer("t", text);
  DiagnosticEngine local(sm);
  DiagnosticEngine &diags = out ? *out : local;
  Lexer lexer(f, sm, diags);
  std::vector<Token> toks;
  for (Token t = lexer.next(); !t.is(TokKind::Eof); t = lexer.next())
    toks.push_back(t);
  return toks;
}
} // namespace

TEST(Lexer, NumbersIdentifiersAndPunctuation) {
  auto toks = lexAll("dense fc1(x) { units = 12; bias = -1.5e-3 }");
  ASSERT_EQ(toks.size(), 15u);
  EXPECT_TRUE(toks[0].isIdent("dense"));
  EXPECT_TRUE(toks[1].isIdent("fc1"));
  EXPECT_TRUE(toks[2].is(TokKind::LParen));
  EXPECT_TRUE(toks[8].is(TokKind::Number));
  EXPECT_TRUE(toks[8].isIntegerLiteral);
  EXPECT_TRUE(toks[12].is(TokKind::Minus));
  EXPECT_EQ(toks[13].text, "1.5e-3");
  EXPECT_FALSE(toks[13].isIntegerLiteral);
}

TEST(Lexer, CommentsAndLocations) {
  auto toks = lexAll("# comment\n  a // more\n\tb");
  ASSERT_EQ(toks.size(), 2u);
  EXPECT_EQ(toks[0].loc.line, 2u);
  EXPECT_EQ(toks[0].loc.col, 3u);
  EXPECT_TRUE(toks[0].startsLine);
  EXPECT_EQ(toks[1].loc.line, 3u);
  EXPECT_EQ(toks[1].loc.col, 2u);
}

TEST(Lexer, StringsWithEscapes) {
  auto toks = lexAll(R"("a\"b\\c")");
  ASSERT_EQ(toks.size(), 1u);
  EXPECT_EQ(toks[0].text, "a\"b\\c");
}

TEST(Lexer, IRNames) {
  auto toks = lexAll("%fc1.weights @net");
  ASSERT_EQ(toks.size(), 2u);
  EXPECT_TRUE(toks[0].is(TokKind::Percent));
  EXPECT_EQ(toks[0].text, "fc1.weights");
  EXPECT_TRUE(toks[1].is(TokKind::At));
}

TEST(Lexer, ErrorsAreDiagnosedOnce) {
  SourceManager sm;
  DiagnosticEngine diags(sm);
  auto toks = lexAll("1e+ $ \"open", &diags);
  ASSERT_EQ(toks.size(), 3u);
  for (const Token &t : toks)
    EXPECT_TRUE(t.is(TokKind::Error));
  EXPECT_EQ(diags.errorCount(), 3u);
}
