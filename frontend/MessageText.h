// Pieces of diagnostic text the parser and Sema share: "did you mean"
// suggestions, lists of names, numbers as a .nn file writes them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace soma::frontend {

/// "; did you mean 'x'?" when a candidate is close enough to `name`, else "".
std::string suggest(const std::string &name, const std::vector<std::string> &candidates);

/// The items separated by ", ", the last two by `lastSeparator`:
/// joinList({"a", "b", "c"}, " or ") is "a, b or c".
std::string joinList(const std::vector<std::string> &items, std::string_view lastSeparator = ", ");

/// Shortest text that reads back to `v`, as written in a .nn file ("1e+39").
std::string formatNumber(double v);

} // namespace soma::frontend
