// Sema: gives a parsed network its meaning and builds the graph IR.
//  1. every name is defined once; every operand and output names a definition;
//  2. layers are ordered so each comes after what it reads (a cycle is an
//     error naming its members);
//  3. each layer's attributes are checked and its tensors built (literals,
//     .npy/safetensors files, seeded initialisers) with their shapes checked
//     against the layer;
//  4. each layer becomes IR ops (a dense layer: linear -> bias_add ->
//     activation), typed by the same shape rules the verifier uses;
//  5. unused inputs and layers that reach no output are warned about.
#include "soma/frontend/Frontend.h"
#include "soma/frontend/Initializers.h"
#include "soma/frontend/Safetensors.h"
#include "soma/ir/Printer.h"
#include "soma/ir/ShapeInference.h"
#include "soma/ir/Verifier.h"
#include "soma/support/Npy.h"

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

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

/// "; did you mean 'x'?" when a candidate is close enough, else "".
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

/// Shortest text that reads back to `v`, as written in a .nn file ("1e+39").
std::string formatNumber(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  return std::string(buf, end);
}

/// "1 element", "3 elements"
std::string elements(size_t n) {
  return std::to_string(n) + (n == 1 ? " element" : " elements");
}

/// What each layer kind takes.
struct LayerKind {
  const char *keyword;
  const char *noun; // "dense layer" in messages
  size_t minOperands, maxOperands;
  std::vector<const char *> attrs;
  std::vector<const char *> required;
};

const std::vector<LayerKind> &layerKinds() {
  static const size_t many = SIZE_MAX;
  static const std::vector<LayerKind> kinds = {
      {"neuron", "neuron", 1, many, {"weights", "bias", "activation", "sparsity", "prune"}, {"weights"}},
      {"dense", "dense layer", 1, many, {"units", "weights", "bias", "activation", "sparsity", "prune"},
       {"units", "weights"}},
      {"add", "add", 2, many, {}, {}},
      {"concat", "concat", 2, many, {}, {}},
      {"batchnorm", "batchnorm", 1, 1, {"mean", "variance", "scale", "shift", "epsilon"}, {"mean", "variance"}},
      {"layernorm", "layernorm", 1, 1, {"scale", "shift", "epsilon"}, {}},
      {"scaleshift", "scaleshift", 1, 1, {"scale", "shift"}, {}},
      {"activation", "activation", 1, 1, {"activation"}, {"activation"}},
  };
  return kinds;
}

const LayerKind *findLayerKind(const std::string &keyword) {
  for (const LayerKind &k : layerKinds())
    if (keyword == k.keyword)
      return &k;
  return nullptr;
}

/// Per-feature parameters (bias, mean, ...) may be given as one number that
/// fills the vector; weight matrices must be written out in full.
enum class TensorRole { Matrix, Vector };

class Sema {
public:
  Sema(const std::string &baseDir, DiagnosticEngine &diags) : baseDir(baseDir), diags(diags) {}

  std::unique_ptr<ir::Graph> run(const Network &net);

private:
  bool collectDefinitions(const Network &net);
  std::vector<const Stmt *> orderLayers(const Network &net);
  void buildInput(const Stmt &stmt);
  void buildLayer(const Stmt &stmt);
  void buildOutputs(const Network &net);
  void warnUnused(const Network &net);

  // Attribute evaluation.
  std::map<std::string, const Attr *> collectAttrs(const Stmt &stmt, const LayerKind &kind,
                                                   const std::string &what);
  bool evalUnits(const Attr &attr, const std::string &what, int64_t &units);
  bool evalActivation(const Expr &expr, ir::Activation &act);
  bool evalEpsilon(const Attr &attr, const std::string &what, float &eps);
  bool evalHints(const std::map<std::string, const Attr *> &attrs, const std::string &what,
                 ir::LayerHints &hints);
  std::shared_ptr<Tensor> evalTensor(const Expr &expr, const std::string &what,
                                     const std::string &role, std::vector<int64_t> expected,
                                     TensorRole kind, int64_t fanIn, int64_t fanOut,
                                     bool acceptFlatRow = false);
  std::shared_ptr<Tensor> evalArray(const Expr &expr);
  std::shared_ptr<Tensor> evalCall(const Expr &expr, const std::vector<int64_t> &expected,
                                   int64_t fanIn, int64_t fanOut, std::string &from);
  bool fitsF32(const Expr &num);

