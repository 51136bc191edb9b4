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

/// A convolution's filters w [O, C / groups, kernel...] for kernels::conv:
/// for each block of `block` output channels (block divides O), for each
/// (ci, kernel position) in order, the block's `block` weights side by
/// side. O * (C / groups) * taps floats, no padding.
AlignedVector<float> packConvFilters(const Tensor &w, int64_t block);

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
constexpr int64_t kSparseHeaderFields = 8;

/// Inputs per strip of packSparse's sample-block section for a layer of
/// `units` x `inputs` weights with `nonzeros` nonzeros: 4096 / group, so
/// that a pair of transposed sample blocks over one strip (2 * group floats
/// per input) fills 32 KiB, an L1 data cache; doubled while a neuron has
/// fewer than 8 nonzeros per strip on average (each strip of a neuron
/// reloads and stores its partial sums: at 4096 x 4096 with 1 % nonzeros,
/// batch 64, strips of 256 took 1.45 ms, of 1024 0.57 ms), up to all the
/// inputs.
constexpr int64_t sparseStripInputs(int64_t group, int64_t inputs, int64_t units,
                                    int64_t nonzeros) {
  int64_t strip = 4096 / group;
  while (strip < inputs && nonzeros * strip < 8 * units * inputs)
    strip *= 2;
  return strip;
}

/// Floats per sample of the sparse kernel's scratch: a block of `group`
/// samples from sample n uses [n * stride, (n + group) * stride), stride =
/// inputs + units rounded up to the group: the block's inputs transposed
/// (inputs * group floats), then its partial sums between strips (one
/// vector per neuron). Twice the stride, so that a last partial block of at
/// least group / 2 samples stays inside.
constexpr int64_t sparseScratchPerSample(int64_t inputs, int64_t units, int64_t group) {
  return 2 * (inputs + (units + group - 1) / group * group);
}

/// Whether w [units, inputs] splits into aligned blocks of `rows` x `cols`
/// weights that are each all zero or all nonzero (units % rows == 0 and
/// inputs % cols == 0): the "4x1" (rows 4) and "1x4" (cols 4) patterns the
/// sparse kernel's schedule may name.
bool inAlignedBlocks(const Tensor &w, int64_t rows, int64_t cols);

/// Which matrix-vector (lone-sample) format packSparse adds beside the
/// strips: the entries (lone = "scalar"), the chunked entries (lone =
/// "chunked") or neither (lone = "packed", whose lone samples read dense
/// panels).
enum class SparseLoneFormat { Entries, Chunked, None };

/// Packs w [units, inputs] for the sparse kernel (compiler/codegen/
/// LowerSparse.cpp): output neurons in groups of `group` (the vector width,
/// even). A header of kSparseHeaderFields int32 per group (bit patterns
/// stored in the floats; offsets are unsigned), padded to a multiple of `group` floats, gives for
/// group g: [0] the offset (in floats from the start) of its entries and
/// [1] their count (0 unless `lone` is Entries); [2] the offset of its
/// chunked entries and [3] their count (0 unless Chunked); [4], [5], [6]
/// the strip section's offsets (the same in every group): its start table,
/// its values and its indices; [7] its number of strips.
///
/// Strips (the sample-block path, always): the inputs in strips of
/// sparseStripInputs(group, inputs, units, nonzeros) (the last may be
/// shorter); for strip s and
/// neuron u (units rounded up to the group, the extra neurons empty), the
/// nonzeros of row u among the strip's inputs, in input order, as a value
/// and an input index (sparseIndexBytes each, host byte order), in (s, u)
/// order. The start table holds strips * units_rounded + 1 uint32: entry
/// s * units_rounded + u is the position of (s, u)'s first nonzero, the
/// next entry the end of its run; the last is the nonzero count. No
/// padding: every stored weight is nonzero.
///
/// Entries (the scalar matrix-vector path): entry e of a group
/// (sparseEntryFloats floats) is `group` values then `group` input indices
/// of sparseIndexBytes each: the e-th nonzero of each of the group's
/// neurons, in input order; neurons with fewer nonzeros than the group's
/// longest (and the missing neurons of a partial last group) are padded
/// with value 0 at input 0.
///
/// Chunked entries (the matrix-vector path of a schedule with lone =
/// "chunked"; needs `group` = 16, the permute's width):
/// the inputs in chunks of kSparseChunk (the last may be shorter); per
/// chunk c, as many entries as the group's neuron with the most nonzeros in
/// c has, entry e holding the e-th nonzero in c of each neuron (value, and
/// its input's position in the chunk as one byte), padded with value 0 at
/// position 0. At the group's offset: one count byte per chunk, padded to
/// a multiple of 64 bytes; then every entry's `group` values (64-byte
/// aligned); then every entry's `group` position bytes.
AlignedVector<float> packSparse(const Tensor &w, int64_t group, SparseLoneFormat lone);

/// The positions of packSparseGroups's header fields (int32 bit patterns
/// stored in the floats): the layer's inputs and units, the strip width,
/// the strips, the groups, and the offsets (in floats) of the start table
/// and of the first entry.
constexpr int kSparseGroupsInputs = 0, kSparseGroupsUnits = 1, kSparseGroupsStripInputs = 2,
              kSparseGroupsStrips = 3, kSparseGroupsGroups = 4, kSparseGroupsStartsAt = 5,
              kSparseGroupsEntriesAt = 6, kSparseGroupsHeaderFields = 7;

/// Floats per packSparseGroups entry: kernels::kSparseGroup values, then
/// as many uint16 input positions.
constexpr int64_t kSparseGroupsEntryFloats = 6;

/// Packs w [units, inputs] for the vec engine's sparse kernel
/// (kernels::sparse): output neurons in groups of kernels::kSparseGroup
/// (4), inputs in strips of `stripInputs` (the last may be shorter; at
/// most kernels::kSparseMaxStrip). For strip s and group g, entry e holds
/// the e-th nonzero (input order) among the strip's inputs of each of the
/// group's 4 neurons: its value, and its input's position in the strip
/// (uint16, host byte order). A neuron with fewer nonzeros in the strip
/// than the group's longest, and a missing neuron of a partial last group,
/// is padded with value 0 at position = the strip's length, one past its
/// last input, where the kernel reads a 0: a padding term is exactly
/// 0 * 0, whatever the inputs. Layout: the header (kSparseGroupsHeaderFields
/// int32); the start table, strips * groups + 1 uint32, entry
/// s * groups + g the index of (s, g)'s first entry and the next entry its
/// end; the entries in (s, g) order, kSparseGroupsEntryFloats floats each,
/// the first 64-byte aligned.
AlignedVector<float> packSparseGroups(const Tensor &w, int64_t stripInputs);

} // namespace soma::runtime
