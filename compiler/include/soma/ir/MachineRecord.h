// The machine a graph's schedules were planned for, as the graph IR records
// it on the graph's first line:
//
//   machine = {name = "host", vector_width = 16, registers = 32, fma_pipes = 2,
//              fma_latency = 4, l1 = 49152, l2 = 1048576, l3 = 33554432, cores = 2}
//
// The fields are what the cost model reads (soma/support/Machine.h; the
// measured bandwidths are not: it does not use them). The schedule pass
// writes the record; it and the JIT re-plan the schedules of a graph whose
// record differs from the machine they plan for (docs/ir.md#machine).
#pragma once

#include "soma/support/Machine.h"

#include <cstdint>
#include <span>

namespace soma::ir {

/// One integer field of the record: its text name, the MachineInfo member,
/// and the range the parser accepts.
struct MachineField {
  const char *name;
  int64_t MachineInfo::*member;
  int64_t min, max;
};

/// The integer fields, in text order (after `name`).
std::span<const MachineField> machineFields();

/// Whether the cost model plans the same for `a` and `b`: every field of
/// the record but the name is equal.
bool samePlanningMachine(const MachineInfo &a, const MachineInfo &b);

} // namespace soma::ir
