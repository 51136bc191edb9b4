// Tensor-valued attributes (weights, bias, mean, variance, scale, shift):
// a number filling a vector, a literal array, a .npy file, a tensor of a
// .safetensors file or a seeded initialiser, its shape checked against what
// the layer expects.
#include "MessageText.h"
#include "Sema.h"
#include "soma/frontend/Initializers.h"
#include "soma/support/File.h"
#include "soma/support/Npy.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace soma::frontend {

namespace {

/// "1 element", "3 elements"
std::string elements(size_t n) { return std::to_string(n) + (n == 1 ? " element" : " elements"); }

bool fitsF32(const Expr &num, DiagnosticEngine &diags) {
  if (std::isfinite(num.number) && !std::isfinite(static_cast<float>(num.number))) {
    diags.error(num.loc, "value " + formatNumber(num.number) + " does not fit in f32");
    return false;
  }
  return true;
}

/// A call's arguments by parameter name, positional ones mapped onto the
/// parameters in order, with the checks every tensor source shares.
class CallArgs {
public:
  CallArgs(const Expr &call, DiagnosticEngine &diags) : call(call), fn(call.text), diags(diags) {}

  /// Binds the arguments to `params`; false after an error.
  bool bind(const std::vector<const char *> &params);
  /// The argument bound to `name`, or null.
  const Expr *find(const char *name) const {
    auto it = bound.find(name);
    return it == bound.end() ? nullptr : it->second;
  }
  /// A finite number that fits in f32; `fallback` when not given.
  bool number(const char *name, double fallback, double &out);
  /// A string that must be given.
  bool string(const char *name, std::string &out);

private:
  const Expr &call;
  const std::string &fn;
  DiagnosticEngine &diags;
  std::map<std::string, const Expr *> bound;
};

bool CallArgs::bind(const std::vector<const char *> &params) {
  size_t positional = 0;
  for (size_t i = 0; i < call.elems.size(); ++i) {
    std::string name = call.argNames[i];
    if (name.empty()) {
      if (positional >= params.size()) {
        diags.error(call.elems[i].loc, "too many arguments to '" + fn + "'");
        return false;
      }
      name = params[positional++];
    } else if (std::find_if(params.begin(), params.end(),
                            [&](const char *p) { return name == p; }) == params.end()) {
      std::vector<std::string> takes(params.begin(), params.end());
      diags.error(call.argLocs[i], "'" + fn + "' has no parameter '" + name + "'" +
                                       (takes.empty() ? "" : "; it takes " + joinList(takes)));
      return false;
    }
    if (!bound.emplace(name, &call.elems[i]).second) {
      diags.error(call.argLocs[i], "parameter '" + name + "' of '" + fn + "' is given twice");
      return false;
    }
  }
  return true;
}

bool CallArgs::number(const char *name, double fallback, double &out) {
  const Expr *arg = find(name);
  if (!arg) {
    out = fallback;
    return true;
  }
  if (arg->kind != Expr::Kind::Number || !std::isfinite(arg->number)) {
    diags.error(arg->loc, std::string("'") + name + "' of '" + fn + "' must be a finite number");
    return false;
  }
  out = arg->number;
  return fitsF32(*arg, diags);
}

bool CallArgs::string(const char *name, std::string &out) {
  const Expr *arg = find(name);
  if (!arg) {
    diags.error(call.loc, "'" + fn + "' needs its '" + name + "' argument");
    return false;
  }
  if (arg->kind != Expr::Kind::String) {
    diags.error(arg->loc, std::string("'") + name + "' of '" + fn + "' must be a string");
    return false;
  }
  out = arg->text;
  return true;
}

/// A seed is read from its spelling, not the double, so every 64-bit seed
/// is distinct.
bool evalSeed(const CallArgs &args, DiagnosticEngine &diags, uint64_t &seed) {
  const Expr *s = args.find("seed");
  if (!s)
    return true;
  const char *first = s->text.data(), *last = first + s->text.size();
  auto [ptr, ec] = std::from_chars(first, last, seed);
  if (s->kind != Expr::Kind::Number || !s->isInteger || s->number < 0 || ec != std::errc() ||
      ptr != last) {
    diags.error(s->loc, "seed must be an integer from 0 to 18446744073709551615");
    return false;
  }
  return true;
}

/// The seeded initialiser `call` names, with its arguments checked.
bool evalInitializer(const Expr &call, DiagnosticEngine &diags, InitSpec &spec) {
  const std::string &fn = call.text;
  CallArgs args(call, diags);
  bool ok = true;
  if (fn == "zeros" || fn == "ones") {
    spec.kind = fn == "zeros" ? InitKind::Zeros : InitKind::Ones;
    ok = args.bind({});
  } else if (fn == "constant") {
    spec.kind = InitKind::Constant;
    ok = args.bind({"value"}) && args.number("value", 0, spec.a);
    if (ok && !args.find("value")) {
      diags.error(call.loc, "'constant' needs its 'value' argument");
      ok = false;
    }
  } else if (fn == "uniform") {
    spec.kind = InitKind::Uniform;
    ok = args.bind({"low", "high", "seed"}) && args.number("low", -1, spec.a) &&
         args.number("high", 1, spec.b);
    if (ok && !(spec.a < spec.b)) {
      diags.error(call.loc, "'uniform' needs low < high, got low = " + formatNumber(spec.a) +
                                ", high = " + formatNumber(spec.b));
      ok = false;
    }
  } else if (fn == "normal") {
    spec.kind = InitKind::Normal;
    ok = args.bind({"mean", "stddev", "seed"}) && args.number("mean", 0, spec.a) &&
         args.number("stddev", 1, spec.b);
    if (ok && spec.b < 0) {
      diags.error(args.find("stddev")->loc, "'stddev' of 'normal' must be >= 0");
      ok = false;
    }
  } else if (fn == "xavier" || fn == "glorot") {
    spec.kind = InitKind::Xavier;
    ok = args.bind({"seed"});
  } else if (fn == "he" || fn == "kaiming") {
    spec.kind = InitKind::He;
    ok = args.bind({"seed"});
  } else {
    diags.error(call.loc,
                "unknown tensor source '" + fn + "'" +
                    suggest(fn, {"npy", "safetensors", "tensor", "zeros", "ones", "constant",
                                 "uniform", "normal", "xavier", "glorot", "he", "kaiming"}));
    return false;
  }
  return ok && evalSeed(args, diags, spec.seed);
}

} // namespace

