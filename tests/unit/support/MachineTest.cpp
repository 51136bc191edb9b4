// The cost model's register blocking (MachineInfo::blockRows) on modelled
// machines, for both code generators: the JIT's (LLVM issues a block's
// broadcasts together: a row holds its accumulators and its broadcast) and
// the vec engine's (a row holds its accumulators; one broadcast at a time).
// docs/passes.md#schedule, step 3.
#include "soma/support/Machine.h"

#include <gtest/gtest.h>

namespace soma {
namespace {

MachineInfo modelled(const char *cpu) {
  std::optional<MachineInfo> m = modelledMachine(cpu);
  EXPECT_TRUE(m.has_value()) << cpu;
  return m.value_or(MachineInfo{});
}

int64_t jitRows(const MachineInfo &m, int64_t panelVectors) {
  return m.blockRows(panelVectors, panelVectors + 1, 0);
}

int64_t vecRows(const MachineInfo &m) { return m.blockRows(2, 2, 1); }

TEST(MachineTest, BlockRowsCoverTheFmasInFlight) {
  // One 512-bit pipe of latency 4: 4 rows of 2 vectors are 8 FMAs in
  // flight, twice the 4 needed; two pipes: 8 rows.
  EXPECT_EQ(jitRows(modelled("znver4"), 2), 4);
  EXPECT_EQ(vecRows(modelled("znver4")), 4);
  EXPECT_EQ(jitRows(modelled("znver5"), 2), 8);
  EXPECT_EQ(vecRows(modelled("znver5")), 8);
  EXPECT_EQ(jitRows(modelled("sapphirerapids"), 1), 8);
}

TEST(MachineTest, BlockRowsFitTheRegisters) {
  // Haswell: 16 registers, 10 FMAs in flight. The JIT's rows of 2
  // accumulators and a broadcast: (16 - 2) / 3 = 4 rows (6 spilled 4
  // accumulators to the stack: tests/perf, 0.56 of the FMA peak in LLVM's
  // model against 0.80 with 4). The vec kernel's rows of 2 accumulators,
  // with one broadcast: (16 - 2 - 1) / 2 = 6.
  const MachineInfo hsw = modelled("haswell");
  EXPECT_EQ(jitRows(hsw, 2), 4);
  EXPECT_EQ(jitRows(hsw, 1), 7);
  EXPECT_EQ(vecRows(hsw), 6);
}

TEST(MachineTest, BlockRowsStayInRange) {
  MachineInfo m;
  m.fmaPipes = 4;
  m.fmaLatency = 8;
  EXPECT_EQ(m.blockRows(1, 1, 0), 8); // at most 8 rows
  m.vectorRegisters = 2;
  EXPECT_EQ(m.blockRows(2, 3, 0), 1); // at least 1
  EXPECT_EQ(m.blockRows(2, 0, 0), 1); // no division by zero
}

} // namespace
} // namespace soma
