// Diagnostic text shared by the parser and Sema (see MessageText.h).
#include "MessageText.h"

#include <algorithm>
#include <charconv>

namespace soma::frontend {

namespace {

/// The edit distance between `a` and `b` counting a swap of adjacent
/// characters as one edit (optimal string alignment), or any value of at
/// least `limit` once it is certain to reach `limit`. The rows are the
/// caller's, so that scanning many candidates allocates nothing.
size_t editDistance(const std::string &a, const std::string &b, size_t limit,
                    std::vector<size_t> (&rows)[3]) {
  for (std::vector<size_t> &row : rows)
    if (row.size() < b.size() + 1)
      row.resize(b.size() + 1);
  size_t *prev2 = rows[0].data(), *prev = rows[1].data(), *cur = rows[2].data();
  for (size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  size_t prevMin = 0;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    size_t rowMin = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
      rowMin = std::min(rowMin, cur[j]);
    }
    // Every later row's cells are at least min(this row's, the last row's
    // + 1) (a transposition reaches back two rows), so neither can the
    // distance be smaller.
    if (std::min(rowMin, prevMin + 1) >= limit)
      return limit;
    prevMin = rowMin;
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

} // namespace

std::string suggest(const std::string &name, const std::vector<std::string> &candidates) {
  std::string best;
  size_t bestDist = std::max<size_t>(1, name.size() / 3) + 1;
  // The distance is quadratic in the lengths: no typo hunt in huge names.
  if (name.size() > 256)
    return best;
  std::vector<size_t> rows[3];
  for (const std::string &c : candidates) {
    // The distance is at least the difference in length.
    if ((c.size() > name.size() ? c.size() - name.size() : name.size() - c.size()) >= bestDist)
      continue;
    size_t d = editDistance(name, c, bestDist, rows);
    if (d < bestDist) {
      bestDist = d;
      best = c;
    }
  }
  return best.empty() ? "" : "; did you mean '" + best + "'?";
}

std::string joinList(const std::vector<std::string> &items, std::string_view lastSeparator) {
  std::string text;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0)
      text += i + 1 == items.size() ? lastSeparator : std::string_view(", ");
    text += items[i];
  }
  return text;
}

std::string formatNumber(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  return std::string(buf, end);
}

} // namespace soma::frontend
