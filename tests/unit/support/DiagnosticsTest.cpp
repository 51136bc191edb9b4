// The diagnostic format: location, message, source line and caret.
#include "soma/support/Diagnostics.h"
#include "soma/support/SourceManager.h"
#include "soma/support/Tensor.h"

#include <gtest/gtest.h>

#include <memory>

#include <string>
#include <vector>

using namespace soma;

TEST(Diagnostics, RendersLocationLineAndCaret) {
  SourceManager sm;
  uint32_t f = sm.addBuffer("net.nn", "network n {\n  input x: f64[2]\n}\n");
  DiagnosticEngine diags(sm);
  diags.error({f, 2, 12}, "bad type");
  diags.note({f, 1, 9}, "network here");
  EXPECT_EQ(diags.renderToString(), "net.nn:2:12: error: bad type\n"
                                    "  input x: f64[2]\n"
                                    "           ^\n"
                                    "net.nn:1:9: note: network here\n"
                                    "network n {\n"
                                    "        ^\n");
  EXPECT_EQ(diags.errorCount(), 1u);
}

TEST(Diagnostics, NoLocationUsesToolPrefix) {
  SourceManager sm;
  DiagnosticEngine diags(sm);
  diags.error({}, "unknown pass 'x'");
  EXPECT_EQ(diags.renderToString(), "soma: error: unknown pass 'x'\n");
}

TEST(Diagnostics, WarningsAreNotErrors) {
  SourceManager sm;
  uint32_t f = sm.addBuffer("a", "x\n");
  DiagnosticEngine diags(sm);
  diags.warning({f, 1, 1}, "unused");
  EXPECT_FALSE(diags.hasErrors());
  EXPECT_NE(diags.renderToString().find("1:1: warning: unused"), std::string::npos);
}

TEST(Diagnostics, ErrorLimitStopsFlood) {
  SourceManager sm;
  uint32_t f = sm.addBuffer("a", "x\n");
  DiagnosticEngine diags(sm);
  diags.errorLimit = 3;
  for (int i = 0; i < 100; ++i) {
    diags.error({f, 1, 1}, "e");
    diags.note({f, 1, 1}, "n");
  }
  EXPECT_EQ(diags.errorCount(), 100u);
  // Three errors with their notes, then the "too many errors" line.
  EXPECT_EQ(diags.diagnostics().size(), 7u);
  EXPECT_EQ(diags.diagnostics().back().message, "too many errors emitted, stopping now");
}

TEST(Diagnostics, WarningLimitCountsTheRest) {
  SourceManager sm;
  uint32_t f = sm.addBuffer("a", "x\n");
  DiagnosticEngine diags(sm);
  diags.warningLimit = 3;
  for (int i = 0; i < 100; ++i) {
    diags.warning({f, 1, 1}, "w");
    diags.note({f, 1, 1}, "n");
  }
  EXPECT_EQ(diags.warningCount(), 100u);
  EXPECT_FALSE(diags.hasErrors());
  // Three warnings with their notes, then one note counting the other 97.
  ASSERT_EQ(diags.diagnostics().size(), 7u);
  EXPECT_EQ(diags.diagnostics().back().severity, Severity::Note);
  EXPECT_EQ(diags.diagnostics().back().message, "97 more warnings not shown");
  // Errors still show: the limits are separate.
  diags.error({f, 1, 1}, "e");
  EXPECT_EQ(diags.diagnostics().back().message, "e");
}

TEST(Diagnostics, SourceOrderWithNotesAndUnlocatedLast) {
  SourceManager sm;
  uint32_t f = sm.addBuffer("a", "l1\nl2\nl3\n");
  DiagnosticEngine diags(sm);
  diags.error({}, "no place");
  diags.error({f, 3, 1}, "third");
  diags.note({f, 1, 2}, "note of third");
  diags.warning({f, 2, 2}, "second, col 2");
  diags.error({f, 2, 1}, "second, col 1");
  std::string text = diags.renderToString();
  std::vector<std::string> order = {"second, col 1", "second, col 2", "third", "note of third",
                                    "no place"};
  size_t at = 0;
  for (const std::string &m : order) {
    size_t found = text.find(m, at);
    ASSERT_NE(found, std::string::npos) << m << " out of order in:\n" << text;
    at = found;
  }
}