  ir::Op *makeConst(const std::string &name, std::shared_ptr<Tensor> data, SourceLoc loc);
  ir::Op *makeOp(ir::OpKind kind, const std::string &name, std::vector<ir::Op *> operands,
                 SourceLoc loc);

  std::string baseDir;
  DiagnosticEngine &diags;
  std::unique_ptr<ir::Graph> graph = std::make_unique<ir::Graph>();
  std::unordered_map<std::string, const Stmt *> defs;
  std::vector<std::string> defNames;
  std::unordered_map<std::string, ir::Op *> values;
  std::set<std::string> broken; // definitions that failed; dependents stay quiet
  std::map<std::string, std::shared_ptr<const SafetensorsFile>> safetensorsCache;
};

bool Sema::collectDefinitions(const Network &net) {
  bool ok = true;
  for (const Stmt &stmt : net.stmts) {
    if (stmt.kind == Stmt::Kind::Output)
      continue;
    auto [it, inserted] = defs.emplace(stmt.name, &stmt);
    if (!inserted) {
      diags.error(stmt.nameLoc, "redefinition of '" + stmt.name + "'");
      diags.note(it->second->nameLoc, "previous definition of '" + stmt.name + "' is here");
      ok = false;
      continue;
    }
    defNames.push_back(stmt.name);
  }
  for (const Stmt &stmt : net.stmts)
    for (const Operand &operand : stmt.operands)
      if (!defs.count(operand.name)) {
        diags.error(operand.loc, "unknown name '" + operand.name + "'" + suggest(operand.name, defNames));
        broken.insert(stmt.name);
        ok = false;
      }
  return ok;
}

/// Depth-first post-order over the layers (iterative, so a network with a
/// very long chain cannot overflow the stack). Source order breaks ties.
std::vector<const Stmt *> Sema::orderLayers(const Network &net) {
  enum class Mark { None, Active, Done };
  std::unordered_map<const Stmt *, Mark> mark;
  std::vector<const Stmt *> order;
  for (const Stmt &root : net.stmts) {
    if (root.kind != Stmt::Kind::Layer || mark[&root] != Mark::None)
      continue;
    if (defs.at(root.name) != &root)
      continue; // a redefinition, already diagnosed
    std::vector<std::pair<const Stmt *, size_t>> stack = {{&root, 0}};
    mark[&root] = Mark::Active;
    while (!stack.empty()) {
      auto &[stmt, next] = stack.back();
      if (next == stmt->operands.size()) {
        mark[stmt] = Mark::Done;
        order.push_back(stmt);
        stack.pop_back();
        continue;
      }
      auto it = defs.find(stmt->operands[next++].name);
      if (it == defs.end() || it->second->kind != Stmt::Kind::Layer)
        continue;
      const Stmt *dep = it->second;
      if (mark[dep] == Mark::Done)
        continue;
      if (mark[dep] == Mark::None) {
        mark[dep] = Mark::Active;
        stack.push_back({dep, 0});
        continue;
      }
      // `dep` is on the stack: the stack from dep to the top is a cycle.
      auto start = std::find_if(stack.begin(), stack.end(),
                                [&](auto &entry) { return entry.first == dep; });
      std::string path;
      for (auto i = start; i != stack.end(); ++i)
        path += "'" + i->first->name + "' -> ";
      path += "'" + dep->name + "'";
      diags.error(dep->nameLoc, "cycle in network: " + path);
      for (auto i = start + 1; i != stack.end(); ++i)
        diags.note(i->first->nameLoc, "'" + i->first->name + "' is part of the cycle");
      for (auto i = start; i != stack.end(); ++i)
        broken.insert(i->first->name);
    }
  }
  return order;
}

ir::Op *Sema::makeConst(const std::string &name, std::shared_ptr<Tensor> data, SourceLoc loc) {
  ir::Op *op = graph->append(ir::OpKind::Const, name, {}, loc);
  op->type = ir::TensorType::make(false, data->dims);
  op->data = std::move(data);
  return op;
}

ir::Op *Sema::makeOp(ir::OpKind kind, const std::string &name, std::vector<ir::Op *> operands,
                     SourceLoc loc) {
  ir::Op *op = graph->append(kind, name, std::move(operands), loc);
  return op;
}

