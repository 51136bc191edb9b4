#include "soma/ir/MachineRecord.h"

namespace soma::ir {

namespace {

constexpr int64_t kMaxBytes = int64_t{1} << 40;

const MachineField kFields[] = {
    {"vector_width", &MachineInfo::vectorWidth, 4, 16},
    {"registers", &MachineInfo::vectorRegisters, 8, 64},
    {"fma_pipes", &MachineInfo::fmaPipes, 1, 8},
    {"fma_latency", &MachineInfo::fmaLatency, 1, 32},
    {"l1", &MachineInfo::l1Bytes, 1024, kMaxBytes},
    {"l2", &MachineInfo::l2Bytes, 1024, kMaxBytes},
    {"l3", &MachineInfo::l3Bytes, 1024, kMaxBytes},
    {"cores", &MachineInfo::cores, 1, 65536},
};

} // namespace

std::span<const MachineField> machineFields() { return kFields; }

bool samePlanningMachine(const MachineInfo &a, const MachineInfo &b) {
  for (const MachineField &f : kFields)
    if (a.*f.member != b.*f.member)
      return false;
  return true;
}

} // namespace soma::ir
