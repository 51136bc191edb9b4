// How a weighted sum (linear, dense, dense_add) is computed: the typed
// schedule, declared once in Schedule.def, chosen by the schedule pass's
// cost model (docs/passes.md#schedule) or written in IR text, and read alike
// by the cost model, the JIT and the vec engine. Printed as
// {schedule = {...}} after the op. Changing it never changes results beyond
// the op's tolerance: every output element is reduced over all its inputs,
// in input order, by one kernel call.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace soma::ir {

// Each enum type of Schedule.def with its enumerators: the .def's rows
// are picked out by type (SOMA_SCHEDULE_ENUMERATOR_<Type> expands only
// while that type is declared). A new enum type adds its line here.
#define SOMA_SCHEDULE_ENUMERATOR(Type, Enumerator, Spelling)                                       \
  SOMA_SCHEDULE_ENUMERATOR_##Type(Enumerator)
#define SOMA_SCHEDULE_ENUMERATOR_ScheduleKernel(E)
#define SOMA_SCHEDULE_ENUMERATOR_LonePath(E)
#define SOMA_SCHEDULE_ENUMERATOR_BlockPattern(E)

#undef SOMA_SCHEDULE_ENUMERATOR_ScheduleKernel
#define SOMA_SCHEDULE_ENUMERATOR_ScheduleKernel(E) E,
enum class ScheduleKernel {
#include "soma/ir/Schedule.def"
};
#undef SOMA_SCHEDULE_ENUMERATOR_ScheduleKernel
#define SOMA_SCHEDULE_ENUMERATOR_ScheduleKernel(E)

#undef SOMA_SCHEDULE_ENUMERATOR_LonePath
#define SOMA_SCHEDULE_ENUMERATOR_LonePath(E) E,
#define SOMA_SCHEDULE_ENUMERATOR(Type, Enumerator, Spelling)                                       \
  SOMA_SCHEDULE_ENUMERATOR_##Type(Enumerator)
enum class LonePath {
#include "soma/ir/Schedule.def"
};
#undef SOMA_SCHEDULE_ENUMERATOR_LonePath
#define SOMA_SCHEDULE_ENUMERATOR_LonePath(E)

#undef SOMA_SCHEDULE_ENUMERATOR_BlockPattern
#define SOMA_SCHEDULE_ENUMERATOR_BlockPattern(E) E,
#define SOMA_SCHEDULE_ENUMERATOR(Type, Enumerator, Spelling)                                       \
  SOMA_SCHEDULE_ENUMERATOR_##Type(Enumerator)
enum class BlockPattern {
#include "soma/ir/Schedule.def"
};
#undef SOMA_SCHEDULE_ENUMERATOR_ScheduleKernel
#undef SOMA_SCHEDULE_ENUMERATOR_LonePath
#undef SOMA_SCHEDULE_ENUMERATOR_BlockPattern

struct Schedule {
#define SOMA_SCHEDULE_FIELD(Member, Name, Type, Kind, ForKernel, Presence, Min, Max, Range,        \
                            Default)                                                               \
  Type Member = Default;
#include "soma/ir/Schedule.def"

  /// Baked code grows with every nonzero it is generated from: the most a
  /// baked schedule may have (the JIT refuses more).
  static constexpr int64_t kBakedMaxNonzeros = 2048;
  /// lone = packed: the panels of one vector its dense kernel runs side by
  /// side (codegen), so column tiles hold whole groups of them (runtime).
  static constexpr int64_t kLonePackedPanels = 8;

  int64_t panel() const { return vectorWidth * panelVectors; }
  bool isSparse() const { return kernel == ScheduleKernel::Sparse; }
  bool operator==(const Schedule &) const = default;
};

/// The spelling of an enumerator in the text form ("packed", "4x1").
const char *spelling(ScheduleKernel value);
const char *spelling(LonePath value);
const char *spelling(BlockPattern value);

/// The schedule's fields, in Schedule.def's order.
enum class ScheduleField {
#define SOMA_SCHEDULE_FIELD(Member, Name, Type, Kind, ForKernel, Presence, Min, Max, Range,        \
                            Default)                                                               \
  Member,
#include "soma/ir/Schedule.def"
};
/// The field's name in the text form ("vector_width").
const char *fieldName(ScheduleField field);

/// How a field is written and which schedules have it (Schedule.def's
/// columns), for the parser and printer.
enum class FieldKind { Int, Enum, Bool };
enum class FieldPresence { Required, Shown, Optional };
struct ScheduleFieldInfo {
  ScheduleField field;
  const char *name;
  FieldKind kind;
  /// The only kernel whose schedules have the field; empty: every kernel.
  std::optional<ScheduleKernel> onlyFor;
  FieldPresence presence;
  /// Int: the values allowed, as numbers and as text for errors.
  int64_t min, max;
  const char *range;
  /// Enum: what a value is ("block pattern") and the spellings, in the
  /// enum's order.
  const char *what;
  std::vector<const char *> spellings;
  int64_t defaultValue;
  bool appliesTo(ScheduleKernel kernel) const { return !onlyFor || *onlyFor == kernel; }
};
/// Every field, in Schedule.def's order.
const std::vector<ScheduleFieldInfo> &scheduleFieldInfos();
/// A field's value as an integer (an enum's index, a bool's 0 or 1), and
/// back.
int64_t fieldValue(const Schedule &s, ScheduleField field);
void setFieldValue(Schedule &s, ScheduleField field, int64_t value);

/// A schedule whose fields disagree: which field is at fault, and why.
struct ScheduleProblem {
  ScheduleField field;
  std::string message;
};
/// The rules between fields (vector width 4, 8 or 16; tiles on whole
/// panels; the shape a sparse kernel needs; the vector width a path needs;
/// no block pattern with baked code). The parser reports a problem at the
/// field's place; the cost model never makes one.
std::optional<ScheduleProblem> checkSchedule(const Schedule &s);

/// The text form's fields: `kernel = "packed", vector_width = 16, ...`
/// (without the braces).
std::string scheduleFields(const Schedule &s);

} // namespace soma::ir