void Sema::buildInput(const Stmt &stmt) {
  bool ok = true;
  if (stmt.dtype != "f32") {
    diags.error(stmt.dtypeLoc, "input '" + stmt.name + "' has element type '" + stmt.dtype +
                                   "'; soma networks take f32 inputs");
    ok = false;
  }
  for (size_t i = 0; i < stmt.dims.size(); ++i)
    if (stmt.dims[i] < 1) {
      diags.error(stmt.dimLocs[i], "dimension " + std::to_string(i) + " of input '" + stmt.name +
                                       "' must be at least 1");
      ok = false;
    }
  int64_t count;
  if (ok && !checkedElementCount(stmt.dims, count)) {
    diags.error(stmt.nameLoc, "input '" + stmt.name + "' of shape " + formatDims(stmt.dims) +
                                  " exceeds the limit of " + std::to_string(kMaxTensorElements) +
                                  " elements per sample");
    ok = false;
  }
  if (!ok) {
    broken.insert(stmt.name);
    return;
  }
  ir::Op *op = graph->append(ir::OpKind::Input, stmt.name, {}, stmt.nameLoc);
  op->type = ir::TensorType::make(true, stmt.dims);
  values[stmt.name] = op;
}

std::map<std::string, const Attr *> Sema::collectAttrs(const Stmt &stmt, const LayerKind &kind,
                                                       const std::string &what) {
  std::map<std::string, const Attr *> attrs;
  std::vector<std::string> allowed(kind.attrs.begin(), kind.attrs.end());
  for (const Attr &attr : stmt.attrs) {
    if (std::find(allowed.begin(), allowed.end(), attr.name) == allowed.end()) {
      std::string takes;
      for (const std::string &a : allowed)
        takes += (takes.empty() ? "" : ", ") + a;
      std::string hint = suggest(attr.name, allowed);
      diags.error(attr.loc, what + " has no attribute '" + attr.name + "'" +
                                (hint.empty() ? (takes.empty() ? "; it takes none"
                                                               : "; it takes " + takes)
                                              : hint));
      broken.insert(stmt.name);
      continue;
    }
    auto [it, inserted] = attrs.emplace(attr.name, &attr);
    if (!inserted) {
      diags.error(attr.loc, "attribute '" + attr.name + "' of " + what + " is set twice");
      diags.note(it->second->loc, "first set here");
      broken.insert(stmt.name);
    }
  }
  for (const char *req : kind.required)
    if (!attrs.count(req)) {
      diags.error(stmt.nameLoc, what + " needs attribute '" + req + "'");
      broken.insert(stmt.name);
    }
  return attrs;
}

bool Sema::evalUnits(const Attr &attr, const std::string &what, int64_t &units) {
  const Expr &e = attr.value;
  if (e.kind != Expr::Kind::Number || !e.isInteger || e.number < 1 ||
      e.number > static_cast<double>(kMaxTensorElements)) {
    diags.error(e.loc, "units of " + what + " must be an integer from 1 to " +
                           std::to_string(kMaxTensorElements));
    return false;
  }
  units = static_cast<int64_t>(e.number);
  return true;
}

bool Sema::evalEpsilon(const Attr &attr, const std::string &what, float &eps) {
  const Expr &e = attr.value;
  if (e.kind != Expr::Kind::Number || !(static_cast<float>(e.number) > 0) ||
      !std::isfinite(static_cast<float>(e.number))) {
    diags.error(e.loc, "epsilon of " + what + " must be a positive finite number");
    return false;
  }
  eps = static_cast<float>(e.number);
  return true;
}

/// `sparsity = auto|dense|sparse` and `prune = FRACTION` of a dense layer or
/// neuron: how the compiler should treat its weights (docs/language.md).
bool Sema::evalHints(const std::map<std::string, const Attr *> &attrs, const std::string &what,
                     ir::LayerHints &hints) {
  bool ok = true;
  if (auto it = attrs.find("sparsity"); it != attrs.end()) {
    const Expr &e = it->second->value;
    if (e.kind != Expr::Kind::Ident || !ir::sparsityModeFromName(e.text, hints.sparsity)) {
      std::string got = e.kind == Expr::Kind::Ident    ? " '" + e.text + "'"
                        : e.kind == Expr::Kind::String ? " the string \"" + e.text + "\" (write it without quotes)"
                                                       : "";
      diags.error(e.loc, "sparsity of " + what + " must be auto, dense or sparse, got" +
                             (got.empty() ? " something else" : got) +
                             (e.kind == Expr::Kind::Ident ? suggest(e.text, {"auto", "dense", "sparse"})
                                                          : ""));
      ok = false;
    }
  }
  if (auto it = attrs.find("prune"); it != attrs.end()) {
    const Expr &e = it->second->value;
    if (e.kind != Expr::Kind::Number || !(e.number >= 0 && e.number < 1)) {
      diags.error(e.loc, "prune of " + what +
                             " must be the fraction of its weights to zero, a number in [0, 1)" +
                             (e.kind == Expr::Kind::Number ? ", got " + formatNumber(e.number) : ""));
      ok = false;
    } else {
      hints.prune = e.number;
    }
  }
  return ok;
}

