// Shared command-line plumbing for soma and soma-opt.
#include "CliCommon.h"

#include "soma/Version.h"
#include "soma/frontend/Frontend.h"
#include "soma/support/Npy.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <cstdlib>
#include <iostream>
#include <iterator>

namespace soma::cli {

const char *toolName = "soma";

int usageError(const std::string &message) {
  std::cerr << toolName << ": error: " << message << '\n';
  return 2;
}

std::string nearest(const std::string &word, const std::vector<std::string> &candidates) {
  std::string best;
  // At most a third of the word, at least 1, and never the whole word ('y'
  // is no misspelling of 'x').
  size_t bestDistance = std::min(std::max<size_t>(1, word.size() / 3), word.size() - 1) + 1;
  if (word.empty())
    return best;
  for (const std::string &c : candidates) {
    // Levenshtein distance, one row at a time.
    std::vector<size_t> row(c.size() + 1);
    for (size_t j = 0; j <= c.size(); ++j)
      row[j] = j;
    for (size_t i = 1; i <= word.size(); ++i) {
      size_t diagonal = row[0];
      row[0] = i;
      for (size_t j = 1; j <= c.size(); ++j) {
        size_t above = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (word[i - 1] != c[j - 1])});
        diagonal = above;
      }
    }
    if (row[c.size()] < bestDistance) {
      bestDistance = row[c.size()];
      best = c;
    }
  }
  // A word that starts a longer name ("fuse-dense" of "fuse-dense-bias-act").
  if (best.empty() && word.size() >= 3)
    for (const std::string &c : candidates)
      if (c.size() > word.size() && c.compare(0, word.size(), word) == 0)
        return c;
  return best;
}

std::string didYouMean(const std::string &word, const std::vector<std::string> &candidates) {
  std::string near = nearest(word, candidates);
  return near.empty() ? "" : "; did you mean '" + near + "'?";
}

std::string versionLine() {
  return std::string(toolName) + (std::string(toolName) == "soma" ? "" : " (soma)") +
         " version " SOMA_VERSION_STRING;
}

std::unique_ptr<ir::Graph> loadAndCheck(const std::string &path, SourceManager &sm,
                                        DiagnosticEngine &diags, bool quiet) {
  uint32_t file;
  if (path == "-") {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    file = sm.addBuffer("<stdin>", std::move(text));
  } else {
    Expected<uint32_t> loaded = frontend::loadSourceFile(path, sm);
    if (!loaded) {
      std::cerr << toolName << ": error: " << loaded.error() << '\n';
      return nullptr;
    }
    file = *loaded;
  }
  std::unique_ptr<ir::Graph> graph = frontend::loadGraph(file, sm, diags);
  if (!quiet || diags.hasErrors())
    diags.render(std::cerr);
  diags.clear();
  return graph;
}

std::optional<std::string> optionValue(int argc, char **argv, int &i, const std::string &name) {
  std::string arg = argv[i];
  if (arg.rfind(name + "=", 0) == 0)
    return arg.substr(name.size() + 1);
  if (arg == name) {
    if (i + 1 >= argc) {
      std::cerr << toolName << ": error: option '" << name << "' needs a value\n";
      std::exit(2);
    }
    return std::string(argv[++i]);
  }
  return std::nullopt;
}

int parseOptLevel(const std::string &arg) {
  if (arg.size() < 2 || arg[0] != '-' || arg[1] != 'O')
    return -1;
  if (arg.size() == 3 && arg[2] >= '0' && arg[2] <= '3')
    return arg[2] - '0';
  return -2;
}

std::optional<double> parsePruneFraction(const std::string &text) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !(v >= 0 && v < 1))
    return std::nullopt;
  return v;
}

namespace {

/// Parses "0.5,0.3;0.1,0.2" into samples of `perSample` values.
Expected<Tensor> parseValues(const std::string &name, const std::string &text,
                             const ir::TensorType &type) {
  std::vector<float> values;
  int64_t samples = 1;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find_first_of(",;", pos);
    if (end == std::string::npos)
      end = text.size();
    std::string item = text.substr(pos, end - pos);
    while (!item.empty() && item.front() == ' ')
      item.erase(item.begin());
    while (!item.empty() && item.back() == ' ')
      item.pop_back();
    double v;
    const char *first = item.data(), *last = first + item.size();
    if (!item.empty() && *first == '+')
      ++first;
    auto [ptr, ec] = std::from_chars(first, last, v);
    if (item.empty() || ec != std::errc() || ptr != last)
      return Error{"input '" + name + "': '" + item + "' is not a number"};
    if (std::isfinite(v) && !std::isfinite(static_cast<float>(v)))
      return Error{"input '" + name + "': " + item + " does not fit in f32"};
    values.push_back(static_cast<float>(v));
    if (end < text.size() && text[end] == ';')
      ++samples;
    pos = end + 1;
  }
  int64_t perSample = type.sampleElements();
  if (static_cast<int64_t>(values.size()) != samples * perSample)
    return Error{"input '" + name + "' takes " + std::to_string(perSample) + " value" +
                 (perSample == 1 ? "" : "s") + " per sample (shape " + type.str() + "), got " +
                 std::to_string(values.size()) +
                 (samples > 1 ? " in " + std::to_string(samples) + " samples" : "")};
  std::vector<int64_t> dims = {samples};
  dims.insert(dims.end(), type.dims.begin(), type.dims.end());
  Tensor t(dims);
  std::copy(values.begin(), values.end(), t.values.begin());
  return t;
}

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

Expected<Tensor> loadInput(const std::string &name, const std::string &value,
                           const ir::TensorType &type) {
  if (!endsWith(value, ".npy"))
    return parseValues(name, value, type);
  Expected<NpyArray> arr = readNpy(value);
  if (!arr)
    return Error{arr.error()};
  Tensor t = std::move(arr->tensor);
  if (t.dims == type.dims)
    t.dims.insert(t.dims.begin(), 1); // one sample
  bool ok = t.dims.size() == type.dims.size() + 1 &&
            std::equal(type.dims.begin(), type.dims.end(), t.dims.begin() + 1);
  if (!ok)
    return Error{"input '" + name + "' needs an array of shape " + type.str() + " or " +
                 formatDims(type.dims) + ", '" + value + "' holds " + formatDims(t.dims)};
  return t;
}

Expected<std::vector<runtime::NamedTensor>>
readInputs(const ir::Graph &graph, const std::vector<std::pair<std::string, std::string>> &given) {
  std::vector<runtime::NamedTensor> tensors;
  for (auto &[name, value] : given) {
    const ir::Op *in = graph.findOp(name);
    if (!in || in->kind != ir::OpKind::Input) {
      std::string names;
      std::vector<std::string> inputNames;
      for (ir::Op *op : graph.inputs()) {
        names += (names.empty() ? "" : ", ") + ("'" + op->name + "'");
        inputNames.push_back(op->name);
      }
      std::string hint = didYouMean(name, inputNames);
      return Error{"the network has no input named '" + name + "'" +
                   (hint.empty() ? "; its inputs are " + names : hint)};
    }
    Expected<Tensor> t = loadInput(name, value, in->type);
    if (!t)
      return Error{t.error()};
    tensors.push_back({name, std::move(*t)});
  }
  return tensors;
}

} // namespace soma::cli
