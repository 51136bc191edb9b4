// Weight layouts the generated kernels read, packed once at compile time.
#pragma once

#include "soma/support/Tensor.h"

namespace soma::runtime {

/// Packs w [units, inputs] (row-major, one row per output neuron) into
/// panels of `panel` output neurons: panel p holds, for k = 0..inputs-1,
/// the weights of neurons p*panel .. p*panel+panel-1 for input k,
/// contiguously. The last panel is zero-padded. Size: ceil(units / panel)
/// * inputs * panel floats.
AlignedVector<float> packPanels(const Tensor &w, int64_t panel);

/// Copies `v` zero-padded to a multiple of `multiple` elements.
AlignedVector<float> padVector(const AlignedVector<float> &v, int64_t multiple);

/// Packs w [units, inputs] for the sparse kernel (compiler/codegen/
/// LowerSparse.cpp): output neurons in groups of `group` (the vector width).
/// A header of 2 * groups int32 (bit patterns stored in the floats) gives
/// each group's entry offset (in floats from the start) and entry count,
/// padded to a multiple of `group` floats. Entry e of a group is `group`
/// values then `group` int32 input indices: the e-th nonzero of each of the
/// group's neurons, in input order; neurons with fewer nonzeros than the
/// group's longest (and the missing neurons of a partial last group) are
/// padded with value 0 at input 0.
AlignedVector<float> packSparse(const Tensor &w, int64_t group);

} // namespace soma::runtime