bool Sema::evalActivation(const Expr &expr, ir::Activation &act) {
  if (expr.kind != Expr::Kind::Ident && expr.kind != Expr::Kind::Call) {
    diags.error(expr.loc, "expected an activation such as relu or leaky_relu(alpha = 0.1)");
    return false;
  }
  auto kind = ir::actFromName(expr.text);
  if (!kind) {
    std::vector<std::string> names;
    for (int i = 0; i < ir::kNumActKinds; ++i)
      names.push_back(ir::actName(static_cast<ir::ActKind>(i)));
    diags.error(expr.loc, "unknown activation '" + expr.text + "'" + suggest(expr.text, names));
    return false;
  }
  act = ir::makeActivation(*kind);
  if (expr.kind == Expr::Kind::Ident)
    return true;
  const char *param = ir::actParamName(*kind);
  if (!param) {
    if (!expr.elems.empty()) {
      diags.error(expr.elems[0].loc, "activation '" + expr.text + "' takes no parameter");
      return false;
    }
    return true;
  }
  if (expr.elems.size() > 1) {
    diags.error(expr.elems[1].loc, "activation '" + expr.text + "' takes one parameter, '" +
                                       param + "'");
    return false;
  }
  if (expr.elems.empty())
    return true;
  const Expr &arg = expr.elems[0];
  if (!expr.argNames[0].empty() && expr.argNames[0] != param) {
    diags.error(expr.argLocs[0], "activation '" + expr.text + "' has no parameter '" +
                                     expr.argNames[0] + "'; its parameter is '" + param + "'");
    return false;
  }
  if (arg.kind != Expr::Kind::Number) {
    diags.error(arg.loc, std::string("parameter '") + param + "' of '" + expr.text +
                             "' must be a number");
    return false;
  }
  if (auto err = ir::checkActParam(*kind, arg.number)) {
    diags.error(arg.loc, *err);
    return false;
  }
  act.param = static_cast<float>(arg.number);
  return true;
}

bool Sema::fitsF32(const Expr &num) {
  if (std::isfinite(num.number) && !std::isfinite(static_cast<float>(num.number))) {
    diags.error(num.loc, "value " + formatNumber(num.number) + " does not fit in f32");
    return false;
  }
  return true;
}

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
      if (!fitsF32(*e))
        return nullptr;
      t->values[i++] = static_cast<float>(e->number);
    }
  return t;
}

