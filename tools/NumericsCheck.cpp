// Checks each pass against its tolerance class on the reference
// interpreter. Each pass is compared with the graph it was given, not with
// the original network, so the drift it is charged with is its own.
#include "NumericsCheck.h"

#include "soma/ir/Printer.h"
#include "soma/ir/Verifier.h"

#include <algorithm>
#include <cmath>
#include <ostream>

namespace soma::cli {

std::vector<runtime::NamedTensor> randomInputs(const ir::Graph &graph, uint64_t seed,
                                               int64_t batch) {
  // splitmix64: tiny, and the same sequence everywhere (the standard
  // distributions are not).
  uint64_t state = seed;
  auto next = [&state] {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  std::vector<runtime::NamedTensor> result;
  for (const ir::Op *in : graph.inputs()) {
    std::vector<int64_t> dims = {batch};
    dims.insert(dims.end(), in->type.dims.begin(), in->type.dims.end());
    Tensor t(dims);
    for (float &v : t.values)
      v = static_cast<float>(static_cast<double>(next() >> 11) * 0x1p-52 - 1.0);
    result.push_back({in->name, std::move(t)});
  }
  return result;
}

bool NumericsChecker::evaluate(const ir::Graph &graph, const std::string &after,
                               std::vector<runtime::NamedTensor> &outputs) {
  // A broken graph would crash the interpreter; say which pass broke it.
  SourceManager scratchSm;
  DiagnosticEngine scratch(scratchSm);
  if (!ir::verifyGraph(graph, scratch)) {
    diags.error({}, "check-numerics: the IR is invalid " + after);
    return false;
  }
  Expected<std::vector<runtime::NamedTensor>> out = runtime::Interpreter(graph).run(inputs);
  if (!out) {
    diags.error({}, "check-numerics: the interpreter failed " + after + ": " + out.error());
    return false;
  }
  outputs = std::move(*out);
  return true;
}

bool NumericsChecker::start(const ir::Graph &graph) {
  return evaluate(graph, "before the first pass", previous);
}

bool NumericsChecker::afterPass(const passes::PassInfo &pass, const ir::Graph &graph) {
  const std::string name = pass.name;
  std::vector<runtime::NamedTensor> now;
  if (!evaluate(graph, "after pass '" + name + "'", now))
    return false;
  passes::Tolerance tol = passes::toleranceOf(pass.tolerance);
  // A pass that changes results on request (prune) has no bound: its drift
  // is measured and reported, never a failure.
  const bool bounded = std::isfinite(tol.rtol);
  std::string where = "pass '" + name + "' (tolerance class " + tol.cls + ", rtol " +
                      ir::formatFloat(static_cast<float>(tol.rtol)) + ")";
  double worst = 0; // largest |after - before| / (|before| + scale)
  for (const runtime::NamedTensor &before : previous) {
    auto it = std::find_if(now.begin(), now.end(),
                           [&](const runtime::NamedTensor &t) { return t.name == before.name; });
    if (it == now.end() || it->tensor.dims != before.tensor.dims) {
      diags.error({}, "check-numerics: " + where + " changed output '" + before.name + "': " +
                          (it == now.end() ? "it is gone"
                                           : "shape " + formatDims(before.tensor.dims) +
                                                 " became " + formatDims(it->tensor.dims)));
      return false;
    }
    double scale = 0;
    for (float v : before.tensor.values)
      if (std::isfinite(v))
        scale = std::max(scale, std::fabs(double(v)));
    const auto &a = before.tensor.values, &b = it->tensor.values;
    for (size_t i = 0; i < a.size(); ++i) {
      double x = a[i], y = b[i];
      bool same;
      double rel = 0;
      if (std::isnan(x) || std::isnan(y) || std::isinf(x) || std::isinf(y)) {
        same = (std::isnan(x) && std::isnan(y)) || x == y || !bounded;
      } else {
        double denom = std::fabs(x) + scale;
        rel = denom > 0 ? std::fabs(y - x) / denom : std::fabs(y - x);
        same = rel <= tol.rtol;
      }
      worst = std::max(worst, rel);
      if (!same) {
        diags.error({}, "check-numerics: " + where + " moved output '" + before.name +
                            "' beyond its tolerance: element " + std::to_string(i) + " was " +
                            ir::formatFloat(a[i]) + ", now " + ir::formatFloat(b[i]));
        return false;
      }
    }
  }
  if (log && bounded)
    *log << "check-numerics: " << name << " (" << tol.cls << "): max relative drift " << worst
         << " <= " << tol.rtol << '\n';
  else if (log)
    *log << "check-numerics: " << name << " (" << tol.cls << "): max relative drift " << worst
         << ", not checked: the results were asked to change\n";
  previous = std::move(now);
  return true;
}

} // namespace soma::cli
