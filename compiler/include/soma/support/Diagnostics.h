// Diagnostics: every user mistake becomes `file:line:col: error: message`,
// the source line and a caret, with related places as `note:` lines.
#pragma once

#include "soma/support/SourceManager.h"

#include <iosfwd>
#include <string>
#include <vector>

namespace soma {

enum class Severity { Error, Warning, Note, Remark };

struct Diagnostic {
  Severity severity;
  SourceLoc loc;
  std::string message;
};

/// Collects diagnostics. Errors beyond `errorLimit` and warnings beyond
/// `warningLimit` are counted but not kept (nor are their notes), so a
/// pathological input cannot flood the output: the first error past the
/// limit becomes "too many errors emitted, stopping now" (and nothing
/// after it is kept), the first warning past it a note that counts them,
/// "N more warnings not shown".
class DiagnosticEngine {
public:
  explicit DiagnosticEngine(const SourceManager &sm) : sm(sm) {}

  void error(SourceLoc loc, std::string message);
  void warning(SourceLoc loc, std::string message);
  /// A note attaches to the error or warning emitted just before it.
  void note(SourceLoc loc, std::string message);
  void remark(SourceLoc loc, std::string message);

  bool hasErrors() const { return numErrors != 0; }
  unsigned errorCount() const { return numErrors; }
  unsigned warningCount() const { return numWarnings; }
  /// Whether another error would only be counted: a message that is costly
  /// to compose (a "did you mean" search) can be skipped.
  bool atErrorLimit() const { return numErrors >= errorLimit; }
  const std::vector<Diagnostic> &diagnostics() const { return diags; }
  const SourceManager &sources() const { return sm; }

  /// Renders every kept diagnostic: errors and warnings, each with its
  /// notes, in source order (those without a location last); a list with
  /// remarks (which follow the pipeline) in emission order.
  void render(std::ostream &os) const;
  std::string renderToString() const;
  void clear();

  unsigned errorLimit = 50;
  unsigned warningLimit = 50;

private:
  void add(Severity severity, SourceLoc loc, std::string message);

  const SourceManager &sm;
  std::vector<Diagnostic> diags;
  unsigned numErrors = 0;
  unsigned numWarnings = 0;
  /// Where "N more warnings not shown" is in `diags`, once there is one
  /// (kNone before).
  static constexpr size_t kNone = ~size_t(0);
  size_t hiddenWarningsNote = kNone;
  bool droppingNotes = false;
};

} // namespace soma
