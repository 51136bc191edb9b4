// Activation names and parameters, expanded from Activations.def.
#include "soma/ir/Activation.h"
#include "soma/ir/Printer.h"

#include <cmath>
#include <optional>

namespace soma::ir {

namespace {
struct ActInfo {
  const char *name;
  const char *param;
  double defaultParam;
  const char *formula;
};
const ActInfo actTable[] = {
#define SOMA_ACT(Enum, Name, Param, Default, Formula) {Name, Param, Default, Formula},
#include "soma/ir/Activations.def"
};
} // namespace

const char *actName(ActKind kind) { return actTable[static_cast<int>(kind)].name; }
const char *actParamName(ActKind kind) { return actTable[static_cast<int>(kind)].param; }
double actDefaultParam(ActKind kind) { return actTable[static_cast<int>(kind)].defaultParam; }
const char *actFormula(ActKind kind) { return actTable[static_cast<int>(kind)].formula; }

std::optional<ActKind> actFromName(std::string_view name) {
  for (int i = 0; i < kNumActKinds; ++i)
    if (name == actTable[i].name)
      return static_cast<ActKind>(i);
  return std::nullopt;
}

Activation makeActivation(ActKind kind) {
  return Activation{kind, static_cast<float>(actDefaultParam(kind))};
}

std::string Activation::str() const {
  std::string s = actName(kind);
  if (const char *p = actParamName(kind))
    s += std::string("(") + p + " = " + formatFloat(param) + ")";
  return s;
}

std::optional<std::string> checkActParam(ActKind kind, double param) {
  const char *p = actParamName(kind);
  if (!p)
    return std::nullopt;
  if (!std::isfinite(param) || !std::isfinite(static_cast<float>(param)))
    return std::string(actName(kind)) + " parameter '" + p + "' must be a finite f32 value";
  return std::nullopt;
}

std::optional<float> exactActivationConstant(const Activation &act, float x) {
  if (std::isnan(x))
    return std::nullopt;
  switch (act.kind) {
  case ActKind::Identity:
    return x;
  case ActKind::Relu:
    return x > 0 ? x : 0.0f;
  case ActKind::LeakyRelu:
    // One f32 product, rounded once, in the engines as here.
    return x > 0 ? x : act.param == 0 ? 0.0f : static_cast<float>(double(act.param) * x);
  case ActKind::Step:
    return x > act.param ? 1.0f : 0.0f;
  case ActKind::HardSigmoid:
    if (x <= -3)
      return 0.0f;
    if (x >= 3)
      return 1.0f;
    return std::nullopt;
  default:
    // exp, erf, tanh: the engines' approximations differ from libm in the
    // last bits, so the constant is not known exactly.
    return std::nullopt;
  }
}

} // namespace soma::ir
