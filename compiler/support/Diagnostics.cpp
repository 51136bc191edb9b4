// Rendering of diagnostics in the clang/LLVM format users already know.
#include "soma/support/Diagnostics.h"

#include <algorithm>
#include <ostream>
#include <sstream>
#include <tuple>

namespace soma {

/// Source lines longer than this are not shown under a diagnostic.
constexpr size_t kMaxExcerptLength = 4096;

void DiagnosticEngine::add(Severity severity, SourceLoc loc, std::string message) {
  if (severity == Severity::Note) {
    if (!droppingNotes)
      diags.push_back({severity, loc, std::move(message)});
    return;
  }
  if (severity == Severity::Error) {
    ++numErrors;
    droppingNotes = numErrors > errorLimit;
    if (numErrors == errorLimit + 1) {
      diags.push_back({Severity::Error, {}, "too many errors emitted, stopping now"});
      return;
    }
    if (droppingNotes)
      return;
  } else {
    numWarnings += severity == Severity::Warning;
    droppingNotes = numErrors > errorLimit;
    if (droppingNotes)
      return;
    if (severity == Severity::Warning && numWarnings > warningLimit) {
      droppingNotes = true;
      unsigned hidden = numWarnings - warningLimit;
      if (hidden == 1) {
        hiddenWarningsNote = diags.size();
        diags.push_back({Severity::Note, {}, ""});
      }
      diags[hiddenWarningsNote].message = std::to_string(hidden) +
                                          (hidden == 1 ? " more warning" : " more warnings") +
                                          " not shown";
      return;
    }
  }
  diags.push_back({severity, loc, std::move(message)});
}

void DiagnosticEngine::error(SourceLoc loc, std::string message) {
  add(Severity::Error, loc, std::move(message));
}
void DiagnosticEngine::warning(SourceLoc loc, std::string message) {
  add(Severity::Warning, loc, std::move(message));
}
void DiagnosticEngine::note(SourceLoc loc, std::string message) {
  add(Severity::Note, loc, std::move(message));
}
void DiagnosticEngine::remark(SourceLoc loc, std::string message) {
  add(Severity::Remark, loc, std::move(message));
}

static const char *severityName(Severity s) {
  switch (s) {
  case Severity::Error:
    return "error";
  case Severity::Warning:
    return "warning";
  case Severity::Note:
    return "note";
  case Severity::Remark:
    return "remark";
  }
  return "error";
}

/// The order diagnostics are shown in: each error or warning with the notes
/// that follow it, in source order (by file, line and column), those
/// without a location after them in emission order. Remarks follow the
/// pipeline, so a list with a remark keeps its emission order. `counter`,
/// the note that counts hidden warnings, if any, stands alone.
static std::vector<const Diagnostic *> sourceOrder(const std::vector<Diagnostic> &diags,
                                                   const Diagnostic *counter) {
  std::vector<std::vector<const Diagnostic *>> entries;
  bool remarks = false;
  for (const Diagnostic &d : diags) {
    remarks |= d.severity == Severity::Remark;
    if (d.severity != Severity::Note || entries.empty() || &d == counter)
      entries.emplace_back();
    entries.back().push_back(&d);
  }
  if (!remarks)
    std::stable_sort(entries.begin(), entries.end(), [](const auto &a, const auto &b) {
      const SourceLoc &x = a.front()->loc, &y = b.front()->loc;
      if (x.isValid() != y.isValid())
        return x.isValid();
      return std::tie(x.file, x.line, x.col) < std::tie(y.file, y.line, y.col);
    });
  std::vector<const Diagnostic *> order;
  for (const auto &entry : entries)
    order.insert(order.end(), entry.begin(), entry.end());
  return order;
}

void DiagnosticEngine::render(std::ostream &os) const {
  const Diagnostic *counter = hiddenWarningsNote == kNone ? nullptr : &diags[hiddenWarningsNote];
  for (const Diagnostic *each : sourceOrder(diags, counter)) {
    const Diagnostic &d = *each;
    if (d.loc.isValid())
      os << sm.name(d.loc.file) << ':' << d.loc.line << ':' << d.loc.col << ": ";
    else
      os << "soma: ";
    os << severityName(d.severity) << ": " << d.message << '\n';
    if (!d.loc.isValid())
      continue;
    std::string_view line = sm.lineText(d.loc);
    // Like clang, show no excerpt of a huge line (generated or garbage), so
    // each diagnostic stays a few lines long.
    if (line.empty() || line.size() > kMaxExcerptLength)
      continue;
    os << line << '\n';
    // Keep tabs so the caret lines up under the token in a terminal; a
    // UTF-8 character takes one column however many bytes it has.
    std::string caret;
    for (uint32_t i = 1; i < d.loc.col && i <= line.size(); ++i)
      if ((static_cast<unsigned char>(line[i - 1]) & 0xC0) != 0x80)
        caret += line[i - 1] == '\t' ? '\t' : ' ';
    os << caret << "^\n";
  }
}

std::string DiagnosticEngine::renderToString() const {
  std::ostringstream os;
  render(os);
  return os.str();
}

void DiagnosticEngine::clear() {
  diags.clear();
  numErrors = 0;
  numWarnings = 0;
  hiddenWarningsNote = kNone;
  droppingNotes = false;
}

} // namespace soma
