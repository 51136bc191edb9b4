// Activation names and parameters, expanded from Activations.def.
#include "soma/ir/Activation.h"
#include "soma/ir/ActivationMath.h"
#include "soma/ir/Printer.h"

#include <cmath>
#include <optional>

namespace soma::ir {

namespace {
struct ActInfo {
  const char *name;
  const char *param[2];
  double defaultParam[2];
  const char *formula;
};
const ActInfo actTable[] = {
#define SOMA_ACT(Enum, Name, Param, Default, Param2, Default2, Formula)                            \
  {Name, {Param, Param2}, {Default, Default2}, Formula},
#include "soma/ir/Activations.def"
};
} // namespace

const char *actName(ActKind kind) { return actTable[static_cast<int>(kind)].name; }
const char *actParamName(ActKind kind, int i) { return actTable[static_cast<int>(kind)].param[i]; }
double actDefaultParam(ActKind kind, int i) {
  return actTable[static_cast<int>(kind)].defaultParam[i];
}
int actNumParams(ActKind kind) { return actParamName(kind, 0) ? actParamName(kind, 1) ? 2 : 1 : 0; }
const char *actFormula(ActKind kind) { return actTable[static_cast<int>(kind)].formula; }

std::optional<ActKind> actFromName(std::string_view name) {
  for (int i = 0; i < kNumActKinds; ++i)
    if (name == actTable[i].name)
      return static_cast<ActKind>(i);
  return std::nullopt;
}

Activation makeActivation(ActKind kind) {
  return Activation{kind, static_cast<float>(actDefaultParam(kind, 0)),
                    static_cast<float>(actDefaultParam(kind, 1))};
}

std::string Activation::str() const {
  std::string s = actName(kind);
  if (kind == ActKind::GeluTanh)
    return s + "(approximate = tanh)";
  if (kind == ActKind::Softplus && param == 1.0f) // the plain softplus, as it was always written
    return s;
  for (int i = 0; i < actNumParams(kind); ++i)
    s += std::string(i ? ", " : "(") + actParamName(kind, i) + " = " + formatFloat(paramAt(i));
  return actNumParams(kind) ? s + ")" : s;
}

std::optional<std::string> checkActParam(ActKind kind, double param, int i) {
  const char *p = actParamName(kind, i);
  if (!p)
    return std::nullopt;
  if (kind == ActKind::Clip) { // -inf and inf are a clip's open ends
    if (std::isnan(param))
      return std::string("clip parameter '") + p + "' must be an f32 value or +-inf, not nan";
    if (std::isfinite(param) && !std::isfinite(static_cast<float>(param)))
      return std::string("clip parameter '") + p +
             "' is beyond the f32 range; write inf or -inf for an open end";
    return std::nullopt;
  }
  if (!std::isfinite(param) || !std::isfinite(static_cast<float>(param)))
    return std::string(actName(kind)) + " parameter '" + p + "' must be a finite f32 value";
  if (kind == ActKind::Softplus && !(static_cast<float>(param) >= actmath::kSoftplusMinBeta))
    return "softplus parameter 'beta' must be at least " + formatFloat(actmath::kSoftplusMinBeta) +
           ", not " + formatFloat(static_cast<float>(param));
  return std::nullopt;
}

std::optional<std::string> checkActParams(const Activation &act) {
  for (int i = 0; i < actNumParams(act.kind); ++i)
    if (auto err = checkActParam(act.kind, act.paramAt(i), i))
      return err;
  if (act.kind == ActKind::Clip && !(act.param < act.param2))
    return "clip min (" + formatFloat(act.param) + ") must be below its max (" +
           formatFloat(act.param2) + ")";
  return std::nullopt;
}

bool isDefaultHardSigmoid(const Activation &act) {
  const Activation d = makeActivation(ActKind::HardSigmoid);
  return act.kind == ActKind::HardSigmoid && act.param == d.param && act.param2 == d.param2;
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
  case ActKind::HardSigmoid: {
    // Saturated, with a margin far beyond the engines' rounding of
    // alpha x + beta (the default's (x + 3) / 6 is exact there).
    const double y = double(act.param) * x + act.param2;
    const double margin = 0x1p-20 * (std::fabs(double(act.param) * x) + std::fabs(act.param2));
    if (isDefaultHardSigmoid(act) ? x <= -3 : y < -margin)
      return 0.0f;
    if (isDefaultHardSigmoid(act) ? x >= 3 : y > 1 + margin)
      return 1.0f;
    return std::nullopt;
  }
  case ActKind::Clip:
    return x < act.param ? act.param : x > act.param2 ? act.param2 : x;
  default:
    // exp, erf, tanh: the engines' approximations differ from libm in the
    // last bits, so the constant is not known exactly.
    return std::nullopt;
  }
}

} // namespace soma::ir
