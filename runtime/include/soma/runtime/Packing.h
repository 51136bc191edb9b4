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

} // namespace soma::runtime