TEST(Diagnostics, RemarksKeepEmissionOrder) {
  SourceManager sm;
  uint32_t f = sm.addBuffer("a", "l1\nl2\n");
  DiagnosticEngine diags(sm);
  diags.remark({f, 2, 1}, "first pass");
  diags.remark({f, 1, 1}, "second pass");
  std::string text = diags.renderToString();
  EXPECT_LT(text.find("first pass"), text.find("second pass")) << text;
}

TEST(Diagnostics, HiddenWarningCountComesLast) {
  SourceManager sm;
  uint32_t f = sm.addBuffer("a", "l1\nl2\nl3\n");
  DiagnosticEngine diags(sm);
  diags.warningLimit = 1;
  diags.warning({f, 3, 1}, "kept");
  diags.warning({f, 2, 1}, "hidden");
  diags.error({f, 1, 1}, "early error");
  std::string text = diags.renderToString();
  EXPECT_LT(text.find("early error"), text.find("kept")) << text;
  EXPECT_LT(text.find("kept"), text.find("1 more warning not shown")) << text;
  EXPECT_EQ(text.find("hidden"), std::string::npos) << text;
}

TEST(Diagnostics, AtErrorLimit) {
  SourceManager sm;
  DiagnosticEngine diags(sm);
  diags.errorLimit = 2;
  diags.error({}, "e1");
  EXPECT_FALSE(diags.atErrorLimit());
  diags.error({}, "e2");
  EXPECT_TRUE(diags.atErrorLimit()); // a third would only be counted
}

TEST(SourceManager, LineTextOfEveryLine) {
  SourceManager sm;
  std::string text;
  for (int i = 1; i <= 1000; ++i)
    text += "line " + std::to_string(i) + (i % 2 ? "\n" : "\r\n");
  uint32_t f = sm.addBuffer("a", text);
  for (uint32_t i = 1; i <= 1000; ++i)
    EXPECT_EQ(sm.lineText({f, i, 1}), "line " + std::to_string(i));
  EXPECT_EQ(sm.lineText({f, 1001, 1}), ""); // after the last newline
  EXPECT_EQ(sm.lineText({f, 1002, 1}), "");
  EXPECT_EQ(sm.lineText({f, 0, 1}), "line 1");
}

TEST(SourceManager, LineTextHandlesCRLFAndMissingLines) {
  SourceManager sm;
  uint32_t f = sm.addBuffer("a", "one\r\ntwo");
  EXPECT_EQ(sm.lineText({f, 1, 1}), "one");
  EXPECT_EQ(sm.lineText({f, 2, 1}), "two");
  EXPECT_EQ(sm.lineText({f, 3, 1}), "");
}

// An imported model's decoded tensors are handed over once each: no copy
// stays behind, and a second reader of the same tensor gets nothing. A
// memory file is shared, not copied.
TEST(SourceManager, MemoryTensorsAreHandedOverOnce) {
  SourceManager sm;
  auto t = std::make_shared<Tensor>(std::vector<int64_t>{2, 3});
  t->values[4] = 7.0f;
  const Tensor *held = t.get();
  sm.addMemoryTensors("dir/w.safetensors", {{"a", std::move(t)}});
  EXPECT_TRUE(sm.hasMemoryTensors("dir/w.safetensors"));
  EXPECT_FALSE(sm.hasMemoryTensors("dir/other.safetensors"));
  EXPECT_EQ(sm.takeMemoryTensor("dir/w.safetensors", "b"), nullptr);
  std::shared_ptr<Tensor> got = sm.takeMemoryTensor("dir/w.safetensors", "a");
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got.get(), held);
  EXPECT_EQ(got.use_count(), 1);
  EXPECT_EQ(got->values[4], 7.0f);
  EXPECT_EQ(sm.takeMemoryTensor("dir/w.safetensors", "a"), nullptr);

  sm.addMemoryFile("dir/x.bin", "bytes");
  std::shared_ptr<const std::string> a = sm.memoryFile("dir/x.bin"), b = sm.memoryFile("dir/x.bin");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(*a, "bytes");
  EXPECT_EQ(sm.memoryFile("dir/y.bin"), nullptr);
}