std::shared_ptr<Tensor> Sema::evalCall(const Expr &expr, const std::vector<int64_t> &expected,
                                       int64_t fanIn, int64_t fanOut, std::string &from) {
  const std::string &fn = expr.text;
  // Arguments by name, positional ones mapped onto `params` in order.
  auto bindArgs = [&](std::vector<const char *> params,
                      std::map<std::string, const Expr *> &bound) -> bool {
    size_t positional = 0;
    for (size_t i = 0; i < expr.elems.size(); ++i) {
      std::string name = expr.argNames[i];
      if (name.empty()) {
        if (positional >= params.size()) {
          diags.error(expr.elems[i].loc, "too many arguments to '" + fn + "'");
          return false;
        }
        name = params[positional++];
      } else if (std::find_if(params.begin(), params.end(),
                              [&](const char *p) { return name == p; }) == params.end()) {
        std::string takes;
        for (const char *p : params)
          takes += (takes.empty() ? "" : ", ") + std::string(p);
        diags.error(expr.argLocs[i], "'" + fn + "' has no parameter '" + name + "'" +
                                         (takes.empty() ? "" : "; it takes " + takes));
        return false;
      }
      if (!bound.emplace(name, &expr.elems[i]).second) {
        diags.error(expr.argLocs[i], "parameter '" + name + "' of '" + fn + "' is given twice");
        return false;
      }
    }
    return true;
  };
  auto number = [&](const std::map<std::string, const Expr *> &bound, const char *name,
                    double fallback, double &out) -> bool {
    auto it = bound.find(name);
    if (it == bound.end()) {
      out = fallback;
      return true;
    }
    if (it->second->kind != Expr::Kind::Number || !std::isfinite(it->second->number)) {
      diags.error(it->second->loc, std::string("'") + name + "' of '" + fn +
                                       "' must be a finite number");
      return false;
    }
    out = it->second->number;
    return fitsF32(*it->second);
  };
  auto string = [&](const std::map<std::string, const Expr *> &bound, const char *name,
                    std::string &out) -> bool {
    auto it = bound.find(name);
    if (it == bound.end()) {
      diags.error(expr.loc, "'" + fn + "' needs its '" + name + "' argument");
      return false;
    }
    if (it->second->kind != Expr::Kind::String) {
      diags.error(it->second->loc, std::string("'") + name + "' of '" + fn + "' must be a string");
      return false;
    }
    out = it->second->text;
    return true;
  };
  auto resolvePath = [&](const std::string &path) {
    if (path.empty() || path[0] == '/' || baseDir.empty())
      return path;
    return baseDir + "/" + path;
  };

  std::map<std::string, const Expr *> bound;
  if (fn == "npy") {
    std::string path;
    if (!bindArgs({"path"}, bound) || !string(bound, "path", path))
      return nullptr;
    Expected<NpyArray> arr = readNpy(resolvePath(path));
    if (!arr) {
      diags.error(bound["path"]->loc, arr.error());
      return nullptr;
    }
    if (arr->dtype.find("f8") != std::string::npos)
      diags.note(bound["path"]->loc, "'" + path + "' holds float64 values; converted to float32");
    from = " from '" + path + "'";
    return std::make_shared<Tensor>(std::move(arr->tensor));
  }
  if (fn == "safetensors") {
    std::string path, name;
    if (!bindArgs({"path", "tensor"}, bound) || !string(bound, "path", path) ||
        !string(bound, "tensor", name))
      return nullptr;
    std::string full = resolvePath(path);
    auto cached = safetensorsCache.find(full);
    if (cached == safetensorsCache.end()) {
      Expected<std::string> bytes = readFile(full);
      if (!bytes) {
        diags.error(bound["path"]->loc, bytes.error());
        return nullptr;
      }
      Expected<SafetensorsFile> file = SafetensorsFile::parse(std::move(*bytes), full);
      if (!file) {
        diags.error(bound["path"]->loc, file.error());
        return nullptr;
      }
      cached = safetensorsCache
                   .emplace(full, std::make_shared<const SafetensorsFile>(std::move(*file)))
                   .first;
    }
    bool converted = false;
    Expected<Tensor> t = cached->second->tensor(name, &converted);
    if (!t) {
      diags.error(bound["tensor"]->loc, t.error());
      return nullptr;
    }
    if (converted)
      diags.note(bound["tensor"]->loc, "tensor '" + name + "' holds F64 values; converted to f32");
    from = " from tensor '" + name + "' of '" + path + "'";
    return std::make_shared<Tensor>(std::move(*t));
  }

  InitSpec spec;
  bool ok = true;
  if (fn == "zeros" || fn == "ones") {
    spec.kind = fn == "zeros" ? InitKind::Zeros : InitKind::Ones;
    ok = bindArgs({}, bound);
  } else if (fn == "constant") {
    spec.kind = InitKind::Constant;
    ok = bindArgs({"value"}, bound) && number(bound, "value", 0, spec.a);
    if (ok && !bound.count("value")) {
      diags.error(expr.loc, "'constant' needs its 'value' argument");
      ok = false;
    }
  } else if (fn == "uniform") {
    spec.kind = InitKind::Uniform;
    ok = bindArgs({"low", "high", "seed"}, bound) && number(bound, "low", -1, spec.a) &&
         number(bound, "high", 1, spec.b);
    if (ok && !(spec.a < spec.b)) {
      diags.error(expr.loc, "'uniform' needs low < high, got low = " + formatNumber(spec.a) +
                                ", high = " + formatNumber(spec.b));
      ok = false;
    }
  } else if (fn == "normal") {
    spec.kind = InitKind::Normal;
    ok = bindArgs({"mean", "stddev", "seed"}, bound) && number(bound, "mean", 0, spec.a) &&
         number(bound, "stddev", 1, spec.b);
    if (ok && spec.b < 0) {
      diags.error(bound["stddev"]->loc, "'stddev' of 'normal' must be >= 0");
      ok = false;
    }
  } else if (fn == "xavier" || fn == "glorot") {
    spec.kind = InitKind::Xavier;
    ok = bindArgs({"seed"}, bound);
  } else if (fn == "he" || fn == "kaiming") {
    spec.kind = InitKind::He;
    ok = bindArgs({"seed"}, bound);
  } else {
    diags.error(expr.loc, "unknown tensor source '" + fn +
                              "'" + suggest(fn, {"npy", "safetensors", "zeros", "ones", "constant",
                                                 "uniform", "normal", "xavier", "glorot", "he",
                                                 "kaiming"}));
    return nullptr;
  }
  if (!ok)
    return nullptr;
  if (auto it = bound.find("seed"); it != bound.end()) {
    // Read from the spelling, not the double, so every 64-bit seed is distinct.
    const Expr &s = *it->second;
    const char *first = s.text.data(), *last = first + s.text.size();
    auto [ptr, ec] = std::from_chars(first, last, spec.seed);
    if (s.kind != Expr::Kind::Number || !s.isInteger || s.number < 0 || ec != std::errc() ||
        ptr != last) {
      diags.error(s.loc, "seed must be an integer from 0 to 18446744073709551615");
      return nullptr;
    }
  }
  auto t = std::make_shared<Tensor>(expected);
  fillInitializer(*t, spec, std::max<int64_t>(fanIn, 1), std::max<int64_t>(fanOut, 1));
  from = "";
  return t;
}

