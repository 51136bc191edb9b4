// The typed schedule's table (Schedule.def) expanded into what the parser,
// the printer and the checks read: field descriptions, values as integers,
// spellings, and the rules between fields.
#include "soma/ir/Schedule.h"

#include <cassert>

namespace soma::ir {

namespace {

template <class E> const std::vector<const char *> &spellingsOf();

#define SOMA_SCHEDULE_ENUM(Type, What)                                                             \
  template <> const std::vector<const char *> &spellingsOf<Type>() {                               \
    static const std::vector<const char *> names = [] {                                            \
      std::vector<const char *> v;                                                                 \
      SOMA_SCHEDULE_SPELLINGS_OF(Type)                                                             \
      return v;                                                                                    \
    }();                                                                                           \
    return names;                                                                                  \
  }
// The spellings of one type: every enumerator row, kept when its type is
// `Wanted` (compared as types, so the rows need no per-type macro here).
#define SOMA_SCHEDULE_SPELLINGS_OF(Wanted) appendSpellings<Wanted>(v);
template <class Wanted> void appendSpellings(std::vector<const char *> &v);
#include "soma/ir/Schedule.def"
#undef SOMA_SCHEDULE_SPELLINGS_OF

template <class Wanted> void appendSpellings(std::vector<const char *> &v) {
#define SOMA_SCHEDULE_ENUMERATOR(Type, Enumerator, Spelling)                                       \
  if constexpr (std::is_same_v<Type, Wanted>) {                                                    \
    assert(static_cast<size_t>(Type::Enumerator) == v.size() && "spellings in the enum's order");  \
    v.push_back(Spelling);                                                                         \
  }
#include "soma/ir/Schedule.def"
}

template <class E> const char *whatOf();
#define SOMA_SCHEDULE_ENUM(Type, What)                                                             \
  template <> const char *whatOf<Type>() { return What; }
#include "soma/ir/Schedule.def"

/// Int, Enum and Bool fields as FieldInfo's kind-specific columns.
template <class T> const char *whatOfField() {
  if constexpr (std::is_enum_v<T>)
    return whatOf<T>();
  else
    return "";
}
template <class T> std::vector<const char *> spellingsOfField() {
  if constexpr (std::is_enum_v<T>)
    return spellingsOf<T>();
  else
    return {};
}

} // namespace

const char *spelling(ScheduleKernel value) {
  return spellingsOf<ScheduleKernel>()[static_cast<size_t>(value)];
}
const char *spelling(LonePath value) { return spellingsOf<LonePath>()[static_cast<size_t>(value)]; }
const char *spelling(BlockPattern value) {
  return spellingsOf<BlockPattern>()[static_cast<size_t>(value)];
}

const std::vector<ScheduleFieldInfo> &scheduleFieldInfos() {
  using enum FieldKind;
  using enum FieldPresence;
  constexpr std::optional<ScheduleKernel> Any;
  constexpr std::optional<ScheduleKernel> Packed = ScheduleKernel::Packed;
  constexpr std::optional<ScheduleKernel> Sparse = ScheduleKernel::Sparse;
  static const std::vector<ScheduleFieldInfo> infos = {
#define SOMA_SCHEDULE_FIELD(Member, Name, Type, Kind, ForKernel, Presence, Min, Max, Range,        \
                            Default)                                                               \
  {ScheduleField::Member,                                                                          \
   Name,                                                                                           \
   Kind,                                                                                           \
   ForKernel,                                                                                      \
   Presence,                                                                                       \
   Min,                                                                                            \
   Max,                                                                                            \
   Range,                                                                                          \
   whatOfField<Type>(),                                                                            \
   spellingsOfField<Type>(),                                                                       \
   static_cast<int64_t>(Default)},
#include "soma/ir/Schedule.def"
  };
  return infos;
}

const char *fieldName(ScheduleField field) {
  return scheduleFieldInfos()[static_cast<size_t>(field)].name;
}

int64_t fieldValue(const Schedule &s, ScheduleField field) {
  switch (field) {
#define SOMA_SCHEDULE_FIELD(Member, Name, Type, Kind, ForKernel, Presence, Min, Max, Range,        \
                            Default)                                                               \
  case ScheduleField::Member:                                                                      \
    return static_cast<int64_t>(s.Member);
#include "soma/ir/Schedule.def"
  }
  return 0;
}

void setFieldValue(Schedule &s, ScheduleField field, int64_t value) {
  switch (field) {
#define SOMA_SCHEDULE_FIELD(Member, Name, Type, Kind, ForKernel, Presence, Min, Max, Range,        \
                            Default)                                                               \
  case ScheduleField::Member:                                                                      \
    s.Member = static_cast<Type>(value);                                                           \
    return;
#include "soma/ir/Schedule.def"
  }
}

std::optional<ScheduleProblem> checkSchedule(const Schedule &s) {
  using F = ScheduleField;
  if (s.vectorWidth != 4 && s.vectorWidth != 8 && s.vectorWidth != 16)
    return ScheduleProblem{F::vectorWidth, "schedule vector_width must be 4, 8 or 16"};
  if (s.isSparse() &&
      (s.panelVectors != 1 || s.rowBlock != s.vectorWidth || s.rowTile % s.rowBlock != 0))
    return ScheduleProblem{F::kernel,
                           "a sparse schedule needs panel_vectors = 1, row_block = vector_width "
                           "and a row_tile that is a multiple of it"};
  if (s.colTile % s.panel() != 0)
    return ScheduleProblem{F::colTile,
                           "schedule col_tile must be a multiple of the panel (vector_width * "
                           "panel_vectors = " +
                               std::to_string(s.panel()) + ")"};
  if (s.skipZeroInputs && s.vectorWidth != 16)
    return ScheduleProblem{F::skipZeroInputs,
                           "skip_zero_inputs = true needs vector_width 16 (an AVX-512 compress)"};
  if (s.lone == LonePath::Chunked && s.vectorWidth != 16)
    return ScheduleProblem{F::lone,
                           "lone = \"chunked\" needs vector_width 16 (an AVX-512 permute)"};
  if (s.baked && s.block != BlockPattern::None)
    return ScheduleProblem{
        F::baked,
        "baked = true generates its own code for the sample blocks; it takes no block pattern"};
  return std::nullopt;
}

std::string scheduleFields(const Schedule &s) {
  std::string text;
  for (const ScheduleFieldInfo &info : scheduleFieldInfos()) {
    if (!info.appliesTo(s.kernel))
      continue;
    const int64_t value = fieldValue(s, info.field);
    if (info.presence == FieldPresence::Optional && value == info.defaultValue)
      continue;
    if (!text.empty())
      text += ", ";
    text += info.name;
    text += " = ";
    switch (info.kind) {
    case FieldKind::Int:
      text += std::to_string(value);
      break;
    case FieldKind::Enum:
      text += '"';
      text += info.spellings[static_cast<size_t>(value)];
      text += '"';
      break;
    case FieldKind::Bool:
      text += value ? "true" : "false";
      break;
    }
  }
  return text;
}

} // namespace soma::ir
