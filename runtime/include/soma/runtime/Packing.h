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

/// Inputs per chunk of packSparse's matrix-vector entries: two vectors of
/// 16 lanes, the table of one AVX-512 two-source permute (vpermi2ps).
constexpr int64_t kSparseChunk = 32;

/// Floats holding the count bytes (one per chunk) that open a group's
/// chunked entries, rounded up to 64 bytes.
constexpr int64_t sparseChunkCountFloats(int64_t inputs) {
  return ((inputs + kSparseChunk - 1) / kSparseChunk + 63) / 64 * 16;
}

/// Int32 fields per group in packSparse's header.
constexpr int64_t kSparseHeaderFields = 4;

/// Packs w [units, inputs] for the sparse kernel (compiler/codegen/
/// LowerSparse.cpp): output neurons in groups of `group` (the vector width,
/// even). A header of kSparseHeaderFields int32 per group (bit patterns
/// stored in the floats; offsets are unsigned), padded to a multiple of `group` floats, gives for
/// group g: [0] the offset (in floats from the start) of its entries and
/// [1] their count; [2] the offset of its chunked entries and [3] their
/// count (both 0 without chunks).
///
/// Entries (the sample-block path): entry e of a group (sparseEntryFloats
/// floats) is `group` values then `group` input indices of sparseIndexBytes
/// each (host byte order): the e-th nonzero of each of the group's neurons,
/// in input order; neurons with fewer nonzeros than the group's longest
/// (and the missing neurons of a partial last group) are padded with value
/// 0 at input 0.
///
/// Chunked entries (the matrix-vector path of a schedule with lone =
/// "chunked";
/// only when `chunked`, which needs `group` = 16, the permute's width):
/// the inputs in chunks of kSparseChunk (the last may be shorter); per
/// chunk c, as many entries as the group's neuron with the most nonzeros in
/// c has, entry e holding the e-th nonzero in c of each neuron (value, and
/// its input's position in the chunk as one byte), padded with value 0 at
/// position 0. At the group's offset: one count byte per chunk, padded to
/// a multiple of 64 bytes; then every entry's `group` values (64-byte
/// aligned); then every entry's `group` position bytes.
AlignedVector<float> packSparse(const Tensor &w, int64_t group, bool chunked);

} // namespace soma::runtime
