// schedule: gives every linear, dense and dense_add op the Schedule its
// kernel runs with, from a cost model over the layer's shape and the
// machine (PassContext::machine: vector width, cache sizes). The graph's
// values do not change, only how they are computed. The cost model:
//
//   1. Vector width: the machine's widest f32 vector (16 with AVX-512).
//   2. Panel: 2 vectors of output neurons when the layer is wider than one
//      vector, so each broadcast input feeds 2 FMAs; else 1.
//   3. Row block: 4 samples per microkernel step, so 4 * 2 = 8 accumulators
//      hide the FMA latency (4 cycles, 2 per cycle on current x86) with
//      room left in 16 registers (AVX2) for the 2 weight vectors and the
//      broadcast.
//   4. Lone panels: samples after the last full row block (all of batch 1)
//      are computed for several panels at once, 8 / panel_vectors of them,
//      so a single sample also has 8 independent accumulators; each weight
//      is still read once, contiguously within its panel.
//   5. Column tile: the panels whose weights, for all inputs, fit in half
//      the L2 cache, so a tile's weights stay in L2 while its rows stream
//      through, and at most 1 / (4 * cores) of the layer, so a batch-1
//      layer still splits into enough tiles to balance the cores; at least
//      one panel. A softmax dense needs whole rows: its tile is the full
//      width.
//   6. Row tile: 64 samples (a multiple of the row block), enough work per
//      tile to amortise scheduling and few enough to split a batch of 128+.
//
// Tolerance class: exact (no value changes; every schedule reduces each
// output over all inputs in input order in one kernel call).
#include "soma/passes/Passes.h"

#include <algorithm>

namespace soma::passes {

ir::Schedule chooseSchedule(const ir::Op &op, const MachineInfo &machine) {
  const int64_t units = op.type.lastDim();
  const int64_t inputs = op.operands[0]->type.sampleElements();
  ir::Schedule s;
  s.vectorWidth = machine.vectorWidth;
  s.panelVectors = units > s.vectorWidth ? 2 : 1;
  s.rowBlock = 4;
  s.lonePanels = 8 / s.panelVectors;
  const int64_t panel = s.panel();
  const int64_t panels = std::max<int64_t>(1, (units + panel - 1) / panel);
  const int64_t panelBytes = std::max<int64_t>(1, inputs) * panel * 4;
  const int64_t fit = std::max<int64_t>(1, machine.l2Bytes / 2 / panelBytes);
  const int64_t share = std::max<int64_t>(1, panels / (4 * std::max<int64_t>(1, machine.cores)));
  const bool wholeRows = op.kind != ir::OpKind::Linear && op.fn.kind == ir::ActKind::Softmax;
  s.colTile = (wholeRows ? panels : std::min({fit, share, panels})) * panel;
  s.rowTile = 64;
  return s;
}

bool scheduleLayers(ir::Graph &graph, PassContext &ctx) {
  for (auto &op : graph.ops) {
    if (!ir::isWeightedSum(op->kind))
      continue;
    op->schedule = chooseSchedule(*op, ctx.machine);
    ctx.count("schedule.layers-scheduled");
  }
  return true;
}

} // namespace soma::passes