std::shared_ptr<Tensor> Sema::evalTensor(const Expr &expr, const std::string &what,
                                         const std::string &role, std::vector<int64_t> expected,
                                         TensorRole kind, int64_t fanIn, int64_t fanOut,
                                         bool acceptFlatRow) {
  int64_t expectedCount;
  if (!checkedElementCount(expected, expectedCount)) {
    diags.error(expr.loc, what + " " + role + " " + formatDims(expected) + " exceed the limit of " +
                              std::to_string(kMaxTensorElements) + " elements");
    return nullptr;
  }
  std::shared_ptr<Tensor> t;
  std::string from;
  switch (expr.kind) {
  case Expr::Kind::Number:
    if (kind == TensorRole::Matrix && expectedCount != 1) {
      diags.error(expr.loc, what + " expects " + role + " " + formatDims(expected) +
                                ", got a single number");
      return nullptr;
    }
    if (!fitsF32(expr))
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
    bool flatRow = acceptFlatRow && t->dims.size() == 1 && expected.size() == 2 &&
                   expected[0] == 1;
    diags.error(expr.loc, what + " expects " + role + " " +
                              formatDims(flatRow ? std::vector<int64_t>{expected[1]} : expected) +
                              ", got " + formatDims(t->dims) + from);
    return nullptr;
  }
  t->dims = expected;
  return t;
}

