// soma run's --expect: outputs against golden arrays, with a report of the
// elements that drift, worst first.
#include "Expect.h"

#include "soma/ir/Printer.h"
#include "soma/support/Npy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <vector>

namespace soma::cli {

std::string formatValue(float v, int digits) {
  if (std::isnan(v))
    return "nan"; // not "-nan": the sign bit of a NaN means nothing
  if (digits == 0 || !std::isfinite(v))
    return ir::formatFloat(v);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, static_cast<double>(v));
  return buf;
}

namespace {

/// "[n, i, j]" for flat element `flat` of an array shaped `dims`.
std::string indexText(int64_t flat, const std::vector<int64_t> &dims) {
  std::vector<int64_t> index(dims.size());
  for (size_t d = dims.size(); d-- > 0;) {
    index[d] = dims[d] ? flat % dims[d] : 0;
    flat = dims[d] ? flat / dims[d] : 0;
  }
  return formatDims(index);
}

std::string numberText(double v, int digits) {
  if (std::isnan(v))
    return "nan";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

} // namespace

std::optional<Tensor> loadGolden(const std::string &name, const std::string &path,
                                 const std::vector<int64_t> &dims) {
  Expected<NpyArray> golden = readNpy(path);
  if (!golden) {
    std::cerr << "soma: error: --expect " << name << ": " << golden.error() << '\n';
    return std::nullopt;
  }
  // One sample's golden may leave out the batch axis ([units] for [1,
  // units]), as --input takes one sample as [inputs].
  const bool oneSample = !dims.empty() && dims[0] == 1 &&
                         golden->tensor.dims == std::vector<int64_t>(dims.begin() + 1, dims.end());
  if (oneSample)
    golden->tensor.dims = dims;
  if (golden->tensor.dims != dims) {
    std::cerr << "soma: error: output '" << name << "' has shape " << formatDims(dims) << ", but '"
              << path << "' holds " << formatDims(golden->tensor.dims) << '\n';
    return std::nullopt;
  }
  return std::move(golden->tensor);
}

bool compareWithGolden(const std::string &name, const std::string &engines, const Tensor &got,
                       const Tensor &exp, const std::string &path, double rtol, double atol,
                       bool quiet) {
  struct Drift {
    int64_t index;
    double excess; // |got - expected| / tolerance; infinite for NaN or an infinity
    double abs;    // |got - expected|; infinite for NaN or an infinity
  };
  std::vector<Drift> drifts;
  double maxAbs = 0, maxUsed = 0; // of the elements that pass
  for (int64_t i = 0; i < got.numElements(); ++i) {
    double g = got.values[i], e = exp.values[i];
    if ((std::isnan(g) && std::isnan(e)) || g == e) // g == e: also the same infinity
      continue;
    double abs = std::fabs(g - e), tol = atol + rtol * std::fabs(e);
    if (!std::isfinite(abs)) { // NaN against a number, or an infinity against anything else
      drifts.push_back({i, INFINITY, INFINITY});
      continue;
    }
    if (abs > tol) {
      drifts.push_back({i, abs / tol, abs}); // abs > tol >= 0: never 0 / 0
      continue;
    }
    maxAbs = std::max(maxAbs, abs);
    maxUsed = std::max(maxUsed, abs / tol);
  }
  char tolText[80];
  std::snprintf(tolText, sizeof tolText, "rtol %g, atol %g", rtol, atol);
  if (drifts.empty()) {
    if (quiet)
      return true;
    std::cerr << "soma: output '" << name << "' matches '" << path << "' on " << engines << " ("
              << got.numElements() << " element" << (got.numElements() == 1 ? "" : "s")
              << ", max abs error " << numberText(maxAbs, 3) << ", worst at "
              << numberText(100 * maxUsed, 3) << "% of its tolerance; " << tolText << ")\n";
    return true;
  }
  std::cerr << "soma: error: output '" << name << "' does not match '" << path << "' on " << engines
            << ": " << drifts.size() << " of " << got.numElements() << " elements differ ("
            << tolText << ")\n";
  // The worst first: furthest outside the tolerance, then the largest
  // error, then by position.
  std::stable_sort(drifts.begin(), drifts.end(), [](const Drift &a, const Drift &b) {
    return a.excess != b.excess ? a.excess > b.excess : a.abs > b.abs;
  });
  constexpr size_t shown = 5;
  std::vector<std::vector<std::string>> rows = {
      {"index", "got", "expected", "abs error", "rel error"}};
  for (size_t k = 0; k < std::min(shown, drifts.size()); ++k) {
    float g = got.values[drifts[k].index], e = exp.values[drifts[k].index];
    double abs = std::fabs(static_cast<double>(g) - e);
    double rel = std::isnan(abs)                ? abs
                 : std::isinf(abs) || e == 0.0f ? INFINITY
                                                : abs / std::fabs(e);
    rows.push_back({indexText(drifts[k].index, got.dims), formatValue(g, 0), formatValue(e, 0),
                    numberText(abs, 3), numberText(rel, 3)});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto &row : rows)
    for (size_t c = 0; c < row.size(); ++c)
      width[c] = std::max(width[c], row[c].size());
  for (const auto &row : rows) {
    std::string line = " ";
    for (size_t c = 0; c < row.size(); ++c)
      line +=
          " " + row[c] + (c + 1 < row.size() ? std::string(width[c] - row[c].size() + 1, ' ') : "");
    std::cerr << line << '\n';
  }
  if (drifts.size() > shown)
    std::cerr << "  ... and " << drifts.size() - shown << " more\n";
  return false;
}

} // namespace soma::cli