/// A literal array: its shape from the nesting, its values row-major.
std::shared_ptr<Tensor> Sema::evalArray(const Expr &expr) {
  // Walk level by level: every array at one depth must have the same length.
  std::vector<int64_t> dims;
  std::vector<const Expr *> level = {&expr};
  while (level.front()->kind == Expr::Kind::Array) {
    size_t len = level.front()->elems.size();
    std::vector<const Expr *> nextLevel;
    for (const Expr *e : level) {
      if (e->kind != Expr::Kind::Array || e->elems.size() != len) {
        diags.error(e->loc, "ragged array: expected " +
                                (e->kind == Expr::Kind::Array ? std::string("") : "an array of ") +
                                elements(len) + ", got " +
                                (e->kind == Expr::Kind::Array ? std::to_string(e->elems.size())
                                                              : std::string("a single value")));
        return nullptr;
      }
      for (const Expr &child : e->elems)
        nextLevel.push_back(&child);
    }
    dims.push_back(static_cast<int64_t>(len));
    if (dims.size() > kMaxRank) {
      diags.error(expr.loc, "array has more than " + std::to_string(kMaxRank) + " dimensions");
      return nullptr;
    }
    if (nextLevel.empty())
      break;
    level = std::move(nextLevel);
  }
  auto t = std::make_shared<Tensor>(dims);
  size_t i = 0;
  if (level.front()->kind != Expr::Kind::Array)
    for (const Expr *e : level) {
      if (e->kind == Expr::Kind::Array) {
        diags.error(e->loc, "ragged array: expected a number, got an array of " +
                                elements(e->elems.size()));
        return nullptr;
      }
      if (e->kind != Expr::Kind::Number) {
        diags.error(e->loc, "array elements must be numbers");
        return nullptr;
      }
      if (!fitsF32(*e, diags))
        return nullptr;
      t->values[i++] = static_cast<float>(e->number);
    }
  return t;
}

std::string Sema::resolvePath(const std::string &path) const {
  if (path.empty() || path[0] == '/' || baseDir.empty())
    return path;
  return baseDir + "/" + path;
}

