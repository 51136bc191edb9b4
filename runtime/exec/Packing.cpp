// Panel packing: the dense microkernel streams one panel with unit-stride
// vector loads for every input k.
#include "soma/runtime/Packing.h"

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

} // namespace soma::runtime
