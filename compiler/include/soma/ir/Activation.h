// Activation functions as IR attributes: a kind from Activations.def plus its
// one optional parameter (alpha, threshold).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace soma::ir {

enum class ActKind {
#define SOMA_ACT(Enum, Name, Param, Default, Formula) Enum,
#include "soma/ir/Activations.def"
};

inline constexpr int kNumActKinds = 0
#define SOMA_ACT(Enum, Name, Param, Default, Formula) +1
#include "soma/ir/Activations.def"
    ;

const char *actName(ActKind kind);
std::optional<ActKind> actFromName(std::string_view name);
/// The parameter's name, or nullptr when the activation takes none.
const char *actParamName(ActKind kind);
double actDefaultParam(ActKind kind);
const char *actFormula(ActKind kind);

struct Activation {
  ActKind kind = ActKind::Identity;
  /// Stored as f32, like every number in a network, so IR text round-trips.
  float param = 0.0f;

  /// "relu", "leaky_relu(alpha = 0.01)"
  std::string str() const;
  bool operator==(const Activation &) const = default;
};

/// Makes an activation with its default parameter.
Activation makeActivation(ActKind kind);
/// An error message when `param` is not valid for `kind`, else nullopt.
std::optional<std::string> checkActParam(ActKind kind, double param);
/// act(x) rounded to f32, when every engine computes exactly that value
/// (identity, relu, leaky_relu, step; hard_sigmoid when saturated); nullopt
/// for a NaN and for the activations the engines approximate (exp, erf,
/// tanh: they differ from libm in the last bits) and softmax.
std::optional<float> exactActivationConstant(const Activation &act, float x);

} // namespace soma::ir