void Sema::buildLayer(const Stmt &stmt) {
  const LayerKind *kind = findLayerKind(stmt.keyword);
  std::string what = std::string(kind->noun) + " '" + stmt.name + "'";
  if (stmt.operands.size() < kind->minOperands || stmt.operands.size() > kind->maxOperands) {
    std::string want = kind->minOperands == kind->maxOperands
                           ? std::to_string(kind->minOperands)
                           : "at least " + std::to_string(kind->minOperands);
    diags.error(stmt.nameLoc, what + " takes " + want + " operand" +
                                  (kind->minOperands == 1 ? "" : "s") +
                                  ", got " + std::to_string(stmt.operands.size()));
    broken.insert(stmt.name);
    return;
  }
  std::map<std::string, const Attr *> attrs = collectAttrs(stmt, *kind, what);
  std::vector<ir::Op *> ins;
  for (const Operand &operand : stmt.operands) {
    auto it = values.find(operand.name);
    if (it == values.end() || broken.count(operand.name)) {
      broken.insert(stmt.name); // the operand's own error was reported
      return;
    }
    ins.push_back(it->second);
  }
  if (broken.count(stmt.name))
    return;

  bool ok = true;
  auto typed = [&](ir::Op *op) {
    op->type = ir::inferResultType(*op, diags);
    ok &= op->type.known;
    return op;
  };
  auto vectorParam = [&](const char *name, int64_t channels, double fill) -> ir::Op * {
    std::shared_ptr<Tensor> t;
    if (auto it = attrs.find(name); it != attrs.end()) {
      t = evalTensor(it->second->value, what, name, {channels}, TensorRole::Vector, channels,
                     channels);
    } else {
      t = std::make_shared<Tensor>(std::vector<int64_t>{channels});
      std::fill(t->values.begin(), t->values.end(), static_cast<float>(fill));
    }
    if (!t) {
      ok = false;
      return nullptr;
    }
    return makeConst(stmt.name + "." + name, std::move(t),
                     attrs.count(name) ? attrs[name]->value.loc : stmt.nameLoc);
  };
  ir::Activation act;
  if (auto it = attrs.find("activation"); it != attrs.end())
    ok &= evalActivation(it->second->value, act);
  float epsilon = 1e-5f;
  if (auto it = attrs.find("epsilon"); it != attrs.end())
    ok &= evalEpsilon(*it->second, what, epsilon);
  ir::LayerHints hints;
  ok &= evalHints(attrs, what, hints);

  ir::Op *result = nullptr;
  const std::string &k = stmt.keyword;
  if (k == "neuron" || k == "dense") {
    int64_t units = 1;
    if (k == "dense" && !evalUnits(*attrs["units"], what, units)) {
      broken.insert(stmt.name);
      return;
    }
    ir::Op *x = ins[0];
    if (ins.size() > 1) {
      // The operands are joined along their last axis; say so in the
      // layer's terms rather than through the hidden concat op.
      for (size_t i = 1; i < ins.size(); ++i) {
        const std::vector<int64_t> &a = ins[0]->type.dims, &b = ins[i]->type.dims;
        if (a.size() != b.size() || !std::equal(a.begin(), a.end() - 1, b.begin())) {
          diags.error(stmt.operands[i].loc,
                      what + " joins its operands along their last axis, so they must agree in "
                             "the others: '" + ins[0]->name + "' is " + ins[0]->type.str() +
                          ", '" + ins[i]->name + "' is " + ins[i]->type.str());
          broken.insert(stmt.name);
          return;
        }
      }
      x = typed(makeOp(ir::OpKind::Concat, stmt.name + ".in", ins, stmt.loc));
    }
    if (!ok) {
      broken.insert(stmt.name);
      return;
    }
    int64_t fanIn = x->type.sampleElements();
    auto w = evalTensor(attrs["weights"]->value, what, "weights", {units, fanIn},
                        TensorRole::Matrix, fanIn, units, /*acceptFlatRow=*/k == "neuron");
    if (!w) {
      broken.insert(stmt.name);
      return;
    }
    ir::Op *wOp = makeConst(stmt.name + ".weights", std::move(w), attrs["weights"]->value.loc);
    ir::Op *b = vectorParam("bias", units, 0.0);
    if (!b) {
      broken.insert(stmt.name);
      return;
    }
    ir::Op *sum = typed(makeOp(ir::OpKind::Linear, stmt.name + ".sum", {x, wOp}, stmt.loc));
    sum->hints = hints;
    ir::Op *biased = typed(makeOp(ir::OpKind::BiasAdd, stmt.name + ".biased", {sum, b}, stmt.loc));
    result = makeOp(ir::OpKind::Activation, stmt.name, {biased}, stmt.loc);
    result->fn = act;
  } else if (k == "add") {
    ir::Op *acc = ins[0];
    for (size_t i = 1; i < ins.size() && ok; ++i) {
      std::string name = i + 1 == ins.size() ? stmt.name : stmt.name + "." + std::to_string(i);
      acc = typed(makeOp(ir::OpKind::Add, name, {acc, ins[i]}, stmt.loc));
    }
    result = acc;
  } else if (k == "concat") {
    result = makeOp(ir::OpKind::Concat, stmt.name, ins, stmt.loc);
  } else if (k == "activation") {
    result = makeOp(ir::OpKind::Activation, stmt.name, ins, stmt.loc);
    result->fn = act;
  } else {
    int64_t channels = ins[0]->type.lastDim();
    std::vector<ir::Op *> operands = {ins[0]};
    if (k == "batchnorm") {
      operands.push_back(vectorParam("mean", channels, 0.0));
      ir::Op *var = vectorParam("variance", channels, 1.0);
      operands.push_back(var);
      if (var) {
        const AlignedVector<float> &v = var->data->values;
        auto neg = std::find_if(v.begin(), v.end(), [](float f) { return !(f >= 0); });
        if (neg != v.end()) {
          diags.error(var->loc, "variance of " + what + " must be >= 0; element " +
                                    std::to_string(neg - v.begin()) + " is " +
                                    ir::formatFloat(*neg));
          ok = false;
        }
      }
    }
    operands.push_back(vectorParam("scale", channels, 1.0));
    operands.push_back(vectorParam("shift", channels, 0.0));
    if (std::find(operands.begin(), operands.end(), nullptr) != operands.end() || !ok) {
      broken.insert(stmt.name);
      return;
    }
    ir::OpKind opKind = k == "batchnorm"   ? ir::OpKind::BatchNorm
                        : k == "layernorm" ? ir::OpKind::LayerNorm
                                           : ir::OpKind::ScaleShift;
    result = makeOp(opKind, stmt.name, operands, stmt.loc);
    result->epsilon = epsilon;
  }
  if (ok && result && !result->type.known)
    typed(result);
  if (!ok || !result) {
    broken.insert(stmt.name);
    return;
  }
  values[stmt.name] = result;
}

