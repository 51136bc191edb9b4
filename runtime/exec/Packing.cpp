// Panel packing: the dense microkernel streams one panel with unit-stride
// vector loads for every input k.
#include "soma/runtime/Packing.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace soma::runtime {

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

AlignedVector<float> packSparse(const Tensor &w, int64_t group) {
  const int64_t units = w.dims[0], inputs = w.dims[1];
  const int64_t groups = (units + group - 1) / group;
  auto storeIndex = [](float &slot, int64_t value) {
    const int32_t v = static_cast<int32_t>(value);
    std::memcpy(&slot, &v, sizeof v);
  };
  const int64_t indexBytes = sparseIndexBytes(inputs);
  const int64_t entryFloats = sparseEntryFloats(group, inputs);
  // Nonzero inputs of each neuron, in input order.
  std::vector<std::vector<int64_t>> nonzeros(static_cast<size_t>(units));
  for (int64_t u = 0; u < units; ++u)
    for (int64_t k = 0; k < inputs; ++k)
      if (w.values[u * inputs + k] != 0.0f)
        nonzeros[u].push_back(k);
  const int64_t header = (2 * groups + group - 1) / group * group;
  std::vector<int64_t> offset(groups), count(groups, 0);
  int64_t size = header;
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t u = g * group; u < std::min(units, (g + 1) * group); ++u)
      count[g] = std::max<int64_t>(count[g], static_cast<int64_t>(nonzeros[u].size()));
    offset[g] = size;
    size += count[g] * entryFloats;
  }
  AlignedVector<float> packed(static_cast<size_t>(size), 0.0f); // padding: value 0, index 0
  for (int64_t g = 0; g < groups; ++g) {
    storeIndex(packed[2 * g], offset[g]);
    storeIndex(packed[2 * g + 1], count[g]);
    for (int64_t j = 0; j < group && g * group + j < units; ++j) {
      const int64_t u = g * group + j;
      for (size_t e = 0; e < nonzeros[u].size(); ++e) {
        float *entry = &packed[offset[g] + static_cast<int64_t>(e) * entryFloats];
        const int64_t k = nonzeros[u][e];
        entry[j] = w.values[u * inputs + k];
        if (indexBytes == 2) {
          const uint16_t k16 = static_cast<uint16_t>(k);
          std::memcpy(reinterpret_cast<char *>(entry + group) + 2 * j, &k16, sizeof k16);
        } else {
          storeIndex(entry[group + j], k);
        }
      }
    }
  }
  return packed;
}

} // namespace soma::runtime
