// The schedule cost model (compiler/passes/ScheduleLayers.cpp): how a
// linear, dense or dense_add op is computed on a machine, as a typed
// ir::Schedule. The schedule pass applies it to every weighted sum; the
// JIT applies it to ops the pipeline did not schedule (-O0, -O1) or
// scheduled for another vector width; its rules are numbered in
// ScheduleLayers.cpp and measured in docs/passes.md#schedule.
#pragma once

#include "soma/ir/Graph.h"
#include "soma/support/Machine.h"

namespace soma::passes {

/// The schedule pass's cost model for one linear/dense/dense_add op
/// (ScheduleLayers.cpp); the JIT also uses it for ops the pipeline did not
/// schedule (-O0, -O1) or scheduled for another vector width.
/// It picks the kernel with sparseKernelPays, then fills the rest with
/// scheduleFor.
/// `global` is --sparsity / CompileOptions::sparsity: a layer's own hint
/// (LayerHints::sparsity) beats it, and it beats sparseKernelPays.
ir::Schedule chooseSchedule(const ir::Op &op, const MachineInfo &machine,
                            ir::SparsityMode global = ir::SparsityMode::Auto);
/// The layer's hint if it has one, else `global`.
ir::SparsityMode sparsityRequest(const ir::Op &op, ir::SparsityMode global);
/// Whether the sparse kernel can run this op: constant 2-D weights of
/// fewer than 2^30 elements.
bool sparseKernelApplies(const ir::Op &op);
/// Whether the packed kernel's lone samples may skip the weight rows of
/// zero inputs (Schedule::skipZeroInputs) and keep their bits: the weights
/// are finite and the inputs few enough for the kernel's list on its
/// stack. (The cost model, step 13, also wants the input from a relu.)
bool zeroInputsSkippable(const ir::Op &op);
/// The nonzero weights a baked sparse kernel (Schedule::baked) would
/// generate code for: those of its constant weights (the test
/// runtime::packSparse uses), or -1 when the weights are no constant.
int64_t bakedNonzeros(const ir::Op &op);
/// The cost model's one dense-or-sparse decision: whether the sparse
/// kernel beats the packed one for this op, from its SparsityInfo (unset: false).
bool sparseKernelPays(const ir::Op &op, const MachineInfo &machine);
/// The schedule of `op` with kernel `kernel`; an
/// override of the kernel choice calls this directly.
ir::Schedule scheduleFor(const ir::Op &op, const MachineInfo &machine, ir::ScheduleKernel kernel);

} // namespace soma::passes
