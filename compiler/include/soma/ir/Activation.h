// Activation functions as IR attributes: a kind from Activations.def plus up
// to two parameters (alpha, threshold; selu's alpha and gamma).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace soma::ir {

enum class ActKind {
#define SOMA_ACT(Enum, Name, Param, Default, Param2, Default2, Formula) Enum,
#include "soma/ir/Activations.def"
};

inline constexpr int kNumActKinds = 0
#define SOMA_ACT(Enum, Name, Param, Default, Param2, Default2, Formula) +1
#include "soma/ir/Activations.def"
    ;

const char *actName(ActKind kind);
std::optional<ActKind> actFromName(std::string_view name);
/// Parameter `i` (0 or 1)'s name, or nullptr when the activation takes
/// fewer than i + 1.
const char *actParamName(ActKind kind, int i = 0);
double actDefaultParam(ActKind kind, int i = 0);
const char *actFormula(ActKind kind);
/// The number of parameters `kind` takes (0, 1 or 2).
int actNumParams(ActKind kind);
/// Softmax and log_softmax: computed over each row of the last axis, not
/// element by element.
inline bool isRowwise(ActKind kind) {
  return kind == ActKind::Softmax || kind == ActKind::LogSoftmax;
}

struct Activation {
  ActKind kind = ActKind::Identity;
  /// Stored as f32, like every number in a network, so IR text round-trips.
  float param = 0.0f;
  /// The second parameter (selu's gamma, hard_sigmoid's beta, clip's max),
  /// 0 for a kind with fewer.
  float param2 = 0.0f;

  float paramAt(int i) const { return i == 0 ? param : param2; }
  float &paramAt(int i) { return i == 0 ? param : param2; }
  /// "relu", "leaky_relu(alpha = 0.01)", "gelu(approximate = tanh)"
  std::string str() const;
  bool operator==(const Activation &) const = default;
};

/// Makes an activation with its default parameter.
Activation makeActivation(ActKind kind);
/// An error message when `param` is not valid as parameter `i` of `kind`,
/// else nullopt.
std::optional<std::string> checkActParam(ActKind kind, double param, int i = 0);
/// checkActParam on each of `act`'s parameters, then the rules between
/// them (clip's min below its max).
std::optional<std::string> checkActParams(const Activation &act);
/// act(x) rounded to f32, when every engine computes exactly that value
/// (identity, relu, leaky_relu, step, clip; hard_sigmoid when saturated); nullopt
/// for a NaN and for the activations the engines approximate (exp, erf,
/// tanh: they differ from libm in the last bits) and softmax.
std::optional<float> exactActivationConstant(const Activation &act, float x);
/// hard_sigmoid with ONNX's alpha = 1/6 and beta = 1/2 (PyTorch's
/// hardsigmoid), which the engines compute as (x + 3) / 6.
bool isDefaultHardSigmoid(const Activation &act);

} // namespace soma::ir
