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

/// Bytes per input index in packSparse's entries: 2 (uint16) when every
/// index fits, else 4 (int32). Indices and values are the memory traffic
/// of a batch-1 run.
constexpr int64_t sparseIndexBytes(int64_t inputs) { return inputs <= 65536 ? 2 : 4; }

/// Floats per packSparse entry: `group` values, then `group` indices.
constexpr int64_t sparseEntryFloats(int64_t group, int64_t inputs) {
  return group + group * sparseIndexBytes(inputs) / 4;
}

/// Packs w [units, inputs] for the sparse kernel (compiler/codegen/
/// LowerSparse.cpp): output neurons in groups of `group` (the vector width,
/// even). A header of 2 * groups int32 (bit patterns stored in the floats)
/// gives each group's entry offset (in floats from the start) and entry
/// count, padded to a multiple of `group` floats. Entry e of a group
/// (sparseEntryFloats floats) is `group` values then `group` input indices
/// of sparseIndexBytes each (host byte order): the e-th nonzero of each of
/// the group's neurons, in input order; neurons with fewer nonzeros than
/// the group's longest (and the missing neurons of a partial last group)
/// are padded with value 0 at input 0.
AlignedVector<float> packSparse(const Tensor &w, int64_t group);

} // namespace soma::runtime
