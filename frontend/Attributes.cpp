// A layer's attributes: which it sets, checked against its Layers.def row
// (unknown, set twice, missing), and the values that are not tensors: units,
// epsilon, activation, and the sparsity and prune hints.
#include "MessageText.h"
#include "Sema.h"

#include <cmath>

namespace soma::frontend {

LayerAttrValues Sema::collectAttrs(const Stmt &stmt, const LayerInfo &info,
                                   const std::string &what) {
  LayerAttrValues attrs;
  for (const Attr &attr : stmt.attrs) {
    std::optional<LayerAttr> known = layerAttrFromName(attr.name);
    if (!known || !info.attrs.contains(*known)) {
      std::vector<std::string> allowed = layerAttrNames(info.attrs);
      std::string hint = suggest(attr.name, allowed);
      if (hint.empty())
        hint = allowed.empty() ? "; it takes none" : "; it takes " + joinList(allowed);
      diags.error(attr.loc, what + " has no attribute '" + attr.name + "'" + hint);
      broken.insert(stmt.name);
      continue;
    }
    if (const Attr *first = attrs[*known]) {
      diags.error(attr.loc, "attribute '" + attr.name + "' of " + what + " is set twice");
      diags.note(first->loc, "first set here");
      broken.insert(stmt.name);
      continue;
    }
    attrs.set(*known, &attr);
  }
  for (size_t i = 0; i < kNumLayerAttrs; ++i) {
    auto attr = static_cast<LayerAttr>(i);
    if (info.required.contains(attr) && !attrs[attr]) {
      diags.error(stmt.nameLoc, what + " needs attribute '" + layerAttrName(attr) + "'");
      broken.insert(stmt.name);
    }
  }
  return attrs;
}

/// The attributes every layer kind that takes them evaluates the same way:
/// activation, epsilon, sparsity and prune. Errors fail the layer but do not
/// stop the rest from being checked.
void Sema::evalCommonAttrs(LayerBuild &layer) {
  if (const Attr *act = layer.attrs[LayerAttr::Activation])
    layer.ok &= evalActivation(act->value, layer.act);
  if (const Attr *eps = layer.attrs[LayerAttr::Epsilon])
    layer.ok &= evalEpsilon(*eps, layer.what, layer.epsilon);
  layer.ok &= evalHints(layer.attrs, layer.what, layer.hints);
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
bool Sema::evalHints(const LayerAttrValues &attrs, const std::string &what, ir::LayerHints &hints) {
  bool ok = true;
  if (const Attr *sparsity = attrs[LayerAttr::Sparsity]) {
    const Expr &e = sparsity->value;
    if (e.kind != Expr::Kind::Ident || !ir::sparsityModeFromName(e.text, hints.sparsity)) {
      std::string got = e.kind == Expr::Kind::Ident ? " '" + e.text + "'"
                        : e.kind == Expr::Kind::String
                            ? " the string \"" + e.text + "\" (write it without quotes)"
                            : "";
      diags.error(
          e.loc,
          "sparsity of " + what + " must be auto, dense or sparse, got" +
              (got.empty() ? " something else" : got) +
              (e.kind == Expr::Kind::Ident ? suggest(e.text, {"auto", "dense", "sparse"}) : ""));
      ok = false;
    }
  }
  if (const Attr *prune = attrs[LayerAttr::Prune]) {
    const Expr &e = prune->value;
    if (e.kind != Expr::Kind::Number || !(e.number >= 0 && e.number < 1)) {
      diags.error(e.loc,
                  "prune of " + what +
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
    // Other names the documentation gives for soma's activations.
    static const std::pair<const char *, const char *> aliases[] = {
        {"swish", "silu"}, {"logistic", "sigmoid"}, {"linear", "identity"}, {"none", "identity"}};
    for (auto [alias, name] : aliases)
      if (expr.text == alias) {
        diags.error(expr.loc, "unknown activation '" + expr.text + "'; did you mean '" + name +
                                  "' (soma's name for " + alias + ")?");
        return false;
      }
    diags.error(expr.loc, "unknown activation '" + expr.text + "'" + suggest(expr.text, names));
    return false;
  }
  act = ir::makeActivation(*kind);
  if (expr.kind == Expr::Kind::Ident)
    return true;
  if (*kind == ir::ActKind::Gelu)
    return evalGeluOption(expr, act);
  const int numParams = ir::actNumParams(*kind);
  if (numParams == 0) {
    if (!expr.elems.empty()) {
      diags.error(expr.elems[0].loc, "activation '" + expr.text + "' takes no parameter");
      return false;
    }
    return true;
  }
  std::string names = std::string("'") + ir::actParamName(*kind, 0) + "'";
  if (numParams == 2)
    names += std::string(" and '") + ir::actParamName(*kind, 1) + "'";
  if (expr.elems.size() > static_cast<size_t>(numParams)) {
    diags.error(expr.elems[numParams].loc,
                "activation '" + expr.text + "' takes " +
                    (numParams == 1 ? "one parameter, " : "two parameters, ") + names);
    return false;
  }
  bool given[2] = {false, false};
  for (size_t k = 0; k < expr.elems.size(); ++k) {
    const Expr &arg = expr.elems[k];
    int i = static_cast<int>(k);
    if (!expr.argNames[k].empty()) {
      i = -1;
      for (int j = 0; j < numParams; ++j)
        if (expr.argNames[k] == ir::actParamName(*kind, j))
          i = j;
      if (i < 0) {
        diags.error(expr.argLocs[k],
                    "activation '" + expr.text + "' has no parameter '" + expr.argNames[k] + "'; " +
                        (numParams == 1 ? "its parameter is " : "its parameters are ") + names);
        return false;
      }
    }
    const char *param = ir::actParamName(*kind, i);
    if (given[i]) {
      diags.error(expr.argLocs[k],
                  std::string("parameter '") + param + "' of '" + expr.text + "' is given twice");
      return false;
    }
    given[i] = true;
    if (arg.kind != Expr::Kind::Number) {
      diags.error(arg.loc,
                  std::string("parameter '") + param + "' of '" + expr.text + "' must be a number");
      return false;
    }
    if (auto err = ir::checkActParam(*kind, arg.number, i)) {
      diags.error(arg.loc, *err);
      return false;
    }
    act.paramAt(i) = static_cast<float>(arg.number);
  }
  if (auto err = ir::checkActParams(act)) { // the rules between parameters
    diags.error(expr.loc, *err);
    return false;
  }
  return true;
}

/// gelu(approximate = none | tanh): the erf form or the tanh approximation.
bool Sema::evalGeluOption(const Expr &expr, ir::Activation &act) {
  if (expr.elems.empty())
    return true;
  if (expr.elems.size() > 1) {
    diags.error(expr.elems[1].loc, "activation 'gelu' takes one option, 'approximate'");
    return false;
  }
  if (!expr.argNames[0].empty() && expr.argNames[0] != "approximate") {
    diags.error(expr.argLocs[0], "activation 'gelu' has no parameter '" + expr.argNames[0] +
                                     "'; its option is 'approximate'");
    return false;
  }
  const Expr &arg = expr.elems[0];
  if (arg.kind != Expr::Kind::Ident || (arg.text != "none" && arg.text != "tanh")) {
    diags.error(arg.loc, "option 'approximate' of 'gelu' must be none or tanh");
    return false;
  }
  act = ir::makeActivation(arg.text == "tanh" ? ir::ActKind::GeluTanh : ir::ActKind::Gelu);
  return true;
}

} // namespace soma::frontend

namespace soma::frontend {

/// `layout = out_in | in_out` of a dense layer: how its weight matrix is
/// stored ([units, inputs], PyTorch's, or [inputs, units], scikit-learn's
/// and Keras's).
bool Sema::evalLayout(const Attr &attr, const std::string &what, bool &inOut) {
  const Expr &e = attr.value;
  if (e.kind == Expr::Kind::Ident && (e.text == "out_in" || e.text == "in_out")) {
    inOut = e.text == "in_out";
    return true;
  }
  diags.error(e.loc, "layout of " + what +
                         " must be out_in ([units, inputs]) or in_out ([inputs, units])" +
                         (e.kind == Expr::Kind::Ident
                              ? ", got '" + e.text + "'" + suggest(e.text, {"out_in", "in_out"})
                              : ""));
  return false;
}

} // namespace soma::frontend
