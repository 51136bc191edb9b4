// Ops.def's SOMA_ATTR rows expanded into what the generic code reads: each
// attribute's description, its field as a value and back, equality and the
// verifier's range check.
#include "soma/ir/Attributes.h"
#include "soma/ir/Printer.h"

#include <bit>
#include <cassert>
#include <cmath>
#include <iterator>
#include <type_traits>

namespace soma::ir {

namespace {

/// Whether a field of C++ type T can hold an attribute of kind K.
template <class T> constexpr bool fitsKind(AttrKind k) {
  switch (k) {
  case AttrKind::Activation:
    return std::is_same_v<T, Activation>;
  case AttrKind::Float:
    return std::is_same_v<T, float>;
  case AttrKind::Int:
    return std::is_same_v<T, int64_t>;
  case AttrKind::IntList:
    return std::is_same_v<T, std::vector<int64_t>>;
  case AttrKind::Enum:
    return std::is_enum_v<T>;
  }
  return false;
}
#define SOMA_ATTR(Member, Name, Type, Kind, Default, Range, Dot, Doc)                              \
  static_assert(fitsKind<Type>(AttrKind::Kind),                                                    \
                "Ops.def: the type of '" Name "' is not its kind's");
#include "soma/ir/Ops.def"

/// What a SOMA_ATTR_ENUM row says of its type.
template <class E> struct EnumRow;
#define SOMA_ATTR_ENUM(Type, What, Enumerators, Spellings)                                         \
  template <> struct EnumRow<Type> {                                                               \
    static constexpr const char *what = What;                                                      \
    static constexpr const char *spellings[] = {SOMA_ATTR_LIST Spellings};                         \
    enum { SOMA_ATTR_LIST Enumerators, count };                                                    \
    static_assert(std::size(spellings) == static_cast<size_t>(count),                              \
                  "Ops.def: one spelling per enumerator");                                         \
  };
#include "soma/ir/Ops.def"

template <class T> AttrValue toValue(const T &field) {
  if constexpr (std::is_enum_v<T>)
    return static_cast<int64_t>(field);
  else
    return field;
}

template <class T> T fromValue(const AttrValue &value) {
  if constexpr (std::is_enum_v<T>)
    return static_cast<T>(std::get<int64_t>(value));
  else
    return std::get<T>(value);
}

template <class T>
AttrInfo makeInfo(const char *name, AttrKind kind, const T &defaultField, AttrRange range,
                  AttrDot dot, const char *doc) {
  AttrInfo info{name, kind, toValue(defaultField), range, dot, "", {}, doc};
  if constexpr (std::is_enum_v<T>) {
    info.what = EnumRow<T>::what;
    info.spellings.assign(std::begin(EnumRow<T>::spellings), std::end(EnumRow<T>::spellings));
  }
  return info;
}

bool sameBits(float a, float b) { return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b); }

/// "positive", "non-negative"; empty for Any.
std::string rangeWord(AttrRange range) {
  switch (range) {
  case AttrRange::Any:
    return "";
  case AttrRange::Positive:
    return "positive";
  case AttrRange::NonNegative:
    return "non-negative";
  }
  return "";
}

bool inRange(AttrRange range, double v) {
  switch (range) {
  case AttrRange::Any:
    return true;
  case AttrRange::Positive:
    return v > 0;
  case AttrRange::NonNegative:
    return v >= 0;
  }
  return true;
}

} // namespace

const AttrInfo &attrInfo(AttrId id) {
  using enum AttrKind;
  using enum AttrRange;
  using enum AttrDot;
  static const std::vector<AttrInfo> infos = {
#define SOMA_ATTR(Member, Name, Type, Kind, Default, Range, Dot, Doc)                              \
  makeInfo(Name, Kind, OpAttributes{}.Member, Range, Dot, Doc),
#include "soma/ir/Ops.def"
  };
  return infos[static_cast<size_t>(id)];
}

AttrValue getAttr(const OpAttributes &attrs, AttrId id) {
  switch (id) {
#define SOMA_ATTR(Member, Name, Type, Kind, Default, Range, Dot, Doc)                              \
  case AttrId::Member:                                                                             \
    return toValue(attrs.Member);
#include "soma/ir/Ops.def"
  }
  assert(false && "an attribute of Ops.def");
  return {};
}

void setAttr(OpAttributes &attrs, AttrId id, const AttrValue &value) {
  switch (id) {
#define SOMA_ATTR(Member, Name, Type, Kind, Default, Range, Dot, Doc)                              \
  case AttrId::Member:                                                                             \
    attrs.Member = fromValue<Type>(value);                                                         \
    return;
#include "soma/ir/Ops.def"
  }
}

bool sameAttrValue(const AttrValue &a, const AttrValue &b) {
  if (a.index() != b.index())
    return false;
  if (auto *x = std::get_if<Activation>(&a)) {
    const Activation &y = std::get<Activation>(b);
    return x->kind == y.kind && sameBits(x->param, y.param) && sameBits(x->param2, y.param2);
  }
  if (auto *x = std::get_if<float>(&a))
    return sameBits(*x, std::get<float>(b));
  return a == b;
}

std::optional<std::string> checkAttrValue(const AttrInfo &info, const AttrValue &value,
                                          const std::string &what) {
  const std::string word = rangeWord(info.range);
  switch (info.kind) {
  case AttrKind::Activation: {
    const Activation &act = std::get<Activation>(value);
    return checkActParams(act);
  }
  case AttrKind::Float: {
    const float v = std::get<float>(value);
    if (std::isfinite(v) && inRange(info.range, v))
      return std::nullopt;
    return what + " needs a " + (word.empty() ? "" : word + " ") + "finite " + info.name;
  }
  case AttrKind::Int:
    if (inRange(info.range, static_cast<double>(std::get<int64_t>(value))))
      return std::nullopt;
    return what + " has " + info.name + " = " + formatAttrValue(info, value) + "; it must be " +
           word;
  case AttrKind::IntList:
    for (int64_t v : std::get<std::vector<int64_t>>(value))
      if (!inRange(info.range, static_cast<double>(v)))
        return what + " has " + info.name + " = " + formatAttrValue(info, value) +
               "; every element must be " + word;
    return std::nullopt;
  case AttrKind::Enum: {
    const int64_t index = std::get<int64_t>(value);
    if (index >= 0 && index < static_cast<int64_t>(info.spellings.size()))
      return std::nullopt;
    return what + " has " + info.name + " = " + std::to_string(index) + ", not a " + info.what;
  }
  }
  return std::nullopt;
}

} // namespace soma::ir
