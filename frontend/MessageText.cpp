// Diagnostic text shared by the parser and Sema (see MessageText.h).
#include "MessageText.h"

#include <algorithm>
#include <charconv>

namespace soma::frontend {

namespace {

/// Edit distance counting a swap of adjacent characters as one edit
/// (optimal string alignment), for "did you mean" suggestions.
size_t editDistance(const std::string &a, const std::string &b) {
  std::vector<size_t> prev2(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
    }
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
  for (const std::string &c : candidates) {
    // The distance is at least the difference in length.
    if ((c.size() > name.size() ? c.size() - name.size() : name.size() - c.size()) >= bestDist)
      continue;
    size_t d = editDistance(name, c);
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