void Sema::buildOutputs(const Network &net) {
  std::map<std::string, const Stmt *> seen;
  for (const Stmt &stmt : net.stmts) {
    if (stmt.kind != Stmt::Kind::Output)
      continue;
    auto def = defs.find(stmt.value.name);
    if (def == defs.end()) {
      diags.error(stmt.value.loc, "output '" + stmt.value.name + "' is never defined" +
                                      suggest(stmt.value.name, defNames));
      continue;
    }
    if (stmt.name != stmt.value.name && defs.count(stmt.name)) {
      diags.error(stmt.nameLoc, "output name '" + stmt.name + "' is already the name of another value");
      diags.note(defs[stmt.name]->nameLoc, "'" + stmt.name + "' is defined here");
      continue;
    }
    if (auto [it, inserted] = seen.emplace(stmt.name, &stmt); !inserted) {
      diags.error(stmt.nameLoc, "output '" + stmt.name + "' is declared twice");
      diags.note(it->second->nameLoc, "first declared here");
      continue;
    }
    auto value = values.find(stmt.value.name);
    if (value == values.end())
      continue; // its definition failed and was diagnosed
    graph->outputs.push_back({stmt.name, value->second, stmt.nameLoc});
  }
}

void Sema::warnUnused(const Network &net) {
  // Walk back from the outputs through source-level operands.
  std::set<std::string> reached;
  std::vector<std::string> work;
  for (const Stmt &stmt : net.stmts)
    if (stmt.kind == Stmt::Kind::Output)
      work.push_back(stmt.value.name);
  while (!work.empty()) {
    std::string name = work.back();
    work.pop_back();
    if (!reached.insert(name).second)
      continue;
    if (auto it = defs.find(name); it != defs.end())
      for (const Operand &operand : it->second->operands)
        work.push_back(operand.name);
  }
  bool anyOutput = std::any_of(net.stmts.begin(), net.stmts.end(),
                               [](const Stmt &s) { return s.kind == Stmt::Kind::Output; });
  if (!anyOutput)
    return;
  for (const Stmt &stmt : net.stmts) {
    if (stmt.kind == Stmt::Kind::Output || reached.count(stmt.name) ||
        defs.at(stmt.name) != &stmt)
      continue;
    if (stmt.kind == Stmt::Kind::Input)
      diags.warning(stmt.nameLoc, "input '" + stmt.name + "' is never used");
    else
      diags.warning(stmt.nameLoc, "'" + stmt.name + "' does not contribute to any output");
  }
}

std::unique_ptr<ir::Graph> Sema::run(const Network &net) {
  graph->name = net.name;
  graph->loc = net.loc;
  if (net.stmts.empty()) {
    diags.error(net.loc, "network '" + net.name + "' is empty");
    return nullptr;
  }
  collectDefinitions(net);
  std::vector<const Stmt *> layers = orderLayers(net);
  bool anyInput = false, anyOutput = false;
  for (const Stmt &stmt : net.stmts) {
    if (stmt.kind == Stmt::Kind::Input && defs.at(stmt.name) == &stmt) {
      anyInput = true;
      buildInput(stmt);
    }
    anyOutput |= stmt.kind == Stmt::Kind::Output;
  }
  if (!anyInput)
    diags.error(net.loc, "network '" + net.name + "' has no inputs; declare one with 'input NAME: f32[SIZE]'");
  for (const Stmt *stmt : layers)
    if (!broken.count(stmt->name))
      buildLayer(*stmt);
  if (!anyOutput)
    diags.error(net.loc, "network '" + net.name + "' has no outputs; mark one with 'output NAME'");
  buildOutputs(net);
  // After an error, "unused" warnings mostly echo it (a layer whose operand
  // was misspelt looks unused), so they wait for a clean run.
  if (!diags.hasErrors())
    warnUnused(net);
  if (diags.hasErrors())
    return nullptr;
  if (!ir::verifyGraph(*graph, diags))
    return nullptr;
  return std::move(graph);
}

} // namespace

std::unique_ptr<ir::Graph> buildGraph(const Network &network, const std::string &baseDir,
                                      DiagnosticEngine &diags) {
  Sema sema(baseDir, diags);
  return sema.run(network);
}

} // namespace soma::frontend
