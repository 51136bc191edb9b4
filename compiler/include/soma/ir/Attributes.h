// Op attributes, declared once in Ops.def's SOMA_ATTR rows: the typed record
// every op carries (ir::OpAttributes: op.fn, op.epsilon), and the generic view
// through which the printer, the parser, the verifier, cse, the DOT picture
// and copies of ops handle any attribute without naming it: its description
// (AttrInfo) and its value (AttrValue). Which ops take which attribute, and
// whether it must be written, is in the SOMA_OP rows (ir::opAttributes,
// Graph.h).
#pragma once

#include "soma/ir/Activation.h"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace soma::ir {

/// Unwraps a parenthesised list of Ops.def (an op's attributes, an enum's
/// enumerators and spellings).
#define SOMA_ATTR_LIST(...) __VA_ARGS__

#define SOMA_ATTR_ENUM(Type, What, Enumerators, Spellings)                                         \
  enum class Type { SOMA_ATTR_LIST Enumerators };
#include "soma/ir/Ops.def"

/// An attribute: its SOMA_ATTR row.
enum class AttrId {
#define SOMA_ATTR(Member, Name, Type, Kind, Default, Range, Dot, Doc) Member,
#include "soma/ir/Ops.def"
};

/// Ops.def's Kind column: how a value is held and written.
enum class AttrKind { Activation, Float, Int, IntList, Enum };
/// Ops.def's Range column: the values the verifier accepts.
enum class AttrRange { Any, Positive, NonNegative };
/// Ops.def's Dot column: whether the DOT picture's label shows the value.
enum class AttrDot { InLabel, NotInLabel };

/// An attribute's value, of any kind: Int and Enum (the enumerator's index)
/// hold an int64_t.
using AttrValue = std::variant<Activation, float, int64_t, std::vector<int64_t>>;

/// An attribute as the generic code sees it: one SOMA_ATTR row.
struct AttrInfo {
  const char *name;
  AttrKind kind;
  AttrValue defaultValue;
  AttrRange range = AttrRange::Any;
  AttrDot dot = AttrDot::NotInLabel;
  /// Enum: what a value is, in errors ("padding mode"), and the spellings of
  /// the enumerators, in the enum's order.
  const char *what = "";
  std::vector<const char *> spellings;
  const char *doc = "";
};

const AttrInfo &attrInfo(AttrId id);

/// Every attribute an op can carry, each a typed field named as in Ops.def
/// and starting at its default. An op's kind says which it has
/// (ir::opAttributes); the others keep their defaults and mean nothing.
struct OpAttributes {
#define SOMA_ATTR(Member, Name, Type, Kind, Default, Range, Dot, Doc) Type Member = Default;
#include "soma/ir/Ops.def"
};

/// The field of `id` as a value, and back; `value` must be of the
/// attribute's kind.
AttrValue getAttr(const OpAttributes &attrs, AttrId id);
void setAttr(OpAttributes &attrs, AttrId id, const AttrValue &value);

/// The same value, floats (an activation's parameter too) compared bit for
/// bit: 0 and -0 differ, and a NaN matches only the same NaN.
bool sameAttrValue(const AttrValue &a, const AttrValue &b);

/// Why `value` is not in the attribute's range (an error for `what`, such as
/// "batch_norm 'bn'"), or nullopt when it is.
std::optional<std::string> checkAttrValue(const AttrInfo &info, const AttrValue &value,
                                          const std::string &what);

} // namespace soma::ir