std::shared_ptr<Tensor> Sema::loadNpy(const Expr &call, std::string &from) {
  CallArgs args(call, diags);
  std::string path;
  if (!args.bind({"path"}) || !args.string("path", path))
    return nullptr;
  SourceLoc pathLoc = args.find("path")->loc;
  Expected<NpyArray> arr = readNpy(resolvePath(path));
  if (!arr) {
    diags.error(pathLoc, arr.error());
    return nullptr;
  }
  if (arr->dtype.find("f8") != std::string::npos)
    diags.note(pathLoc, "'" + path + "' holds float64 values; converted to float32");
  from = " from '" + path + "'";
  return std::make_shared<Tensor>(std::move(arr->tensor));
}

/// A file used by several attributes is read and validated once.
std::shared_ptr<Tensor> Sema::loadSafetensors(const Expr &call, std::string &from) {
  CallArgs args(call, diags);
  std::string path, name;
  if (!args.bind({"path", "tensor"}) || !args.string("path", path) || !args.string("tensor", name))
    return nullptr;
  SourceLoc pathLoc = args.find("path")->loc, tensorLoc = args.find("tensor")->loc;
  std::string full = resolvePath(path);
  if (diags.sources().hasMemoryTensors(full)) { // an imported model's, decoded
    std::shared_ptr<Tensor> t = diags.sources().takeMemoryTensor(full, name);
    if (!t)
      diags.error(tensorLoc, "the imported model's weights hold no tensor '" + name +
                                 "' (or it was read already)");
    from = " from tensor '" + name + "' of '" + path + "'";
    return t;
  }
  auto cached = safetensorsCache.find(full);
  if (cached == safetensorsCache.end()) {
    // An imported model's weights are held in memory under their path.
    std::shared_ptr<const std::string> held = diags.sources().memoryFile(full);
    Expected<std::string> bytes =
        held ? Expected<std::string>(std::string()) : readRegularFile(full, kMaxWeightFileBytes);
    if (!bytes) {
      diags.error(pathLoc, bytes.error());
      return nullptr;
    }
    Expected<SafetensorsFile> file = held ? SafetensorsFile::parse(std::move(held), full)
                                          : SafetensorsFile::parse(std::move(*bytes), full);
    if (!file) {
      diags.error(pathLoc, file.error());
      return nullptr;
    }
    cached =
        safetensorsCache.emplace(full, std::make_shared<const SafetensorsFile>(std::move(*file)))
            .first;
  }
  bool converted = false;
  Expected<Tensor> t = cached->second->tensor(name, &converted);
  if (!t) {
    diags.error(tensorLoc, t.error());
    return nullptr;
  }
  if (converted)
    diags.note(tensorLoc, "tensor '" + name + "' holds F64 values; converted to f32");
  from = " from tensor '" + name + "' of '" + path + "'";
  return std::make_shared<Tensor>(std::move(*t));
}

/// `tensor("NAME")`: a copy of the tensor the application gave by that
/// name (CompileOptions::tensors, or `soma --tensor`).
std::shared_ptr<Tensor> Sema::givenTensor(const Expr &call, std::string &from) {
  CallArgs args(call, diags);
  std::string name;
  if (!args.bind({"name"}) || !args.string("name", name))
    return nullptr;
  const SourceLoc loc = args.find("name")->loc;
  auto it = tensors ? tensors->find(name) : TensorViews::const_iterator();
  if (!tensors || it == tensors->end()) {
    std::vector<std::string> names;
    if (tensors)
      for (const auto &[given, view] : *tensors)
        names.push_back(given);
    diags.error(loc, "no tensor named '" + name + "' was given" +
                         (names.empty() ? std::string(" (none were: an application gives them in "
                                                      "CompileOptions::tensors, soma in --tensor)")
                                        : suggest(name, names)));
    return nullptr;
  }
  const TensorView &view = it->second;
  int64_t count = 0;
  const std::string shape = "given tensor '" + name + "' of shape " + formatDims(view.dims);
  if (view.dims.size() > kMaxRank) {
    diags.error(loc, shape + " has more than " + std::to_string(kMaxRank) + " dimensions");
    return nullptr;
  }
  if (std::any_of(view.dims.begin(), view.dims.end(), [](int64_t d) { return d < 0; })) {
    diags.error(loc, shape + " has a negative dimension");
    return nullptr;
  }
  if (!checkedElementCount(view.dims, count)) {
    diags.error(loc, shape + " has more than " + std::to_string(kMaxTensorElements) + " elements");
    return nullptr;
  }
  if (count > 0 && !view.data) {
    diags.error(loc, "given tensor '" + name + "' has no data pointer");
    return nullptr;
  }
  auto t = std::make_shared<Tensor>(view.dims);
  if (count > 0)
    std::copy(view.data, view.data + count, t->values.begin());
  from = " from given tensor '" + name + "'";
  return t;
}

