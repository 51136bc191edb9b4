// Panel packing: the dense microkernel streams one panel with unit-stride
// vector loads for every input k.
#include "soma/runtime/Packing.h"

#include "soma/runtime/Kernels.h"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <vector>

namespace soma::runtime {

AlignedVector<float> packConvFilters(const Tensor &w, int64_t block) {
  const int64_t outChannels = w.dims[0];
  const int64_t perFilter = outChannels ? w.numElements() / outChannels : 0;
  assert(block > 0 && outChannels % block == 0 && "whole blocks of output channels");
  AlignedVector<float> packed(static_cast<size_t>(w.numElements()));
  for (int64_t b = 0; b < outChannels / block; ++b)
    for (int64_t t = 0; t < perFilter; ++t)
      for (int64_t j = 0; j < block; ++j)
        packed[(b * perFilter + t) * block + j] = w.values[(b * block + j) * perFilter + t];
  return packed;
}

AlignedVector<float> packPanels(const Tensor &w, int64_t panel) {
  const int64_t units = w.dims[0], inputs = w.dims[1];
  const int64_t panels = (units + panel - 1) / panel;
  AlignedVector<float> packed(static_cast<size_t>(panels * inputs * panel), 0.0f);
  for (int64_t u = 0; u < units; ++u) {
    const int64_t p = u / panel, lane = u % panel;
    for (int64_t k = 0; k < inputs; ++k)
      packed[(p * inputs + k) * panel + lane] = w.values[u * inputs + k];
  }
  return packed;
}

AlignedVector<float> padVector(const AlignedVector<float> &v, int64_t multiple) {
  size_t n = (v.size() + multiple - 1) / multiple * multiple;
  AlignedVector<float> out(n, 0.0f);
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

bool inAlignedBlocks(const Tensor &w, int64_t rows, int64_t cols) {
  const int64_t units = w.dims[0], inputs = w.dims[1];
  if (units % rows != 0 || inputs % cols != 0)
    return false;
  for (int64_t u = 0; u < units; u += rows)
    for (int64_t k = 0; k < inputs; k += cols) {
      const bool first = w.values[u * inputs + k] != 0.0f;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
          if ((w.values[(u + r) * inputs + k + c] != 0.0f) != first)
            return false;
    }
  return true;
}

AlignedVector<float> packSparse(const Tensor &w, int64_t group, SparseLoneFormat lone) {
  const bool chunked = lone == SparseLoneFormat::Chunked,
             entries = lone == SparseLoneFormat::Entries;
  assert(!chunked || group == 16);
  const int64_t units = w.dims[0], inputs = w.dims[1];
  const int64_t groups = (units + group - 1) / group, unitsRounded = groups * group;
  auto storeIndex = [](float &slot, int64_t value) {
    const uint32_t v = static_cast<uint32_t>(value);
    std::memcpy(&slot, &v, sizeof v);
  };
  auto roundUp = [&](int64_t n) { return (n + group - 1) / group * group; };
  const int64_t indexBytes = sparseIndexBytes(inputs);
  // Input index k of a nonzero, stored at index slot i of the array at
  // `bytes`.
  auto putIndex = [&](char *bytes, int64_t i, int64_t k) {
    if (indexBytes == 2) {
      const uint16_t k16 = static_cast<uint16_t>(k);
      std::memcpy(bytes + 2 * i, &k16, sizeof k16);
    } else {
      const uint32_t k32 = static_cast<uint32_t>(k);
      std::memcpy(bytes + 4 * i, &k32, sizeof k32);
    }
  };
  const int64_t entryFloats = sparseEntryFloats(group, inputs);
  const int64_t chunks = (inputs + kSparseChunk - 1) / kSparseChunk;
  // Nonzero inputs of each neuron, in input order.
  std::vector<std::vector<int64_t>> nonzeros(static_cast<size_t>(units));
  int64_t total = 0;
  for (int64_t u = 0; u < units; ++u) {
    for (int64_t k = 0; k < inputs; ++k)
      if (w.values[u * inputs + k] != 0.0f)
        nonzeros[u].push_back(k);
    total += static_cast<int64_t>(nonzeros[u].size());
  }
  const int64_t stripInputs = sparseStripInputs(group, inputs, units, total);
  const int64_t strips = (inputs + stripInputs - 1) / stripInputs;
  // Per group: the entry count (its longest neuron), and per chunk the
  // chunked entry count (its neuron with the most nonzeros in the chunk).
  std::vector<int64_t> count(groups, 0), chunkEntries(groups, 0);
  std::vector<std::vector<int64_t>> chunkCount(groups);
  for (int64_t g = 0; g < groups; ++g) {
    if (chunked)
      chunkCount[g].assign(static_cast<size_t>(chunks), 0);
    for (int64_t u = g * group; u < std::min(units, (g + 1) * group); ++u) {
      if (entries)
        count[g] = std::max<int64_t>(count[g], static_cast<int64_t>(nonzeros[u].size()));
      if (!chunked)
        continue;
      std::vector<int64_t> perChunk(static_cast<size_t>(chunks), 0);
      for (int64_t k : nonzeros[u])
        ++perChunk[k / kSparseChunk];
      for (int64_t c = 0; c < chunks; ++c)
        chunkCount[g][c] = std::max(chunkCount[g][c], perChunk[c]);
    }
    for (int64_t c : chunkCount[g])
      chunkEntries[g] += c;
  }
  // The strips first (every schedule reads them), then each group's
  // matrix-vector entries.
  const int64_t startsAt = roundUp(kSparseHeaderFields * groups);
  const int64_t valuesAt = roundUp(startsAt + strips * unitsRounded + 1);
  const int64_t indicesAt = roundUp(valuesAt + total);
  int64_t size = roundUp(indicesAt + (total * indexBytes + 3) / 4);
  std::vector<int64_t> offset(groups, 0), chunkOffset(groups, 0);
  for (int64_t g = 0; g < groups; ++g) {
    if (entries) {
      offset[g] = size;
      size = roundUp(size + count[g] * entryFloats);
    }
    if (chunked) {
      chunkOffset[g] = size;
      size = roundUp(size + sparseChunkCountFloats(inputs) + chunkEntries[g] * (group + group / 4));
    }
  }
  AlignedVector<float> packed(static_cast<size_t>(size), 0.0f); // padding: value 0, index 0
  char *bytes = reinterpret_cast<char *>(packed.data());
  // Strip s of neuron u, in (s, u) order.
  int64_t at = 0;
  for (int64_t s = 0; s < strips; ++s) {
    const int64_t k0 = s * stripInputs, k1 = std::min(inputs, k0 + stripInputs);
    for (int64_t u = 0; u < unitsRounded; ++u) {
      storeIndex(packed[startsAt + s * unitsRounded + u], at);
      if (u >= units)
        continue;
      const std::vector<int64_t> &row = nonzeros[u];
      for (auto it = std::lower_bound(row.begin(), row.end(), k0); it != row.end() && *it < k1;
           ++it, ++at) {
        packed[valuesAt + at] = w.values[u * inputs + *it];
        putIndex(bytes + indicesAt * 4, at, *it);
      }
    }
  }
  assert(at == total);
  storeIndex(packed[startsAt + strips * unitsRounded], total);
  for (int64_t g = 0; g < groups; ++g) {
    float *fields = &packed[kSparseHeaderFields * g];
    storeIndex(fields[0], offset[g]);
    storeIndex(fields[1], count[g]);
    storeIndex(fields[2], chunkOffset[g]);
    storeIndex(fields[3], chunkEntries[g]);
    storeIndex(fields[4], startsAt);
    storeIndex(fields[5], valuesAt);
    storeIndex(fields[6], indicesAt);
    storeIndex(fields[7], strips);
    // The chunked entries' counts, values and positions, and chunk c's
    // first entry.
    const int64_t countsAt = chunkOffset[g] * 4;
    const int64_t chunkValuesAt = chunkOffset[g] + sparseChunkCountFloats(inputs);
    const int64_t positionsAt = (chunkValuesAt + chunkEntries[g] * group) * 4;
    std::vector<int64_t> firstEntry(static_cast<size_t>(chunks), 0);
    for (int64_t c = 0; chunked && c < chunks; ++c) {
      bytes[countsAt + c] = static_cast<char>(chunkCount[g][c]);
      if (c + 1 < chunks)
        firstEntry[c + 1] = firstEntry[c] + chunkCount[g][c];
    }
    for (int64_t j = 0; j < group && g * group + j < units; ++j) {
      const int64_t u = g * group + j;
      std::vector<int64_t> inChunk(static_cast<size_t>(chunks), 0);
      for (size_t e = 0; e < nonzeros[u].size(); ++e) {
        const int64_t k = nonzeros[u][e];
        const float value = w.values[u * inputs + k];
        if (entries) {
          float *entry = &packed[offset[g] + static_cast<int64_t>(e) * entryFloats];
          entry[j] = value;
          putIndex(reinterpret_cast<char *>(entry + group), j, k);
        }
        if (!chunked)
          continue;
        const int64_t c = k / kSparseChunk;
        const int64_t ce = firstEntry[c] + inChunk[c]++;
        packed[chunkValuesAt + ce * group + j] = value;
        bytes[positionsAt + ce * group + j] = static_cast<char>(k % kSparseChunk);
      }
    }
  }
  return packed;
}

AlignedVector<float> packSparseGroups(const Tensor &w, int64_t stripInputs) {
  constexpr int64_t G = kernels::kSparseGroup, E = kSparseGroupsEntryFloats;
  static_assert(E * 4 == G * 4 + G * 2, "an entry is G floats and G uint16");
  assert(stripInputs > 0 && stripInputs <= kernels::kSparseMaxStrip && "strip width out of range");
  const int64_t units = w.dims[0], inputs = w.dims[1];
  const int64_t groups = (units + G - 1) / G;
  const int64_t strips = std::max<int64_t>(1, (inputs + stripInputs - 1) / stripInputs);
  auto storeWord = [](float &slot, int64_t value) {
    const uint32_t v = static_cast<uint32_t>(value);
    std::memcpy(&slot, &v, sizeof v);
  };
  // Entries of (s, g): the longest of its neurons' nonzero counts in s.
  std::vector<int64_t> entries(static_cast<size_t>(strips * groups), 0);
  for (int64_t u = 0; u < units; ++u)
    for (int64_t s = 0; s < strips; ++s) {
      int64_t count = 0;
      for (int64_t k = s * stripInputs; k < std::min(inputs, (s + 1) * stripInputs); ++k)
        count += w.values[u * inputs + k] != 0.0f;
      int64_t &e = entries[s * groups + u / G];
      e = std::max(e, count);
    }
  const int64_t startsAt = kSparseGroupsHeaderFields;
  const int64_t entriesAt = (startsAt + strips * groups + 1 + 15) / 16 * 16; // 64-byte aligned
  int64_t total = 0;
  for (int64_t e : entries)
    total += e;
  AlignedVector<float> packed(static_cast<size_t>(entriesAt + total * E), 0.0f);
  const int64_t header[kSparseGroupsHeaderFields] = {inputs, units,    stripInputs, strips,
                                                     groups, startsAt, entriesAt};
  for (int i = 0; i < kSparseGroupsHeaderFields; ++i)
    storeWord(packed[i], header[i]);
  int64_t at = 0; // entries so far
  for (int64_t s = 0; s < strips; ++s) {
    const int64_t k0 = s * stripInputs, len = std::min(inputs, k0 + stripInputs) - k0;
    for (int64_t g = 0; g < groups; ++g) {
      storeWord(packed[startsAt + s * groups + g], at);
      float *first = &packed[entriesAt + at * E];
      const int64_t count = entries[s * groups + g];
      for (int64_t j = 0; j < G; ++j) {
        // Neuron j's nonzeros in s, then padding (value 0, position len).
        const int64_t u = g * G + j;
        int64_t e = 0;
        for (int64_t i = 0; u < units && i < len; ++i) {
          const float v = w.values[u * inputs + k0 + i];
          if (v == 0.0f)
            continue;
          first[e * E + j] = v;
          const uint16_t pos = static_cast<uint16_t>(i);
          std::memcpy(reinterpret_cast<char *>(first + e * E + G) + 2 * j, &pos, sizeof pos);
          ++e;
        }
        for (; e < count; ++e) {
          const uint16_t pos = static_cast<uint16_t>(len);
          std::memcpy(reinterpret_cast<char *>(first + e * E + G) + 2 * j, &pos, sizeof pos);
        }
      }
      at += count;
    }
  }
  storeWord(packed[startsAt + strips * groups], at);
  return packed;
}

} // namespace soma::runtime