/// A tensor source written as a call or a bare name: a file or an
/// initialiser filling the expected shape. `from` says where a file's
/// tensor came from, for a shape mismatch.
std::shared_ptr<Tensor> Sema::evalCall(const Expr &expr, const std::vector<int64_t> &expected,
                                       int64_t fanIn, int64_t fanOut, std::string &from) {
  if (expr.text == "npy")
    return loadNpy(expr, from);
  if (expr.text == "safetensors")
    return loadSafetensors(expr, from);
  if (expr.text == "tensor")
    return givenTensor(expr, from);
  InitSpec spec;
  if (!evalInitializer(expr, diags, spec))
    return nullptr;
  auto t = std::make_shared<Tensor>(expected);
  fillInitializer(*t, spec, std::max<int64_t>(fanIn, 1), std::max<int64_t>(fanOut, 1));
  from = "";
  return t;
}

std::shared_ptr<Tensor> Sema::evalTensor(const Expr &expr, const std::string &what,
                                         const std::string &role, std::vector<int64_t> expected,
                                         TensorRole kind, int64_t fanIn, int64_t fanOut,
                                         bool acceptFlatRow, const std::string &transposeNote) {
  int64_t expectedCount;
  if (!checkedElementCount(expected, expectedCount)) {
    diags.error(expr.loc, what + " " + role + " " + formatDims(expected) + " exceed the limit of " +
                              std::to_string(kMaxTensorElements) + " elements");
    return nullptr;
  }
  // Before the tensor is filled or read: the model's weights together.
  if (expectedCount > limits.weights - weightElements) {
    diags.error(expr.loc, what + " " + role + " " + formatDims(expected) +
                              " would bring the model's constants to " +
                              std::to_string(weightElements + expectedCount) +
                              " elements, above the limit of " + std::to_string(limits.weights) +
                              " weights per model");
    return nullptr;
  }
  weightElements += expectedCount;
  std::shared_ptr<Tensor> t;
  std::string from;
  switch (expr.kind) {
  case Expr::Kind::Number:
    if (kind == TensorRole::Matrix && expectedCount != 1) {
      diags.error(expr.loc,
                  what + " expects " + role + " " + formatDims(expected) + ", got a single number");
      return nullptr;
    }
    if (!fitsF32(expr, diags))
      return nullptr;
    t = std::make_shared<Tensor>(expected);
    std::fill(t->values.begin(), t->values.end(), static_cast<float>(expr.number));
    return t;
  case Expr::Kind::Array:
    t = evalArray(expr);
    break;
  case Expr::Kind::Ident:
  case Expr::Kind::Call:
    t = evalCall(expr, expected, fanIn, fanOut, from);
    break;
  case Expr::Kind::String:
    diags.error(expr.loc, "a file must be named as npy(\"" + expr.text + "\") or safetensors(\"" +
                              expr.text + "\", \"tensor name\")");
    return nullptr;
  }
  if (!t)
    return nullptr;
  bool flatRowOk = acceptFlatRow && expected.size() == 2 && expected[0] == 1 &&
                   t->dims == std::vector<int64_t>{expected[1]};
  if (t->dims != expected && !flatRowOk) {
    // A neuron's weights are usually written as one flat row: say so.
    bool flatRow = acceptFlatRow && t->dims.size() == 1 && expected.size() == 2 && expected[0] == 1;
    diags.error(expr.loc, what + " expects " + role + " " +
                              formatDims(flatRow ? std::vector<int64_t>{expected[1]} : expected) +
                              ", got " + formatDims(t->dims) + from);
    if (!transposeNote.empty() && expected.size() == 2 &&
        t->dims == std::vector<int64_t>{expected[1], expected[0]})
      diags.note(expr.loc, transposeNote);
    return nullptr;
  }
  t->dims = expected;
  return t;
}

} // namespace soma::frontend
